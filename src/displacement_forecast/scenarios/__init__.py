"""Scenarios: plain TOML definitions that turn baseline driver paths into scenario driver paths.

A scenario file holds one or more ``[[scenario]]`` tables::

    [[scenario]]
    id = "baseline"                      # strikes/flights as forecast by the driver model

    [[scenario]]
    id = "intensify-south"
    description = "Air strikes in southern Idlib double for four weeks"
      [[scenario.change]]
      regions = ["South Idlib"]          # codes, names or parents from the region table, or "ALL"
      series = ["strikes", "flights"]    # driver series changed (default: all drivers)
      start = 1                          # first forecast period (1 = the period after the data) or a date
      periods = 4                        # how many periods (default: to the end of the horizon)
      multiply = 2.0                     # k >= 0; 0 = ceasefire

    [[scenario]]
    id = "custom-strikes"
      [[scenario.change]]
      regions = ["NWS01"]
      series = ["strikes"]
      values = [40, 40, 30, 20]          # a given series, one value per period from `start`

    [[scenario]]
    id = "offensive-continues"
      [[scenario.change]]
      regions = ["ALL"]
      hold = 4                           # each region at its mean of the last 4 observed periods

``baseline`` modifies nothing. ``intensify`` and ``de-escalation`` are ``multiply`` changes (k > 1
and k < 1), ``ceasefire`` is ``multiply = 0`` and ``custom`` sets ``values`` (the same numbers in
every path). ``hold`` keeps the conflict where it is now: the baseline forecast lets an escalation
fade as escalations did in the past; ``hold = N`` asks what happens if it does not. Each region's
counts are drawn period by period around its average over the last N observed periods, with the
driver model's count noise (a model passes ``counts`` to :meth:`Scenario.apply`; without it the
average itself is used). The noise of a region and period is the same in every scenario of a
call, so holding more regions never changes the counts of the others. Changes to the same series,
region and period may not overlap.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.io import read_text
from ..data.regions import RegionTable
from ..data.schema import DataError, Problem

_SCENARIO_KEYS = {"id", "description", "change"}
_CHANGE_KEYS = {"regions", "series", "start", "periods", "weeks", "months", "multiply", "values", "hold"}
DEFAULT_DRIVER_SERIES = ("strikes", "flights", "shelling", "events", "fatalities")


@dataclass(frozen=True)
class Change:
    """One modification of driver paths: multiply by ``multiply``, replace by ``values``, or hold
    each region at its mean over the last ``hold`` observed periods."""

    regions: tuple[str, ...] = ("ALL",)
    series: tuple[str, ...] | None = None
    start: int | str = 1
    periods: int | None = None
    multiply: float | None = None
    values: tuple[float, ...] | None = None
    hold: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"regions": list(self.regions), "start": self.start}
        if self.series is not None:
            d["series"] = list(self.series)
        if self.periods is not None:
            d["periods"] = self.periods
        if self.multiply is not None:
            d["multiply"] = self.multiply
        if self.values is not None:
            d["values"] = list(self.values)
        if self.hold is not None:
            d["hold"] = self.hold
        return d


@dataclass(frozen=True)
class Scenario:
    """A named set of changes to the baseline driver paths."""

    id: str
    description: str = ""
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @classmethod
    def baseline(cls) -> Scenario:
        return cls("baseline", "conflict continues as forecast from its own recent history")

    @classmethod
    def intensify(cls, regions: list[str], k: float = 2.0, periods: int | None = None, start: int = 1,
                  id: str = "intensify") -> Scenario:
        return cls(id, f"conflict drivers (strikes, flights, ...) x{k:g} in {', '.join(regions)}",
                   (Change(tuple(regions), None, start, periods, float(k)),))

    @classmethod
    def ceasefire(cls, regions: list[str] | None = None, start: int = 1, id: str = "ceasefire") -> Scenario:
        return cls(id, "conflict drivers (strikes, flights, ...) set to zero", (Change(tuple(regions or ["ALL"]), None, start, None, 0.0),))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "change": [c.to_dict() for c in self.changes]}

    # -- application ----------------------------------------------------------------------
    def apply(self, drivers: dict[str, np.ndarray], regions: RegionTable, dates: pd.DatetimeIndex,
              history: dict[str, np.ndarray] | None = None,
              counts: Callable[[str, np.ndarray], np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Return ``drivers`` (``series -> draw x region x horizon``) as this scenario changes them.

        For ``hold`` changes only: ``history`` (``series -> region x period`` observed counts,
        NaN = missing) gives the level, and ``counts(series, means)`` draws ``draw x region x
        horizon`` counts around ``means`` (``region x horizon``; only the held cells are used);
        without ``counts`` every path is set to the level itself.

        A series the scenario changes is a new array; the others are the input arrays themselves
        (not copies), so the input is never modified but must not be modified through the result.
        """
        out = dict(drivers)
        copied: set[str] = set()
        codes = regions.codes
        for n, ch in enumerate(self.changes):
            where = f"scenario '{self.id}' change {n + 1}"
            idx = sorted({codes.index(c) for c in regions.resolve(ch.regions, context=where)})
            h0 = _start_index(ch.start, dates, where)
            h1 = len(dates) if ch.periods is None else min(len(dates), h0 + ch.periods)
            series = ch.series or tuple(s for s in out if s in DEFAULT_DRIVER_SERIES)
            for s in series:
                if s not in out:
                    raise DataError(Problem(where, None, "series",
                                            f"series {s!r} is not a driver of this model (drivers: {', '.join(out) or 'none'})"))
                if h0 >= len(dates):
                    continue
                if s not in copied:
                    out[s] = np.array(out[s], dtype=float)
                    copied.add(s)
                if ch.multiply is not None:
                    for lo, hi in _runs(idx):  # slices, not a fancy-indexed copy and write-back
                        out[s][:, lo:hi, h0:h1] *= ch.multiply
                elif ch.hold is not None:
                    means = np.zeros(out[s].shape[1:])
                    means[idx, h0:h1] = _recent_mean(history, s, idx, ch.hold, regions, where)[:, None]
                    drawn = np.broadcast_to(means, out[s].shape) if counts is None else counts(s, means)
                    out[s][:, idx, h0:h1] = drawn[:, idx, h0:h1]
                else:
                    vals = np.asarray(ch.values, dtype=float)[: h1 - h0]
                    out[s][:, idx, h0 : h0 + len(vals)] = vals
        for s in out.keys() - copied:
            out[s] = out[s].view()
            out[s].flags.writeable = False
        return out


