"""Helpers every loader shares: reading files strictly, delimiters, dates, numbers, region names.

Each loader module (:mod:`.acled`, :mod:`.ucdp`, :mod:`.hxl`, :mod:`.mapped`, :mod:`.tidy`)
builds on these public functions only; none reaches into another loader.

Conventions applied to every agency file
----------------------------------------
* **Delimiter**: ``,``, ``;`` or tab, sniffed from the header line (Excel in French, German or
  Spanish settings saves ``;``), or given with the ``delimiter`` option. A UTF-8 byte-order mark
  is ignored.
* **Workbooks**: ``.xlsx``/``.xlsm``/``.xls`` files (recognised by their bytes, not their name) are
  read whole with the calamine engine, which ignores a stale stored sheet dimension.
* **Dates**: one format per file, given (``date_format``) or detected; when day-first and
  month-first both read every date, the reading whose dates are consecutive (no gap over 7 days,
  as in an event list) is taken and said in a warning; otherwise the file is refused with a line
  asking for ``--date-format``. Never silently month-first.
* **Numbers** (:func:`parse_counts`): see that function for thousands separators, missing-value
  words, ranges and whole numbers.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import re
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..aggregate import aggregate
from ..io import DELIMITERS, is_formula, is_workbook_file, not_utf8, read_text, sniff_delimiter
from ..io import check_file as io_check_file
from ..regions import RegionTable, normalise_name
from ..schema import (
    EARLIEST_DATE,
    MAX_COUNT,
    MAX_PROBLEMS_PER_KIND,
    DataError,
    DataWarning,
    Problem,
    cell_shape,
    coerce_observations,
    first_of_each,
    grouped_rows,
    header_key,
    period_offset,
    period_start,
    validate_observations,
)

__all__ = [
    "DATE_FORMATS",
    "DELIMITERS",
    "MAX_PROBLEMS_PER_KIND",
    "DataWarning",
    "LineMap",
    "AtLeast",
    "Loader",
    "check_file",
    "config_options",
    "coverage",
    "detect_date_format",
    "finish",
    "finish_cells",
    "flag_partial_periods",
    "header_key",
    "is_total_name",
    "is_workbook",
    "map_region_names",
    "option_problem",
    "parse_counts",
    "parse_dates",
    "progress_bar",
    "partial_periods",
    "read_columns",
    "read_rows",
    "read_workbook",
    "resolve_ambiguous_dates",
    "row_problems",
    "sniff_delimiter",
]


#: Date formats tried, in this order, when a file does not say which it uses.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%y",  # Excel's short date: a CSV saved from a sheet writes what the cell shows
    "%m/%d/%y",
    "%d/%m/%Y %H:%M",  # a date-time cell saved by Excel
    "%m/%d/%Y %H:%M",
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

#: Largest gap (days) between distinct dates for a reading to count as "consecutive".
CONSECUTIVE_DAYS = 7


class LineMap:
    """Map a data-row index to its line in the file: ``first + i``, or an explicit array."""

    def __init__(self, first: int = 2, lines: Sequence[int] | np.ndarray | None = None):
        self.first = first
        self.lines = None if lines is None else np.asarray(lines)

    def __getitem__(self, i: int) -> int:
        if self.lines is not None:
            return int(self.lines[int(i)])
        return int(i) + self.first

    def take(self, idx: np.ndarray) -> np.ndarray:
        """The lines of the rows ``idx`` (an integer array), as an array."""
        idx = np.asarray(idx, dtype=np.int64)
        return self.lines[idx] if self.lines is not None else idx + self.first


def row_problems(file: str, column: str | None, rows: Sequence[int] | np.ndarray,
                 lines: Sequence[int] | LineMap | _Lines | None, message: Callable[[int], str], *,
                 what: str, cell: Callable[[int], object] | None = None, expected: str = "") -> list[Problem]:
    """The problems of ``rows`` (data-row positions sharing one kind of problem in ``column``).

    One row: one :class:`Problem` at ``lines[i]`` with ``message(i)``; more: one line naming how
    many rows ``what`` (``"are not a number"``), their first lines, the first row's ``cell(i)`` and
    ``expected`` (:func:`~..schema.grouped_rows`, the rule the tidy check follows too).
    ``lines=None`` when ``rows`` are file lines already.
    """
    return grouped_rows(file, column, rows, (lambda i: i) if lines is None else (lambda i: lines[i]), message,
                        what, cell=cell, expected=expected)


def check_file(path: Path) -> None:
    """Raise a one-line :class:`DataError` if ``path`` is missing, a folder, compressed, Parquet, a zip
    that is not a workbook (:func:`..io.check_file`) or empty."""
    io_check_file(path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise DataError(Problem(str(path), None, None, "file is empty; expected a header line and data rows"))


def is_workbook(path: Path) -> bool:
    """True if the file is an Excel workbook: a legacy xls by its first bytes, or a zip whose
    members are an xlsx's (:func:`..io.is_workbook_file`; a zip of CSVs or a damaged zip is not)."""
    return is_workbook_file(path)


# --------------------------------------------------------------------------------------------
# Reading tables
# --------------------------------------------------------------------------------------------


