"""Reading and writing files safely: strict CSV reading with located errors, atomic writes."""

from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import (
    COLUMNS,
    OPTIONAL_COLUMNS,
    DataError,
    Problem,
    check_observations,
    grouped_rows,
    header_key,
    match_columns,
    validate_observations,
)

FORMULA_PREFIXES = ("=", "+", "-", "@")
#: First bytes of an Excel workbook: an xlsx (a zip) or a legacy xls (OLE2). A zip is a workbook
#: only when its members say so (:func:`is_workbook_file`): the bytes alone are any zip's.
WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def zip_members(path: str | Path) -> list[str] | None:
    """The files in the zip archive ``path`` (folders left out); None when it cannot be read as one
    (a damaged zip, or bytes that only start like a zip's)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return [i.filename for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def is_xlsx(members: Iterable[str]) -> bool:
    """Whether a zip holding ``members`` is an xlsx workbook: it has ``[Content_Types].xml`` and
    ``xl/`` parts (a zip of CSVs, a .docx or a damaged zip is not)."""
    members = list(members)
    return "[Content_Types].xml" in members and any(m.startswith("xl/") for m in members)


def is_workbook_file(path: str | Path, head: bytes | None = None) -> bool:
    """Whether ``path`` is an Excel workbook: a legacy xls by its first bytes (``head``, read when
    None), or a readable zip whose members are an xlsx's (:func:`is_xlsx`)."""
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(8)
    if head.startswith(_ZIP_MAGIC):
        members = zip_members(path)
        return members is not None and is_xlsx(members)
    return head.startswith(WORKBOOK_MAGIC)


def check_file(path: str | Path, *, wanted: str | None = None, advice: str = "") -> Path:
    """``path`` as a Path when it names an existing file the toolkit can read; else one clear error
    (``DataError``): not found, a folder, or a compressed or Parquet file (:func:`packed_problem`).

    ``wanted`` names what the caller reads (``"a scenario file (TOML text)"``, ``"a CSV region
    table"``) when it is not an observation file: a workbook, zip or Parquet file is then said not
    to be that, with ``advice`` after it (``"save the sheet as CSV UTF-8"``); None keeps the
    observation-file messages (which point at the loaders reading workbooks)."""
    p = Path(path)
    if not p.exists():
        raise DataError(Problem(str(p), None, None, "file not found"))
    if p.is_dir():
        raise DataError(Problem(str(p), None, None, "is a folder; expected a file"))
    with open(p, "rb") as fh:
        head = fh.read(16)
    problem = packed_problem(p, head, wanted=wanted, advice=advice)
    if problem is not None:
        raise DataError(problem)
    if wanted is not None and head.startswith(WORKBOOK_MAGIC):  # a zip not a workbook is packed_problem's
        raise DataError(not_wanted(p, "an Excel workbook", wanted, advice))
    return p


def not_wanted(path: str | Path, kind: str, wanted: str, advice: str = "") -> Problem:
    """``file: is a Parquet file; expected a CSV region table (save the sheet as CSV UTF-8)``."""
    return Problem(str(path), None, None, f"is {kind}; expected {wanted}" + (f" ({advice})" if advice else ""))


#: Leading bytes of compressed files: what the file is called in messages, and the command undoing it.
_COMPRESSED: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "gzip", "gunzip -c"),
    (b"\xfd7zXZ\x00", "xz", "unxz -c"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -dc"),
)


def decompress_command(path: str | Path, *, keep: Iterable[str | Path] = (),
                       replaceable: Callable[[Path], bool] | None = None) -> str | None:
    """The command writing a plain copy of the compressed output CSV ``path`` (:func:`write_csv_atomic`)
    beside it (``gunzip -c obs.csv.gz > obs.csv``); None for plain text. The copy's name is
    :func:`plain_copy_name`'s: never a file in ``keep`` (the panel's inputs) nor an existing file
    ``replaceable`` does not accept (an earlier panel output), else ``<stem>_panel.csv``."""
    kind = OUTPUT_COMPRESSION.get(Path(path).suffix.lower())
    if kind is None:
        return None
    undo = {"zip": "unzip -p", "bzip2": "bunzip2 -c"}.get(kind) or next(u for _, k, u in _COMPRESSED if k == kind)
    return _undo_command(undo, str(path), keep=keep, replaceable=replaceable, tag="_panel")


