"""The generic loader: any CSV or Excel table described by a TOML column mapping.

One-off agency layouts (UNHCR PRMN wide tables, UNHCR "February 24, 2022" date strings, OCHA
governorate tables) are supported through configuration instead of one function per file.
Example configs for real files are shipped in ``data/configs/``.

Configuration keys
------------------
Top level (all optional)::

    series = "displaced"     # constant series name (or [columns] series = "<column>")
    region = "UKR"           # constant region code, for national series with no region column
    freq = "M"               # sum to D / W / M; default: keep, dates must already be one frequency
    source = "UNHCR PRMN"    # text for the source column
    description = "..."      # free text, ignored

``[file]``: ``sheet`` (Excel sheet name; default the first), ``skip_rows`` (lines/rows before
the header, a whole number >= 0, default 0), ``nrows`` (data rows to read, >= 1; default all),
``delimiter`` (``,`` ``;`` or ``\t``; sniffed when absent), ``thousands`` (separator to remove from numbers, e.g. ","),
``decimal`` (decimal mark, e.g. ","), ``missing`` (cell words meaning "missing", e.g.
``["n/a", "-"]``; kept NaN, never 0), ``whole`` (default true: values are counts of people,
so ``12.5`` is an error; false for sources that publish estimates with decimals). See
:func:`.common.parse_counts` for the number rules (ranges such as ``500-1000`` are errors).

Workbooks are recognised by their bytes and read whole (the stored sheet dimension is ignored).

``[columns]`` (long layout): ``date``, ``region``, ``value``, ``series`` - header names;
optionally ``cumulative``, a running-total column beside the per-period ``value`` (UNHCR's
``cumulative_individuals`` beside ``daily_individuals``). With it, a count after a gap in the
dates (a day, week or month with no row) that equals the change of the cumulative column since
the row before covers every period of the gap, not one: by default it is kept as one period's
count with a warning naming file, line and dates; top-level ``after_gap = "spread"`` spreads it
evenly over the periods it covers (whole counts stay whole: the remainder goes one each to the
last periods). See :func:`counts_after_gaps`.

``[series_map]``: ``{text in the [columns] series column: series}``; rows whose text is not a
key are left out (e.g. ``idp_arrivals = "arrivals"`` in a table of many measures).

``[filter]``: ``{column: [values to keep]}``; other rows are left out (e.g. ``area_level =
["governorate"]``).

``[dates]``: ``format`` (strptime format of dates, or of the wide headers; detected when
absent), ``year`` (added to dates that carry no year, e.g. wide headers "Jan".."Dec").

``[wide]`` (one column per period or per region, melted to long): ``melt = "date"`` (headers
are dates; ``[columns] region`` names the region column) or ``melt = "region"`` (headers are
region names; ``[columns] date`` names the date column); ``columns`` (headers to melt; default
all others), ``exclude`` (headers to ignore, e.g. an admin-code column), ``total`` (a row-total
column: checked to equal the sum of the melted cells, then dropped).

A row whose region cell reads ``Total``, ``Grand Total`` (and the like) is a total row, not a
region: it is checked against the sum of the region rows (where all are present) and dropped.

Unknown keys are errors naming the key. Empty cells are missing (NaN), never 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd

from ...conventions import period_unit
from ..io import is_formula
from ..regions import RegionTable
from ..schema import FREQUENCIES, KNOWN_SERIES, DataError, DataWarning, Problem, period_offset
from ..tomlfile import TomlDoc, read_toml
from .common import (
    AtLeast,
    LineMap,
    config_options,
    finish_cells,
    is_total_name,
    map_region_names,
    parse_counts,
    parse_dates,
    read_rows,
)

__all__ = ["AFTER_GAP", "ALLOWED_KEYS", "check_config", "counts_after_gaps", "load_mapped", "read_config", "read_table"]

#: What ``after_gap`` may say about a count that covers the gap before it: ``keep`` it as one
#: period's count (warned), or ``spread`` it evenly over the periods it covers.
AFTER_GAP: tuple[str, ...] = ("keep", "spread")

#: Keys of each table and their type hints, checked by :func:`.common.option_problem` (the rule
#: every loader option follows).
ALLOWED_KEYS: dict[str | None, dict[str, object]] = {
    None: {"series": str, "region": str, "freq": str, "source": str, "description": str, "after_gap": str,
           "file": dict, "columns": dict, "dates": dict, "wide": dict, "series_map": dict, "filter": dict},
    "file": {"sheet": str, "skip_rows": Annotated[int, AtLeast(0, "lines or sheet rows before the header")],
             "nrows": Annotated[int, AtLeast(1, "data rows to read; leave it out to read all")],
             "thousands": str, "decimal": str, "delimiter": str, "missing": list, "whole": bool},
    "columns": {"date": str, "region": str, "value": str, "series": str, "cumulative": str},
    "dates": {"format": str, "year": int},
    "wide": {"melt": str, "columns": list, "exclude": list, "total": str},
}


def read_config(config: str | Path | Mapping) -> tuple[dict, str]:
    """Load a TOML mapping (path, by :func:`..tomlfile.read_toml`) or take a dict; return
    ``(config, name for messages)``."""
    return _read_config(config)[:2]


def _read_config(config: str | Path | Mapping) -> tuple[dict, str, TomlDoc | None]:
    if isinstance(config, Mapping):
        return dict(config), "<config>", None
    doc = read_toml(config, what="mapping config")
    return doc.data, doc.file, doc


def check_config(cfg: Mapping, name: str = "<config>", doc: TomlDoc | None = None) -> list[Problem]:
    """All problems with a mapping config: unknown keys, wrong types, missing or clashing keys.

    ``doc`` (the config read from a file) gives the line of each key within its own table."""
    problems: list[Problem] = []
    for section, allowed in ALLOWED_KEYS.items():
        block = cfg if section is None else cfg.get(section, {})
        where = "top level" if section is None else f"[{section}]"
        if not isinstance(block, Mapping):
            problems.append(Problem(name, None, section, f"{where} must be a table"))
            continue
        elsewhere = {"the top level" if other is None else f"[{other}]": keys
                     for other, keys in ALLOWED_KEYS.items() if other != section}
        at = None if doc is None else (lambda key, s=section: doc.lines.get((key,) if s is None else (s, key)))
        problems += config_options(block, allowed, name, where, elsewhere, at)
    for key, val in cfg.get("series_map", {}).items():
        if val not in KNOWN_SERIES:
            problems.append(Problem(name, None, key, f"[series_map] {key} = {val!r}; expected one of {', '.join(KNOWN_SERIES)}"))
    for key, val in cfg.get("filter", {}).items():
        if not isinstance(val, list):
            problems.append(Problem(name, None, key, f"[filter] {key} = {val!r}; expected a list of values to keep"))
    if problems:
        return problems
    cols, wide = cfg.get("columns", {}), cfg.get("wide")
    if "freq" in cfg and cfg["freq"] not in FREQUENCIES:
        problems.append(Problem(name, None, "freq", f"freq = {cfg['freq']!r}; expected D, W or M"))
    if "series" in cfg and "series" in cols:
        problems.append(Problem(name, None, "series", "give either a constant series or [columns] series, not both"))
    if "series" not in cfg and "series" not in cols:
        problems.append(Problem(name, None, "series", f"missing: set series = one of {', '.join(KNOWN_SERIES)}, or [columns] series"))
    elif "series_map" in cfg and "series" not in cols:
        problems.append(Problem(name, None, "series_map", "[series_map] needs [columns] series (the column it maps)"))
    elif "series" in cfg and cfg["series"] not in KNOWN_SERIES:
        problems.append(Problem(name, None, "series", f"unknown series {cfg['series']!r}; expected one of {', '.join(KNOWN_SERIES)}"))
    if "region" in cfg and "region" in cols:
        problems.append(Problem(name, None, "region", "give either a constant region or [columns] region, not both"))
    if "after_gap" in cfg and cfg["after_gap"] not in AFTER_GAP:
        problems.append(Problem(name, None, "after_gap", f"after_gap = {cfg['after_gap']!r}; expected "
                                f"{' or '.join(repr(a) for a in AFTER_GAP)}"))
    elif "after_gap" in cfg and "cumulative" not in cols:
        problems.append(Problem(name, None, "after_gap", "after_gap needs [columns] cumulative (the running total "
                                "that shows what a count after a gap covers)"))
    if wide is not None and "cumulative" in cols:
        problems.append(Problem(name, None, "cumulative", "[columns] cumulative works with the long layout only; "
                                "remove it or the [wide] section"))
    if wide is None:
        for key in ("date", "value"):
            if key not in cols:
                problems.append(Problem(name, None, key, f"missing [columns] {key} (or a [wide] section for a wide table)"))
        if "region" not in cols and "region" not in cfg:
            problems.append(Problem(name, None, "region", "missing [columns] region (or a constant region = \"CODE\")"))
    else:
        melt = wide.get("melt")
        if melt not in ("date", "region"):
            problems.append(Problem(name, None, "melt", f"[wide] melt = {melt!r}; expected \"date\" (headers are dates) or \"region\" (headers are regions)"))
        if "value" in cols:
            problems.append(Problem(name, None, "value", "[columns] value cannot be used with [wide]: the melted cells are the values"))
        if melt == "date":
            if "date" in cols:
                problems.append(Problem(name, None, "date", "[wide] melt = \"date\" takes dates from the headers; remove [columns] date"))
            if "region" not in cols and "region" not in cfg:
                problems.append(Problem(name, None, "region", "missing [columns] region (or a constant region) for [wide] melt = \"date\""))
        if melt == "region":
            if "date" not in cols:
                problems.append(Problem(name, None, "date", "missing [columns] date for [wide] melt = \"region\""))
            if "region" in cols or "region" in cfg:
                problems.append(Problem(name, None, "region", "[wide] melt = \"region\" takes regions from the headers; remove region"))
    return problems


def _cell_str(v: object) -> object:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def read_table(path: Path, cfg: Mapping) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read the table of a mapped file as objects; return ``(frame, line of each row, delimiter)``.

    CSV is read strictly (UTF-8, delimiter sniffed, no row longer than the header, no
    formula-like cells); workbooks whole with calamine (cached values; the delimiter is "xlsx").
    """
    fcfg = cfg.get("file", {})
    skip, nrows = int(fcfg.get("skip_rows", 0)), fcfg.get("nrows")
    file = str(path)
    rows, lines, delim = read_rows(path, delimiter=fcfg.get("delimiter"), sheet=fcfg.get("sheet"))
    rows, lines = rows[skip:], lines[skip:]
    while rows and not any(_cell_str(c) is not None for c in rows[-1]):
        rows.pop()
        lines.pop()
    if not rows:
        raise DataError(Problem(file, None, None, f"no header line after skipping {skip} rows"))
    header = [str(_cell_str(h)) if _cell_str(h) is not None else "" for h in rows[0]]
    # Excel headers that are dates stay as their ISO text so [wide] can parse them.
    header = [h[:10] if isinstance(rows[0][i], datetime | date) else h for i, h in enumerate(header)]
    data, data_lines = rows[1:], lines[1:]
    keep = [k for k, r in enumerate(data) if any(_cell_str(c) is not None for c in r)]  # blank rows
    data, data_lines = [data[k] for k in keep], [data_lines[k] for k in keep]
    if nrows is not None:
        data, data_lines = data[:nrows], data_lines[:nrows]
    if not data:
        raise DataError(Problem(file, None, None, "file has only a header; expected data rows"))
    problems = []
    width = len(header)
    while width and header[width - 1] == "" and all(len(r) < width or _cell_str(r[width - 1]) is None for r in data):
        width -= 1
    header = header[:width]
    dups = sorted({h for h in header if h and header.count(h) > 1})
    if dups:
        problems.append(Problem(file, lines[0], dups[0], "column name appears more than once in the header"))
    for r, ln in zip(data, data_lines, strict=True):
        if len(r) > width and any(_cell_str(c) is not None for c in r[width:]):
            problems.append(Problem(file, ln, None, f"row has {len(r)} fields but the header has {width}"))
            continue
        for i, c in enumerate(r[:width]):
            if isinstance(c, str) and is_formula(c):
                problems.append(Problem(file, ln, header[i] or f"#{i + 1}",
                                        f"cell {c.strip()[:20]!r} starts with {c.strip()[0]!r}, like a spreadsheet formula; expected a plain value"))
    if problems:
        raise DataError(problems)
    norm = [[_cell_str(c) for c in r[:width]] + [None] * (width - len(r)) for r in data]
    df = pd.DataFrame(norm, columns=header, dtype=object)
    return df, np.asarray(data_lines), delim