def _excel_cell(v: object) -> object:
    """A workbook cell as the text a CSV would hold (dates ISO, whole floats without ``.0``)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, datetime):
        return v.date().isoformat() if v == datetime(v.year, v.month, v.day) else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, pd.Timestamp):
        return _excel_cell(v.to_pydatetime())
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str):
        return v.strip() or None
    return str(v)


def read_workbook(path: Path, sheet: str | int | None = None) -> tuple[list[list], list[int]]:
    """Every row of one sheet (the first by default) as Python values, and each row's number.

    Read with pandas' ``calamine`` engine, which reads the cells themselves rather than the
    sheet's stored dimension (a stale ``<dimension ref="A1:E3">`` makes read-only readers drop
    rows). Raises a one-line :class:`DataError` for a file that is not a workbook or a missing sheet.
    """
    file = str(path)
    try:
        xl = pd.ExcelFile(path, engine="calamine")
    except Exception as e:  # zip/xml errors: not an Excel file
        raise DataError(Problem(file, None, None, f"cannot open as an Excel workbook: {e}")) from None
    names = xl.sheet_names
    if sheet is None:
        sheet = names[0]
    elif isinstance(sheet, str) and sheet not in names:
        raise DataError(Problem(file, None, "sheet", f"no sheet {sheet!r}; sheets: {', '.join(names)}"))
    raw = xl.parse(sheet, header=None, dtype=object)
    rows = [[None if (isinstance(c, float) and np.isnan(c)) else c for c in r] for r in raw.itertuples(index=False)]
    return rows, list(range(1, len(rows) + 1))


def read_rows(path: Path, *, delimiter: str | None = None, sheet: str | int | None = None) -> tuple[list[list], list[int], str]:
    """All rows of a small CSV or workbook, each row's first line, and the delimiter used.

    CSV text must be UTF-8 (a BOM is fine); quoted fields may hold newlines. Workbooks are read
    by :func:`read_workbook` (delimiter ``"xlsx"``).
    """
    check_file(path)
    if is_workbook(path):
        rows, lines = read_workbook(path, sheet)
        return rows, lines, "xlsx"
    if sheet is not None:
        raise DataError(Problem(str(path), None, "sheet", "sheet is only for Excel workbooks; this file is text"))
    delim = sniff_delimiter(path, delimiter)
    text = read_text(path)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    rows, lines, start = [], [], 1
    for row in reader:
        rows.append(row)
        lines.append(start)
        start = reader.line_num + 1
    return rows, lines, delim


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


def progress_bar(path: Path, desc: str, *, force: bool | None = None):
    """A tqdm bar on stderr for files over 20 MB, shown on a terminal (or when ``force``) after 2 s."""
    from tqdm.auto import tqdm

    size = path.stat().st_size
    show = size > 20_000_000 and (sys.stderr.isatty() if force is None else force)
    return tqdm(total=size, unit="B", unit_scale=True, desc=desc, file=sys.stderr,
                disable=not show, delay=2.0, leave=False)


def _record_lines(path: Path, n: int, delim: str) -> np.ndarray:
    """Line number where each of the first ``n`` data records starts (quoted newlines aware)."""
    out = np.empty(n, dtype=np.int64)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delim)
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

    def __init__(self, path: Path, n: int, simple: bool, delim: str):
        self.path, self.n, self.simple, self.delim, self._arr = path, n, simple, delim, None

    def _all(self) -> np.ndarray:
        """The line of every record (read from the file once, on first use)."""
        if self._arr is None:
            self._arr = _record_lines(self.path, self.n, self.delim)
        return self._arr

    def __getitem__(self, i: int) -> int:
        return int(i) + 2 if self.simple else int(self._all()[i])

    def take(self, idx: np.ndarray) -> np.ndarray:
        """The lines of the records ``idx`` (an integer array), as an array."""
        idx = np.asarray(idx, dtype=np.int64)
        return idx + 2 if self.simple else self._all()[idx]


def _long_records(path: Path, width: int, delim: str, chunk: int = 1 << 23) -> tuple[list[int], bool]:
    """Lines of records with more than ``width`` fields, and whether no field holds a newline.

    Vectorised with numpy over the raw bytes (the running parity of quotes marks delimiters and
    newlines inside quoted fields), because pandas' C parser ignores extra fields when
    ``usecols`` is used.
    """
    dbyte = ord(delim)
    inside, open_delims, bad_starts, last = 0, 0, [], b""
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
            q = b == 34
            if inside or q.any():  # parity of quotes so far (int8 wraps, parity survives)
                outside = ((np.cumsum(q, dtype=np.int8) + inside) & 1) == 0
                dpos = np.flatnonzero((b == dbyte) & outside)
                nl = b == 10
                npos = np.flatnonzero(nl & outside)
                all_nl += int(np.count_nonzero(nl))
                inside = 0 if outside[-1] else 1
            else:
                dpos = np.flatnonzero(b == dbyte)
                npos = np.flatnonzero(b == 10)
                all_nl += len(npos)
            out_nl += len(npos)
            if len(npos):
                at = np.searchsorted(dpos, npos)  # delimiters before each record end
                per = np.diff(at, prepend=0)
                per[0] += open_delims
                starts = np.concatenate([[rec_start], offset + npos[:-1] + 1])
                bad_starts += starts[per > width - 1].tolist()
                open_delims = int(len(dpos) - at[-1])
                rec_start = offset + int(npos[-1]) + 1
            else:
                open_delims += len(dpos)
            offset += len(data)
            last = data[-1:]
    if open_delims > width - 1 and last not in (b"\n", b""):
        bad_starts.append(rec_start)
    lines: list[int] = []
    if bad_starts:
        with open(path, "rb") as fh:
            blob = fh.read(max(bad_starts[:MAX_PROBLEMS_PER_KIND]) + 1)
        lines = [blob[:s].count(b"\n") + 1 for s in bad_starts[:MAX_PROBLEMS_PER_KIND]]
        lines += [-1] * (len(bad_starts) - len(lines))
    return lines, all_nl == out_nl


def _not_utf8(path: Path) -> Problem:
    """The problem of a file that is not UTF-8, at the line and byte of its first bad byte."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return not_utf8(path, raw, e, "save the file as UTF-8 (in Excel: Save As 'CSV UTF-8')")
    return Problem(str(path), None, None, "not UTF-8; save the file as UTF-8")


def _workbook_columns(path: Path, sheet) -> tuple[pd.DataFrame, LineMap]:
    """A workbook's first sheet as a frame of text cells (header on row 1)."""
    rows, _ = read_workbook(path, sheet)
    while rows and not any(_excel_cell(c) is not None for c in rows[-1]):
        rows.pop()
    if not rows:
        raise DataError(Problem(str(path), None, None, "workbook sheet is empty; expected a header row and data rows"))
    header = [str(_excel_cell(h) or "") for h in rows[0]]
    data = [[_excel_cell(c) for c in r] for r in rows[1:]]
    return pd.DataFrame(data, columns=header, dtype=object), LineMap(2)