def plain_copy_name(name: str | Path, *, keep: Iterable[str | Path] = (),
                    replaceable: Callable[[Path], bool] | None = None, tag: str = "_plain") -> Path:
    """Where a decompressed copy of the compressed file ``name`` may be written beside it, as a
    pasted command writes it (``obs.csv.gz`` -> ``obs.csv``), without replacing anything of the
    user's: the plain name, unless it is ``name`` itself, one of ``keep`` (the files the output
    was built from) or an existing file that ``replaceable`` does not accept (None: no existing
    file is); then ``<stem><tag>.csv``, then ``<stem><tag>_2.csv``, ... until one is free."""
    p = Path(name)
    stem = p.name
    for suffix in (".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd", ".zip"):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    if stem.lower().endswith(".csv"):
        stem = stem[:-4]
    kept = {os.path.realpath(k) for k in (p, *keep)}

    def free(c: Path) -> bool:
        if os.path.realpath(c) in kept:
            return False
        return not (c.exists() or c.is_symlink()) or (replaceable is not None and c.is_file() and replaceable(c))

    candidates = [f"{stem}.csv", f"{stem}{tag}.csv"]
    for c in candidates:
        if free(p.with_name(c)):
            return p.with_name(c)
    k = 2
    while not free(p.with_name(f"{stem}{tag}_{k}.csv")):
        k += 1
    return p.with_name(f"{stem}{tag}_{k}.csv")


def _undo_command(undo: str, name: str, *, keep: Iterable[str | Path] = (),
                  replaceable: Callable[[Path], bool] | None = None, tag: str = "_plain") -> str:
    """A command decompressing ``name`` whatever it is called (``gunzip FILE`` refuses a name with
    no ``.gz``): it writes to standard output, redirected to a ``.csv`` name other than ``name``
    that replaces nothing of the user's (:func:`plain_copy_name`)."""
    import shlex

    out = str(plain_copy_name(name, keep=keep, replaceable=replaceable, tag=tag))
    return f"{undo} {shlex.quote(name)} > {shlex.quote(out)}"


def _can_make_file(folder: Path) -> bool:
    """Whether a file can be made in the existing, writable-looking ``folder``: a nameless
    temporary file made and dropped there (root passes every permission check, and /proc or a
    read-only mount refuse only the file itself)."""
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def check_writable_place(path: str | Path, *, option: str = "--out", what: str = "the output") -> Path:
    """Check that ``path`` can be written (its missing folders made), before any work is done: the
    nearest existing folder above it is a folder, not a file, and a file can be made there.

    Shared by the commands writing one file (``panel --out``) and those writing a folder
    (:func:`~displacement_forecast.forecast.staging.check_out_dir`). Returns ``path`` as an
    absolute path (symlinks followed).

    Raises
    ------
    DataError
        One line naming ``option`` and the file in the way (``/x/som.csv: option --out: is a file,
        so the output cannot be made inside it``) or the folder that cannot be written.
    """
    p = Path(os.path.realpath(os.path.expanduser(str(path))))
    anc = p.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise DataError(Problem(str(anc), None, option, f"is a file, so {what} cannot be made inside it; expected "
                                                        f"{option} in a folder"))
    if not os.access(anc, os.W_OK | os.X_OK):
        raise DataError(Problem(str(anc), None, option, "folder is read-only; expected a folder you can write to"))
    if not _can_make_file(anc):
        raise DataError(Problem(str(p), None, option, f"cannot write here (no file can be made in {anc}); "
                                                      f"expected {what} in a folder you can write to"))
    return p


