"""Loaders for the formats analysts actually receive, each returning a clean observation frame.

* :func:`load_acled` - raw ACLED export (event list) -> event counts and fatalities per region.
* :func:`load_ucdp_ged` - UCDP GED event CSV, with explicit handling of date ranges.
* :func:`load_hxl` - HXL-tagged CSV (row 2 holds hashtags), mapped by tag, not header text.
* :func:`load_mapped` - any CSV/Excel table described by a TOML column mapping, long or wide
  (see :mod:`.mapped`).

Every loader checks its input and raises :class:`~.schema.DataError` listing *all* problems
(file, line, column, what was expected); names it cannot match to the region table are reported
in one :class:`DataWarning` (or a ``DataError`` with ``strict=True``). Output frames pass
:func:`~.schema.check_observations` before they are returned.

Big event exports are read with vectorised pandas (``usecols`` + string dtypes) rather than the
pure-Python :func:`~.io.read_csv_strict`; the strictness checks (extra fields, formula cells,
non-numeric numbers, unreadable dates) are done vectorised on the columns used.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .aggregate import aggregate, spread_ranges
from .io import _is_formula, read_csv_strict
from .regions import RegionTable, normalise_name
from .schema import EARLIEST_DATE, FREQUENCIES, DataError, Problem, check_observations, period_start

__all__ = [
    "ACLED_SUB_EVENT_TYPES",
    "DEFAULT_ACLED_SERIES",
    "DEFAULT_HXL_TAGS",
    "DATE_FORMATS",
    "DataWarning",
    "detect_date_format",
    "load_acled",
    "load_hxl",
    "load_mapped",
    "load_ucdp_ged",
    "map_region_names",
]

#: Max problems of one kind listed per file before summarising (a 1M-row file with a wrong
#: column would otherwise print a million lines).
MAX_PROBLEMS_PER_KIND = 50

#: Date formats tried, in this order, when a file does not say which it uses.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d-%b-%y",
    "%d-%b-%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m",
)

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

#: Default ACLED mapping: sub-event type (or event type) -> series. ``events`` (all events) and
#: ``fatalities`` (sum) are always added unless ``totals`` says otherwise.
DEFAULT_ACLED_SERIES: dict[str, str] = {
    "Air/drone strike": "strikes",
    "Shelling/artillery/missile attack": "shelling",
}

#: Default HXL tag -> role (``date``, ``region`` or a series). Attributes matter and their
#: order does not: ``#affected+idps`` (a stock of IDPs) is *not* ``#affected+idps+new``
#: (newly displaced, a flow), so the stock is left unmapped unless you map it yourself.
DEFAULT_HXL_TAGS: dict[str, str] = {
    "#date": "date",
    "#affected+idps+new": "displaced",
    "#affected+arrivals+idps": "arrivals",
    "#affected+new+refugees": "refugees",
    "#event+num": "events",
    "#affected+killed": "fatalities",
}
#: Region tags tried in this order when the tag map names none.
HXL_REGION_TAGS: tuple[str, ...] = ("#adm1+code", "#adm1+name", "#adm2+code", "#adm2+name",
                                    "#country+code", "#country+name")


class DataWarning(UserWarning):
    """Something in the input was left out or assumed; the message says what and where."""


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _limit(problems: list[Problem], file: str, column: str | None, total: int) -> list[Problem]:
    """Keep the first :data:`MAX_PROBLEMS_PER_KIND` problems and summarise the rest."""
    if total > len(problems):
        problems = problems + [Problem(file, None, column, f"... and {total - len(problems):,} more rows with the same problem")]
    return problems


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(Problem(str(path), None, None, "file not found"))
    if path.is_dir():
        raise DataError(Problem(str(path), None, None, "is a folder; expected a file"))
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise DataError(Problem(str(path), None, None, "file is empty; expected a header line and data rows"))


def _record_lines(path: Path, n: int) -> np.ndarray:
    """Line number where each of the first ``n`` data records starts (quoted newlines aware).

    Only used on the error path, so a pure-Python pass over the file is fine.
    """
    out = np.empty(n, dtype=np.int64)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        start = reader.line_num + 1
        for i, _row in enumerate(reader):
            if i >= n:
                break
            out[i] = start
            start = reader.line_num + 1
    return out


class _Lines:
    """Lazy map from data-record index to file line (cheap unless a problem is reported)."""

    def __init__(self, path: Path, n: int, simple: bool):
        self.path, self.n, self.simple, self._arr = path, n, simple, None

    def __getitem__(self, i: int) -> int:
        if self.simple:
            return int(i) + 2
        if self._arr is None:
            self._arr = _record_lines(self.path, self.n)
        return int(self._arr[i])


class _Progress(io.RawIOBase):
    """Binary file wrapper that advances a tqdm bar as pandas reads it."""

    def __init__(self, fh, bar):
        self.fh, self.bar = fh, bar

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.fh.readinto(b)
        if n:
            self.bar.update(n)
        return n


def _progress_bar(path: Path, desc: str):
    """A tqdm bar on stderr for big files, shown only on a terminal and after 2 seconds."""
    from tqdm.auto import tqdm

    size = path.stat().st_size
    show = size > 20_000_000 and sys.stderr.isatty()
    return tqdm(total=size, unit="B", unit_scale=True, desc=desc, file=sys.stderr,
                disable=not show, delay=2.0, leave=False)


def _read_columns(
    path: Path,
    wanted: Sequence[str],
    *,
    required: Sequence[str],
    numeric: Sequence[str] = (),
    what: str = "file",
) -> tuple[pd.DataFrame, _Lines]:
    """Read only ``wanted`` columns of a big CSV as strings, with vectorised strictness checks.

    Checks: UTF-8, a header, required columns, at least one data row, no row with more fields
    than the header, no formula-like text cells, numbers in ``numeric`` columns.
    """
    file = str(path)
    _check_file(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError as e:
        raise DataError(Problem(file, 1, None, f"not UTF-8 ({e.reason}); save the file as UTF-8")) from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError([
            Problem(file, 1, c, f"required column is missing; is this an {what}? (have: {', '.join(header[:12])}{', ...' if len(header) > 12 else ''})")
            for c in missing
        ])
    use = [c for c in wanted if c in header]
    bar = _progress_bar(path, f"reading {path.name}")
    try:
        with open(path, "rb") as raw:
            src = io.BufferedReader(_Progress(raw, bar), buffer_size=1 << 20)
            df = pd.read_csv(
                src, usecols=use, header=0, dtype=str, encoding="utf-8-sig",
                keep_default_na=False, na_values=[""], skip_blank_lines=True, engine="c",
                low_memory=False,
            )
    except UnicodeDecodeError as e:
        raw_bytes = path.read_bytes()
        try:
            raw_bytes.decode("utf-8-sig")
            line = None
        except UnicodeDecodeError as e2:
            line = raw_bytes[: e2.start].count(b"\n") + 1
        raise DataError(Problem(file, line, None, f"not UTF-8 ({e.reason}); save the file as UTF-8")) from None
    except pd.errors.ParserError as e:
        raise DataError(Problem(file, None, None, f"cannot parse as CSV: {e}")) from None
    finally:
        bar.close()
    if df.empty:
        raise DataError(Problem(file, None, None, "file has only a header; expected data rows"))
    # pandas silently ignores extra fields when usecols is given: count fields ourselves.
    long_rows, simple = _long_records(path, len(header))
    lines = _Lines(path, len(df), simple)

    problems: list[Problem] = []
    problems += _limit([Problem(file, ln, None, f"row has more fields than the header ({len(header)})")
                        for ln in long_rows[:MAX_PROBLEMS_PER_KIND]], file, None, len(long_rows))
    for c in use:
        if c in numeric:
            continue
        codes, uniq = pd.factorize(df[c])
        flagged_u = [k for k, v in enumerate(uniq) if isinstance(v, str) and v[:1] in "=+-@" and _is_formula(v)]
        if flagged_u:
            flagged = np.flatnonzero(np.isin(codes, flagged_u))
            problems += _limit(
                [Problem(file, lines[i], c, f"cell {df[c].iloc[i][:20]!r} starts with {df[c].iloc[i].strip()[0]!r}, like a spreadsheet formula; expected a plain value")
                 for i in flagged[:MAX_PROBLEMS_PER_KIND]], file, c, len(flagged))
    for c in numeric:
        if c not in df.columns:
            continue
        vals = pd.to_numeric(df[c], errors="coerce")
        bad_num = (vals.isna() & df[c].notna()).to_numpy()
        neg = (vals < 0).fillna(False).to_numpy()
        for mask, msg in ((bad_num, "is not a number; expected a non-negative count"),
                          (neg, "is negative; expected a non-negative count")):
            idx = np.flatnonzero(mask)
            problems += _limit([Problem(file, lines[i], c, f"{df[c].iloc[i]!r} {msg}") for i in idx[:MAX_PROBLEMS_PER_KIND]],
                               file, c, len(idx))
        df[c] = vals
    if problems:
        raise DataError(problems)
    return df, lines


def _long_records(path: Path, width: int, chunk: int = 1 << 25) -> tuple[list[int], bool]:
    """Lines of records with more than ``width`` fields, and whether no field holds a newline.

    Vectorised with numpy over the raw bytes (quote parity marks commas and newlines inside
    quoted fields), because pandas' C parser ignores extra fields when ``usecols`` is used.
    """
    inside, open_commas, bad_starts, last = 0, 0, [], b""
    all_nl = out_nl = 0
    with open(path, "rb") as fh:
        fh.readline()  # header
        offset = fh.tell()
        rec_start = offset
        while True:
            data = fh.read(chunk)
            if not data:
                break
            b = np.frombuffer(data, dtype=np.uint8)
            qpos = np.flatnonzero(b == 34)
            cpos = np.flatnonzero(b == 44)
            npos = np.flatnonzero(b == 10)
            all_nl += len(npos)
            # A comma/newline is outside quotes when an even number of quotes precede it.
            cpos = cpos[((np.searchsorted(qpos, cpos) + inside) & 1) == 0]
            npos = npos[((np.searchsorted(qpos, npos) + inside) & 1) == 0]
            out_nl += len(npos)
            if len(npos):
                at = np.searchsorted(cpos, npos)  # commas before each record end
                per = np.diff(at, prepend=0)
                per[0] += open_commas
                starts = np.concatenate([[rec_start], offset + npos[:-1] + 1])
                bad_starts += starts[per > width - 1].tolist()
                open_commas = int(len(cpos) - at[-1])
                rec_start = offset + int(npos[-1]) + 1
            else:
                open_commas += len(cpos)
            inside = (inside + len(qpos)) & 1
            offset += len(data)
            last = data[-1:]
    if open_commas > width - 1 and last not in (b"\n", b""):
        bad_starts.append(rec_start)
    lines: list[int] = []
    if bad_starts:
        with open(path, "rb") as fh:
            blob = fh.read(max(bad_starts[: MAX_PROBLEMS_PER_KIND]) + 1)
        lines = [blob[:s].count(b"\n") + 1 for s in bad_starts[:MAX_PROBLEMS_PER_KIND]]
        lines += [-1] * (len(bad_starts) - len(lines))
    return lines, all_nl == out_nl


def detect_date_format(values: Iterable[str], candidates: Sequence[str] = DATE_FORMATS) -> tuple[str | None, list[str]]:
    """Find the one format in ``candidates`` that reads every value.

    Returns ``(format, [])`` when exactly one format reads all values (or several read them
    identically), ``(None, formats)`` when several read all values but disagree (ambiguous, e.g.
    ``05/01/2022`` with day-first and month-first), and ``(None, [])`` when none reads all.
    """
    u = pd.Index(pd.unique(pd.Series(list(values), dtype=object).dropna().astype(str).str.strip()))
    if u.empty:
        return None, []
    full: list[tuple[str, pd.DatetimeIndex]] = []
    for fmt in candidates:
        parsed = pd.to_datetime(u, format=fmt, errors="coerce")
        if not parsed.isna().any():
            full.append((fmt, parsed))
    if not full:
        return None, []
    first_fmt, first = full[0]
    disagree = [fmt for fmt, p in full[1:] if not p.equals(first)]
    if disagree:
        return None, [first_fmt, *disagree]
    return first_fmt, []


def _parse_dates(
    raw: pd.Series, *, file: str, column: str, lines, date_format: str | None,
    candidates: Sequence[str] = DATE_FORMATS,
) -> pd.Series:
    """Parse a date column with one format per file (given or detected); all problems listed."""
    codes, uniq = pd.factorize(raw, use_na_sentinel=True)
    ustr = pd.Series(uniq, dtype=object).astype(str).str.strip()
    problems: list[Problem] = []
    empty_u = (ustr == "").to_numpy()
    empty = np.flatnonzero((codes < 0) | np.isin(codes, np.flatnonzero(empty_u)))
    if len(empty):
        problems += _limit([Problem(file, lines[i], column, "empty date; expected a date") for i in empty[:MAX_PROBLEMS_PER_KIND]],
                           file, column, len(empty))
    vals = ustr[~empty_u]
    fmt = date_format
    if fmt is None:
        fmt, ambiguous = detect_date_format(vals, candidates)
        if ambiguous:
            ex = vals.iloc[0]
            raise DataError(Problem(file, None, column,
                                    f"dates such as {ex!r} can be read as {' or '.join(ambiguous)} with different results; "
                                    f"pass date_format= to say which"))
        if fmt is None:
            # Use the format that reads most values so the report lists the odd ones out.
            best = max(candidates, key=lambda f: pd.to_datetime(vals, format=f, errors="coerce").notna().sum())
            if pd.to_datetime(vals, format=best, errors="coerce").notna().sum() == 0:
                ex = ", ".join(repr(x) for x in vals.iloc[:3])
                raise DataError(Problem(file, None, column,
                                        f"cannot read dates such as {ex}; expected one of the formats YYYY-MM-DD, DD/MM/YYYY, "
                                        f"'15 February 2022', 'February 15, 2022' (or pass date_format=)"))
            fmt = best
    udates = pd.to_datetime(ustr, format=fmt, errors="coerce")
    bad_u = np.flatnonzero(udates.isna().to_numpy() & ~empty_u)
    bad = np.flatnonzero(np.isin(codes, bad_u))
    problems += _limit([Problem(file, lines[i], column, f"cannot read {ustr.iloc[codes[i]]!r} as a date in format {fmt!r}")
                        for i in bad[:MAX_PROBLEMS_PER_KIND]], file, column, len(bad))
    today = pd.Timestamp.today().normalize()
    oor_u = np.flatnonzero(((udates < EARLIEST_DATE) | (udates > today + pd.Timedelta(days=366))).fillna(False).to_numpy())
    oor = np.flatnonzero(np.isin(codes, oor_u))
    problems += _limit([Problem(file, lines[i], column, f"date {udates.iloc[codes[i]].date()} is out of range; expected between {EARLIEST_DATE.date()} and next year")
                        for i in oor[:MAX_PROBLEMS_PER_KIND]], file, column, len(oor))
    udates = pd.concat([udates, pd.Series([pd.NaT])], ignore_index=True).astype("datetime64[ns]")
    dates = pd.Series(udates.to_numpy()[codes], index=raw.index)  # code -1 -> the trailing NaT
    if problems:
        raise DataError(problems)
    return dates.astype("datetime64[ns]")


def _strip_admin_suffix(name: str) -> str:
    n = normalise_name(name)
    for suffix in (" governorate", " province", " region", " oblast", " state", " district", " gobolka"):
        if n.endswith(suffix):
            return n[: -len(suffix)]
    return n


def map_region_names(
    names: pd.Series,
    regions: RegionTable | None,
    *,
    file: str,
    column: str,
    lines,
    strict: bool = False,
) -> pd.Series:
    """Map region names (or codes) to region codes; NaN where a name is blank or unmatched.

    With ``regions=None`` the stripped names themselves are the codes. Otherwise names are
    matched by :meth:`RegionTable.match` (normalised names, aliases), then again with admin
    suffixes such as "governorate" removed. Unmatched names are listed with their row counts
    and first line in one :class:`DataWarning` (their rows are left out), or raised as a
    :class:`DataError` when ``strict``. Blank names are always a warning (ACLED lists events at
    sea with no admin1).
    """
    ncodes, nuniq = pd.factorize(names)
    ustrip = pd.Series(nuniq, dtype=object).astype(str).str.strip()
    s = pd.Series(pd.Categorical.from_codes(ncodes, categories=pd.Index(ustrip).unique()) if not ustrip.duplicated().any()
                  else ustrip.to_numpy()[ncodes], index=names.index).astype(object).where(ncodes >= 0)
    blank = ((ncodes < 0) | ((ncodes >= 0) & (ustrip.to_numpy()[np.maximum(ncodes, 0)] == ""))).astype(bool)
    if blank.any():
        first = lines[int(np.flatnonzero(blank)[0])]
        warnings.warn(f"{file}: {int(blank.sum()):,} row(s) with no {column!r} (first on line {first}) left out",
                      DataWarning, stacklevel=3)
    if regions is None:
        return s.where(~blank)
    uniq = [u for u in pd.unique(s[~blank])]
    matched, unmatched = regions.match(uniq)
    if unmatched:
        lookup = regions.name_map()
        stripped = {_strip_admin_suffix(k): v for k, v in lookup.items()}
        still = []
        for n in unmatched:
            code = lookup.get(_strip_admin_suffix(n)) or stripped.get(_strip_admin_suffix(n))
            if code is None:
                still.append(n)
            else:
                matched[n] = code
        unmatched = still
    codes = s.map(matched).where(~blank)
    if unmatched:
        counts = s[s.isin(unmatched)].value_counts()
        first_idx = {n: int(np.flatnonzero((s == n).fillna(False).to_numpy())[0]) for n in unmatched}
        if strict:
            raise DataError([
                Problem(file, lines[first_idx[n]], column,
                        f"region name {n!r} ({int(counts.get(n, 0)):,} rows) does not match any code, name or alias in the region table")
                for n in unmatched
            ])
        listing = "; ".join(f"{n!r} ({int(counts.get(n, 0)):,} rows, first line {lines[first_idx[n]]})" for n in unmatched)
        warnings.warn(f"{file}: column {column!r}: {len(unmatched)} name(s) not in the region table, rows left out: {listing}",
                      DataWarning, stacklevel=3)
    return codes


def _finish(out: pd.DataFrame, *, file: str, regions: RegionTable | None, freq: str | None) -> pd.DataFrame:
    """Validate the assembled observations against the schema (belt and braces)."""
    if out.empty:
        raise DataError(Problem(file, None, None, "no observations left after mapping (see warnings above)"))
    out = out.copy()
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    source = out["source"] if "source" in out.columns else None
    clean = check_observations(out, file=file, region_codes=regions.codes if regions is not None else None, freq=freq)
    if source is not None and "source" not in clean.columns:
        clean["source"] = source
    return clean


def _coverage(dates: pd.Series, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo = pd.Timestamp(start) if start is not None else dates.min()
    hi = pd.Timestamp(end) if end is not None else dates.max()
    return lo, hi


def _drop_partial(out: pd.DataFrame, freq: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Remove edge periods that the coverage only partly spans."""
    if freq == "D":
        return out
    first = period_start(pd.Series([lo]), freq).iloc[0]
    step = {"W": pd.DateOffset(weeks=1), "M": pd.DateOffset(months=1)}[freq]
    last_full_end = period_start(pd.Series([hi + pd.Timedelta(days=1)]), freq).iloc[0]
    keep = (out["date"] >= (first if first == lo else first + step)) & (out["date"] + step <= last_full_end)
    return out[keep]


