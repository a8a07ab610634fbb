"""Facts the whole toolkit shares, written once: levels, the total region, frequencies, vintages.

Every part that prints, draws, scores or describes one of these reads it from here, so changing
one is one edit:

* :data:`QUANTILE_LEVELS` - the quantiles of the forecast CSV (and the hub files).
* :data:`INTERVAL_LEVELS` - the central intervals drawn as fan bands and named in captions and
  sentences; :data:`BRIEF_LEVEL` - the one interval quoted in sentences;
  :data:`COVERAGE_LEVELS` - the intervals whose coverage backtests report (all of the above).
* :data:`TOTAL` - the region code of the sum over all regions (draw by draw).
* :data:`PER_PERIOD`, :data:`CUMULATIVE` - the two targets of the forecast CSV and of backtest scores.
* :data:`AT_RISK_FLOOR` - the share of a region's population always counted as still at risk.
* :data:`FREQ_UNIT`, :data:`GRID_FREQ` - what a period is called, and its pandas grid.
* :data:`STALE_AFTER` - how old a region's last count may be before its forecast is marked.
* :func:`series_vintage`, :func:`data_vintage` - what data a forecast or a fit saw.

This module imports nothing else from the package, so every layer may use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np

#: Share of a region's population always counted as still at risk of displacement (models/panel.py), so
#: a log offset stays finite when past displacement nears the population: a forecast there can total no
#: more than this share of the population over the whole horizon. (Counts summing above the population
#: are movements, not people: those regions are not depleted at all, ``Panel.counts_movements``.)
AT_RISK_FLOOR = 0.01
#: 23 quantile levels, as used by the US COVID-19 and hubverse forecast hubs.
QUANTILE_LEVELS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99,
)
#: Central interval levels (percent) drawn as fan-chart bands and named in captions.
INTERVAL_LEVELS: tuple[int, ...] = (50, 80, 95)
#: The central interval (percent) quoted in sentences (``brief``).
BRIEF_LEVEL: int = 90
#: Central interval levels (percent) whose coverage backtests report: every level we show.
COVERAGE_LEVELS: tuple[int, ...] = tuple(sorted({*INTERVAL_LEVELS, BRIEF_LEVEL}))

#: Region code of the sum over all regions, draw by draw.
TOTAL = "ALL"

#: Target of the forecast CSV (column ``target``) and of backtest scores: people newly displaced
#: in each period ...
PER_PERIOD = "new_displaced"
#: ... and their running sum from the first forecast period, draw by draw.
CUMULATIVE = "cum_new_displaced"

#: Fewest periods of displacement counts any model is fitted on (``forecast`` refuses fewer;
#: ``backtest``'s default origins leave at least this many before them).
MIN_HISTORY = 8

#: Name of one period, per frequency code.
FREQ_UNIT: dict[str, str] = {"D": "day", "W": "week", "M": "month"}
#: The data of a frequency code, in a sentence ("daily data").
FREQ_WORD: dict[str, str] = {"D": "daily", "W": "weekly", "M": "monthly"}
#: pandas frequency of the period grid (periods are labelled by their first day; weeks start Monday).
GRID_FREQ: dict[str, str] = {"D": "D", "W": "W-MON", "M": "MS"}
#: How many periods before the last period a region's last count (displacement, or a driver the
#: model uses) may be before the run is marked unreliable (``target_counts_stopped``,
#: ``driver_counts_stopped``), per frequency code: 14 days (agency daily tables routinely lag a few
#: days; trial 19's Ukraine counts four days old marked the run), 3 weeks, 3 months. One rule of
#: "more than 3 periods" for every frequency had made a 4-day lag an UNRELIABLE banner.
STALE_AFTER: dict[str, int] = {"D": 14, "W": 3, "M": 3}


def stale_after(freq: Any) -> int:
    """:data:`STALE_AFTER` for a frequency code (``D``, ``W``, ``M``, ``MS``...); 3 for an unknown one."""
    return STALE_AFTER.get(str(freq or "")[:1], 3)


def periods_text(n: int, freq: Any) -> str:
    """``1 day``, ``10 months``, ``3 weeks``: ``n`` periods of ``freq`` in words."""
    return f"{n} {period_unit(freq)}{'s' if n != 1 else ''}"


def period_unit(freq: Any, default: str = "period") -> str:
    """``day``, ``week`` or ``month`` for a frequency code (``W``, ``M``, ``MS``...), else ``default``."""
    return FREQ_UNIT.get(str(freq or "")[:1], default)


def interval_bounds(level: float) -> tuple[float, float]:
    """Lower and upper quantile of the central ``level`` % interval (e.g. 80 -> (0.1, 0.9))."""
    lo = (1 - float(level) / 100) / 2
    return lo, 1 - lo


def interval_quantiles(levels: Iterable[float] = INTERVAL_LEVELS) -> list[float]:
    """The median and the bounds of every central interval in ``levels``, sorted."""
    return sorted({0.5, *(b for lv in levels for b in interval_bounds(lv))})


def levels_text(levels: Iterable[float] = INTERVAL_LEVELS) -> str:
    """``50/80/95%`` for captions."""
    return "/".join(f"{lv:g}" for lv in sorted(levels)) + "%"


def series_vintage(panel: Any) -> dict[str, str | None]:
    """Last period with an observed (non-NaN) value, per series (``YYYY-MM-DD``; None if never).

    ``panel`` is a :class:`~displacement_forecast.models.panel.Panel` (``dates``, ``series``).
    """
    out = {}
    for s, arr in panel.series.items():
        seen = np.flatnonzero(np.isfinite(arr).any(axis=0))
        out[s] = str(panel.dates[seen[-1]].date()) if len(seen) else None
    return out


def data_vintage(panel: Any) -> dict[str, Any]:
    """What data a fit saw: date range, size, frequency, last observed period per series and a
    SHA-256 of the panel's values and region codes (two fits with the same hash saw the same data)."""
    h = hashlib.sha256()
    for k in sorted(panel.series):
        h.update(k.encode())
        h.update(np.ascontiguousarray(panel.series[k], dtype=float).tobytes())
    h.update(",".join(panel.regions.codes).encode())
    return {"first_date": str(panel.dates[0].date()), "last_date": str(panel.origin.date()),
            "n_periods": len(panel.dates), "n_regions": len(panel.regions), "freq": panel.freq,
            "last_observed": series_vintage(panel), "sha256": h.hexdigest()}


__all__ = ["BRIEF_LEVEL", "COVERAGE_LEVELS", "FREQ_UNIT", "FREQ_WORD", "GRID_FREQ", "INTERVAL_LEVELS", "QUANTILE_LEVELS",
           "STALE_AFTER", "TOTAL", "data_vintage", "interval_bounds", "interval_quantiles", "levels_text", "period_unit",
           "periods_text", "series_vintage", "stale_after"]