def _runs(idx: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as ``[lo, hi)`` runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for i in idx:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _recent_mean(history: dict[str, np.ndarray] | None, series: str, idx: list[int], n: int,
                 regions: RegionTable, where: str) -> np.ndarray:
    """Mean of ``series`` over the last ``n`` observed periods for regions ``idx`` (NaN skipped)."""
    if history is None or series not in history:
        raise DataError(Problem(where, None, "hold", f"needs the observed {series!r} counts; none were given"))
    recent = np.asarray(history[series], dtype=float)[idx, -n:]
    seen = np.isfinite(recent).any(axis=1)
    if not seen.all():
        missing = ", ".join(regions.codes[idx[i]] for i in np.flatnonzero(~seen))
        raise DataError(Problem(where, None, "hold",
                                f"no observed {series!r} count in the last {n} periods for {missing}"))
    return np.nanmean(recent, axis=1)


def _start_index(start: int | str, dates: pd.DatetimeIndex, where: str) -> int:
    if isinstance(start, int):
        return start - 1
    ts = pd.Timestamp(start)
    pos = int(np.searchsorted(dates, ts))
    if pos == 0 and ts < dates[0]:
        return 0
    return pos


# -- loading -------------------------------------------------------------------------------
def load_scenarios(path: str | Path, regions: RegionTable | None = None) -> list[Scenario]:
    """Read scenarios from a TOML file; every problem is reported with the key that causes it."""
    text = read_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(Problem(str(path), None, None, f"not valid TOML: {e}")) from None
    return scenarios_from_dict(doc, regions, file=str(path))


def scenarios_from_dict(doc: dict, regions: RegionTable | None = None, *, file: str = "<scenarios>") -> list[Scenario]:
    problems: list[Problem] = []
    extra = set(doc) - {"scenario"}
    for k in sorted(extra):
        problems.append(Problem(file, None, k, "unknown top-level key; expected [[scenario]] tables"))
    items = doc.get("scenario", [])
    if not isinstance(items, list) or not items:
        problems.append(Problem(file, None, "scenario", "no [[scenario]] tables found"))
        raise DataError(problems)
    out: list[Scenario] = []
    seen: set[str] = set()
    for i, sc in enumerate(items):
        key = f"scenario[{i}]"
        for k in sorted(set(sc) - _SCENARIO_KEYS):
            problems.append(Problem(file, None, f"{key}.{k}", f"unknown key; expected one of {', '.join(sorted(_SCENARIO_KEYS))}"))
        sid = sc.get("id")
        if not isinstance(sid, str) or not sid.strip():
            problems.append(Problem(file, None, f"{key}.id", "missing or empty scenario id"))
            continue
        key = f"scenario '{sid}'"
        if sid in seen:
            problems.append(Problem(file, None, f"{key}.id", "duplicate scenario id"))
        seen.add(sid)
        changes = []
        for j, ch in enumerate(sc.get("change", [])):
            c, probs = _parse_change(ch, f"{key}.change[{j}]", file, regions)
            problems += probs
            if c is not None:
                changes.append(c)
        problems += _overlaps(changes, key, file, regions)
        out.append(Scenario(sid, str(sc.get("description", "")), tuple(changes)))
    if problems:
        raise DataError(problems)
    return out


def _parse_change(ch: dict, key: str, file: str, regions: RegionTable | None) -> tuple[Change | None, list[Problem]]:
    probs: list[Problem] = []
    if not isinstance(ch, dict):
        return None, [Problem(file, None, key, "expected a table")]
    for k in sorted(set(ch) - _CHANGE_KEYS):
        probs.append(Problem(file, None, f"{key}.{k}", f"unknown key; expected one of {', '.join(sorted(_CHANGE_KEYS))}"))
    regs = ch.get("regions", ["ALL"])
    if isinstance(regs, str):
        regs = [regs]
    if regions is not None:
        try:
            regions.resolve(regs, context=f"{file}: {key}.regions")
        except DataError as e:
            probs.append(Problem(file, None, f"{key}.regions", e.problems[0].message))
    series = ch.get("series")
    if isinstance(series, str):
        series = [series]
    start = ch.get("start", 1)
    if isinstance(start, bool) or not isinstance(start, int | str) and not hasattr(start, "isoformat"):
        probs.append(Problem(file, None, f"{key}.start", "expected a period number (1 = first forecast period) or a date"))
    elif isinstance(start, int) and start < 1:
        probs.append(Problem(file, None, f"{key}.start", f"{start} is before the first forecast period; expected >= 1"))
    elif not isinstance(start, int):
        try:
            start = str(pd.Timestamp(str(start)).date())
        except ValueError:
            probs.append(Problem(file, None, f"{key}.start", f"cannot read {start!r} as a date"))
    periods = ch.get("periods", ch.get("weeks", ch.get("months")))
    if periods is not None and (not isinstance(periods, int) or isinstance(periods, bool) or periods < 1):
        probs.append(Problem(file, None, f"{key}.periods", f"{periods!r} is not a positive whole number of periods"))
    mult, vals, hold = ch.get("multiply"), ch.get("values"), ch.get("hold")
    if sum(x is not None for x in (mult, vals, hold)) != 1:
        probs.append(Problem(file, None, key, "give exactly one of 'multiply', 'values' or 'hold'"))
    if hold is not None and (not isinstance(hold, int) or isinstance(hold, bool) or hold < 1):
        probs.append(Problem(file, None, f"{key}.hold", f"{hold!r} is not a positive whole number of periods"))
    if mult is not None and (isinstance(mult, bool) or not isinstance(mult, int | float) or mult < 0 or not np.isfinite(mult)):
        probs.append(Problem(file, None, f"{key}.multiply", f"{mult!r} is not a non-negative number (0 = ceasefire)"))
    if vals is not None:
        if not isinstance(vals, list) or not vals or any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in vals):
            probs.append(Problem(file, None, f"{key}.values", "expected a non-empty list of non-negative numbers"))
        elif periods is None:
            periods = len(vals)
    if probs:
        return None, probs
    return Change(tuple(regs), tuple(series) if series else None, start, periods,
                  None if mult is None else float(mult), None if vals is None else tuple(float(v) for v in vals),
                  hold), probs