# --------------------------------------------------------------------------------------------
# ACLED
# --------------------------------------------------------------------------------------------


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
) -> pd.DataFrame:
    """Count ACLED events per region and period from a raw ACLED export CSV.

    Parameters
    ----------
    path
        ACLED export (columns ``event_date``, ``admin1``, ``admin2``, ``event_type``,
        ``sub_event_type``, ``fatalities``, ...).
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
        strptime format of ``event_date``; detected per file when None (an ambiguous file such
        as one with only ``05/01/2022``-like dates is an error asking for it).
    strict
        Raise instead of warning when a name does not match the region table.
    start, end
        Coverage of the export. Defaults to the first and last event date; ACLED is an event
        list, so periods inside the coverage with no event are real zeros (filled), periods
        outside are not observed (absent).
    complete_periods
        Drop first/last periods that the coverage only partly spans (their counts are low).
    """
    path = Path(path)
    file = str(path)
    if freq not in FREQUENCIES:
        raise DataError(Problem(file, None, None, f"unknown frequency {freq!r}; expected D, W or M"))
    if level not in ("admin1", "admin2", "admin3", "country"):
        raise DataError(Problem(file, None, None, f"unknown level {level!r}; expected admin1, admin2, admin3 or country"))
    smap = dict(DEFAULT_ACLED_SERIES if series_map is None else series_map)
    bad_totals = [t for t in totals if t not in ("events", "fatalities")]
    if bad_totals:
        raise DataError(Problem(file, None, None, f"unknown totals {bad_totals}; expected 'events' and/or 'fatalities'"))
    need_fat = "fatalities" in totals
    wanted = ["event_date", level, "event_type", "sub_event_type"] + (["fatalities"] if need_fat else [])
    df, lines = _read_columns(path, wanted, required=wanted, numeric=["fatalities"] if need_fat else [],
                              what="ACLED export")
    dates = _parse_dates(df["event_date"], file=file, column="event_date", lines=lines, date_format=date_format)
    codes = map_region_names(df[level], regions, file=file, column=level, lines=lines, strict=strict)

    present = set(pd.unique(df["sub_event_type"].dropna())) | set(pd.unique(df["event_type"].dropna()))
    known_types = ACLED_SUB_EVENT_TYPES | {"Battles", "Explosions/Remote violence", "Violence against civilians",
                                           "Protests", "Riots", "Strategic developments"}
    odd = [k for k in smap if k not in present and k not in known_types]
    if odd:
        warnings.warn(f"{file}: series_map keys {odd} are neither ACLED event types nor present in the file; "
                      f"they will count zero (misspelt?)", DataWarning, stacklevel=2)

    keep = codes.notna().to_numpy()
    lo, hi = _coverage(dates, start, end)
    parts = []
    base = pd.DataFrame({"date": dates[keep].to_numpy(), "region": codes[keep].to_numpy()})
    sub = df["sub_event_type"][keep].map(smap)
    ev = df["event_type"][keep].map(smap)
    series = sub.fillna(ev).to_numpy()
    has = pd.notna(series)
    if has.any():
        parts.append(base[has].assign(series=series[has], value=1.0))
    if "events" in totals:
        parts.append(base.assign(series="events", value=1.0))
    if need_fat:
        parts.append(base.assign(series="fatalities", value=df["fatalities"][keep].to_numpy(dtype=float)))
    events = pd.concat(parts, ignore_index=True) if parts else base.assign(series=[], value=[])
    # Every mapped series gets a full grid, even one with no event at all (a real zero).
    all_series = sorted(set(smap.values()) | set(totals))
    grid_regions = regions.codes if regions is not None else sorted(pd.unique(codes.dropna()))
    out = aggregate(events, freq, fill_zeros=True, regions=grid_regions, start=lo, end=hi,
                    source=f"ACLED {path.name}")
    missing_series = [s for s in all_series if s not in set(out["series"])]
    if missing_series:
        filler = aggregate(pd.DataFrame({"date": [lo, hi], "region": grid_regions[0], "series": missing_series[0], "value": 0.0}),
                           freq, fill_zeros=True, regions=grid_regions, start=lo, end=hi)
        out = pd.concat([out] + [filler.assign(series=s, source=f"ACLED {path.name}") for s in missing_series],
                        ignore_index=True)
    if complete_periods:
        out = _drop_partial(out, freq, lo, hi)
    return _finish(out, file=file, regions=regions, freq=freq)