def read_columns(
    path: Path,
    wanted: Sequence[str],
    *,
    required: Sequence[str],
    numeric: Sequence[str] = (),
    what: str = "file",
    delimiter: str | None = None,
    sheet: str | int | None = None,
    progress: bool | None = None,
    event_id: str | None = None,
) -> tuple[pd.DataFrame, _Lines | LineMap]:
    """Read only the ``wanted`` columns of a big CSV (or workbook) as text, with vectorised checks.

    Header names are matched case-insensitively and the frame's columns are the lower-case
    ``wanted`` names (ACLED exports before 2019 write ``EVENT_DATE``). Checks: UTF-8, a header,
    ``required`` columns, at least one data row, no row with more fields than the header, no
    formula-like text cells, non-negative whole numbers in ``numeric`` columns (converted to
    float). ``wanted`` columns that are absent and not required are simply not in the frame;
    ``frame.attrs["header"]`` keeps every header cell as written (for "did you mean" hints).

    ``event_id`` names the column holding each event's id in an event list (ACLED
    ``event_id_cnty``, UCDP ``id``), when the file has it: an event listed again with the same
    cells (two overlapping exports joined) is counted once, said in one :class:`DataWarning`; an
    id listed again with other cells (a revised event beside its old version) is an error naming
    both lines, as which version to count is the user's call. Never counted twice.

    Returns
    -------
    (frame, lines)
        ``lines[i]`` is the file line of data row ``i`` (for messages).
    """
    file = str(path)
    check_file(path)
    if event_id is not None:
        wanted = [*wanted, event_id]
    if is_workbook(path):
        df, lines = _workbook_columns(path, sheet)
        header = list(df.columns)
        delim = None
    else:
        delim = sniff_delimiter(path, delimiter)
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                header = next(csv.reader(fh, delimiter=delim), [])
        except UnicodeDecodeError:
            raise DataError(_not_utf8(path)) from None
    lower: dict[str, str] = {}  # header key -> the header cell as written (pandas selects by it)
    for h in header:
        lower.setdefault(header_key(h), h)
    missing = [c for c in required if header_key(c) not in lower]
    if missing:
        shown = [h.strip() for h in header[:12]]
        raise DataError([
            Problem(file, 1, c, f"required column is missing; is this an {what}? (have: {', '.join(shown)}{', ...' if len(header) > 12 else ''})")
            for c in missing
        ])
    use = {lower[header_key(c)]: c for c in wanted if header_key(c) in lower}
    if delim is None:
        df = df[list(use)].rename(columns=use)
    else:
        bar = progress_bar(path, f"reading {path.name}", force=progress)
        try:
            with open(path, "rb") as raw:
                src = io.BufferedReader(_Progress(raw, bar), buffer_size=1 << 20)
                df = pd.read_csv(
                    src, sep=delim, usecols=list(use), header=0, dtype=str, encoding="utf-8-sig",
                    keep_default_na=False, na_values=[""], skip_blank_lines=True, engine="c",
                    low_memory=False,
                )
        except UnicodeDecodeError:
            raise DataError(_not_utf8(path)) from None
        except pd.errors.ParserError as e:
            raise DataError(Problem(file, None, None, f"cannot parse as CSV: {e}")) from None
        finally:
            bar.close()
        df = df.rename(columns=use)
    if df.empty:
        raise DataError(Problem(file, None, None, "file has only a header; expected data rows"))
    df.attrs["header"] = [str(h).strip() for h in header]  # every column as written (near-miss hints)
    problems: list[Problem] = []
    if delim is not None:
        long_rows, simple = _long_records(path, len(header), delim)
        lines = _Lines(path, len(df), simple, delim)
        problems += row_problems(file, None, long_rows, None,
                                 lambda _: f"row has more fields than the header ({len(header)})",
                                 what=f"have more fields than the header ({len(header)})")
    for c in df.columns:
        if c in numeric:
            continue
        codes, uniq = pd.factorize(df[c])
        flagged_u = [k for k, v in enumerate(uniq) if isinstance(v, str) and v[:1] in "=+-@" and is_formula(v)]
        if flagged_u:
            flagged = np.flatnonzero(np.isin(codes, flagged_u))
            problems += row_problems(
                file, c, flagged, lines,
                lambda i, cell=df[c]: f"cell {cell.iloc[i][:20]!r} starts with {cell.iloc[i].strip()[0]!r}, like a spreadsheet formula; expected a plain value",
                what="start like a spreadsheet formula (=, +, -, @)", cell=lambda i, cell=df[c]: cell.iloc[i][:20],
                expected="expected plain values")
    for c in numeric:
        if c not in df.columns:
            continue
        vals = pd.to_numeric(df[c], errors="coerce")
        empty = df[c].isna().to_numpy()
        bad_num = (vals.isna() & df[c].notna()).to_numpy()
        neg = (vals < 0).fillna(False).to_numpy()
        huge = (vals > MAX_COUNT).fillna(False).to_numpy()
        frac = (((vals % 1) != 0) & np.isfinite(vals)).fillna(False).to_numpy()
        for mask, msg, what in ((empty, "empty cell; expected a count (0 when there were none: an empty cell is "
                                        "not read as 0)", "are empty"),
                                (bad_num, "is not a number; expected a non-negative count", "are not a number"),
                                (neg, "is negative; expected a non-negative count", "are negative"),
                                (huge, f"is larger than any count; expected at most {MAX_COUNT:,.0f}",
                                 "are larger than any count"),
                                (frac & ~huge, "is not a whole number; expected a count", "are not whole numbers")):
            idx = np.flatnonzero(mask)
            cell = None if mask is empty else (lambda i, col=df[c]: col.iloc[i])
            problems += row_problems(file, c, idx, lines, lambda i, msg=msg, cell=cell:
                                     msg if cell is None else f"{cell(i)!r} {msg}",
                                     what=what, cell=cell, expected=msg.split("; ", 1)[1])
        df[c] = vals
    if problems:
        raise DataError(problems)
    if event_id is not None and event_id in df.columns:
        df, lines = _drop_repeated_events(df, lines, event_id, file)
    return df, lines


#: An integral id as a spreadsheet or pandas writes it after reading it as a float: ``256939.0``.
_FLOAT_WRITTEN_INT = r"^([+-]?\d+)\.0+$"


def event_key(ids: pd.Series) -> pd.Series:
    """The id of each event as compared when looking for events listed twice.

    Surrounding spaces are dropped and an integral number written with a trailing ``.0``
    (``256939.0``, what a spreadsheet or a pandas round-trip makes of UCDP's integer ids) is
    written without it, so it matches ``256939``. Any other difference (``SYR4`` and ``syr4``,
    ``0256939`` and ``256939``, ``256939.5``) keeps two ids apart.

    Parameters
    ----------
    ids : pandas.Series of str (missing cells as NA), shape (n_rows,)

    Returns
    -------
    pandas.Series of str, shape (n_rows,); NA where ``ids`` is missing or blank.
    """
    k = ids.astype("string").str.strip().str.replace(_FLOAT_WRITTEN_INT, r"\1", regex=True)
    return k.mask(k == "")


def _drop_repeated_events(df: pd.DataFrame, lines, event_id: str, file: str) -> tuple[pd.DataFrame, LineMap | _Lines]:
    """``df`` with events listed again with the same cells dropped (see :func:`read_columns`).

    Ids are compared by :func:`event_key`, so ``256939`` and ``256939.0`` (a spreadsheet or
    pandas round-trip) are one event; messages quote the id as the file writes it.
    """
    ids = df[event_id]
    keys = event_key(ids)
    again = (keys.duplicated(keep=False) & keys.notna()).to_numpy()
    if not again.any():
        return df, lines
    exact = df.assign(**{event_id: keys}).duplicated(keep="first").to_numpy() & again
    same_id = (keys.duplicated(keep="first") & keys.notna()).to_numpy() & ~exact
    if same_id.any():
        first = {}
        for i in np.flatnonzero(again):
            first.setdefault(keys.iloc[i], i)
        idx = np.flatnonzero(same_id)
        raise DataError(row_problems(
            file, event_id, idx, lines,
            lambda i: f"event {ids.iloc[i]!r} is listed again with other cells (first on line "
                      f"{lines[first[keys.iloc[i]]]}); expected each event once: keep the version "
                      "to count (a revised event beside its old version?)",
            what="list an event again with other cells", cell=lambda i: ids.iloc[i],
            expected="expected each event once: keep the version to count (revised events beside their old versions?)"))
    drop = np.flatnonzero(exact)
    warnings.warn(f"{file}: {len(drop):,} event(s) listed twice with the same cells (first repeat on line "
                  f"{lines[drop[0]]}, id {ids.iloc[drop[0]]!r}) counted once (overlapping exports joined?)",
                  DataWarning, stacklevel=4)
    keep = np.flatnonzero(~exact)
    return df.iloc[keep].reset_index(drop=True), LineMap(lines=lines.take(keep))


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