def _first_five(names: list[str]) -> str:
    """``a.csv, b.csv, ... and 3 more``: an archive's members, as a message names them."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def packed_problem(path: str | Path, head: bytes, *, wanted: str | None = None, advice: str = "") -> Problem | None:
    """The problem of a file the toolkit does not read, told by its first bytes (``head``, 16 or
    all): gzip, bzip2, xz or zstd compressed (decompress it first: readers take plain text by
    design, nothing is decompressed silently; an output named ``.gz`` is written compressed,
    :func:`write_csv_atomic`, and ``panel`` says how to decompress it), a zip archive that is not an xlsx workbook
    (no ``xl/workbook.xml``; its CSV members named), or Parquet. None for anything else (text is
    checked as it is read; a workbook by the loaders that read workbooks). ``wanted`` and
    ``advice``: see :func:`check_file`."""
    name = str(path)
    for magic, kind, undo in _COMPRESSED:
        if head.startswith(magic):
            return Problem(name, None, None, f"is {kind}-compressed: decompress it first ({_undo_command(undo, name)})")
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return Problem(name, None, None, f"is bzip2-compressed: decompress it first ({_undo_command('bunzip2 -c', name)})")
    if head.startswith(b"PAR1"):
        if wanted is not None:
            return not_wanted(name, "a Parquet file", wanted, advice)
        return Problem(name, None, None, "is a Parquet file; the toolkit reads CSV or Excel (save it as CSV UTF-8)")
    if head.startswith(_ZIP_MAGIC):  # a zip; an xlsx workbook is one too
        members = zip_members(path)
        if members is None:  # was 'an Excel workbook' (or 'cannot open as an Excel workbook') by its bytes
            if wanted is not None:
                # not the caller's advice (a region table's 'save the sheet as CSV UTF-8'): a file
                # broken in transfer is fetched or saved again, as for an observation file
                return not_wanted(name, "a damaged zip archive", wanted, "download or save it again")
            return Problem(name, None, None, "is a damaged zip archive: it starts like a zip (or an xlsx workbook) "
                                             "but cannot be opened; expected a CSV or an Excel workbook (download "
                                             "or save it again)")
        if is_xlsx(members):
            return None
        if wanted is not None:
            return not_wanted(name, "a zip archive", wanted,
                              f"extract the file from it first; it holds {_first_five(members)}" if members else "it is empty")
        csvs = [m for m in members if m.lower().endswith((".csv", ".tsv", ".txt"))]
        listed = _first_five(csvs or members)
        holds = (f"it holds {listed}" if csvs else
                 f"it holds no CSV: {listed}" if members else "it is empty")
        return Problem(name, None, None, f"is a zip archive, not a workbook: extract the CSV from it first ({holds})")
    return None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks: what ``sha256sum`` prints. ``backtest``
    records it for its data file, so ``forecast --backtest`` compares data by content, not path."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def observations_sha256(obs: pd.DataFrame) -> str:
    """SHA-256 (hex) of an observations frame's rows (``date, region, series, value``; ``source``
    left out), sorted: the same rows in another order, another column order or another file
    layout give the same hash. ``backtest`` records it beside :func:`file_sha256`, so
    ``forecast --backtest`` can tell a reordered or re-saved copy of the same data from other data."""
    import hashlib

    v = pd.to_numeric(obs["value"], errors="coerce").astype(float)
    f = pd.DataFrame({"date": pd.to_datetime(obs["date"]).dt.strftime("%Y-%m-%d"),
                      "region": obs["region"].astype(str), "series": obs["series"].astype(str),
                      "value": v.astype(str).where(v.notna(), "")})
    f = f.sort_values(["date", "region", "series", "value"], kind="stable")
    return hashlib.sha256(f.to_csv(index=False, header=False).encode()).hexdigest()


def read_text(path: str | Path, *, expected: str = "a header line and data rows",
              wanted: str | None = None, advice: str = "") -> str:
    """Read a text file as UTF-8 (BOM tolerated), with a one-line error otherwise (``expected``:
    what an empty file should have held, for the message; ``wanted`` and ``advice``: what the
    caller reads when not observations, see :func:`check_file`)."""
    p = check_file(path, wanted=wanted, advice=advice)
    raw = p.read_bytes()
    if raw.startswith(WORKBOOK_MAGIC):  # check_file refused a zip that is not a workbook
        raise DataError(Problem(str(p), None, None, "is an Excel workbook, not a CSV; read it with --format acled, hxl "
                                                    "or mapped (workbooks are read directly), or save it as CSV UTF-8"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(not_utf8(p, raw, e)) from None
    if not text.strip():
        raise DataError(Problem(str(p), None, None, f"file is empty; expected {expected}"))
    return text


def not_utf8(path: str | Path, raw: bytes, error: UnicodeDecodeError,
             advice: str = "save the file as UTF-8 (in Excel: Save As 'CSV UTF-8')") -> Problem:
    """The problem of a file that is not UTF-8: the line, byte and offset of its first bad byte
    (``error``, from decoding ``raw``, the file's bytes), then ``advice``; a UTF-16 file (Excel's
    "Unicode text") is named as such by its byte-order mark."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # was: 'byte 0xff at offset 0', which says nothing of the cause
        return Problem(str(path), 1, None, f"is UTF-16 (byte-order mark 0x{raw[0]:02x} 0x{raw[1]:02x}), not UTF-8; "
                                           f"{advice}")
    return Problem(str(path), raw[: error.start].count(b"\n") + 1, None,
                   f"not UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start}); {advice}")


