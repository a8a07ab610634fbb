"""``--drivers a,b`` for ``forecast``, ``backtest`` and ``fit``: which conflict series driver models use.

Without ``--drivers`` every driver model applies the default rule of
:mod:`displacement_forecast.models.driver_choice` (recorded in the sidecar). With it, the listed
series are used and a series missing from the data is one clear error.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

from ..data.schema import DRIVER_SERIES, PEOPLE_SERIES, DataError, Problem
from ..models.driver_choice import CONFLICT_SERIES, DEFAULT_RULE, resolve_drivers

#: Models whose constructor takes ``drivers=``.
DRIVER_MODELS = ("nb-dl", "sarimax", "dynamic", "bayes-hierarchical", "bayes-dynamic", "auto")


def add_drivers_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drivers", default=None, metavar="A,B",
                   help=f"conflict series the driver models use ({', '.join(CONFLICT_SERIES)}); "
                        f"default: {DEFAULT_RULE}")


def parse_drivers(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")``; None stays None; an empty list, or a name that is not a conflict
    series of the schema (``displaced``, the target, above all), is an error."""
    if text is None:
        return None
    out = tuple(s.strip() for s in text.split(",") if s.strip())
    if not out:
        raise DataError(Problem("command line", None, "--drivers", "give at least one series name, e.g. strikes,events"))
    bad = [s for s in out if s not in DRIVER_SERIES]
    if bad:  # counts of people (the target above all) are forecast, never a driver of the forecast
        raise DataError([Problem("command line", None, "--drivers",
                                 f"{s!r} is {'a count of people' if s in PEOPLE_SERIES else 'not a known series'}; "
                                 f"expected conflict series among {', '.join(DRIVER_SERIES)}") for s in bad])
    return out


def _series(obs: pd.DataFrame) -> dict[str, np.ndarray]:
    return {s: g["value"].to_numpy(dtype=float) for s, g in obs.groupby("series")}


def model_kwargs(name: str, drivers: tuple[str, ...] | None, obs: pd.DataFrame, *,
                 strict: bool = True) -> dict[str, Any]:
    """Constructor arguments that carry ``--drivers`` to model ``name``.

    ``strict``: a driver-free model given ``--drivers`` is an error (``forecast``); in a
    backtest of several models the option only applies to the driver models.
    """
    if name not in DRIVER_MODELS:
        if drivers is not None and strict:
            raise DataError(Problem("command line", None, "--drivers",
                                    f"model {name!r} uses no driver series; --drivers applies to "
                                    f"{', '.join(DRIVER_MODELS)}"))
        return {}
    series = _series(obs)
    if name == "bayes-hierarchical":  # its own default is strikes + flights: apply the rule here
        return {"drivers": list(resolve_drivers(drivers, series, name))}
    if drivers is None:
        return {}
    resolve_drivers(drivers, series, name)  # one clear error for a missing series
    return {"drivers": list(drivers)}