def _consecutive(parsed: pd.DatetimeIndex) -> bool:
    u = parsed.dropna().unique().sort_values()
    if len(u) < 2:
        return True
    return bool((np.diff(u.asi8) <= CONSECUTIVE_DAYS * 86_400 * 10**9).all())


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


def resolve_ambiguous_dates(values: Iterable[str], formats: Sequence[str]) -> str | None:
    """Of formats that all read ``values`` differently, the only one giving consecutive dates.

    Consecutive: no gap over :data:`CONSECUTIVE_DAYS` days between distinct dates (a week of
    ACLED events read day-first is 7 consecutive days; read month-first it is 7 months apart).
    ``None`` when no reading, or more than one, is consecutive: the caller must refuse.
    """
    u = pd.Index(pd.unique(pd.Series(list(values), dtype=object).dropna().astype(str).str.strip()))
    dense = [f for f in formats if _consecutive(pd.to_datetime(u, format=f, errors="coerce"))]
    return dense[0] if len(dense) == 1 else None


def _example_date(fmt: str) -> str:
    """15 February 2022 written in the strptime format ``fmt`` (for messages)."""
    try:
        return pd.Timestamp("2022-02-15").strftime(fmt)
    except ValueError:
        return fmt


def parse_dates(
    raw: pd.Series, *, file: str, column: str, lines, date_format: str | None,
    candidates: Sequence[str] = DATE_FORMATS,
) -> pd.Series:
    """Parse a date column with one format per file (given or detected); all problems listed.

    Raises
    ------
    DataError
        Empty or unreadable dates, dates out of range (one line per cause, at its first row, with
        the number of rows like it: :func:`first_of_each`; unreadable cells of one
        :func:`cell_shape` are one cause), or an ambiguous file that consecutiveness cannot
        resolve (one line asking for ``--date-format``).
    """
    codes, uniq = pd.factorize(raw, use_na_sentinel=True)
    ustr = pd.Series(uniq, dtype=object).astype(str).str.strip()
    problems: list[Problem] = []
    empty_u = (ustr == "").to_numpy()
    empty = np.flatnonzero((codes < 0) | np.isin(codes, np.flatnonzero(empty_u)))
    problems += first_of_each(empty, [None] * len(empty), file=file, column=column,
                              problem=lambda i, more: Problem(file, lines[i], column, f"empty date{more}; expected a date"))
    vals = ustr[~empty_u]
    fmt = date_format
    if fmt is None:
        fmt, ambiguous = detect_date_format(vals, candidates)
        if ambiguous:
            fmt = resolve_ambiguous_dates(vals, ambiguous)
            if fmt is None:
                ex = vals.iloc[0]
                raise DataError(Problem(file, None, column,
                                        f"dates such as {ex!r} can be read as {' or '.join(ambiguous)} with different results; "
                                        f"say which with --date-format (date_format= in Python, [dates] format in a config)"))
            warnings.warn(f"{file}: column {column!r}: dates read as {fmt} (the only reading of "
                          f"{' / '.join(ambiguous)} that gives consecutive dates)", DataWarning, stacklevel=3)
        if fmt is None:
            best = max(candidates, key=lambda f: pd.to_datetime(vals, format=f, errors="coerce").notna().sum())
            if pd.to_datetime(vals, format=best, errors="coerce").notna().sum() == 0:
                ex = ", ".join(repr(x) for x in vals.iloc[:3])
                raise DataError(Problem(file, None, column,
                                        f"cannot read dates such as {ex}; expected one of the formats YYYY-MM-DD, DD/MM/YYYY, DD/MM/YY, "
                                        f"'15 February 2022', 'February 15, 2022' (or pass --date-format)"))
            fmt = best
    try:
        udates = pd.to_datetime(ustr, format=fmt, errors="coerce")
    except ValueError as e:  # not a strptime format ('%Q', a stray '%'): the given format is at fault, not the file
        raise DataError(Problem(file, None, column, f"date format {fmt!r} is not a strptime format ({e}); expected "
                                                    "codes such as %d/%m/%Y or %Y-%m-%d")) from None
    bad_u = np.flatnonzero(udates.isna().to_numpy() & ~empty_u)
    bad = np.flatnonzero(np.isin(codes, bad_u))
    if len(bad_u) and len(bad_u) == int((~empty_u).sum()) and len(bad) > 1:  # no date reads: one line, not one per row
        raise DataError([*problems, Problem(file, lines[bad[0]], column,
                                            f"no date reads in format {fmt!r} (the first, {ustr.iloc[codes[bad[0]]]!r}, "
                                            f"and {len(bad) - 1:,} more rows); expected dates in that format (without "
                                            "--date-format the format is detected)")])
    shapes = {u: cell_shape(ustr.iloc[u]) for u in bad_u}
    problems += first_of_each(
        bad, [shapes[c] for c in codes[bad]], file=file, column=column,
        problem=lambda i, more: Problem(file, lines[i], column, f"cannot read {ustr.iloc[codes[i]]!r} as a date in format "
                                                               f"{fmt!r}{more}; expected dates such as {_example_date(fmt)!r}"))
    today = pd.Timestamp.today().normalize()
    oor_u = np.flatnonzero(((udates < EARLIEST_DATE) | (udates > today + pd.Timedelta(days=366))).fillna(False).to_numpy())
    oor = np.flatnonzero(np.isin(codes, oor_u))
    problems += first_of_each(
        oor, (udates.iloc[codes[oor]] > today).to_numpy(), file=file, column=column,  # too early / too late
        problem=lambda i, more: Problem(file, lines[i], column, f"date {udates.iloc[codes[i]].date()} is out of range{more}; "
                                                               f"expected between {EARLIEST_DATE.date()} and next year"))
    udates = pd.concat([udates, pd.Series([pd.NaT])], ignore_index=True).astype("datetime64[ns]")
    dates = pd.Series(udates.to_numpy()[codes], index=raw.index)  # code -1 -> the trailing NaT
    if problems:
        raise DataError(problems)
    return dates.astype("datetime64[ns]")


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_SPACE_GROUPS = re.compile(r"^\d{1,3}([ \u00a0\u202f]\d{3})+$")
_COMMA_GROUPS = re.compile(r"^\d{1,3}(,\d{3})+$")
_DOT_GROUPS = re.compile(r"^\d{1,3}(\.\d{3})+$")
_RANGE = re.compile(r"^\d[\d,. \u00a0]*\s*[-\u2013\u2014]\s*\d[\d,. \u00a0]*$")