#: Delimiters a CSV may use, by name for messages.
DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab"}


def _count_outside_quotes(line: str, delim: str) -> int:
    n, inside = 0, False
    for ch in line:
        if ch == '"':
            inside = not inside
        elif ch == delim and not inside:
            n += 1
    return n


def sniff_delimiter(path: str | Path, declared: str | None = None, *, skip: int = 0, text: str | None = None) -> str:
    """The delimiter of a CSV: ``declared`` if given, else the most frequent of ``, ; tab``.

    Counted outside quotes on the first 25 lines (after ``skip``; title lines above a header
    count little); among equally frequent delimiters the one whose count is steadiest over the next lines wins, then the
    comma. Excel in French, German or Spanish settings saves ``;``; some exports use tabs.
    ``text``: the file's text when the caller has read it already (the file is not opened again).
    """
    if declared is not None:
        if declared in ("\\t", "tab"):
            return "\t"
        if len(declared) != 1:
            raise DataError(Problem(str(path), None, "delimiter",
                                    f"delimiter {declared!r}; expected one character such as ',', ';' or tab"))
        return declared
    if text is None:
        with open(path, "rb") as fh:
            text = fh.read(65536).decode("utf-8-sig", errors="replace")
    lines = [ln for ln in text[:65536].splitlines()[skip: skip + 25] if ln.strip()]
    if not lines:
        return ","
    scores = {}
    for d in DELIMITERS:
        counts = [_count_outside_quotes(ln, d) for ln in lines]
        scores[d] = (max(counts), -len(set(counts)))
    best = max(DELIMITERS, key=lambda d: scores[d])
    return best if scores[best][0] > 0 else ","


