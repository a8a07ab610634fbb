"""Everything users read is computed from sample paths (draw x region x horizon).

Because quantiles, intervals, cumulative totals, exceedance probabilities and the all-region
total ``ALL`` are all derived from the same paths, they are coherent: ``ALL`` is the sum of the
regions draw by draw, and cumulative totals are sums over periods draw by draw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..conventions import (
    CUMULATIVE,
    INTERVAL_LEVELS,
    PER_PERIOD,
    QUANTILE_LEVELS,
    TOTAL,
    interval_bounds,
    interval_quantiles,
)

DEFAULT_THRESHOLDS: tuple[float, ...] = (10_000, 50_000, 100_000, 250_000, 500_000)
TARGETS = {
    PER_PERIOD: "people newly displaced in the period",
    CUMULATIVE: "people newly displaced from the first forecast period to this one, inclusive",
}
HUB_COLUMNS = ("origin_date", "scenario", "region", "target", "horizon", "target_date",
               "output_type", "output_type_id", "value")


def validate_levels(levels: Iterable[float]) -> list[float]:
    """Interval levels in percent, each strictly inside (0, 100)."""
    out = []
    for lv in levels:
        lv = float(lv)
        if not 0 < lv < 100:
            raise ValueError(f"interval level {lv:g} is not strictly between 0 and 100 (e.g. 80 for an 80% interval)")
        out.append(lv)
    return sorted(set(out))


def validate_quantiles(qs: Iterable[float]) -> list[float]:
    out = sorted({float(q) for q in qs})
    bad = [q for q in out if not 0 < q < 1]
    if bad:
        raise ValueError(f"quantile levels must be strictly between 0 and 1, got {bad}")
    return out


def with_total(paths: xr.DataArray) -> xr.DataArray:
    """Append region ``ALL`` = sum over regions, draw by draw."""
    total = paths.sum("region").expand_dims(region=[TOTAL]).transpose(*paths.dims)
    return xr.concat([paths, total], dim="region")


def cumulative(paths: xr.DataArray) -> xr.DataArray:
    """Cumulative new displacement from the first forecast period, draw by draw."""
    return paths.cumsum("horizon")


def quantiles(paths: xr.DataArray, levels: Sequence[float] = QUANTILE_LEVELS) -> xr.DataArray:
    """Quantiles over draws, made monotone in the level (``quantile x region x horizon``)."""
    levels = validate_quantiles(levels)
    q = np.quantile(paths.values, levels, axis=0, method="linear")
    q = np.maximum.accumulate(q, axis=0)
    dims = ("quantile",) + tuple(d for d in paths.dims if d != "draw")
    coords = {k: v for k, v in paths.coords.items() if "draw" not in v.dims}
    return xr.DataArray(q, dims=dims, coords={**coords, "quantile": levels})


def exceedance(paths: xr.DataArray, thresholds: Sequence[float]) -> xr.DataArray:
    """P(value > threshold) over draws (``threshold x region x horizon``)."""
    th = np.asarray(sorted(float(t) for t in thresholds))
    p = (paths.values[None] > th[:, None, None, None]).mean(axis=1)
    dims = ("threshold",) + tuple(d for d in paths.dims if d != "draw")
    coords = {k: v for k, v in paths.coords.items() if "draw" not in v.dims}
    return xr.DataArray(p, dims=dims, coords={**coords, "threshold": th})


def intervals(paths: xr.DataArray, levels: Sequence[float] = INTERVAL_LEVELS, name: str = "") -> pd.DataFrame:
    """Wide central intervals, statsforecast-style columns ``{name}-lo-80``, ``{name}-hi-80``."""
    levels = validate_levels(levels)
    prefix = f"{name}-" if name else ""
    q = quantiles(paths, interval_quantiles(levels))
    df = q.to_dataframe(name="v").reset_index().pivot_table(
        index=["region", "horizon"], columns="quantile", values="v").reset_index()
    out = df[["region", "horizon"]].copy()
    out[f"{prefix}median"] = df[0.5]
    for lv in levels:
        lo, hi = interval_bounds(lv)
        out[f"{prefix}lo-{lv:g}"] = df[lo]
        out[f"{prefix}hi-{lv:g}"] = df[hi]
    return out


def total_within(paths: xr.DataArray, within: int | None = None,
                 regions: Sequence[str] | None = None) -> np.ndarray:
    """Per draw: new displacement summed over ``regions`` (default all) and the first ``within`` periods."""
    h = paths.sizes["horizon"] if within is None else within
    if h > paths.sizes["horizon"]:
        raise ValueError(f"within={h} is longer than the forecast horizon ({paths.sizes['horizon']} periods)")
    if h < 1:
        raise ValueError(f"within={h}; expected at least 1 period")
    sub = paths if regions is None else paths.sel(region=list(regions))
    return sub.isel(horizon=slice(0, h)).sum(("region", "horizon")).values


def prob_exceed_total(paths: xr.DataArray, threshold: float, within: int | None = None) -> float:
    """P(cumulative new displacement over all regions within ``within`` periods > threshold)."""
    return float((total_within(paths, within) > threshold).mean())


def hub_frame(
    paths_by_scenario: dict[str, xr.DataArray],
    *,
    quantile_levels: Sequence[float] = QUANTILE_LEVELS,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    targets: Sequence[str] = ("new_displaced", "cum_new_displaced"),
) -> pd.DataFrame:
    """The long, hubverse-style forecast table for several scenarios.

    Columns :data:`HUB_COLUMNS`. ``output_type`` is ``mean``, ``quantile`` (``output_type_id`` =
    level) or ``cdf`` (``output_type_id`` = threshold, ``value`` = P(X <= threshold), so
    P(more than the threshold) = 1 - value). Region ``ALL`` is the sum of regions draw by draw.
    """
    levels = validate_quantiles(quantile_levels)
    frames = []
    for scen, paths in paths_by_scenario.items():
        p = with_total(paths)
        for target in targets:
            if target not in TARGETS:
                raise ValueError(f"unknown target {target!r}; expected one of {list(TARGETS)}")
            x = p if target == "new_displaced" else cumulative(p)
            base = dict(origin_date=paths.attrs.get("origin_date"), scenario=scen, target=target)
            mean = x.mean("draw")
            frames.append(_long(mean, "mean", None, base))
            q = quantiles(x, levels)
            for i, lv in enumerate(levels):
                frames.append(_long(q.isel(quantile=i), "quantile", lv, base))
            if thresholds:
                ex = exceedance(x, thresholds)
                for i, th in enumerate(ex["threshold"].values):
                    cdf = 1.0 - ex.isel(threshold=i)
                    frames.append(_long(cdf, "cdf", th, base))
    df = pd.concat(frames, ignore_index=True)
    return df[list(HUB_COLUMNS)]


def _long(a: xr.DataArray, output_type: str, type_id: float | None, base: dict) -> pd.DataFrame:
    regions = a["region"].values
    hz = a["horizon"].values
    dates = pd.DatetimeIndex(a["target_date"].values)
    vals = a.transpose("region", "horizon").values
    R, H = vals.shape
    return pd.DataFrame({
        "origin_date": base["origin_date"],
        "scenario": base["scenario"],
        "region": np.repeat(regions, H),
        "target": base["target"],
        "horizon": np.tile(hz, R),
        "target_date": np.tile(dates.strftime("%Y-%m-%d"), R),
        "output_type": output_type,
        "output_type_id": _type_id(output_type, type_id),
        # people to 0.1, probabilities to 1e-4: beyond that the digits are Monte Carlo noise
        "value": np.round(vals.reshape(-1), 4 if output_type == "cdf" else 1),
    })


def _type_id(output_type: str, type_id: float | None) -> str:
    if type_id is None:
        return ""
    if output_type == "quantile":
        return f"{type_id:g}"
    return f"{type_id:.0f}"


#: Quantile level whose reach :func:`tail_warnings` checks, and the multiple of a region's largest
#: count on record it names (the driver-free members' own cap is 10 times it, ``MAX_GROWTH``).
TAIL_LEVEL, TAIL_RECORD_MULTIPLE = 0.99, 10.0


def tail_warnings(paths: xr.DataArray, history: np.ndarray, at_risk: np.ndarray, unit: str = "period",
                  level: float = TAIL_LEVEL, multiple: float = TAIL_RECORD_MULTIPLE) -> list[str]:
    """Warnings for regions whose forecast upper tail runs into a bound rather than the data.

    ``paths`` ``(draw, region, horizon)`` (one scenario, regions only), ``history`` the observed
    counts ``(region, period)`` (NaN = missing), ``at_risk`` the people at risk at the origin
    ``(region,)`` (the region table's population for counts of movements). A region is named when
    its ``level`` quantile in some period reaches its people at risk (every path above it would be
    capped there: the tail is then the population column's, which may be a placeholder), or reaches
    ``multiple`` times its largest count on record. Such quantiles are what the exceedance
    probabilities of high thresholds read; they say more about the bound than about the conflict.
    Why: the Syria recipe's panel (OCHA arrivals, placeholder populations of 1,000,000) forecast
    with ``auto`` had Deir-ez-Zor's 99% quantile at 1,000,000 in month 3 and Quneitra's at 230,865,
    10x its largest month, with nothing said (a new user's trial, 2026-12-02).
    """
    q = np.quantile(np.asarray(paths, float), level, axis=0)  # (region, horizon)
    codes = [str(c) for c in paths.coords["region"].values]
    record = np.nanmax(np.where(np.isfinite(history), history, -np.inf), axis=1)
    pct = f"{level * 100:g}%"
    out = []
    for r, code in enumerate(codes):
        hit = np.flatnonzero(q[r] >= 0.999 * at_risk[r]) if at_risk[r] > 0 else np.zeros(0, int)
        big = np.flatnonzero(q[r] >= multiple * record[r]) if np.isfinite(record[r]) and record[r] > 0 else hit[:0]
        if len(hit):
            out.append(f"region {code}: the {pct} quantile of new displacement reaches the people at risk "
                       f"({at_risk[r]:,.0f}, from the region table's population) in {_span(hit, unit)}: that "
                       "tail is the population column's, not the data's; check the population (a placeholder?)")
        elif len(big):
            out.append(f"region {code}: the {pct} quantile of new displacement is {q[r, big].max():,.0f} in "
                       f"{_span(big, unit)}, {q[r, big].max() / record[r]:,.0f}x its largest {unit} on record "
                       f"({record[r]:,.0f}); such a tail rests on the model, not on anything the data have shown")
    return out


def _span(idx: np.ndarray, unit: str) -> str:
    """``month 3`` or ``months 2-3`` (1-based horizons; ``idx`` sorted, 0-based)."""
    a, b = int(idx[0]) + 1, int(idx[-1]) + 1
    return f"{unit} {a}" if a == b else f"{unit}s {a}-{b}"

