"""Aggregating event lists and fine-grained counts to daily, weekly or monthly periods per region.

Why a separate step: raw sources arrive as event lists (ACLED, UCDP) or daily/irregular counts
(UNHCR, HXL feeds), while models work on one frequency. Periods are labelled by
:func:`.schema.period_start` (the day; Monday of the week; 1st of the month).

Zeros versus missing
--------------------
For *event lists*, a region-period with no event inside the file's coverage is a real zero, so
:func:`aggregate` fills the grid with 0 when ``fill_zeros=True``. Periods outside the coverage
(``start``..``end``) are not observed and are left out, never filled. For *measured* series
(displacement counts) nothing is filled: a missing row stays missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..conventions import GRID_FREQ
from .schema import FREQUENCIES, period_start


def aggregate(
    events: pd.DataFrame,
    freq: str,
    *,
    fill_zeros: bool = False,
    regions: Sequence[str] | None = None,
    series: Sequence[str] = (),
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Sum ``value`` per period, region and series.

    Parameters
    ----------
    events
        Frame with columns ``date`` (datetime64, any day), ``region``, ``series``, ``value``.
    freq
        ``D``, ``W`` (Monday-labelled weeks) or ``M`` (1st-of-month-labelled months).
    fill_zeros
        Fill every (period, region, series) cell of the coverage grid that has no row with 0 -
        right for event lists, wrong for measured series.
    regions
        Regions of the grid when filling (default: regions present in ``events``).
    series
        Series of the grid when filling besides those present in ``events``: a series an event
        list can count but that has no event is all zeros, not absent.
    start, end
        Coverage of the source (default: first and last date in ``events``). Rows outside are
        dropped; periods outside are not created.
    source
        Value for an optional ``source`` column.

    Returns
    -------
    A tidy observation frame sorted by series, region, date. Sums of all-missing cells stay NaN.
    """
    if freq not in FREQUENCIES:
        raise ValueError(f"unknown frequency {freq!r}; expected one of {sorted(FREQUENCIES)}")
    df = events[["date", "region", "series", "value"]]
    dates = pd.to_datetime(df["date"])
    lo = pd.Timestamp(start) if start is not None else dates.min()
    hi = pd.Timestamp(end) if end is not None else dates.max()
    if start is not None or end is not None:
        keep = (dates >= lo) & (dates <= hi)
        df, dates = df[keep], dates[keep]
    period = period_start(dates, freq) if len(df) else pd.Series([], dtype="datetime64[ns]")
    work = pd.DataFrame({
        "date": period.to_numpy(),
        "region": df["region"].to_numpy(),
        "series": df["series"].to_numpy(),
        "value": pd.to_numeric(df["value"]).to_numpy(dtype=float),
    })
    out = (
        work.groupby(["series", "region", "date"], sort=True, observed=True)["value"]
        .sum(min_count=1)
        .reset_index()
    )
    if fill_zeros and not pd.isna(lo):
        grid_dates = pd.date_range(period_start(pd.Series([lo]), freq).iloc[0],
                                   period_start(pd.Series([hi]), freq).iloc[0], freq=GRID_FREQ[freq])
        regs = list(regions) if regions is not None else sorted(work["region"].unique())
        sers = sorted(set(work["series"].unique()) | set(series))
        idx = pd.MultiIndex.from_product([sers, regs, grid_dates], names=["series", "region", "date"])
        out = out.set_index(["series", "region", "date"])["value"]
        extra = out.index.difference(idx)
        out = out.reindex(idx.append(extra) if len(extra) else idx).fillna(0.0).reset_index()
    out = out[["date", "region", "series", "value"]]
    if source is not None:
        out["source"] = source
    return out.sort_values(["series", "region", "date"], kind="stable").reset_index(drop=True)


def spread_ranges(
    start: pd.Series, end: pd.Series, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each ``start..end`` day range into days, each carrying ``1/ndays`` of the row.

    Returns ``(row_index, day, share)`` arrays, vectorised (no Python loop over rows), so that an
    event recorded as "sometime between 1 and 10 March" adds 0.1 to each of those ten days.
    """
    s = pd.to_datetime(start).dt.normalize().to_numpy()
    e = pd.to_datetime(end).dt.normalize().to_numpy()
    ndays = ((e - s) // np.timedelta64(1, "D")).astype(np.int64) + 1
    ndays = np.maximum(ndays, 1)
    rows = np.repeat(np.arange(len(s)), ndays)
    offsets = np.arange(rows.size) - np.repeat(np.cumsum(ndays) - ndays, ndays)
    days = s[rows] + offsets.astype("timedelta64[D]")
    share = 1.0 / ndays[rows]
    if weight is not None:
        share = share * np.asarray(weight, dtype=float)[rows]
    return rows, days, share


def sum_complete_periods(obs: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, list[pd.Timestamp], list[pd.Timestamp]]:
    """Sum daily counts into the periods of ``freq`` (``W``, ``M``), whole periods only.

    A period every day of which has a count is their sum. A period at either end of a series that
    the dates cover only in part (the table starts on a Thursday) is left out, and one inside with
    a day without a count (no row, or a blank) is kept as missing (NaN): never summed in part,
    which would read as a fall in the counts.

    Parameters
    ----------
    obs
        Daily observations ``date, region, series, value`` (more columns are dropped; ``source``
        kept, the first of each period).
    freq
        ``W`` (Monday-labelled weeks) or ``M`` (1st-of-month-labelled months).

    Returns
    -------
    (summed, edges_left_out, kept_missing)
        The observations at ``freq``; the labels of the edge periods left out and of the inner
        periods kept missing (over all series, sorted, unique).
    """
    if freq not in ("W", "M"):
        raise ValueError(f"freq must be 'W' or 'M' to sum daily counts into; got {freq!r}")
    d = obs.assign(date=pd.to_datetime(obs["date"]).dt.normalize())
    d["_period"] = period_start(d["date"], freq).to_numpy()
    keys = ["series", "region"]
    span = d.groupby(keys, observed=True)["date"].agg(["min", "max"])
    g = d.groupby([*keys, "_period"], observed=True)
    out = g.agg(value=("value", lambda v: v.sum() if v.notna().all() else np.nan),
                days=("value", "count"))
    if "source" in d.columns:
        out["source"] = g["source"].first()
    out = out.reset_index()
    start = pd.to_datetime(out["_period"])
    end = start + (pd.Timedelta(days=6) if freq == "W" else pd.offsets.MonthEnd(0))
    length = (end - start).dt.days + 1
    lo = span["min"].reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy()
    hi = span["max"].reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy()
    edge = (start.to_numpy() < lo) | (end.to_numpy() > hi)
    short = ~edge & (out["days"].to_numpy() < length.to_numpy())
    out.loc[short, "value"] = np.nan
    left_out = sorted(set(start[edge]))
    missing = sorted(set(start[short]))
    out = out[~edge].rename(columns={"_period": "date"}).drop(columns="days")
    cols = ["date", "region", "series", "value", *(["source"] if "source" in out.columns else [])]
    return out[cols].sort_values(["series", "region", "date"], kind="stable").reset_index(drop=True), left_out, missing