def read_csv_strict(
    path: str | Path,
    *,
    header_rows: int = 1,
    formula_columns: Iterable[str] | None = None,
    delimiter: str | None = None,
    required: Iterable[str] = (),
    wanted: str | None = None,
    advice: str = "",
) -> pd.DataFrame:
    """Read a CSV as strings, checking the things pandas lets slip.

    The file is read once; the delimiter (``,``, ``;`` or tab) is sniffed from its first lines
    unless given. What spreadsheets add on saving is tolerated: blank lines (skipped) and columns
    with neither a name nor a value (Excel's trailing ``,,``; dropped).

    Every problem is reported with file and line: rows with more fields than the header, rows too
    short to hold a field for each of the ``required`` columns (header names compared in any case:
    ``2018-08-20,NWS01,displaced`` under ``date,region,series,value,source`` was read as a missing
    value; a row cut short is not an empty cell, ``,,``; shorter rows are padded with empty cells when
    only optional columns are left out), a column
    with values but no name, a name given twice, no data rows, and cells that start with a
    spreadsheet formula character (``=``; ``+ - @`` too when the cell is not a number) in
    ``formula_columns`` (all columns when None). Returns a frame of strings whose
    ``attrs['lines']`` is the file line of each row (quoted cells may span lines) and
    ``attrs['first_line']`` that of the first. ``wanted`` and ``advice``: what the file should be
    when it is not an observation file (:func:`check_file`).
    """
    text = read_text(path, wanted=wanted, advice=advice)
    name = str(path)
    reader = csv.reader(io.StringIO(text), delimiter=sniff_delimiter(path, delimiter, text=text))
    rows, lines, start = [], [], 1
    for row in reader:
        if any(c.strip() for c in row):  # blank lines (and rows of empty cells) are not records
            rows.append(row)
            lines.append(start)
        start = reader.line_num + 1
    if rows and text.count('"') % 2 and any("\n" in c or "\r" in c for c in rows[-1]):
        # a quote never closed: the csv module reads the rest of the file as one cell (an error line of
        # 43 KB on a 700-row file); quotes balance in every well-formed file, and a stray one inside an
        # unquoted cell (5" tall) spans no line
        raise DataError(Problem(name, lines[-1], None, f"a cell opened with '\"' here is never closed, so the "
                                f"{start - 1 - lines[-1]:,} lines after it were read as one cell; expected a "
                                "closing quote (or no quote)"))
    if len(rows) < header_rows:
        raise DataError(Problem(name, None, None, "file has no header line"))
    header = [h.strip() for h in rows[0]]
    data, data_lines = rows[header_rows:], lines[header_rows:]
    if not data:
        raise DataError(Problem(name, None, None, "file has only a header; expected data rows"))
    problems: list[Problem] = []
    unnamed = [i for i, h in enumerate(header) if not h]
    used = [i for i in unnamed if any(i < len(r) and r[i].strip() for r in data)]
    for i in used:
        first = next(ln for r, ln in zip(data, data_lines, strict=True) if i < len(r) and r[i].strip())
        problems.append(Problem(name, first, f"column {i + 1}", "has values but no name in the header (line "
                                f"{lines[0]}); expected a column name"))
    keep = [i for i in range(len(header)) if header[i] or i in used]
    named = [header[i] for i in keep if header[i]]
    if len(set(named)) != len(named):
        dup = sorted({h for h in named if named.count(h) > 1})
        problems.append(Problem(name, lines[0], dup[0], "column name appears more than once in the header"))
    width = len(header)
    check_cols = {h.lower() for h in (header if formula_columns is None else formula_columns)}
    check_idx = [i for i, h in enumerate(header) if h and h.lower() in check_cols]  # 'Value' is 'value'

    want = {header_key(r) for r in required}
    needed = [i for i, h in enumerate(header) if h and header_key(h) in want]
    reach = max(needed) + 1 if needed else 0  # a row needs at least this many fields
    long_rows: list[int] = []
    short_rows: list[int] = []
    formulas: dict[int, list[int]] = {i: [] for i in check_idx}
    for k, row in enumerate(data):
        if len(row) > width and any(c.strip() for c in row[width:]):
            long_rows.append(k)
            continue
        if len(row) < reach:
            short_rows.append(k)
        for i in check_idx:
            if i < len(row) and is_formula(row[i]):
                formulas[i].append(k)
    # one line per kind of problem and column, not one per row (schema.grouped_rows)
    problems += grouped_rows(name, None, long_rows, lambda k: data_lines[k],
                             lambda k: f"row has {len(data[k])} fields but the header has {width}",
                             f"have more fields than the header ({width})")
    fill = "expected a field for every column, empty (,,) for a missing value"
    problems += grouped_rows(
        name, None, short_rows, lambda k: data_lines[k],
        lambda k: (f"row has {len(data[k])} field{'s' if len(data[k]) != 1 else ''} but the header has {width}, so no "
                   f"{', '.join(repr(header[i]) for i in needed if i >= len(data[k]))}: is it cut short? {fill}"),
        f"have too few fields for the header ({width})", expected=f"{fill}; are the rows cut short?")
    for i, rows_i in formulas.items():
        problems += grouped_rows(
            name, header[i], rows_i, lambda k: data_lines[k],
            lambda k, i=i: f"cell {data[k][i][:20]!r} starts with {data[k][i].strip()[0]!r}, like a spreadsheet "
                           "formula; expected a plain value",
            "start like a spreadsheet formula (=, +, -, @)", cell=lambda k, i=i: data[k][i][:20],
            expected="expected plain values")
    if problems:
        raise DataError(problems)
    if keep == list(range(width)):  # the usual file: rows padded or cut (empty cells) to the header
        data = [r if len(r) == width else (r + [""] * (width - len(r)))[:width] for r in data]
    else:
        data = [[r[i] if i < len(r) else "" for i in keep] for r in data]
    df = pd.DataFrame(data, columns=[header[i] for i in keep], dtype=object).replace({"": None})
    # an array, not a list: pandas deep-copies attrs at every column access (a list of 250,000 lines cost 5 s)
    df.attrs["lines"] = np.asarray(data_lines, dtype=np.int64)
    df.attrs["first_line"] = data_lines[0]
    df.attrs["file"] = name
    if header_rows > 1:
        df.attrs["extra_header"] = rows[1:header_rows]
    return df