def _col(df: pd.DataFrame, name: str, file: str, cfg_key: str) -> pd.Series:
    if name not in df.columns:
        raise DataError(Problem(file, None, name, f"column named by {cfg_key} not found; columns: {', '.join(map(str, df.columns))}"))
    return df[name]


def _dates_from(raw: pd.Series, dcfg: Mapping, *, file: str, column: str, lines) -> pd.Series:
    if raw.map(lambda v: isinstance(v, datetime | date)).all():
        return pd.to_datetime(raw).astype("datetime64[ns]")
    s = raw.map(lambda v: v.isoformat()[:10] if isinstance(v, datetime | date) else (None if v is None else str(v)))
    fmt = dcfg.get("format")
    if "year" in dcfg:
        s = s.map(lambda v: None if v is None else f"{dcfg['year']} {v}")
        fmt = f"%Y {fmt}" if fmt else None
        cands = tuple(f"%Y {f}" for f in ("%b", "%B", "%m", "%b %d", "%d %b", "%B %d", "%d %B"))
        return parse_dates(s, file=file, column=column, lines=lines, date_format=fmt, candidates=cands)
    return parse_dates(s, file=file, column=column, lines=lines, date_format=fmt)


def _collect(problems: list[Problem], fn, *args, **kwargs):
    """Call ``fn``; on DataError add its problems to ``problems`` and return None (report all at once)."""
    try:
        return fn(*args, **kwargs)
    except DataError as e:
        problems.extend(e.problems)
        return None