def parse_counts(
    raw: pd.Series,
    *,
    file: str,
    column: str,
    lines,
    thousands: str | None = None,
    decimal: str | None = None,
    missing: Iterable[str] = (),
    whole: bool = True,
    delimiter: str = ",",
    declare: str = "for this source",
) -> tuple[pd.Series, list[Problem]]:
    """Read a column of counts written by people or spreadsheets; return ``(values, problems)``.

    ``declare``: where the ``missing`` and ``thousands`` keys the messages ask for are written
    (``"under [file]"`` in a mapping config): a hint that does not say so sent users to the top
    level, where the key is refused.

    Rules, in order (each cell):

    * empty, or one of the ``missing`` words (compared case-insensitively, e.g. ``["n/a", "-"]``)
      -> NaN (missing, never 0);
    * a range such as ``500-1000`` -> a problem (write one figure, or leave the cell empty);
    * digit groups separated by a space (``2 450``, also no-break spaces) -> thousands;
    * ``thousands`` declared (``","``, ``"."``, ``" "``, ``"'"``) -> that character removed;
      undeclared, ``12,000`` is read as twelve thousand in a comma-separated file (the English
      convention that quoted it) and ``12.500`` as twelve thousand five hundred in a ``;``- or
      tab-separated file (the continental one); the other reading of each is refused as
      ambiguous, naming the ``thousands`` key;
    * ``decimal = ","`` declared -> a decimal comma (for non-count columns only);
    * anything else that is not a number -> a problem naming the ``missing`` key;
    * negative -> a problem; not a whole number while ``whole`` (people, events) -> a problem.

    Workbook cells that are already numbers pass through unchanged.
    """
    miss = {str(m).strip().lower() for m in missing}
    problems: list[Problem] = []
    out = np.full(len(raw), np.nan)
    kinds: dict[str, list[int]] = {}
    for i, v in enumerate(raw.to_numpy()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            out[i] = float(v)
            continue
        s = str(v).strip()
        if s == "" or s.lower() in miss:
            continue
        t = s
        if _SPACE_GROUPS.match(t):
            t = re.sub(r"[ \u00a0\u202f]", "", t)
        elif thousands:
            t = t.replace(thousands, "")
        elif _COMMA_GROUPS.match(t):
            if delimiter != ",":
                kinds.setdefault("ambiguous", []).append(i)
                continue
            t = t.replace(",", "")
        elif _DOT_GROUPS.match(t) and not t.startswith("0"):
            if delimiter == ",":
                kinds.setdefault("ambiguous", []).append(i)
                continue
            t = t.replace(".", "")
        if decimal and decimal != ".":
            t = t.replace(decimal, ".")
        try:
            out[i] = float(t)
        except ValueError:
            kinds.setdefault("formula" if is_formula(s) else "range" if _RANGE.match(s) else "nan", []).append(i)
    msgs = {
        "formula": "starts like a spreadsheet formula (=, +, -, @); expected a plain count (the figure itself)",
        "range": "is a range; expected one number (write the figure you mean, or leave the cell empty for missing)",
        "nan": ("is not a number; expected a count (empty for missing"
                + (f"; missing words declared: {', '.join(sorted(miss))})" if miss
                   else f"; declare words meaning missing {declare}: missing = [\"n/a\", \"-\"])")),
        "ambiguous": f"could be a thousands separator or a decimal mark; declare thousands = \",\" or \".\" {declare}",
    }
    rawv = raw.to_numpy()
    for kind, idx in kinds.items():
        need = msgs[kind].partition("; ")[2]
        problems += row_problems(file, column, idx, lines, lambda i, msg=msgs[kind]: f"{str(rawv[i]).strip()!r} {msg}",
                                 what={"range": "are ranges", "nan": "are not a number",
                                       "formula": "start like a spreadsheet formula"}.get(
                                     kind, "hold digit groups that could be thousands or decimals"),
                                 cell=lambda i: rawv[i], expected=need)
    vals = pd.Series(out, index=raw.index)
    neg = np.flatnonzero((vals < 0).to_numpy())
    problems += row_problems(file, column, neg, lines, lambda i: f"negative value {vals.iloc[i]:g}; expected >= 0",
                             what="are negative", cell=lambda i: rawv[i], expected="expected >= 0")
    huge = np.flatnonzero((vals > MAX_COUNT).to_numpy())
    problems += row_problems(file, column, huge, lines, lambda i: f"{str(rawv[i]).strip()!r} is larger than any count; "
                                                                  f"expected at most {MAX_COUNT:,.0f}",
                             what="are larger than any count", cell=lambda i: rawv[i],
                             expected=f"expected at most {MAX_COUNT:,.0f}")
    if whole:
        frac = np.flatnonzero(((vals % 1) != 0).fillna(False).to_numpy() & np.isfinite(out) & (out <= MAX_COUNT))
        problems += row_problems(file, column, frac, lines,
                                 lambda i: f"{str(rawv[i]).strip()!r} is not a whole number; expected a count of people or "
                                           "events (set whole = false for a source that publishes estimates with decimals)",
                                 what="are not whole numbers", cell=lambda i: rawv[i],
                                 expected="expected counts of people or events (set whole = false for a source that "
                                          "publishes estimates with decimals)")
    return vals, problems


# --------------------------------------------------------------------------------------------
# Region names
# --------------------------------------------------------------------------------------------

#: Cell texts that name a total row or column, not a region.
TOTAL_NAMES = frozenset({"total", "totals", "grand total", "sum", "all", "total general", "total général", "gesamt", "summe"})


def is_total_name(name: object) -> bool:
    """True for ``Total``, ``Grand Total`` and their like (compared case-insensitively)."""
    return isinstance(name, str) and normalise_name(name) in TOTAL_NAMES


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
    levels: str | None = None,
    scope: pd.Series | None = None,
) -> pd.Series:
    """Map region names (or codes) to region codes; NaN where a name is blank or unmatched.

    With ``regions=None`` the stripped names themselves are the codes. Otherwise names are
    matched by :meth:`RegionTable.match` (normalised names, aliases), then again with admin
    suffixes such as "governorate" removed. Unmatched names are listed with their row counts
    and first line in one :class:`DataWarning` (their rows are left out), or raised as a
    :class:`DataError` when ``strict``. Blank names are always a warning (ACLED lists events at
    sea with no admin1).

    A file none of whose names matches the table is always a :class:`DataError` (one line naming
    the file, the column and examples of both sides): its rows would all be left out, and a
    count of no events is not a count of zero (an event list's grid would otherwise be filled
    with made-up zeros).

    ``levels`` (an event list's region column, read at an admin level; its name as the user
    gives it, ``admin2``): when more than :data:`MOST_UNMATCHED` (half) of the rows that name a
    place match no region, the file is refused with :class:`MostUnmatched` (one line: the level,
    the share of rows unmatched, example names), even not ``strict``. The level is then most
    likely not the table's (``admin2`` district names against an admin1 table), and the few rows
    that match would be counted, every other region's events written as zeros: not missing, but
    wrong. The loader may add which other level matches (:func:`best_level`). ``scope`` (each
    row's country, when the file has one) narrows the rows counted to the countries some matched
    row is in: an export of more countries than the table's is not refused for the others' rows.
    """
    ncodes, nuniq = pd.factorize(names)
    ustrip = pd.Series(nuniq, dtype=object).astype(str).str.strip()
    s = pd.Series(pd.Categorical.from_codes(ncodes, categories=pd.Index(ustrip).unique()) if not ustrip.duplicated().any()
                  else ustrip.to_numpy()[ncodes], index=names.index).astype(object).where(ncodes >= 0)
    blank = (ncodes < 0) | np.append(ustrip.to_numpy() == "", True)[ncodes]  # code -1 (NaN): the appended True
    if blank.all():  # nothing to count: an event list with no region is not a list of zero events
        raise DataError(Problem(file, None, column, f"every row's {column!r} is empty; expected region names "
                                                    "(is this the right column or level?)"))
    formula = [k for k, u in enumerate(ustrip) if is_formula(u)]
    if formula:  # the rule of every reader (read_columns, the tidy reader), for tables read cell by cell too
        raise DataError([Problem(file, lines[int(np.flatnonzero(ncodes == k)[0])], column,
                                 f"cell {ustrip.iloc[k][:20]!r} starts with {ustrip.iloc[k][0]!r}, like a spreadsheet "
                                 "formula; expected a plain value") for k in formula])
    if blank.any():
        first = lines[int(np.flatnonzero(blank)[0])]
        warnings.warn(f"{file}: {int(blank.sum()):,} row(s) with no {column!r} (first on line {first}) left out",
                      DataWarning, stacklevel=3)
    if regions is None:
        return s.where(~blank)
    uniq = [u for u in pd.unique(s[~blank])]
    matched, unmatched = match_names(uniq, regions)
    shared = [n for n in unmatched if regions.ambiguity(n)]
    if shared:  # rows of a name two regions share would be given to one of them at random
        first_line = {n: lines[int(np.flatnonzero((s == n).fillna(False).to_numpy())[0])] for n in shared}
        raise DataError([Problem(file, first_line[n], column, str(regions.ambiguity(n))) for n in shared])
    if unmatched and not matched:
        raise DataError(Problem(file, None, column, no_match_message(unmatched, regions)))
    codes = s.map(matched).where(~blank)
    if unmatched and levels is not None:
        counted = ~blank
        if scope is not None:  # only the countries the table covers (those of a matched row)
            counted &= scope.isin(pd.unique(scope[codes.notna()])).to_numpy()
        named = int(counted.sum())
        lost = named - int(codes[counted].notna().sum())
        if lost > MOST_UNMATCHED * named:  # a wrong level: its counts would be written as zeros
            raise MostUnmatched(Problem(file, None, column, most_unmatched_message(
                column, lost, named, unmatched, len(uniq), levels)), column=column)
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