def is_formula(cell: str) -> bool:
    """True for text a spreadsheet would run as a formula (``=...``; ``+ - @`` unless a number)."""
    s = cell.strip()
    if not s or s[0] not in FORMULA_PREFIXES:
        return False
    if s[0] == "=":
        return True
    try:  # '-3' or '+1.5' are numbers, not formulas
        float(s)
        return False
    except ValueError:
        return len(s) > 1



def read_observations(
    path: str | Path,
    *,
    region_codes: Iterable[str] | None = None,
    freq: str | None = None,
    delimiter: str | None = None,
    whole: bool | None = None,
    region_names: Callable[[str], str | None] | None = None,
) -> pd.DataFrame:
    """Read a tidy observation CSV (``date, region, series, value[, source]``) and validate it.

    Dates must be ISO ``YYYY-MM-DD``; the delimiter is sniffed (``,`` ``;`` tab) unless given.
    Counts of people (:data:`~.schema.PEOPLE_SERIES`) must be whole numbers unless ``whole`` is
    False (the rule of every loader: a source publishing estimates with decimals says so); None
    takes the declaration of the README beside the file (``decimals: true``, see
    :func:`.metadata.declares_decimals`), else True.
    ``region_names`` (:meth:`.regions.RegionTable.code_named`): a region given by its name, not its
    code, is said to be the name of that code.
    Raises :class:`~.schema.DataError` listing every problem (file, line, column, expectation).
    """
    cols = list(COLUMNS)
    if whole is None:
        from .metadata import declares_decimals

        whole = not declares_decimals(path)
    try:
        raw = read_csv_strict(path, formula_columns=cols, delimiter=delimiter, required=cols)
    except DataError as e:
        # Formula cells found: list them with every other problem of the file, in one pass.
        if not any(str(p.column).strip().lower() in cols for p in e.problems):
            raise
        try:
            raw = match_columns(read_csv_strict(path, formula_columns=(), delimiter=delimiter, required=cols),
                                (*COLUMNS, *OPTIONAL_COLUMNS), file=str(path))
        except DataError:
            raise e from None
        # the other problems, of the rows without formula cells (a formula cell is reported once)
        clean = ~np.column_stack([_formula_cells(raw[c]) for c in cols if c in raw.columns]).any(axis=1)
        rest = validate_observations(raw[clean], file=str(path), region_codes=region_codes, freq=freq,
                                     row_offset=raw.attrs["lines"][clean], whole=whole,
                                     region_names=region_names) if clean.any() else []
        raise DataError(sorted([*e.problems, *rest], key=lambda p: (p.row or 0, p.column or ""))) from None
    raw = match_columns(raw, (*COLUMNS, *OPTIONAL_COLUMNS), file=str(path))  # 'Date', ' value ': any case
    return check_observations(raw, file=str(path), region_codes=region_codes, freq=freq,
                              row_offset=raw.attrs["lines"], whole=whole, region_names=region_names)