def _overlaps(changes: list[Change], key: str, file: str, regions: RegionTable | None) -> list[Problem]:
    """Two changes may not touch the same series, region and period (integer starts only)."""
    probs = []
    for a in range(len(changes)):
        for b in range(a + 1, len(changes)):
            ca, cb = changes[a], changes[b]
            sa = set(ca.series or DEFAULT_DRIVER_SERIES)
            sb = set(cb.series or DEFAULT_DRIVER_SERIES)
            if not sa & sb:
                continue
            if regions is not None:
                ra, rb = set(regions.resolve(ca.regions)), set(regions.resolve(cb.regions))
            else:
                ra, rb = set(ca.regions), set(cb.regions)
                if "ALL" in ra or "ALL" in rb:
                    ra = rb = {"ALL"}
            if not ra & rb:
                continue
            if isinstance(ca.start, int) and isinstance(cb.start, int):
                ea = ca.start + (ca.periods or 10**6)
                eb = cb.start + (cb.periods or 10**6)
                if ca.start < eb and cb.start < ea:
                    probs.append(Problem(file, None, f"{key}.change[{b}]",
                                         f"overlaps change[{a}] (same series, region and period); merge them into one change"))
            elif ca.start == cb.start:
                probs.append(Problem(file, None, f"{key}.change[{b}]", f"overlaps change[{a}]"))
    return probs
