"""HXL-tagged tables (CSV or workbook): columns found by hashtag, not by header text.

Read with the semantics of the Humanitarian Exchange Language and of its reference library
(libhxl's ``TagPattern`` and hashtag-row detection), implemented here on the project's strict
readers rather than by depending on libhxl (which brings requests, jsonpath-ng, ply, xlrd3 and a
URL-opening input layer for what is, here, about 60 lines):

* the **hashtag row** is found among the first :data:`HXL_SCAN_ROWS` rows (title and source lines
  above the header are common); the row above it, if any, holds the human headers;
* a **tag pattern** such as ``#affected+idps+new`` matches every column with that hashtag and *at
  least* those attributes (``#affected+idps+new+ind`` matches); ``-attr`` excludes columns that
  carry it; attribute order and letter case do not matter. When several patterns match a column,
  the most specific (most attributes) wins;
* region columns: ``#adm1+code`` / ``#adm1+pcode`` (P-codes) before ``#adm1+name``, then admin 2
  and country; the region table matches codes, names and aliases alike;
* blank rows are skipped; counts such as ``"12,000"`` follow :func:`.common.parse_counts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..regions import RegionTable
from ..schema import KNOWN_SERIES, DataError, Problem
from .common import LineMap, finish_cells, map_region_names, parse_counts, parse_dates, read_rows

__all__ = ["DEFAULT_HXL_TAGS", "HXL_REGION_TAGS", "HXL_SCAN_ROWS", "TagPattern", "load_hxl", "normalise_hxl_tag",
           "parse_tag_map"]

#: Rows scanned for the hashtag row (libhxl scans 25).
HXL_SCAN_ROWS = 25

#: Default tag pattern -> role (``date``, ``region`` or a series). A stock (``#affected+idps``,
#: people displaced so far) is *not* a flow (``#affected+idps+new``), so stocks are left unmapped
#: unless you map them yourself; households (``+hh``) are not people.
DEFAULT_HXL_TAGS: dict[str, str] = {
    "#date-end": "date",
    "#affected+idps+new-hh-forecast": "displaced",  # a forecast is not an observation
    "#affected+arrivals+idps-hh": "arrivals",
    "#affected+new+refugees-hh": "refugees",
    "#event+num": "events",
    "#affected+killed": "fatalities",
}
#: Region tag patterns tried in this order when the tag map names none.
HXL_REGION_TAGS: tuple[str, ...] = ("#adm1+code", "#adm1+pcode", "#adm1+name", "#adm1", "#adm2+code", "#adm2+pcode",
                                    "#adm2+name", "#adm2", "#country+code", "#country+name", "#country")

_TAG = re.compile(r"^\s*#[a-z][a-z0-9_]*(\s*[+-]\s*[a-z][a-z0-9_]*)*\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TagPattern:
    """``#tag+include-exclude``: matches columns with that tag, all ``include`` and no ``exclude``."""

    tag: str
    include: frozenset[str]
    exclude: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> TagPattern:
        """Parse ``'#Affected +idps+new -hh'`` (spaces and case ignored)."""
        s = re.sub(r"\s+", "", str(text)).lower()
        if not _TAG.match(s):
            raise ValueError(f"{text!r} is not an HXL tag pattern (like #affected+idps+new)")
        parts = re.split(r"([+-])", s)
        inc, exc = set(), set()
        for sign, att in zip(parts[1::2], parts[2::2], strict=True):
            (inc if sign == "+" else exc).add(att)
        return cls(parts[0], frozenset(inc), frozenset(exc))

    def match(self, column_tag: str) -> bool:
        """True if the column's tag (as written in the file) fits this pattern."""
        try:
            col = TagPattern.parse(column_tag)
        except ValueError:
            return False
        return col.tag == self.tag and self.include <= col.include and not (self.exclude & col.include)

    def __str__(self) -> str:
        return self.tag + "".join(f"+{a}" for a in sorted(self.include)) + "".join(f"-{a}" for a in sorted(self.exclude))