def observation_lines(path: str | Path, rows: pd.DataFrame, *, delimiter: str | None = None) -> list[int | None]:
    """The file line of each of ``rows`` (clean observations, :func:`read_observations`' frame, keyed
    by ``date, region, series``) in the tidy file ``path`` it was read from; None for a key not found.

    For messages about rows found after reading (a count above its region's population): the file
    is read again, so call it on the error path only.
    """
    from .schema import _text

    raw = match_columns(read_csv_strict(path, formula_columns=(), delimiter=delimiter),
                        (*COLUMNS, *OPTIONAL_COLUMNS), file=str(path))
    keys = pd.MultiIndex.from_arrays([pd.to_datetime(_text(raw["date"]), errors="coerce", format="%Y-%m-%d"),
                                      _text(raw["region"], nfc=True), _text(raw["series"])])
    line = dict(zip(keys, raw.attrs["lines"].tolist(), strict=True))
    return [line.get((pd.Timestamp(d), r, s)) for d, r, s in zip(rows["date"], rows["region"], rows["series"],
                                                                   strict=True)]


def _formula_cells(col: pd.Series) -> np.ndarray:
    """Which cells of a column of strings a spreadsheet would run as a formula (:func:`is_formula`)."""
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    hit = np.array([isinstance(u, str) and is_formula(u) for u in uniq] + [False], dtype=bool)
    return hit[codes]


def formula_cells(df: pd.DataFrame, file: str, *, shown: int = 5) -> tuple[Problem | None, np.ndarray]:
    """Every cell of ``df`` (strings, as :func:`read_csv_strict` reads them with no formula check;
    ``attrs['lines']`` their file lines) that a spreadsheet would run as a formula (:func:`is_formula`),
    as one problem, and which rows hold one (a bool array, to check the other rows without them).

    One cell: at its line and column. More: one line naming the first ``shown`` by line and
    column, in file order, and how many more (a table with formulas in many columns was one line
    per column, and nothing else of it was checked)."""
    hit = (np.column_stack([_formula_cells(df[c]) for c in df.columns]) if len(df.columns)
           else np.zeros((len(df), 0), dtype=bool))
    rows, cols = np.nonzero(hit)  # row by row, left to right: file order
    if not len(rows):
        return None, hit.any(axis=1)
    lines = df.attrs["lines"]
    first = str(df.iat[rows[0], cols[0]])
    if len(rows) == 1:
        return Problem(file, int(lines[rows[0]]), str(df.columns[cols[0]]),
                       f"cell {first[:20]!r} starts with {first.strip()[0]!r}, like a spreadsheet formula; expected a "
                       "plain value"), hit.any(axis=1)
    where = ", ".join(f"line {lines[r]} column {str(df.columns[c])!r}" for r, c in zip(rows[:shown], cols[:shown],
                                                                                      strict=True))
    more = f" and {len(rows) - shown:,} more" if len(rows) > shown else ""
    return Problem(file, None, None, f"{len(rows):,} cells start like a spreadsheet formula (=, +, -, @): {where}{more} "
                                     f"(first value {first[:20]!r}); expected plain values"), hit.any(axis=1)


