"""ACLED exports (event lists) -> event counts and fatalities per region and period.

Every era of the export is read: the current layout (lower-case headers, ``sub_event_type``),
the pre-2019 layout (upper-case headers such as ``EVENT_DATE``, no ``sub_event_type``, event
types such as ``Remote violence``), CSVs saved by Excel in other locales (``;`` or tab,
decimal commas in ``latitude``/``longitude``, a BOM) and workbooks (``.xlsx``). Headers are
matched case-insensitively. A series that needs a column the export lacks (strikes and shelling
need ``sub_event_type``) is reported unavailable in one warning line and left out - never filled
with zeros.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..aggregate import aggregate
from ..regions import RegionTable
from ..schema import FREQUENCIES, DataError, DataWarning, Problem
from .common import (
    coverage,
    finish,
    flag_partial_periods,
    map_event_regions,
    parse_dates,
    read_columns,
)

__all__ = ["ACLED_EVENT_TYPES", "ACLED_LEVELS", "ACLED_SUB_EVENT_TYPES", "DEFAULT_ACLED_SERIES", "load_acled"]

#: ACLED sub-event types (codebook 2023); used to flag misspelt keys in a series map.
ACLED_SUB_EVENT_TYPES: frozenset[str] = frozenset({
    "Government regains territory", "Non-state actor overtakes territory", "Armed clash",
    "Excessive force against protesters", "Protest with intervention", "Peaceful protest",
    "Violent demonstration", "Mob violence", "Chemical weapon", "Air/drone strike",
    "Suicide bomb", "Shelling/artillery/missile attack", "Remote explosive/landmine/IED",
    "Grenade", "Sexual violence", "Attack", "Abduction/forced disappearance", "Agreement",
    "Arrests", "Change to group/activity", "Disrupted weapons use", "Headquarters or base established",
    "Looting/property destruction", "Non-violent transfer of territory", "Other",
})

#: ACLED event types: since 2019, and the older ones (pre-2019 exports have no sub-event types).
ACLED_EVENT_TYPES: frozenset[str] = frozenset({
    "Battles", "Explosions/Remote violence", "Violence against civilians", "Protests", "Riots",
    "Strategic developments",
    "Battle-No change of territory", "Battle-Government regains territory",
    "Battle-Non-state actor overtakes territory", "Remote violence", "Riots/Protests",
    "Non-violent transfer of territory", "Headquarters or base established",
})

#: Columns of an ACLED export (codebook 2023, lower case): never offered as a near miss.
ACLED_COLUMNS: frozenset[str] = frozenset({
    "event_id_cnty", "event_id_no_cnty", "event_date", "year", "time_precision", "disorder_type",
    "event_type", "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2",
    "inter2", "interaction", "civilian_targeting", "iso", "iso3", "region", "country", "admin1", "admin2",
    "admin3", "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
})


def _missing_columns_why(cols: Sequence[str], header: Sequence[str], dates: pd.Series) -> str:
    """``"'sub_event_type' (did you mean 'subevent'?)"``: the absent columns, each with the header's
    near miss when there is one (a renamed column); the pre-2019 layout is named as the reason
    only when there is no near miss and the export's events all predate 2019."""
    import difflib

    others = {h.lower().replace(" ", "_"): h for h in header if h.lower() not in ACLED_COLUMNS}
    parts = []
    for c in cols:
        near = difflib.get_close_matches(c, list(others), n=1, cutoff=0.6)
        parts.append(f"{c!r} (did you mean {others[near[0]]!r}?)" if near else repr(c))
    text = " or ".join(parts)
    last = dates.max()
    if "(did you mean" not in text and "sub_event_type" in cols and pd.notna(last) and last.year < 2019:
        text += " (ACLED exports before 2019 have no sub-event types)"
    return text