def normalise_hxl_tag(tag: str) -> str:
    """``'#Affected +New+idps '`` -> ``'#affected+idps+new'`` (lower case, attributes sorted)."""
    try:
        return str(TagPattern.parse(tag))
    except ValueError:
        return ""


def parse_tag_map(text: str | Mapping[str, str] | None, *, where: str = "--tag-map") -> dict[str, str]:
    """``"#affected+idps=displaced,#adm2+name=region"`` (or a dict) -> ``{pattern: role}``, checked."""
    if text is None:
        return {}
    items = list(text.items()) if isinstance(text, Mapping) else \
        [tuple(p.split("=", 1)) if "=" in p else (p, None) for p in str(text).split(",") if p.strip()]
    out, problems = {}, []
    roles = ("date", "region", *KNOWN_SERIES)
    for k, v in items:
        if v is None:
            problems.append(Problem(where, None, None, f"{k.strip()!r}: expected TAG=ROLE, e.g. #affected+idps+new=displaced"))
            continue
        try:
            TagPattern.parse(k)
        except ValueError as e:
            problems.append(Problem(where, None, None, str(e)))
            continue
        if v.strip() not in roles:
            problems.append(Problem(where, None, None, f"role {v.strip()!r} for {k.strip()}; expected one of {', '.join(roles)}"))
            continue
        out[k.strip()] = v.strip()
    if problems:
        raise DataError(problems)
    return out


def _is_tag_row(row: list) -> bool:
    cells = [str(c).strip() for c in row if c is not None and str(c).strip()]
    tags = [c for c in cells if _TAG.match(c)]
    return bool(tags) and len(tags) * 2 >= len(cells)