def escape_formula(value: object) -> object:
    """Prefix text cells that a spreadsheet would run as a formula with a quote."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES and is_formula(value):
        return "'" + value
    return value


def escape_text_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with text cells escaped against formula injection (numbers untouched)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            codes, uniq = pd.factorize(out[c], use_na_sentinel=True)  # escape each distinct text once
            esc = pd.Series([escape_formula(u) for u in uniq] + [None], dtype=object)
            out[c] = pd.Series(esc.to_numpy()[codes], index=out.index, dtype=object).where(codes >= 0, out[c])
    return out


def _umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    m = os.umask(0)
    os.umask(m)
    return m


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The file gets the permissions a plain ``open(path, "w")`` would give it (``0o666`` minus the
    umask), not ``mkstemp``'s private ``0o600``, so outputs shared with colleagues stay readable;
    a file it replaces passes on its own mode (a ``chmod 600`` file stays 600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        try:
            mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else 0o666 & ~_umask()
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: What an output CSV named ``*.gz``, ``*.bz2``, ``*.xz``, ``*.zip`` or ``*.zst`` (any case) is
#: written as: the name says what the bytes are, as pandas' ``compression="infer"`` and every
#: other reader of the file take it (``x.csv.gz`` held plain text, which ``zcat`` and pandas refused).
OUTPUT_COMPRESSION = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip", ".zst": "zstd"}


def output_compression(path: str | Path) -> str | None:
    """The compression an output CSV named ``path`` is written with (:data:`OUTPUT_COMPRESSION`,
    by its last suffix), None for plain text. Call it before any work: a ``.zst`` name without the
    ``zstandard`` package is refused (``DataError``, one line) rather than written as plain text."""
    kind = OUTPUT_COMPRESSION.get(Path(path).suffix.lower())
    if kind == "zstd":
        try:
            import zstandard  # noqa: F401
        except ImportError:
            raise DataError(Problem(str(path), None, None, "names a zstd-compressed file (.zst), which needs the "
                                    "Python package zstandard (pip install zstandard); expected a name ending .csv, "
                                    ".csv.gz, .csv.bz2, .csv.xz or .csv.zip")) from None
    return kind


def plain_name(path: str | Path) -> str:
    """The name of ``path`` without its compression suffix, ending ``.csv``: ``obs.csv.gz`` ->
    ``obs.csv``, ``obs.zip`` -> ``obs.csv`` (a zip's member; a decompressed copy)."""
    name = Path(path).name
    if Path(name).suffix.lower() in OUTPUT_COMPRESSION and len(name) > len(Path(name).suffix):
        name = name[: -len(Path(name).suffix)]
    return name if name.lower().endswith(".csv") else name + ".csv"


@contextmanager
def _binary_out(path: Path, kind: str, member: str):
    """A binary handle writing ``path`` compressed as ``kind``; no time stamp is written (the same
    rows give the same bytes, as they do in plain text)."""
    import gzip

    if kind == "gzip":
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            yield fh
    elif kind == "bzip2":
        import bz2

        with bz2.open(path, "wb") as fh:
            yield fh
    elif kind == "xz":
        import lzma

        with lzma.open(path, "wb") as fh:
            yield fh
    elif kind == "zip":
        import zipfile

        info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with zipfile.ZipFile(path, "w") as z, z.open(info, "w", force_zip64=True) as fh:
            yield fh
    else:  # zstd: output_compression checked the package is there
        import zstandard

        with open(path, "wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as fh:
            yield fh


def write_csv_atomic(df: pd.DataFrame, path: str | Path, **kwargs) -> Path:
    """Write a CSV (text cells escaped) via a temp file and rename, so no half file is left;
    compressed as its name says (:func:`output_compression`; a zip holds one member,
    :func:`plain_name`)."""
    kind = output_compression(path)
    with atomic_path(path) as tmp:
        if kind is None:
            escape_text_columns(df).to_csv(tmp, index=False, **kwargs)
        else:
            with _binary_out(tmp, kind, plain_name(path)) as fh, \
                    io.TextIOWrapper(fh, encoding="utf-8", newline="") as text:
                escape_text_columns(df).to_csv(text, index=False, **kwargs)
    return Path(path)


def write_text_atomic(text: str, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