#: Default ACLED mapping: sub-event type (or event type) -> series. ``events`` (all events) and
#: ``fatalities`` (sum) are always added unless ``totals`` says otherwise.
DEFAULT_ACLED_SERIES: dict[str, str] = {
    "Air/drone strike": "strikes",
    "Shelling/artillery/missile attack": "shelling",
}

#: Columns that can name the region.
ACLED_LEVELS = ("admin1", "admin2", "admin3", "country")


#: The admin levels a recipe or ``--level`` names (``admin1``) -> this export's column.
LEVEL_COLUMNS = {"admin1": "admin1", "admin2": "admin2", "admin3": "admin3", "country": "country"}


def load_acled(
    path: str | Path,
    regions: RegionTable | None = None,
    *,
    freq: str = "W",
    level: str = "admin1",
    series_map: Mapping[str, str] | None = None,
    totals: Sequence[str] = ("events", "fatalities"),
    date_format: str | None = None,
    strict: bool = False,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    complete_periods: bool = False,
    delimiter: str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Count ACLED events per region and period from a raw ACLED export (CSV or workbook).

    Parameters
    ----------
    path
        ACLED export (columns ``event_date``, ``admin1``, ``event_type``, ``sub_event_type``,
        ``fatalities``, ...; any letter case; ``,`` ``;`` or tab separated, or ``.xlsx``).
    regions
        Region table to map names to codes; ``None`` uses the names themselves as codes.
    freq
        ``D``, ``W`` (Monday weeks) or ``M`` (months).
    level
        Column naming the region: ``admin1``, ``admin2``, ``admin3`` or ``country``.
    series_map
        ``{sub_event_type or event_type: series}``; default :data:`DEFAULT_ACLED_SERIES`.
        Several types may map to one series. A sub-event type takes precedence over its
        event type.
    totals
        Extra series: ``events`` (all events) and/or ``fatalities`` (sum of ``fatalities``).
    date_format
        strptime format of ``event_date``; detected per file when None. A file whose dates
        read both day-first and month-first is resolved when only one reading gives
        consecutive dates, refused otherwise.
    strict
        Raise instead of warning when a name does not match the region table.
    start, end
        Coverage of the export. Defaults to the first and last event date; ACLED is an event
        list, so periods inside the coverage with no event are real zeros (filled), periods
        outside are not observed (absent).
    complete_periods
        Drop first/last periods that the coverage only partly spans (their counts are low);
        when False such periods are kept and named in a :class:`DataWarning`.
    delimiter
        CSV delimiter; sniffed (``,`` ``;`` tab) when None.
    progress
        Show a progress bar on stderr for large files (None: only on a terminal).

    Returns
    -------
    pandas.DataFrame
        Observations ``date, region, series, value, source``; one row per period x region x
        available series, zero-filled inside the coverage.

    Raises
    ------
    DataError
        Missing ``event_date`` or region column, unreadable dates or numbers (every one listed).
    """
    path = Path(path)
    file = str(path)
    if freq not in FREQUENCIES:
        raise DataError(Problem(file, None, None, f"unknown frequency {freq!r}; expected D, W or M"))
    if level not in ACLED_LEVELS:
        raise DataError(Problem(file, None, None, f"unknown level {level!r}; expected {', '.join(ACLED_LEVELS)}"))
    smap = dict(DEFAULT_ACLED_SERIES if series_map is None else series_map)
    bad_totals = [t for t in totals if t not in ("events", "fatalities")]
    if bad_totals:
        raise DataError(Problem(file, None, None, f"unknown totals {bad_totals}; expected 'events' and/or 'fatalities'"))
    # country: the rows a refusal for a wrong level counts (map_region_names' scope)
    wanted = ["event_date", level, "event_type", "sub_event_type", "fatalities", *(["country"] if level != "country" else [])]
    df, lines = read_columns(path, wanted, required=["event_date", level], numeric=["fatalities"],
                             what="ACLED export", delimiter=delimiter, progress=progress,
                             event_id="event_id_cnty")
    dates = parse_dates(df["event_date"], file=file, column="event_date", lines=lines, date_format=date_format)
    # most rows matching no region: the wrong level, refused with the level that matches
    codes = map_event_regions(df, level, LEVEL_COLUMNS, regions, path=path, file=file, lines=lines, strict=strict,
                              delimiter=delimiter)

    # What this export can count: sub-event keys need sub_event_type, the rest event_type.
    type_cols = [c for c in ("sub_event_type", "event_type") if c in df.columns]
    present = set()
    for c in type_cols:
        present |= set(pd.unique(df[c].dropna()))
    unavailable: dict[str, str] = {}
    usable: dict[str, str] = {}
    for key, series in smap.items():
        if key in present or (key in ACLED_EVENT_TYPES and "event_type" in df.columns) or \
           (key in ACLED_SUB_EVENT_TYPES and "sub_event_type" in df.columns):
            usable[key] = series
        elif key in ACLED_SUB_EVENT_TYPES and "sub_event_type" not in df.columns:
            unavailable.setdefault(series, "sub_event_type")
        elif key in ACLED_EVENT_TYPES and "event_type" not in df.columns:
            unavailable.setdefault(series, "event_type")
        else:
            usable[key] = series
    need_fat = "fatalities" in totals
    if need_fat and "fatalities" not in df.columns:
        unavailable["fatalities"] = "fatalities"
        need_fat = False
    # A series still fed by another usable key is available.
    unavailable = {s: c for s, c in unavailable.items() if s not in usable.values()}
    if unavailable:
        cols = sorted(set(unavailable.values()))
        warnings.warn(f"{file}: series {', '.join(unavailable)} unavailable: this export has no column "
                      f"{_missing_columns_why(cols, df.attrs.get('header', []), dates)}; "
                      f"counted: {', '.join(sorted(set(usable.values()) | {t for t in totals if t not in unavailable}))}",
                      DataWarning, stacklevel=2)
    odd = [k for k in usable if k not in present and k not in ACLED_SUB_EVENT_TYPES and k not in ACLED_EVENT_TYPES]
    if odd:
        warnings.warn(f"{file}: series_map keys {odd} are neither ACLED event types nor present in the file; "
                      f"they will count zero (misspelt?)", DataWarning, stacklevel=2)

    keep = codes.notna().to_numpy()
    lo, hi = coverage(dates, start, end)
    parts = []
    base = pd.DataFrame({"date": dates[keep].to_numpy(), "region": codes[keep].to_numpy()})
    mapped = []
    for c in type_cols:  # sub-event type first; mapped once per distinct type
        tcodes, uniq = pd.factorize(df[c][keep], use_na_sentinel=True)
        look = np.array([usable.get(u) for u in uniq] + [None], dtype=object)
        mapped.append(pd.Series(look[tcodes], index=base.index))
    series = mapped[0] if mapped else pd.Series(np.nan, index=base.index)
    for m in mapped[1:]:
        series = series.fillna(m)
    series = series.to_numpy()
    has = pd.notna(series)
    if has.any():
        parts.append(base[has].assign(series=series[has], value=1.0))
    if "events" in totals:
        parts.append(base.assign(series="events", value=1.0))
    if need_fat:
        parts.append(base.assign(series="fatalities", value=df["fatalities"][keep].to_numpy(dtype=float)))
    events = pd.concat(parts, ignore_index=True) if parts else base.assign(series=[], value=[])
    # Every available series gets a full grid, even one with no event at all (a real zero).
    all_series = sorted((set(usable.values()) | set(totals)) - set(unavailable))
    grid_regions = regions.codes if regions is not None else sorted(pd.unique(codes.dropna()))
    src = f"ACLED {path.name}"
    out = aggregate(events, freq, fill_zeros=True, regions=grid_regions, series=all_series, start=lo, end=hi, source=src)
    out = flag_partial_periods(out, freq, lo, hi, file=file, complete_periods=complete_periods)
    return finish(out, file=file, regions=regions, freq=freq)
