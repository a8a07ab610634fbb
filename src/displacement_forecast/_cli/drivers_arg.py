"""``--drivers a,b`` and ``--lags N`` for ``forecast``, ``backtest`` and ``fit``: which conflict series
driver models use, and over how many periods.

Without ``--drivers`` every driver model applies the default rule of
:mod:`displacement_forecast.models.driver_choice` (recorded in the sidecar). With it, the listed
series are used and a series missing from the data is one clear error.

Without ``--lags`` every model of :data:`LAG_MODELS` keeps its own lags (``nb-dl`` shortens its
default until the data give 5 rows per coefficient, with a warning). With it, the model's
``n_lags`` is set (recorded in the sidecar's model config) and kept: too few data for them is
the model's own one-line error.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import numpy as np
import pandas as pd

from ..data.schema import DRIVER_SERIES, PEOPLE_SERIES, DataError, Problem
from ..models.driver_choice import DEFAULT_RULE, resolve_drivers

#: Models whose constructor takes ``drivers=``.
DRIVER_MODELS = ("nb-dl", "sarimax", "dynamic", "bayes-hierarchical", "bayes-dynamic", "auto")
#: Models whose constructor takes ``n_lags=`` (periods of the driver lags or carry-over window;
#: ``auto``: of its ``nb-dl`` candidate). ``arima`` has the argument but no driver to lag.
LAG_MODELS = ("nb-dl", "sarimax", "dynamic", "bayes-hierarchical", "auto")


def add_drivers_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drivers", default=None, metavar="A,B",
                   help=f"conflict series the driver models use, any of {', '.join(DRIVER_SERIES)} (what "
                        f"--drivers accepts); default: {DEFAULT_RULE}")


def add_lags_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lags", default=None, metavar="N",
                   help=f"periods of driver lags, kept as given ({', '.join(LAG_MODELS)}; auto: its nb-dl "
                        "candidate); default: each model's own (nb-dl shortens its default to the data)")


def parse_lags(text: str | None) -> int | None:
    """``"3"`` -> 3; None stays None; anything but a whole number >= 1 is one clear error."""
    if text is None:
        return None
    if not re.fullmatch(r"\+?\d+", text.strip()) or int(text) < 1:
        raise DataError(Problem("command line", None, "--lags",
                                f"{text!r}: expected a whole number of periods, at least 1"))
    return int(text)


def parse_drivers(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")``; None stays None; an empty list, a name given twice, or a name that
    is not a conflict series of the schema (``displaced``, the target, above all), is an error."""
    if text is None:
        return None
    out = tuple(s.strip() for s in text.split(",") if s.strip())
    if not out:
        raise DataError(Problem("command line", None, "--drivers", "give at least one series name, e.g. strikes,events"))
    twice = [s for s in dict.fromkeys(out) if out.count(s) > 1]
    if twice:  # was fitted with the column twice: a singular design, 'LinAlgError: Eigenvalues did not converge'
        raise DataError([Problem("command line", None, "--drivers", f"{s} is given twice") for s in twice])
    bad = [s for s in out if s not in DRIVER_SERIES]
    if bad:  # counts of people (the target above all) are forecast, never a driver of the forecast
        raise DataError([Problem("command line", None, "--drivers",
                                 f"{s!r} is {'a count of people' if s in PEOPLE_SERIES else 'not a known series'}; "
                                 f"expected conflict series among {', '.join(DRIVER_SERIES)}") for s in bad])
    return out


def _series(obs: pd.DataFrame) -> dict[str, np.ndarray]:
    return {s: g["value"].to_numpy(dtype=float) for s, g in obs.groupby("series")}


def model_kwargs(name: str, drivers: tuple[str, ...] | None, obs: pd.DataFrame, *,
                 lags: int | None = None, strict: bool = True) -> dict[str, Any]:
    """Constructor arguments that carry ``--drivers`` and ``--lags`` (parsed) to model ``name``.

    ``strict``: a driver-free model given ``--drivers``, or a model without lags given ``--lags``,
    is an error (``forecast``, ``fit``); in a backtest of several models each option only applies
    to the models that take it.
    """
    takes_lags = lags is not None and name in LAG_MODELS
    if lags is not None and not takes_lags and strict:
        raise DataError(Problem("command line", None, "--lags",
                                f"model {name!r} takes no lags; --lags applies to {', '.join(LAG_MODELS)}"))
    kw = _driver_kwargs(name, drivers, obs, strict)
    return {**kw, "n_lags": lags} if takes_lags else kw


def check_lags_apply(models: list[str], lags: int | None) -> None:
    """``--lags`` with a backtest none of whose models takes lags: one clear error."""
    if lags is not None and not set(models) & set(LAG_MODELS):
        raise DataError(Problem("command line", None, "--lags",
                                f"none of the models {', '.join(models)} takes lags; --lags applies to "
                                f"{', '.join(LAG_MODELS)}"))


def _driver_kwargs(name: str, drivers: tuple[str, ...] | None, obs: pd.DataFrame, strict: bool) -> dict[str, Any]:
    """Constructor arguments that carry ``--drivers`` to model ``name`` (see :func:`model_kwargs`)."""
    if name not in DRIVER_MODELS:
        if drivers is not None and strict:
            raise DataError(Problem("command line", None, "--drivers",
                                    f"model {name!r} uses no driver series; --drivers applies to "
                                    f"{', '.join(DRIVER_MODELS)}"))
        return {}
    series = _series(obs)
    if name == "bayes-hierarchical":  # its own default is strikes + flights: apply the rule here
        return {"drivers": list(resolve_drivers(drivers, series, name, option="--drivers"))}
    if drivers is None:
        return {}
    resolve_drivers(drivers, series, name, option="--drivers")  # one clear error for a missing series
    return {"drivers": list(drivers)}
