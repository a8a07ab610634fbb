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


#: Share of a cell's paths at exactly their largest value from which :func:`tail_warnings` reads
#: that value as a bound the paths were cut at (a cap), and the smallest such value it names.
CAP_SHARE, CAP_MIN = 0.01, 100.0


def tail_warnings(paths: xr.DataArray, population: np.ndarray, at_risk: np.ndarray, depletes: np.ndarray,
                  history: np.ndarray, unit: str = "period", share: float = CAP_SHARE) -> list[str]:
    """Warnings for regions whose forecast upper tail is cut at a bound rather than drawn from the data.

    ``paths`` ``(draw, region, horizon)`` (one scenario, regions only); ``population``, ``at_risk``
    (people not yet displaced at the origin) and ``depletes`` ``(region,)`` from the region table
    and the panel (:meth:`Panel.depletes`: False where counts are movements); ``history`` the
    observed counts ``(region, period)``. A cell is cut
    when at least ``share`` of its paths sit exactly at their largest value (at least
    :data:`CAP_MIN`): a pile of paths at one value is a bound, not a tail. Named:

    * regions whose counts are movements and whose paths pile at the population: each period is
      capped at the region table's population, so the tail is that column's (a placeholder there
      sets it);
    * any other pile: a model's own cap, e.g. ``dynamic``'s and
      ``sarimax``'s 10 times the region's largest count on record (``MAX_GROWTH``); probabilities
      of more are 0 by construction.

    A depleting region whose paths pile at the people not yet displaced (first period) is not
    named: emptying is the bookkeeping of people at risk, not a bound of the data.
    Why: the Syria recipe's panel (OCHA arrivals, placeholder populations of 1,000,000) forecast
    with ``auto`` had Deir-ez-Zor's 99% quantile at 1,000,000 in month 3 and Damascus' at 155,080,
    10 times its largest month plus 10, with nothing said (a new user's trial, 2026-12-02).
    """
    p = np.asarray(paths, float)
    top = p.max(axis=0)  # (region, horizon)
    at_top = (p == top[None]).mean(axis=0)  # share of the paths at it
    piled = (at_top >= share) & (top >= CAP_MIN)
    codes = [str(c) for c in paths.coords["region"].values]
    record = np.nanmax(np.where(np.isfinite(history), history, -np.inf), axis=1)
    out = []
    for r, code in enumerate(codes):
        at_pop = piled[r] & (top[r] >= 0.999 * population[r])
        if not depletes[r] and at_pop.any():
            out.append(f"region {code}: in {_periods(np.flatnonzero(at_pop), unit)} {_pct(at_top[r], at_pop)} "
                       f"of the paths sit at the region table's population ({population[r]:,.0f}), the cap of "
                       "each period where counts are movements: there the whole population moves at once; that "
                       "tail is set by the population column, not by the data (a placeholder population sets "
                       "the chances of large totals too)")
        emptied = np.zeros_like(at_pop)
        if depletes[r]:
            emptied[0] = top[r, 0] >= 0.999 * at_risk[r]
        other = piled[r] & ~at_pop & ~emptied
        if other.any():
            cap = float(top[r][other].max())
            times = f", {cap / record[r]:,.1f}x its largest {unit} on record ({record[r]:,.0f})" \
                if np.isfinite(record[r]) and record[r] > 0 else ""
            out.append(f"region {code}: in {_periods(np.flatnonzero(other), unit)} {_pct(at_top[r], other)} of "
                       f"the paths sit at one value (up to {cap:,.0f}{times}), a model's cap: the tail is cut "
                       "there, so the chance of more is 0 by construction")
    return out


def _pct(at_top: np.ndarray, cells: np.ndarray) -> str:
    """``up to 3%``: the largest share of paths at the top value over ``cells`` (one region's horizons)."""
    v = float(at_top[cells].max())
    return f"up to {v:.0%}" if v >= 0.01 else f"up to {v:.1%}"


def _periods(idx: np.ndarray, unit: str) -> str:
    """``month 3``, ``weeks 7-8 and 10-11`` (``idx``: 0-based horizons, sorted)."""
    runs, start = [], int(idx[0])
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if b != a + 1:
            runs.append((start, int(a)))
            start = int(b)
    runs.append((start, int(idx[-1])))
    parts = [f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{unit}{'' if len(idx) == 1 else 's'} {text}"