# --------------------------------------------------------------------------------------------
# UCDP GED
# --------------------------------------------------------------------------------------------


def load_ucdp_ged(
    path: str | Path,
    regions: RegionTable | None = None,
    *,
    freq: str = "W",
    level: str = "adm_1",
    date_range: str = "spread",
    violence_types: Iterable[int] | None = None,
    date_format: str | None = None,
    strict: bool = False,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Count UCDP GED events (``events``) and best-estimate deaths (``fatalities``) per region.

    Parameters
    ----------
    date_range
        What to do with events whose ``date_start`` differs from ``date_end`` (UCDP records
        uncertain or multi-day events as a range): ``"spread"`` (default) splits the event and
        its deaths evenly over the days of the range before aggregating, so counts can be
        fractional; ``"start"`` puts the whole event on ``date_start``. Spreading avoids piling
        a month-long range onto its first day.
    violence_types
        Keep only these ``type_of_violence`` codes (1 state-based, 2 non-state, 3 one-sided);
        all by default.
    level
        Column naming the region (``adm_1``, ``adm_2`` or ``country``). UCDP names such as
        "Idlib governorate" also match a table entry "Idlib" (admin suffixes are ignored).

    Other parameters as in :func:`load_acled`.
    """
    path = Path(path)
    file = str(path)
    if date_range not in ("spread", "start"):
        raise DataError(Problem(file, None, None, f"unknown date_range {date_range!r}; expected 'spread' or 'start'"))
    if freq not in FREQUENCIES:
        raise DataError(Problem(file, None, None, f"unknown frequency {freq!r}; expected D, W or M"))
    wanted = ["date_start", "date_end", level, "type_of_violence", "best"]
    df, lines = _read_columns(path, wanted, required=wanted, numeric=["best", "type_of_violence"], what="UCDP GED CSV")
    d0 = _parse_dates(df["date_start"], file=file, column="date_start", lines=lines, date_format=date_format).dt.normalize()
    d1 = _parse_dates(df["date_end"], file=file, column="date_end", lines=lines, date_format=date_format).dt.normalize()
    backwards = np.flatnonzero((d1 < d0).to_numpy())
    if len(backwards):
        raise DataError(_limit([Problem(file, lines[i], "date_end", f"date_end {d1.iloc[i].date()} is before date_start {d0.iloc[i].date()}")
                                for i in backwards[:MAX_PROBLEMS_PER_KIND]], file, "date_end", len(backwards)))
    codes = map_region_names(df[level], regions, file=file, column=level, lines=lines, strict=strict)
    keep = codes.notna().to_numpy()
    if violence_types is not None:
        keep &= df["type_of_violence"].isin(list(violence_types)).to_numpy()
    d0, d1, codes, best = d0[keep], d1[keep], codes[keep], df["best"][keep].to_numpy(dtype=float)
    if date_range == "spread":
        rows, days, share = spread_ranges(d0, d1)
    else:
        rows, days, share = np.arange(len(d0)), d0.to_numpy(), np.ones(len(d0))
    reg = codes.to_numpy()[rows]
    events = pd.concat([
        pd.DataFrame({"date": days, "region": reg, "series": "events", "value": share}),
        pd.DataFrame({"date": days, "region": reg, "series": "fatalities", "value": share * best[rows]}),
    ], ignore_index=True)
    lo, hi = _coverage(pd.concat([d0, d1]), start, end)
    grid_regions = regions.codes if regions is not None else sorted(pd.unique(codes.dropna()))
    out = aggregate(events, freq, fill_zeros=True, regions=grid_regions, start=lo, end=hi,
                    source=f"UCDP GED {path.name}")
    return _finish(out, file=file, regions=regions, freq=freq)


# --------------------------------------------------------------------------------------------
# HXL
# --------------------------------------------------------------------------------------------


def normalise_hxl_tag(tag: str) -> str:
    """``'#Affected +New+idps '`` -> ``'#affected+idps+new'`` (lower case, attributes sorted)."""
    parts = [p.strip().lower() for p in str(tag).strip().split("+")]
    if not parts or not parts[0].startswith("#"):
        return ""
    return "+".join([parts[0], *sorted(p for p in parts[1:] if p)])


def load_hxl(
    path: str | Path,
    tag_map: Mapping[str, str] | None = None,
    regions: RegionTable | None = None,
    *,
    freq: str | None = None,
    date_format: str | None = None,
    strict: bool = False,
    source: str | None = None,
) -> pd.DataFrame:
    """Read an HXL-tagged CSV (row 1 headers, row 2 hashtags), mapping columns by tag.

    Parameters
    ----------
    tag_map
        ``{hxl tag: role}`` where role is ``date``, ``region`` or a series name. Tags are
        compared with attributes sorted, and attributes matter: ``#affected+idps`` (stock)
        differs from ``#affected+idps+new`` (flow). Default: :data:`DEFAULT_HXL_TAGS`, with the
        region taken from the first of :data:`HXL_REGION_TAGS` present.
    freq
        Sum values to this frequency (missing stays missing); ``None`` requires the dates to be
        period labels of one frequency already.
    """
    path = Path(path)
    file = str(path)
    raw = read_csv_strict(path, header_rows=2)
    tags_row = raw.attrs.get("extra_header", [[]])[0]
    header = list(raw.columns)
    tags = [normalise_hxl_tag(t) for t in tags_row] + [""] * (len(header) - len(tags_row))
    if not any(tags):
        raise DataError(Problem(file, 2, None, "row 2 holds no HXL hashtags (like #date, #adm1+code); is this an HXL file?"))
    tmap = {normalise_hxl_tag(k): v for k, v in (DEFAULT_HXL_TAGS if tag_map is None else tag_map).items()}
    if "region" not in tmap.values():
        for t in HXL_REGION_TAGS:
            if t in tags:
                tmap[normalise_hxl_tag(t)] = "region"
                break
    roles: dict[str, list[str]] = {}
    for col, tag in zip(header, tags, strict=True):
        if tag in tmap:
            roles.setdefault(tmap[tag], []).append(col)
    problems = []
    for role in ("date", "region"):
        if role not in roles:
            want = "#date" if role == "date" else " or ".join(HXL_REGION_TAGS[:2])
            problems.append(Problem(file, 2, None, f"no column tagged for {role} ({want}); tags found: {', '.join(t for t in tags if t)}"))
        elif len(roles[role]) > 1:
            problems.append(Problem(file, 2, roles[role][1], f"more than one column tagged for {role}"))
    value_roles = [r for r in roles if r not in ("date", "region")]
    if not value_roles:
        problems.append(Problem(file, 2, None,
                                f"no value column: none of the tags {', '.join(t for t in tags if t)} is mapped to a series "
                                f"(mapped by default: {', '.join(k for k, v in DEFAULT_HXL_TAGS.items() if v != 'date')}; "
                                f"'#affected+idps' is a stock, map it with tag_map= if you mean it)"))
    if problems:
        raise DataError(problems)
    first = raw.attrs["first_line"]

    class _L:
        def __getitem__(self, i):
            return int(i) + first

    lines = _L()
    dates = _parse_dates(raw[roles["date"][0]], file=file, column=roles["date"][0], lines=lines, date_format=date_format)
    codes = map_region_names(raw[roles["region"][0]], regions, file=file, column=roles["region"][0], lines=lines, strict=strict)
    frames, problems = [], []
    for series in value_roles:
        for col in roles[series]:
            vals = pd.to_numeric(raw[col], errors="coerce")
            bad = np.flatnonzero((vals.isna() & raw[col].notna()).to_numpy())
            problems += [Problem(file, lines[i], col, f"{raw[col].iloc[i]!r} is not a number; expected a count (empty for missing)") for i in bad]
            problems += [Problem(file, lines[i], col, f"negative value {vals.iloc[i]:g}; expected >= 0")
                         for i in np.flatnonzero((vals < 0).fillna(False).to_numpy())]
            frames.append(pd.DataFrame({"date": dates, "region": codes, "series": series, "value": vals}))
    if problems:
        raise DataError(problems)
    ev = pd.concat(frames, ignore_index=True)
    ev = ev[ev["region"].notna()]
    src = source or f"HXL {path.name}"
    if freq is not None:
        out = aggregate(ev, freq, fill_zeros=False, source=src)
    else:
        out = ev.assign(source=src)
    return _finish(out, file=file, regions=regions, freq=freq)


# --------------------------------------------------------------------------------------------
# Mapped (TOML-configured) tables
# --------------------------------------------------------------------------------------------


def load_mapped(
    path: str | Path,
    config: str | Path | Mapping,
    regions: RegionTable | None = None,
    *,
    strict: bool = False,
) -> pd.DataFrame:
    """Read a CSV or Excel table described by a TOML mapping (long or wide layout).

    See :mod:`displacement_forecast.data.mapped` for the configuration keys; example configs
    for real files are in ``data/configs/``.
    """
    from .mapped import load_mapped as _impl

    return _impl(path, config, regions, strict=strict)
