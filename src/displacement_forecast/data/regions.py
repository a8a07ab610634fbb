"""Region table: code, name, parent, population (the population at risk of displacement)."""

from __future__ import annotations

import difflib
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..conventions import TOTAL
from .io import formula_cells, read_csv_strict
from .schema import (
    MAX_COUNT,
    DataError,
    DataWarning,
    Problem,
    file_lines,
    grouped_rows,
    match_columns,
)

REGION_COLUMNS = ("code", "name", "parent", "population")
#: What the optional ``counts`` column of a region table may say about the region's displacement
#: counts: ``people`` (each person counted once, so the people displaced leave the population at
#: risk: depletion) or ``movements`` (a person may be counted again, after a return or a second
#: flight, as UNHCR's PRMN counts: no depletion). An empty cell, or no column, leaves it to the
#: data (:meth:`~displacement_forecast.models.panel.Panel.counts_movements`).
COUNTS = ("people", "movements")
#: Optional columns of a region table, kept as read.
OPTIONAL_REGION_COLUMNS = ("aliases", "counts")


def normalise_name(name: str) -> str:
    """Fold case, accents, punctuation and spacing so 'Shabeellaha Hoose' == 'shabeellaha-hoose'."""
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


@dataclass(frozen=True)
class RegionTable:
    """Regions in a fixed order. ``frame`` has columns code, name, parent, population[, aliases][, counts].

    ``left_out``: the table a :meth:`subset` was taken from and ``code -> why`` for the regions it
    left out (a forecast's regions without the data the model needs), so naming one of them
    (:meth:`resolve`, e.g. in a scenario) says why it is not forecast instead of "unknown region".
    """

    frame: pd.DataFrame
    left_out: tuple[RegionTable, dict[str, str]] | None = field(default=None, compare=False, repr=False)

    @property
    def codes(self) -> list[str]:
        return self.frame["code"].tolist()

    @property
    def population(self) -> np.ndarray:
        return self.frame["population"].to_numpy(dtype=float)

    @property
    def declared_movements(self) -> np.ndarray:
        """Regions whose table declares ``counts = movements``, ``(region,)`` bool (see :data:`COUNTS`)."""
        if "counts" not in self.frame.columns:
            return np.zeros(len(self.frame), dtype=bool)
        return (self.frame["counts"] == "movements").to_numpy()

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, codes: Iterable[str], left_out: dict[str, str] | None = None) -> RegionTable:
        """The regions ``codes``, in that order; ``left_out`` (``code -> why``) names the regions of
        this table left out, and why (see the class docstring)."""
        codes = list(codes)
        f = self.frame.set_index("code").loc[codes].reset_index()
        return RegionTable(f, left_out=(self, dict(left_out)) if left_out else None)

    @cached_property
    def _name_codes(self) -> dict[str, list[str]]:
        """Normalised name/alias/code -> the codes of the regions it names (one, unless ambiguous).

        Built once per table (the frame is not changed after construction; :meth:`subset` makes a
        new table): :meth:`name_map`, :meth:`ambiguous` and :meth:`ambiguity` read it, the last once
        per unmatched name of a file."""
        out: dict[str, list[str]] = {}
        for row in self.frame.itertuples(index=False):
            keys = [row.code, row.name]
            aliases = getattr(row, "aliases", None)
            if isinstance(aliases, str) and aliases:
                keys += aliases.split("|")
            for k in keys:
                codes = out.setdefault(normalise_name(k), [])
                if row.code not in codes:
                    codes.append(row.code)
        return out

    def name_map(self) -> dict[str, str]:
        """Normalised name/alias/code -> code, for matching names found in other files.

        A name that two regions share (two districts called "Central") is left out: it cannot say
        which region a row belongs to (:meth:`ambiguous` lists them).
        """
        return {k: v[0] for k, v in self._name_codes.items() if len(v) == 1}

    def code_named(self, name: object) -> str | None:
        """The code of the one region ``name`` names by its name or an alias (any case, accents,
        spacing), None otherwise: for a hint when a file that should give codes gives a name."""
        return self.name_map().get(normalise_name(name)) if isinstance(name, str) else None

    def ambiguous(self) -> dict[str, list[str]]:
        """Normalised names (or aliases) that name more than one region -> their codes."""
        return {k: v for k, v in self._name_codes.items() if len(v) > 1}

    def ambiguity(self, name: object) -> str | None:
        """Why ``name`` cannot be matched to one region (None if it is not shared by several)."""
        codes = self._name_codes.get(normalise_name(name), ())
        if len(codes) < 2:
            return None
        return (f"{str(name)!r} names {len(codes)} regions of the region table ({', '.join(codes)}); expected a name of "
                "one region (give them distinct names or aliases, or use their codes)")

    def match(self, names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """Map names to codes; return (matched name -> code, sorted unmatched names)."""
        lookup = self.name_map()
        matched, unmatched = {}, set()
        for n in set(names):
            if n is None or (isinstance(n, float) and np.isnan(n)):
                continue
            code = lookup.get(normalise_name(n))
            if code is None:
                unmatched.add(n)
            else:
                matched[n] = code
        return matched, sorted(unmatched)

    def resolve(self, items: Iterable[str], *, context: str = "regions") -> list[str]:
        """Codes for a list naming region codes, names or parents (a parent expands to its children)."""
        lookup = self.name_map()
        parents = {normalise_name(p): p for p in self.frame["parent"].dropna().unique()}
        codes = set(self.codes)
        out: list[str] = []
        for item in items:
            key = normalise_name(item)
            code = unicodedata.normalize("NFC", item.strip()) if isinstance(item, str) else item
            if item == "ALL":
                out += self.codes
            elif code in codes:  # a code is one region, even when another region is named like it (was refused
                out.append(code)  # as "names 2 regions ... use their codes", though a code was used)
            elif key in lookup:
                out.append(lookup[key])
            elif key in parents:
                out += self.frame.loc[self.frame["parent"] == parents[key], "code"].tolist()
            else:
                raise DataError(Problem(context, None, None, self.ambiguity(item) or self._left_out_note(item) or
                                        f"unknown region {item!r}; expected a code, name or parent from the region table"))
        return list(dict.fromkeys(out))

    def _left_out_note(self, item: str) -> str | None:
        """Why ``item`` is not a region of this subset, when it names regions the subset left out."""
        if self.left_out is None:
            return None
        full, why = self.left_out
        try:
            codes = full.resolve([item])
        except DataError:
            return None
        gone = [c for c in codes if c in why]
        if not gone or len(gone) < len(codes):
            return None
        reasons = why[gone[0]] if len(gone) == 1 else "; ".join(f"{c}: {why[c]}" for c in gone)
        which = f"region {gone[0]} is" if len(gone) == 1 else f"regions {', '.join(gone)} are"
        return (f"{which} not forecast ({reasons}), so this scenario cannot change {'it' if len(gone) == 1 else 'them'}; "
                "expected regions that are forecast")


def load_regions(path: str | Path) -> RegionTable:
    """Read a region table CSV with columns ``code, name, parent, population`` (+ ``aliases``,
    ``counts``).

    ``aliases`` is an optional ``|``-separated list of other spellings used by data sources;
    ``counts`` optionally says whether the region's displacement counts are ``people`` or
    ``movements`` (:data:`COUNTS`).

    Raises
    ------
    DataError
        One line per kind of problem, naming the file, rows and column.
    """
    file = str(path)
    raw = read_csv_strict(path, formula_columns=(), wanted="a CSV region table", advice="save the sheet as CSV UTF-8")
    formulas, held = formula_cells(raw, file)  # every formula cell in one line, the other rows checked too
    raw = match_columns(raw, (*REGION_COLUMNS, *OPTIONAL_REGION_COLUMNS), file=file)
    _warn_near_misses(raw.columns, file)
    if formulas is None:
        return regions_from_frame(raw, file=file, row_offset=raw.attrs["lines"], max_population=MAX_COUNT)
    problems = [formulas]
    if not held.all():  # a formula cell is reported once, not again as 'not a number'
        try:
            regions_from_frame(raw[~held], file=file, row_offset=raw.attrs["lines"][~held], max_population=MAX_COUNT)
        except DataError as e:
            problems += e.problems
    raise DataError(problems)


def _warn_near_misses(columns: Iterable[object], file: str) -> None:
    """A :class:`~.schema.DataWarning` for each column named almost like one the table reads
    (``count`` for ``counts``): other columns are kept out silently, so a typo would silently
    leave a declaration unread."""
    known = (*REGION_COLUMNS, *OPTIONAL_REGION_COLUMNS)
    have = {str(c).strip().lower() for c in columns}
    absent = [k for k in known if k not in have]  # 'pcode' beside 'code' is not a typo of it
    for c in columns:
        name = str(c).strip().lower()
        near = difflib.get_close_matches(name, absent, n=1, cutoff=0.8) if name not in known else []
        if near:
            warnings.warn(f"{file}:1: column {str(c)!r} is not read; did you mean {near[0]!r}? (expected columns "
                          f"{', '.join(REGION_COLUMNS)}[, {'][, '.join(OPTIONAL_REGION_COLUMNS)}])",
                          DataWarning, stacklevel=3)


def regions_from_frame(raw: pd.DataFrame, *, file: str = "<regions>", row_offset: int | Sequence[int] = 2,
                       max_population: float | None = None) -> RegionTable:
    """Validate a region frame and return a :class:`RegionTable`; all problems at once.

    ``row_offset``: the file line of the first row, or of every row (as :func:`.io.read_csv_strict` gives them).
    ``max_population``: the largest population accepted (:func:`load_regions` gives ``schema.MAX_COUNT``:
    a 1e20 in a file is a typo; a frame built in Python may hold a huge one on purpose, to keep a region
    from being depleted).
    """
    at = file_lines(len(raw), row_offset)
    problems: list[Problem] = []
    missing = [c for c in ("code", "name", "population") if c not in raw.columns]
    if missing:
        raise DataError(Problem(file, 1, None, f"the region table has no column {', '.join(missing)} (have: "
                                               f"{', '.join(map(str, raw.columns))}); expected columns code, name, "
                                               "parent, population[, aliases][, counts] (in any case; parent may be left out)"))
    f = raw.copy()
    if "parent" not in f.columns:
        f["parent"] = None
    pop = pd.to_numeric(f["population"], errors="coerce")
    # Codes are compared stripped: "NWS01" and " NWS01 " are one region, so they are duplicates.
    # ... and in Unicode's composed form (NFC), as observation files' codes are: equal-looking codes are equal.
    f["code"] = f["code"].map(lambda c: unicodedata.normalize("NFC", c.strip()) if isinstance(c, str) else c)
    kinds: dict[tuple[str, str], list[int]] = {}  # (column, what the rows are) -> rows: one line per kind
    messages: dict[int, dict[str, str]] = {}
    for i in range(len(f)):
        code = f["code"].iloc[i]
        if code is None or (isinstance(code, float) and np.isnan(code)) or str(code) == "":
            kinds.setdefault(("code", "have an empty region code"), []).append(i)
            messages.setdefault(i, {})["code"] = "empty region code"
        elif str(code).upper() == TOTAL:
            kinds.setdefault(("code", f"use the reserved code {TOTAL!r}"), []).append(i)
            messages.setdefault(i, {})["code"] = (f"region code {code!r} is reserved (outputs use it for the sum over "
                                                  "all regions, scenarios for every region); expected another code")
        problem = _population_problem(f["population"].iloc[i], pop.iloc[i], max_population)
        if problem:
            kinds.setdefault(("population", problem[0]), []).append(i)
            messages.setdefault(i, {})["population"] = problem[1]
        if "counts" in f.columns and _counts_value(f["counts"].iloc[i]) is None:
            kinds.setdefault(("counts", "say neither people nor movements"), []).append(i)
            messages.setdefault(i, {})["counts"] = f"{f['counts'].iloc[i]!r} is neither people nor movements; {_EXPECTED['counts']}"
    named = f["code"].notna() & (f["code"].astype(str) != "")
    dup = f["code"].duplicated(keep="first") & named
    first = {}
    for i, c in enumerate(f["code"]):
        first.setdefault(c, int(at[i]))
    for i in np.flatnonzero(dup.to_numpy()):
        kinds.setdefault(("code", "repeat a region code of an earlier row"), []).append(int(i))
        messages.setdefault(int(i), {})["code"] = (f"duplicate region code {f['code'].iloc[i]!r} (codes are compared "
                                                   f"without surrounding spaces); first on line {first[f['code'].iloc[i]]}")
    cells = {"code": f["code"], "population": f["population"], "counts": f.get("counts")}
    for (column, what), rows in kinds.items():
        problems += grouped_rows(file, column, rows, lambda i: at[i], lambda i, c=column: messages[i][c], what,
                                 cell=None if what.startswith("have an empty") else (lambda i, c=column: cells[c].iloc[i]),
                                 expected=_EXPECTED[column])
    if problems:
        raise DataError(problems)
    f["code"] = f["code"].astype(str)
    f["name"] = f["name"].astype(str).str.strip()
    f["population"] = pop.astype(float)
    if "counts" in f.columns:
        f["counts"] = f["counts"].map(_counts_value)
    cols = [c for c in (*REGION_COLUMNS, *OPTIONAL_REGION_COLUMNS) if c in f.columns]
    return RegionTable(f[cols].reset_index(drop=True))


#: What a region table's cells must be, for the line that groups many rows with one problem.
_EXPECTED = {"code": "expected a unique region code, not ALL",
             "population": "expected a finite, positive whole number of people at risk",
             "counts": "expected people, movements or an empty cell (left to the data)"}


def _counts_value(raw: object) -> str | None:
    """A ``counts`` cell as ``people``, ``movements`` or ``""`` (empty: left to the data); None if
    it says something else. Case and surrounding spaces do not matter."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return ""
    text = str(raw).strip().lower()
    return text if text in ("", *COUNTS) else None


def _population_problem(raw: object, value: float, max_population: float | None = None) -> tuple[str, str] | None:
    """Why a population cell is not a finite, positive whole number of people (None if it is):
    ``(what such rows are, the message for one row)``."""
    expected = _EXPECTED["population"]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return "have an empty population", f"empty cell is not a number; {expected}"
    if pd.isna(value):
        return "are not a number", f"{raw!r} is not a number; {expected}"
    if not np.isfinite(value):
        return "are not finite", f"{raw!r} is not finite; {expected}"
    if value <= 0:
        return "are not positive", f"{raw!r} is not a positive number; {expected}"
    if value != np.floor(value):
        return "are not whole numbers", f"{raw!r} is not a whole number of people; {expected}"
    if max_population is not None and value > max_population:  # a 1e20 typo: the thresholds' cap, people at risk
        return ("are more people than live on Earth",
                f"{raw!r} is more people than live on Earth; {expected}, at most {max_population:,.0f}")
    return None