def load_hxl(
    path: str | Path,
    tag_map: Mapping[str, str] | None = None,
    regions: RegionTable | None = None,
    *,
    freq: str | None = None,
    date_format: str | None = None,
    strict: bool = False,
    source: str | None = None,
    delimiter: str | None = None,
    sheet: str | int | None = None,
    thousands: str | None = None,
    missing: Iterable[str] = (),
    whole: bool = True,
) -> pd.DataFrame:
    """Read an HXL-tagged CSV or workbook into observations, mapping columns by tag pattern.

    Parameters
    ----------
    tag_map
        ``{tag pattern: role}`` where role is ``date``, ``region`` or a series name; patterns
        follow HXL semantics (see the module docs). Given patterns are tried before
        :data:`DEFAULT_HXL_TAGS` (whose patterns for a role the map names are dropped); the
        region is the first of :data:`HXL_REGION_TAGS` present unless a pattern maps one.
    freq
        Sum values to this frequency (missing stays missing); ``None`` requires the dates to be
        period labels of one frequency already.
    delimiter, sheet
        CSV delimiter (sniffed when None) or workbook sheet (the first when None).
    thousands, missing, whole
        Number conventions of this source (:func:`.common.parse_counts`).

    Raises
    ------
    DataError
        No hashtag row in the first rows, no date/region/value column, two columns for one role,
        unreadable dates or numbers - every problem at once, located.
    """
    path = Path(path)
    file = str(path)
    rows, row_lines, delim = read_rows(path, delimiter=delimiter, sheet=sheet)
    tag_at = next((k for k, r in enumerate(rows[:HXL_SCAN_ROWS]) if _is_tag_row(r)), None)
    if tag_at is None:
        raise DataError(Problem(file, None, None, f"no HXL hashtag row (like #date, #adm1+code) in the first {HXL_SCAN_ROWS} rows; "
                                                  f"is this an HXL file?"))
    tags_row = [("" if c is None else str(c).strip()) for c in rows[tag_at]]
    tag_line = row_lines[tag_at]
    width = len(tags_row)
    header = [("" if c is None else str(c).strip()) for c in rows[tag_at - 1]] if tag_at > 0 else []
    header = [(header[i] if i < len(header) and header[i] else tags_row[i] or f"column {i + 1}") for i in range(width)]
    data, data_lines = [], []
    for r, ln in zip(rows[tag_at + 1:], row_lines[tag_at + 1:], strict=True):
        cells = [None if c is None or (isinstance(c, str) and not c.strip()) else c for c in r[:width]]
        if any(c is not None for c in cells):
            data.append(cells + [None] * (width - len(cells)))
            data_lines.append(ln)
    if not data:
        raise DataError(Problem(file, None, None, "no data rows below the hashtag row"))
    raw = pd.DataFrame(data, columns=range(width), dtype=object)
    lines = LineMap(lines=data_lines)

    user = {TagPattern.parse(k): v for k, v in (tag_map or {}).items()}
    # A role the user maps is theirs alone: the default patterns for it are not tried.
    defaults = {TagPattern.parse(k): v for k, v in DEFAULT_HXL_TAGS.items() if v not in user.values()}
    roles: dict[str, list[int]] = {}
    pattern_of: dict[int, TagPattern] = {}
    for i, tag in enumerate(tags_row):
        for table in (user, defaults):
            hits = [p for p in table if p.match(tag)]
            if hits:
                best = max(hits, key=lambda p: len(p.include) + len(p.exclude))
                roles.setdefault(table[best], []).append(i)
                pattern_of[i] = best
                break
    if "region" not in roles:
        for t in HXL_REGION_TAGS:
            p = TagPattern.parse(t)
            cols = [i for i, tag in enumerate(tags_row) if i not in pattern_of and p.match(tag)]
            if cols:
                roles["region"] = cols[:1]
                break
    problems = []
    found = ", ".join(t for t in tags_row if t)
    for role in ("date", "region"):
        if role not in roles:
            want = "#date" if role == "date" else "#adm1+code, #adm1+pcode or #adm1+name"
            problems.append(Problem(file, tag_line, None, f"no column tagged for {role} ({want}); tags found: {found}"))
    for role, cols in roles.items():
        exact = [c for c in cols if c in pattern_of and normalise_hxl_tag(tags_row[c]) == str(pattern_of[c])]
        if len(cols) > 1 and len(exact) == 1:  # the column tagged exactly as the pattern wins
            roles[role] = cols = exact
        if len(cols) > 1:
            problems.append(Problem(file, tag_line, header[cols[1]],
                                    f"columns {', '.join(repr(tags_row[c]) for c in cols)} all match {role}; "
                                    f"map the one you mean with --tag-map (e.g. {tags_row[cols[0]]}={role})"))
    value_roles = [r for r in roles if r not in ("date", "region")]
    if not value_roles:
        problems.append(Problem(file, tag_line, None,
                                f"no value column: none of the tags {found} is mapped to a series "
                                f"(mapped by default: {', '.join(k for k, v in DEFAULT_HXL_TAGS.items() if v != 'date')}; "
                                f"'#affected+idps' is a stock, map it with --tag-map if you mean it)"))
    if problems:
        raise DataError(problems)
    dcol, rcol = roles["date"][0], roles["region"][0]
    dates = parse_dates(raw[dcol], file=file, column=header[dcol], lines=lines, date_format=date_format)
    codes = map_region_names(raw[rcol], regions, file=file, column=header[rcol], lines=lines, strict=strict)
    frames, problems = [], []
    for series in value_roles:
        col = roles[series][0]
        vals, probs = parse_counts(raw[col], file=file, column=header[col], lines=lines, thousands=thousands,
                                   missing=missing, whole=whole, delimiter=delim if delim != "xlsx" else ",",
                                   declare="in the source's [[sources]] table of the recipe")
        problems += probs
        frames.append(pd.DataFrame({"date": dates, "region": codes, "series": series, "value": vals,
                                    "_line": lines.lines}))
    if problems:
        raise DataError(problems)
    ev = pd.concat(frames, ignore_index=True)
    ev = ev[ev["region"].notna()]
    src = source or f"HXL {path.name}"
    return finish_cells(ev, source=src, file=file, regions=regions, freq=freq)