#: Share of an event list's rows naming a place that may match no region before the file is
#: refused as read at the wrong admin level (:func:`map_region_names`): more than half.
MOST_UNMATCHED = 0.5


class MostUnmatched(DataError):
    """Most of an event list's rows match no region (:func:`map_region_names` with ``levels``);
    ``column`` is the region column read, for the loader to say which other level matches."""

    def __init__(self, problem: Problem, *, column: str):
        super().__init__(problem)
        self.problem = problem
        self.column = column


def match_names(names: Iterable, regions: RegionTable) -> tuple[dict, list]:
    """(name -> code, unmatched names) for distinct region ``names``: :meth:`RegionTable.match`,
    then again with admin suffixes such as "governorate" removed."""
    matched, unmatched = regions.match(names)
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
    return matched, unmatched


def most_unmatched_message(column: str, lost: int, named: int, unmatched: list, n_names: int, level: str,
                           k: int = 3) -> str:
    """``read at level admin2, 5,900 of the 6,556 rows naming a place (90%; ...) match no region ...``."""
    examples = ", ".join(repr(str(n)) for n in sorted(map(str, unmatched))[:k]) + (", ..." if len(unmatched) > k else "")
    return (f"read at level {level}, {lost:,} of the {named:,} rows naming a place ({lost / named:.0%}; "
            f"{len(unmatched):,} of {n_names:,} names, e.g. {examples}) match no region in the region table; "
            "expected most to match (more than half unmatched: the level is not the table's)")


def best_level(path: Path, regions: RegionTable, columns: Mapping[str, str], *, delimiter: str | None = None) -> str:
    """`` : level admin1 matches 100% of them (a recipe's level = "admin1", or --level admin1)``, for the
    other level among ``columns`` (level -> column) matching most rows of ``path``; "" when none
    matches more than half. Read only on the way to an error (the file is read again)."""
    try:
        df, _ = read_columns(path, list(columns.values()), required=[], what="file", delimiter=delimiter)
    except DataError:
        return ""
    best, share = None, MOST_UNMATCHED
    for level, col in columns.items():
        if col not in df.columns:
            continue
        v = df[col].dropna().astype(str).str.strip()
        v = v[v != ""]
        if not len(v):
            continue
        matched, _ = match_names(pd.unique(v), regions)
        got = float(v.isin(list(matched)).mean())
        if got > share:
            best, share = level, got
    if best is None:
        return ""
    return f"; level {best} matches {share:.0%} of the rows: use it (a recipe's level = \"{best}\", or --level {best})"


def map_event_regions(df: pd.DataFrame, column: str, columns: Mapping[str, str], regions: RegionTable, *,
                       path: Path, file: str, lines, strict: bool, delimiter: str | None = None) -> pd.Series:
    """An event list's region codes from its region ``column`` (:func:`map_region_names`,
    scoped by its ``country`` column when read); most rows matching no region is refused as the
    wrong level, naming the other level of ``columns`` (level -> column) that matches
    (:func:`best_level`). The ACLED and UCDP loaders' one way to do it.

    Raises
    ------
    DataError
        As :func:`map_region_names`; for most rows unmatched, its line plus the level that matches.
    """
    level = {v: k for k, v in columns.items()}.get(column, column)
    try:
        return map_region_names(df[column], regions, file=file, column=column, lines=lines, strict=strict,
                                levels=level, scope=df["country"] if "country" in df.columns else None)
    except MostUnmatched as e:
        hint = best_level(path, regions, {k: v for k, v in columns.items() if v != column}, delimiter=delimiter)
        raise DataError(dataclasses.replace(e.problem, message=e.problem.message + hint)) from None


