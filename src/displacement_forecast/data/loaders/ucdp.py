"""UCDP GED event CSVs -> events and best-estimate deaths per region and period.

UCDP records uncertain or multi-day events as a date range (``date_start`` .. ``date_end``);
by default an event is spread evenly over the days of its range. Strikes and shelling are not a
UCDP classification: a file may carry 0/1 flag columns (e.g. ``kw_air``, ``kw_shelling``, keyword
guesses from the headline) that ``flags`` maps to series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..aggregate import aggregate, spread_ranges
from ..regions import RegionTable
from ..schema import FREQUENCIES, KNOWN_SERIES, DataError, Problem
from .common import (
    coverage,
    finish,
    flag_partial_periods,
    map_event_regions,
    parse_dates,
    read_columns,
    row_problems,
)

__all__ = ["UCDP_LEVELS", "load_ucdp_ged"]

#: Columns that can name the region.
UCDP_LEVELS = ("adm_1", "adm_2", "country")


#: The admin levels a recipe or ``--level`` names (``admin1``) -> this export's column.
LEVEL_COLUMNS = {"admin1": "adm_1", "admin2": "adm_2", "country": "country"}


def load_ucdp_ged(
    path: str | Path,
    regions: RegionTable | None = None,
    *,
    freq: str = "W",
    level: str = "adm_1",
    date_range: str = "spread",
    violence_types: Iterable[int] | None = None,
    flags: Mapping[str, str] | None = None,
    date_format: str | None = None,
    strict: bool = False,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    complete_periods: bool = False,
    delimiter: str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Count UCDP GED events (``events``) and best-estimate deaths (``fatalities``) per region.

    Parameters
    ----------
    date_range
        What to do with events whose ``date_start`` differs from ``date_end``: ``"spread"``
        (default) splits the event and its deaths evenly over the days of the range before
        aggregating, so counts can be fractional; ``"start"`` puts the whole event on
        ``date_start``. Spreading avoids piling a month-long range onto its first day.
    violence_types
        Keep only these ``type_of_violence`` codes (1 state-based, 2 non-state, 3 one-sided);
        all by default.
    flags
        ``{column: series}``: count events whose 0/1 ``column`` is 1 as ``series`` (e.g.
        ``{"kw_air": "strikes", "kw_shelling": "shelling"}``).
    level
        Column naming the region (``adm_1``, ``adm_2`` or ``country``). UCDP names such as
        "Idlib governorate" also match a table entry "Idlib" (admin suffixes are ignored).

    Other parameters as in :func:`~.acled.load_acled`.

    Returns
    -------
    pandas.DataFrame
        Observations ``date, region, series, value, source``, zero-filled inside the coverage.
    """
    path = Path(path)
    file = str(path)
    if date_range not in ("spread", "start"):
        raise DataError(Problem(file, None, None, f"unknown date_range {date_range!r}; expected 'spread' or 'start'"))
    if freq not in FREQUENCIES:
        raise DataError(Problem(file, None, None, f"unknown frequency {freq!r}; expected D, W or M"))
    if level not in UCDP_LEVELS:
        raise DataError(Problem(file, None, None, f"unknown level {level!r}; expected {', '.join(UCDP_LEVELS)}"))
    flags = dict(flags or {})
    bad = [s for s in flags.values() if s not in KNOWN_SERIES]
    if bad:
        raise DataError(Problem(file, None, "flags", f"unknown series {bad}; expected one of {', '.join(KNOWN_SERIES)}"))
    base_cols = ["date_start", "date_end", level, "type_of_violence", "best"]
    required = base_cols + [c for c in flags if c not in base_cols]
    # country: the rows a refusal for a wrong level counts (map_region_names' scope)
    wanted = required + (["country"] if "country" not in required else [])
    df, lines = read_columns(path, wanted, required=required, numeric=["best", "type_of_violence", *flags],
                             what="UCDP GED CSV", delimiter=delimiter, progress=progress, event_id="id")
    d0 = parse_dates(df["date_start"], file=file, column="date_start", lines=lines, date_format=date_format).dt.normalize()
    d1 = parse_dates(df["date_end"], file=file, column="date_end", lines=lines, date_format=date_format).dt.normalize()
    backwards = np.flatnonzero((d1 < d0).to_numpy())
    if len(backwards):
        raise DataError(row_problems(file, "date_end", backwards, lines,
                                     lambda i: f"date_end {d1.iloc[i].date()} is before date_start {d0.iloc[i].date()}",
                                     what="have date_end before date_start", cell=lambda i: df["date_end"].iloc[i],
                                     expected="expected date_end on or after date_start"))
    # most rows matching no region: the wrong level, refused with the level that matches
    codes = map_event_regions(df, level, LEVEL_COLUMNS, regions, path=path, file=file, lines=lines, strict=strict,
                              delimiter=delimiter)
    keep = codes.notna().to_numpy()
    if violence_types is not None:
        keep &= df["type_of_violence"].isin(list(violence_types)).to_numpy()
    d0, d1, codes, best = d0[keep], d1[keep], codes[keep], df["best"][keep].to_numpy(dtype=float)
    lo, hi = coverage(pd.concat([d0, d1]), start, end)
    if date_range == "spread":
        rows, days, share = spread_ranges(d0, d1)
    else:
        rows, days, share = np.arange(len(d0)), d0.to_numpy(), np.ones(len(d0))
    reg = codes.to_numpy()[rows]
    parts = [
        pd.DataFrame({"date": days, "region": reg, "series": "events", "value": share}),
        pd.DataFrame({"date": days, "region": reg, "series": "fatalities", "value": share * best[rows]}),
    ]
    for col, series in flags.items():
        flag = (df[col][keep].to_numpy(dtype=float) > 0)[rows]
        parts.append(pd.DataFrame({"date": days[flag], "region": reg[flag], "series": series, "value": share[flag]}))
    events = pd.concat(parts, ignore_index=True)
    grid_regions = regions.codes if regions is not None else sorted(pd.unique(codes.dropna()))
    src = f"UCDP GED {path.name}"
    # a flag never set: real zeros
    out = aggregate(events, freq, fill_zeros=True, regions=grid_regions, series=list(flags.values()), start=lo, end=hi,
                    source=src)
    out = flag_partial_periods(out, freq, lo, hi, file=file, complete_periods=complete_periods)
    return finish(out, file=file, regions=regions, freq=freq)