def _total_rows(df: pd.DataFrame, region_col: str, value_cols: list[str], vals: pd.DataFrame, *, file: str,
                lines) -> tuple[np.ndarray, list[Problem]]:
    """Rows whose region cell names a total (``Total``, ``Grand Total``), checked against the sum.

    Returns ``(mask of total rows, problems)``; a total that differs from the sum of the region
    rows (in a column where every region row has a value) is a problem.
    """
    mask = df[region_col].map(is_total_name).to_numpy(dtype=bool)
    problems = []
    if mask.sum() == 1:
        t = int(np.flatnonzero(mask)[0])
        body = vals[~mask]
        for c in value_cols:
            if body[c].notna().all() and pd.notna(vals[c].iloc[t]) and abs(body[c].sum() - vals[c].iloc[t]) > 0.5:
                problems.append(Problem(file, lines[t], c, f"total row {df[region_col].iloc[t]!r} = {vals[c].iloc[t]:g} differs "
                                                           f"from the sum of the region rows ({body[c].sum():g})"))
    return mask, problems


def _periods_between(a: pd.Series, b: pd.Series, freq: str) -> np.ndarray:
    """Whole periods from each date of ``a`` to the same row's ``b`` (1 for consecutive labels)."""
    if freq == "M":
        return ((b.dt.year - a.dt.year) * 12 + b.dt.month - a.dt.month).to_numpy()
    return ((b - a).dt.days // (7 if freq == "W" else 1)).to_numpy()


def counts_after_gaps(
    long: pd.DataFrame,
    cumulative: pd.Series,
    *,
    file: str,
    value_column: str = "value",
    cumulative_column: str = "cumulative",
    after_gap: str = "keep",
    whole: bool = True,
) -> pd.DataFrame:
    """Find counts that cover the gap before them, and keep (warned) or spread them.

    A source that publishes a per-period count beside a running total sometimes skips a period
    (UNHCR's Ukraine table has no 19 April 2022 row) and reports, at the next row, the change of
    the running total since the last row: two periods' people under one date. Such a row is
    one whose dates are more than one period after the row before in its (region, series), both
    rows with a count and a running total, and whose count equals the running total's change
    between them (within 0.5). Any frequency (the table's own: days, weeks or months) and any gap.

    Parameters
    ----------
    long
        Cells ``date, region, series, value, _line`` (one per row of the table, file order).
    cumulative
        The running total of each row, aligned with ``long`` (NaN where blank).
    file, value_column, cumulative_column
        For the warning.
    after_gap
        ``"keep"``: the count stays on its date, with one :class:`DataWarning` naming file, line
        and dates of the first such row (and how many more). ``"spread"``: it is spread evenly
        over the periods it covers, the gap's dates included (a gap row with a blank count is
        replaced), said in one warning line too.
    whole
        Counts of people: spread shares are whole numbers (the remainder, one each, goes to the
        last periods), so the sum is the source's count.

    Returns
    -------
    pandas.DataFrame
        ``long`` (spread: with the covered rows added, same columns; ``_line`` of the count's row).
    """
    from ..schema import detect_frequency

    ok = long["value"].notna().to_numpy() & cumulative.notna().to_numpy() & long["date"].notna().to_numpy()
    if ok.sum() < 2:
        return long
    try:
        freq = detect_frequency(long.loc[ok, "date"], file=file).code
    except DataError:
        return long  # irregular dates: the frequency check after this one says so
    work = long[ok].assign(_cum=cumulative[ok].to_numpy(dtype=float), _row=np.flatnonzero(ok))
    work = work.sort_values(["region", "series", "date"], kind="stable")
    same = (work["region"].eq(work["region"].shift()) & work["series"].eq(work["series"].shift())).to_numpy()
    prev_date = work["date"].shift()
    n_all = np.where(same, _periods_between(prev_date.fillna(work["date"]), work["date"], freq), 0)
    hit = same & (n_all > 1) & ((work["value"] - (work["_cum"] - work["_cum"].shift())).abs() <= 0.5).to_numpy()
    found = [(int(work["_row"].iloc[k]), int(n_all[k]), pd.Timestamp(prev_date.iloc[k]))  # row, periods, date before
             for k in np.flatnonzero(hit)]
    if not found:
        return long
    found.sort()
    unit = period_unit(freq)
    step = period_offset(freq)
    spread = after_gap == "spread"
    zero = [f for f in found if long["value"].iloc[f[0]] == 0]
    for rows in ([f for f in found if f not in zero], zero):
        if rows:
            warnings.warn(_gap_warning(long, rows, rows is zero, spread, file=file, value_column=value_column,
                                       cumulative_column=cumulative_column, unit=unit, step=step),
                          DataWarning, stacklevel=3)
    if not spread:
        return long
    drop, add = [], []
    for row, n, _before in found:
        r = long.iloc[row]
        dates = [r["date"] - step * (n - 1 - j) for j in range(n)]
        if whole:
            base, extra = divmod(int(round(r["value"])), n)
            shares = [float(base + (1 if j >= n - extra else 0)) for j in range(n)]
        else:
            shares = [r["value"] / n] * n
        in_gap = (long["region"] == r["region"]) & (long["series"] == r["series"]) & long["date"].isin(dates[:-1])
        drop += [row, *np.flatnonzero(in_gap.to_numpy() & long["value"].isna().to_numpy())]
        add.append(pd.DataFrame({"date": dates, "region": r["region"], "series": r["series"], "value": shares,
                                 "_line": r["_line"]}))
    kept = long.drop(index=long.index[drop])
    return pd.concat([kept, *add], ignore_index=True).sort_values(["region", "series", "date"], kind="stable") \
        .reset_index(drop=True)


def _gap_warning(long: pd.DataFrame, rows: list[tuple[int, int, pd.Timestamp]], zero: bool, spread: bool, *,
                 file: str, value_column: str, cumulative_column: str, unit: str, step: pd.DateOffset) -> str:
    """One line for the counts after a gap of :func:`counts_after_gaps` (``rows``: row, periods
    covered, date of the row before), naming the first and how many more: "(and 1 more such row,
    line 5)". ``zero``: rows whose count is 0 and whose running total did not change over the gap,
    said as what they mean, no arrivals over the gap (review 19: such a 0 was spread as 0s with the
    wording of a count that covers two days)."""
    row, n, before = rows[0]
    first = long.iloc[row]
    k = len(rows) - 1
    lines = ", ".join(str(int(long["_line"].iloc[f[0]])) for f in rows[1:6])
    more = (f" (and {k} more such row{'s' if k != 1 else ''}, line{'s' if k != 1 else ''} {lines}"
            f"{', ...' if k > 5 else ''})" if k else "")
    span = f"{n} {unit}s ({(before + step).date()} to {first['date'].date()})"
    at = f"{file}:{int(first['_line'])}: column {value_column!r}: "
    if zero:
        head = (f"{at}0 on {first['date'].date()} after a gap, and {cumulative_column!r} did not change since "
                f"{before.date()}, the row before: no arrivals over the {span}")
        return (f"{head}: read as 0 on each of them (after_gap = \"spread\"){more}" if spread else
                f"{head}, but the {unit}s of the gap stay missing{more}; set after_gap = \"spread\" in the config "
                "to read them as 0")
    head = (f"{at}{first['value']:,.0f} on {first['date'].date()} equals the change of {cumulative_column!r} since "
            f"{before.date()}, the row before, so it covers {span}")
    return (f"{head}: spread evenly over them (after_gap = \"spread\"){more}" if spread else
            f"{head}, but is read as one {unit}'s count{more}; set after_gap = \"spread\" in the config to spread "
            "it evenly over them")


def load_mapped(
    path: str | Path,
    config: str | Path | Mapping,
    regions: RegionTable | None = None,
    *,
    strict: bool = False,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read a CSV/Excel table described by a TOML mapping (see module docs) into observations.

    Parameters
    ----------
    path
        The data file (``.csv`` with any of ``,`` ``;`` tab, or a workbook).
    config
        Path to a TOML file, or the same content as a dict.
    regions
        Region table to match names against (names, codes, aliases); ``None`` keeps names.
    strict
        Raise instead of warning when a region name does not match the table.
    date_format
        strptime format of the dates (or wide date headers); overrides ``[dates] format``.

    Raises
    ------
    DataError
        Every problem of the config and the file at once (unknown keys, missing columns,
        unreadable dates or numbers, ranges, totals that do not add up), located.
    """
    path = Path(path)
    file = str(path)
    cfg, cfg_name, doc = _read_config(config)
    problems = check_config(cfg, cfg_name, doc)
    if problems:
        raise DataError(doc.locate(problems) if doc is not None else problems)
    df, row_lines, delim = read_table(path, cfg)
    cols, dcfg, wide = cfg.get("columns", {}), dict(cfg.get("dates", {})), cfg.get("wide")
    if date_format is not None:
        dcfg["format"] = date_format
    fcfg = cfg.get("file", {})
    numbers = {"thousands": fcfg.get("thousands"), "decimal": fcfg.get("decimal"), "missing": fcfg.get("missing", ()),
               "whole": fcfg.get("whole", True), "delimiter": delim if delim != "xlsx" else ",",
               "declare": "under [file]"}
    for col, keep_vals in cfg.get("filter", {}).items():
        keep = _col(df, col, file, "[filter]").map(lambda v: None if v is None else str(v)).isin([str(v) for v in keep_vals])
        df, row_lines = df[keep.to_numpy()].reset_index(drop=True), row_lines[keep.to_numpy()]
    if "series_map" in cfg:
        smap = cfg["series_map"]
        mapped = _col(df, cols["series"], file, "[columns] series").map(lambda v: smap.get(str(v)) if v is not None else None)
        keep = mapped.notna().to_numpy()
        df, row_lines = df[keep].reset_index(drop=True), row_lines[keep]
        df[cols["series"]] = mapped[keep].to_numpy()
    if df.empty:
        raise DataError(Problem(file, None, None, "no rows left after [filter] / [series_map]"))
    lines = LineMap(lines=row_lines)
    problems = []
    if wide is None:
        date_col, value_col = cols["date"], cols["value"]
        raw_vals = _col(df, value_col, file, "[columns] value")
        vals, probs = parse_counts(raw_vals, file=file, column=value_col, lines=lines, **numbers)
        problems += probs
        if "region" in cols:
            total, probs = _total_rows(df, cols["region"], ["_v"], pd.DataFrame({"_v": vals}), file=file, lines=lines)
            problems += probs
            if total.any():
                df, row_lines, vals = df[~total].reset_index(drop=True), row_lines[~total], vals[~total].reset_index(drop=True)
                lines = LineMap(lines=row_lines)
        dates = _collect(problems, _dates_from, _col(df, date_col, file, "[columns] date"), dcfg, file=file,
                         column=date_col, lines=lines)
        dates = pd.Series(pd.NaT, index=df.index) if dates is None else dates
        if "region" in cols:
            regs = _collect(problems, map_region_names, _col(df, cols["region"], file, "[columns] region"),
                            regions, file=file, column=cols["region"], lines=lines, strict=strict)
        else:
            regs = pd.Series(cfg["region"], index=df.index, dtype=object)
        series = df[cols["series"]] if "series" in cols else pd.Series(cfg["series"], index=df.index)
        long = pd.DataFrame({"date": dates, "region": regs, "series": series, "value": vals, "_line": row_lines})
        if "cumulative" in cols:
            cum, probs = parse_counts(_col(df, cols["cumulative"], file, "[columns] cumulative"), file=file,
                                      column=cols["cumulative"], lines=lines, **numbers)
            problems += probs
            if not problems:
                long = counts_after_gaps(long, cum, file=file, value_column=value_col,
                                         cumulative_column=cols["cumulative"], after_gap=cfg.get("after_gap", "keep"),
                                         whole=numbers["whole"])
    else:
        melt = wide["melt"]
        id_cols = [c for c in (cols.get("region"), cols.get("date"), cols.get("series")) if c]
        for c in id_cols:
            _col(df, c, file, "[columns]")
        exclude = set(wide.get("exclude", []))
        total = wide.get("total")
        for c in [*exclude, *([total] if total else [])]:
            if c not in df.columns:
                problems.append(Problem(file, int(row_lines[0]) - 1, c, f"column named in [wide] not found; columns: {', '.join(df.columns)}"))
        value_cols = list(wide.get("columns") or [c for c in df.columns if c and c not in exclude and c != total and c not in id_cols])
        for c in value_cols:
            if c not in df.columns:
                problems.append(Problem(file, int(row_lines[0]) - 1, c, "column listed in [wide] columns not found"))
        if problems:
            raise DataError(problems)
        header_line = int(row_lines[0]) - 1  # header precedes the first data row
        vals = {}
        for c in value_cols:  # located in the file (line, header), not in the reshaped table
            vals[c], probs = parse_counts(df[c], file=file, column=c, lines=lines, **numbers)
            problems += probs
        vals = pd.DataFrame(vals)
        if total:
            tot, probs = parse_counts(df[total], file=file, column=total, lines=lines, **numbers)
            problems += probs
            diff = (vals.sum(axis=1, min_count=1) - tot).abs() > 0.5
            for i in np.flatnonzero(diff.fillna(False).to_numpy()):
                problems.append(Problem(file, lines[i], total,
                                        f"row total {tot.iloc[i]:g} differs from the sum of the {len(value_cols)} melted columns ({vals.iloc[i].sum():g})"))
        if melt == "date" and "region" in cols:
            tmask, probs = _total_rows(df, cols["region"], value_cols, vals, file=file, lines=lines)
            problems += probs
            if tmask.any():
                df, row_lines, vals = df[~tmask].reset_index(drop=True), row_lines[~tmask], vals[~tmask].reset_index(drop=True)
                lines = LineMap(lines=row_lines)
        n, k = len(df), len(value_cols)
        rows_idx = np.repeat(np.arange(n), k)
        hl = LineMap(lines=[header_line] * max(k, 1))
        if melt == "date":
            hdates = _dates_from(pd.Series(value_cols, dtype=object), dcfg, file=file, column="(header)", lines=hl)
            dates = pd.Series(np.tile(hdates.to_numpy(), n))
            if "region" in cols:
                r = _collect(problems, map_region_names, df[cols["region"]], regions, file=file,
                             column=cols["region"], lines=lines, strict=strict)
                regs = pd.Series(r.to_numpy()[rows_idx]) if r is not None else pd.Series(None, index=range(n * k), dtype=object)
            else:
                regs = pd.Series(cfg["region"], index=range(n * k), dtype=object)
        else:
            d = _collect(problems, _dates_from, df[cols["date"]], dcfg, file=file, column=cols["date"], lines=lines)
            dates = pd.Series(d.to_numpy()[rows_idx]) if d is not None else pd.Series(pd.NaT, index=range(n * k))
            r = map_region_names(pd.Series(value_cols, dtype=object), regions, file=file, column="(header)", lines=hl, strict=strict)
            regs = pd.Series(np.tile(r.to_numpy(), n))
        series = (pd.Series(df[cols["series"]].to_numpy()[rows_idx]) if "series" in cols
                  else pd.Series(cfg["series"], index=range(n * k)))
        long = pd.DataFrame({"date": dates, "region": regs, "series": series,
                             "value": vals.to_numpy(dtype=float).reshape(-1), "_line": row_lines[rows_idx]})
    if problems:
        raise DataError(problems)
    long = long[long["region"].notna()]
    if long["value"].isna().all():
        warnings.warn(f"{file}: every value is missing", DataWarning, stacklevel=2)
    src = cfg.get("source", f"{path.name} via {Path(cfg_name).name}")
    freq = cfg.get("freq")
    return finish_cells(long, source=src, file=file, regions=regions, freq=freq)