def no_match_message(names: list, regions: RegionTable, k: int = 4) -> str:
    """What the file's region names looked like against the table's, for a file matching none."""
    theirs = ", ".join(repr(str(n)) for n in sorted(map(str, names))[:k]) + (", ..." if len(names) > k else "")
    table = regions.frame
    ours = ", ".join(f"{c} {n!r}" for c, n in list(zip(table["code"], table["name"], strict=True))[:k])
    return (f"none of its {len(names):,} region names matches the region table (names here: {theirs}; the "
            f"table's {len(table):,} regions: {ours}{', ...' if len(table) > k else ''}); expected the file's "
            "regions to be the table's (check the file is the right country and the region column or level, "
            "or add the names as aliases in the table)")


# --------------------------------------------------------------------------------------------
# Coverage and the final check
# --------------------------------------------------------------------------------------------


def finish(out: pd.DataFrame, *, file: str, regions: RegionTable | None, freq: str | None,
           lines: Sequence[int] | np.ndarray | None = None) -> pd.DataFrame:
    """Validate the assembled observations against the schema (belt and braces).

    ``lines``: the file line each row of ``out`` comes from, when one row is one cell of the file
    (a table read as it is); problems then name it. Rows summed from many (event lists, tables
    aggregated to a frequency) have no one line: their problems name none rather than a row
    number of the assembled frame, which is no line of the file.
    """
    if out.empty:
        raise DataError(Problem(file, None, None, "no observations left after mapping (see warnings above)"))
    out = out.copy()  # dates stay datetime64: validated as such, no round trip through text
    source = out["source"] if "source" in out.columns else None
    problems = validate_observations(out, file=file, region_codes=regions.codes if regions is not None else None,
                                     freq=freq, row_offset=2 if lines is None else lines)
    if problems:
        raise DataError(problems if lines is not None else [dataclasses.replace(p, row=None) for p in problems])
    clean = coerce_observations(out)
    if source is not None and "source" not in clean.columns:
        clean["source"] = source
    return clean


def finish_cells(cells: pd.DataFrame, *, source: str, file: str, regions: RegionTable | None,
                 freq: str | None) -> pd.DataFrame:
    """:func:`finish` for a table read cell by cell (the HXL and mapped loaders).

    ``cells`` holds ``date, region, series, value`` and ``_line``, the file line of each cell.
    With ``freq`` the cells are summed into its periods (:func:`~..aggregate.aggregate`) and
    problems name no line; without it each row is one cell and problems name its line.
    """
    obs = cells.drop(columns="_line")
    if freq is not None:
        return finish(aggregate(obs, freq, fill_zeros=False, source=source), file=file, regions=regions, freq=freq)
    return finish(obs.assign(source=source), file=file, regions=regions, freq=freq, lines=cells["_line"].to_numpy())


