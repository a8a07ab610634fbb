"""How much history a model is fitted on: the one rule ``forecast``, ``fit`` and backtests check.

:func:`min_history` is the fewest periods (from the first to the last date, gaps included):

* every model: :data:`~displacement_forecast.conventions.MIN_HISTORY`;
* a model fitted with driver series: its lags plus four, the lags being the model's ``n_lags``
  (``--lags``) when given, else 1 for :data:`FREE_LAG_MODELS` (they shorten theirs down to 1),
  else :data:`~displacement_forecast.models.glm.DEFAULT_LAGS` of the frequency;
* :data:`FREE_LAG_MODELS` (one free coefficient per lag and driver) also need
  :data:`~displacement_forecast.models.glm.MIN_ROWS_PER_COEFFICIENT` usable region-periods per
  shared coefficient (lags x drivers + dispersion) at those lags, ``n_regions x (periods - lags + 1)``
  rows in all (:func:`~displacement_forecast.models.glm.too_few_rows`).

``forecast`` and ``fit`` refuse a shorter history (``_cli.checks.prepare_data``); a backtest refuses
origins with a shorter history up to them and starts its default origins after it
(:func:`~displacement_forecast.evaluate.backtest.run_backtest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..conventions import MIN_HISTORY
from ..data.schema import DataError, Problem

#: Models with a free coefficient per lag and driver (the rows-per-coefficient rule applies).
FREE_LAG_MODELS = ("nb-dl",)


def model_needs(model: Any, series: Mapping[str, np.ndarray] | None = None, *, file: str = "<observations>"
                ) -> tuple[bool, tuple[str, ...], int | None]:
    """(uses drivers, driver series, lags) of a model instance or registry name, before it is fitted.

    A model that cannot run without drivers (``requires_drivers``) and chooses them from the data
    (``drivers="auto"``) has them resolved here from ``series`` (name -> counts, any shape) by the
    default rule, so the checks see them.

    Raises
    ------
    DataError
        Such a model and no conflict series in ``series``: one line naming ``file`` and the
        driver-free models.
    """
    if isinstance(model, str):
        from . import get_model

        model = get_model(model)
    drivers = tuple(getattr(model, "drivers", ()) or ()) if getattr(model, "uses_drivers", False) else ()
    if (not drivers and series is not None and getattr(model, "requires_drivers", False)
            and getattr(model, "drivers_arg", None) == "auto"):
        from .driver_choice import resolve_drivers

        try:
            drivers = resolve_drivers("auto", dict(series), model.name)
        except DataError as e:
            raise DataError([Problem(file, p.row, p.column, p.message) for p in e.problems]) from None
    return bool(drivers), drivers, getattr(model, "n_lags", None)


def regions_left_out(model: Any, obs: Any, codes: Sequence[str],
                     series: Mapping[str, np.ndarray] | None = None) -> dict[str, str]:
    """``region code -> why`` for the regions of ``codes`` a model does not forecast: those without a
    single count of a driver series it uses (:func:`.driver_choice.regions_without_drivers`, the one
    rule for every driver model; the series from :meth:`~.base.ForecastModel.drivers_for`).

    ``{}`` for a model that forecasts such regions without drivers
    (:attr:`~.base.ForecastModel.without_drivers`: ``auto`` lists them in ``scenario_blind_regions``)
    and when its drivers cannot be chosen from the data (the checks and the fit say why).

    Parameters
    ----------
    model
        Model instance (fitted or not) or registry name.
    obs
        The clean observation frame (``date, region, series, value``).
    codes
        The region table's codes.
    series
        ``name -> counts`` of ``obs`` (any shape), for the model's driver rule (default: from ``obs``).
    """
    from .driver_choice import needs_phrase, regions_without_drivers

    if isinstance(model, str):
        from . import get_model

        model = get_model(model)
    if getattr(model, "without_drivers", "left out") != "left out":
        return {}
    if series is None:
        series = {s: g["value"].to_numpy(dtype=float) for s, g in obs.groupby("series")}
    try:
        drivers = model.drivers_for(series)
    except DataError:
        return {}
    counted = {s: obs.loc[(obs["series"] == s) & obs["value"].notna(), "region"].unique().tolist() for s in drivers}
    rows = {s: set(obs.loc[obs["series"] == s, "region"].unique()) for s in drivers}
    return {code: needs_phrase(m, [s for s in m if code in rows[s]])
            for code, m in regions_without_drivers(drivers, counted, codes).items()}


def min_history(name: str, drivers: Sequence[str], lags: int | None, freq: str,
                n_regions: int | None = None, floor: int = MIN_HISTORY) -> int:
    """Fewest periods of history model ``name`` is fitted on (the rule of the module docstring).

    Parameters
    ----------
    name
        Registry name of the model (``nb-dl``...).
    drivers, lags
        Its driver series and ``n_lags`` (None: its default), as :func:`model_needs` gives them.
    freq
        Frequency code of the data (``D``, ``W``, ``M``).
    n_regions
        Regions fitted together; None leaves the rows-per-coefficient rule out (the lags rule only).
    floor
        The fewest periods for any model: :data:`~displacement_forecast.conventions.MIN_HISTORY`,
        what ``forecast`` accepts (a Python backtest may ask for fewer; the model's own needs stay).

    Returns
    -------
    int
        Periods, at least ``floor``.
    """
    from .glm import DEFAULT_LAGS, too_few_rows

    need = floor
    if drivers:
        need = max(need, (int(lags) if lags else 1 if name in FREE_LAG_MODELS else DEFAULT_LAGS[freq]) + 4)
    if name in FREE_LAG_MODELS and n_regions:
        while True:
            L, rows = free_lag_rows(lags, n_regions, need)
            if not too_few_rows(rows, len(drivers), L):
                break
            need += 1
    return need


def free_lag_rows(lags: int | None, n_regions: int, n_periods: int) -> tuple[int, int]:
    """``(L, rows)`` of a :data:`FREE_LAG_MODELS` fit on ``n_periods`` periods of ``n_regions``
    regions: the lags it fits at least (``lags`` when given; else it shortens them down to 1) and
    the usable region-periods at those lags, ``n_regions x (n_periods - L + 1)``."""
    L = int(lags) if lags else 1
    return L, n_regions * (n_periods - L + 1)


__all__ = ["FREE_LAG_MODELS", "free_lag_rows", "min_history", "model_needs", "regions_left_out"]