def coverage(dates: pd.Series, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day an event list covers: ``start``/``end`` when given, else its dates."""
    lo = pd.Timestamp(start) if start is not None else dates.min()
    hi = pd.Timestamp(end) if end is not None else dates.max()
    return lo, hi


def partial_periods(freq: str, lo: pd.Timestamp, hi: pd.Timestamp) -> list[pd.Timestamp]:
    """Labels of the first/last periods that the coverage ``lo..hi`` spans only in part."""
    if freq == "D" or pd.isna(lo):
        return []
    step = period_offset(freq)
    first = period_start(pd.Series([lo]), freq).iloc[0]
    last = period_start(pd.Series([hi]), freq).iloc[0]
    out = []
    if first != lo:
        out.append(first)
    if last + step != hi + pd.Timedelta(days=1) and last not in out:
        out.append(last)
    return out


def flag_partial_periods(out: pd.DataFrame, freq: str, lo, hi, *, file: str, complete_periods: bool) -> pd.DataFrame:
    """Drop partial edge periods (``complete_periods``) or warn that they are partial (counts low)."""
    part = partial_periods(freq, lo, hi)
    if not part:
        return out
    if complete_periods:
        return out[~out["date"].isin(part)]
    warnings.warn(PartialPeriodWarning(file, lo, hi, part), stacklevel=3)
    return out


class PartialPeriodWarning(DataWarning):
    """Edge periods an event file only partly covers (their counts are low); ``periods`` lists them.

    A caller that keeps only some periods (a recipe's ``start``/``end``) warns about those it
    keeps only, with :meth:`only`.
    """

    def __init__(self, file: str, lo: pd.Timestamp, hi: pd.Timestamp, periods: Sequence[pd.Timestamp]):
        self.file, self.lo, self.hi, self.periods = file, lo, hi, list(periods)
        labels = ", ".join(str(p.date()) for p in self.periods)
        super().__init__(f"{file}: the events cover {lo.date()} to {hi.date()}, so period(s) {labels} are only "
                         "partly covered (their counts are low); drop them with complete_periods = true "
                         "(--complete-periods)")

    def only(self, keep) -> PartialPeriodWarning | None:
        """The same warning for the periods ``keep(period)`` is true of; None when no period is kept."""
        kept = [p for p in self.periods if keep(p)]
        return PartialPeriodWarning(self.file, self.lo, self.hi, kept) if kept else None


@dataclass(frozen=True)
class AtLeast:
    """Lower bound of a whole-number option, written in its type hint: ``Annotated[int, AtLeast(0)]``.

    ``what`` says what the number counts, for the message (``"rows before the header"``).
    """

    low: int
    what: str = ""


def option_problem(value: object, hint: object) -> str | None:
    """What is wrong with an option's ``value`` for its type hint ``hint``, or None if it fits.

    The one rule for every loader option, whether it comes from a loader's signature (recipe
    sources, :meth:`Loader.load`) or from a table of allowed keys (:func:`config_options`: a
    mapping config, a recipe's top level). ``hint`` is a type hint or a type or a tuple of types
    (any of them). The kinds of values a TOML file or the command line gives are checked:
    ``bool``, ``int`` (never a ``bool``), ``float``, ``str``, paths, dates, tables (``dict``,
    ``Mapping[str, str]``) and lists (``list``, ``Sequence[str]``, ``Iterable[int]``); other hints
    accept anything. ``Annotated[int, AtLeast(n)]`` also refuses a whole number below ``n``.

    Returns
    -------
    str or None
        ``"has the wrong type; expected a whole number"`` or ``"is below 0; expected a whole
        number >= 0 (rows before the header)"``: the end of a message ``key = value ...``.
    """
    why = _type_problem(value, hint)
    if why:
        return f"has the wrong type; expected {why}"
    bound = _bound_missed(value, hint)
    if bound is not None:
        return (f"is below {bound.low}; expected a whole number >= {bound.low}"
                + (f" ({bound.what})" if bound.what else ""))
    return None


def shown_value(value: object) -> str:
    """``value`` as a TOML file writes it when it is ``true``/``false``, else its ``repr``."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def config_options(cfg: Mapping, allowed: Mapping[str, object], name: str, where: str,
                   elsewhere: Mapping[str, Iterable[str]] | None = None,
                   at: Callable[[str], int | None] | None = None) -> list[Problem]:
    """Unknown keys and wrong values of one config table (``where``: ``"[file]"``), one problem each.

    ``allowed`` maps each key to its type hint, checked by :func:`option_problem`. ``elsewhere``
    maps the other tables of the file (``"[file]"``) to their keys: an unknown key one of them
    takes is said to belong there (``missing`` at the top level of a mapping belongs under [file]).
    ``at`` gives the line of a key of this table (the same key name may be written in another
    table too, correctly: a problem located by name alone would point there).
    """
    problems = []
    for key, val in cfg.items():
        line, kind = (at(key), "key") if at is not None else (None, None)
        if key not in allowed:
            homes = [t for t, keys in (elsewhere or {}).items() if key in keys]
            if homes:
                problems.append(Problem(name, line, key, f"unknown key {key!r} in {where}; {key!r} belongs under "
                                                         f"{' or '.join(homes)}", kind=kind))
                continue
            problems.append(Problem(name, line, key, f"unknown key {key!r} in {where}; expected one of {', '.join(allowed)}",
                                    kind=kind))
        elif (why := option_problem(val, allowed[key])) is not None:
            problems.append(Problem(name, line, key, f"{where} {key} = {shown_value(val)} {why}", kind=kind))
    return problems


def _union_args(hint: object) -> tuple | None:
    """The members of a union hint or a tuple of types; None for anything else."""
    if isinstance(hint, tuple):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return None


def _bound_missed(value: object, hint: object) -> AtLeast | None:
    """The :class:`AtLeast` of ``hint`` that ``value`` (of the right type) is below, if any."""
    members = _union_args(hint)
    if members is not None:
        fits = [a for a in members if a is not type(None) and not _type_problem(value, a)]
        missed = [_bound_missed(value, a) for a in fits]
        return None if not fits or any(m is None for m in missed) else missed[0]
    if typing.get_origin(hint) is typing.Annotated:
        for m in hint.__metadata__:
            if isinstance(m, AtLeast) and value < m.low:
                return m
    return None


def _type_problem(value: object, hint: object) -> str | None:
    """What ``value`` should have been for the type hint ``hint`` (None if it fits); see
    :func:`option_problem`."""
    members = _union_args(hint)
    if members is not None:
        whys = [_type_problem(value, a) for a in members if a is not type(None)]
        if value is None and type(None) in members or any(w is None for w in whys):
            return None
        return " or ".join(dict.fromkeys(w for w in whys if w))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _type_problem(value, args[0])
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if hint is float:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if hint is str:
        return None if isinstance(value, str) else "text"
    if hint is Path:
        return None if isinstance(value, str | Path) else "a path"
    if hint in (pd.Timestamp, date, datetime):
        return None if isinstance(value, date | pd.Timestamp) else "a date"
    kind = origin if origin is not None else hint
    if not isinstance(kind, type):
        return None
    if issubclass(kind, Mapping):
        if not isinstance(value, Mapping):
            return "a table {key = value}"
        kv = args or (object, object)
        if any(_type_problem(k, kv[0]) or _type_problem(v, kv[1]) for k, v in value.items()):
            return f"a table {{key = value}} of {' and '.join(dict.fromkeys(getattr(a, '__name__', str(a)) for a in kv))}"
        return None
    if issubclass(kind, Iterable) and not issubclass(kind, str | bytes):
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            return "a list [...]"
        item = args[0] if args else object
        if any(_type_problem(x, item) for x in value):
            return f"a list of {getattr(item, '__name__', str(item))}"
        return None
    return None


@dataclass(frozen=True)
class Loader:
    """One input format in the registry (:data:`displacement_forecast.data.loaders.LOADERS`).

    Attributes
    ----------
    name
        Registry name, also the ``--format`` choice and the ``format`` of a recipe source.
    function
        ``function(path, regions=None, **options) -> observations``.
    kind
        ``events`` (event lists counted per period: zero-filled inside their coverage),
        ``measured`` (tables of counts: missing stays missing) or ``observations`` (tidy).
    description
        One line for ``--help``.
    needs
        Options that must be given (e.g. ``config`` for ``mapped``).
    """

    name: str
    function: Callable[..., pd.DataFrame]
    kind: str
    description: str
    needs: tuple[str, ...] = ()

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword options the loader takes (recipe keys), from its signature."""
        params = inspect.signature(self.function).parameters
        return tuple(n for n, p in params.items() if n not in ("path", "regions") and p.kind is not p.VAR_KEYWORD)

    def option_problems(self, options: Mapping) -> dict[str, str]:
        """``{option: why}`` for options of the wrong type (from the loader's type hints)."""
        hints = typing.get_type_hints(self.function, include_extras=True)
        out = {}
        for k, v in options.items():
            why = option_problem(v, hints[k]) if k in hints else None
            if why:
                out[k] = f"{k} = {shown_value(v)} {why}"
        return out

    def takes(self, options: Mapping) -> dict:
        """The options among ``options`` this loader takes, leaving out those that are None.

        The one rule for settings given for many sources at once (a recipe's top-level keys, the
        command line): each loader gets those it has a parameter for.
        """
        return {k: v for k, v in options.items() if v is not None and k in self.options}

    def load(self, path: str | Path, regions: RegionTable | None = None, *, where: str | None = None,
             **options) -> pd.DataFrame:
        """Call the loader; unknown or missing options are one :class:`DataError` naming the key."""
        where = where or str(path)
        unknown = [k for k in options if k not in self.options]
        missing = [k for k in self.needs if options.get(k) is None]
        typed = self.option_problems({k: v for k, v in options.items() if k not in unknown})
        if unknown or missing or typed:
            raise DataError([Problem(where, None, k, f"unknown option {k!r} for format {self.name!r}; "
                                                     f"expected one of {', '.join(self.options)}") for k in unknown]
                            + [Problem(where, None, k, f"format {self.name!r} needs {k}") for k in missing]
                            + [Problem(where, None, k, why) for k, why in typed.items()])
        return self.function(path, regions=regions, **options)
