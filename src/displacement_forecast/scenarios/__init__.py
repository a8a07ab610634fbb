"""Scenarios: plain TOML definitions that turn baseline driver paths into scenario driver paths.

A scenario file holds one or more ``[[scenario]]`` tables::

    [[scenario]]
    id = "baseline"                      # strikes/flights as forecast by the driver model

    [[scenario]]
    id = "intensify-south"
    description = "Air strikes in southern Idlib at twice their current level for four periods"
      [[scenario.change]]
      regions = ["South Idlib"]          # codes, names or parents from the region table, or "ALL"
      series = ["strikes", "flights"]    # driver series changed (default: all drivers)
      start = 1                          # first forecast period (1 = the period after the data) or a date
      periods = 4                        # how many periods (default: to the end of the horizon)
      hold = 4                           # the level: each region's mean of its last 4 observed periods
      multiply = 2.0                     # k >= 0 times that level; 0 = ceasefire

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

What each key does:

* ``multiply = k`` alone multiplies the *baseline forecast* of the drivers, which lets an
  escalation fade as escalations did in the past: ``k < 1`` is de-escalation, ``0`` a ceasefire.
* ``hold = N`` keeps the conflict where it is now: each region's counts are drawn period by period
  around its average over the last N observed periods, with the driver model's count noise (a model
  passes ``counts`` to :meth:`Scenario.apply`; without it the average itself is used). The noise of
  a region and period is the same in every scenario of a call, so holding more regions never
  changes the counts of the others.
* ``hold = N`` with ``multiply = k`` is **k times the current level**: the held counts (with their
  noise) times k, path by path. This is what a planner means by "attacks intensify": more than now,
  not more than a forecast that falls back to normal.
* ``values = [...]`` sets the series to given numbers, the same in every path (no conflict
  uncertainty: the sidecar says so).

Durations: ``periods`` counts periods of the data's own frequency. ``weeks`` and ``months`` are
accepted as a check: ``weeks`` on monthly data (or ``months`` on weekly data) is an error, not a
silent change of meaning. Give at most one of the three.

Checks (each a :class:`~displacement_forecast.data.schema.DataError` naming the file, the line
and the key, all problems of a file at once; the file is read by the one TOML reader,
:func:`~displacement_forecast.data.tomlfile.read_toml`): known keys only; ``change`` must be ``[[scenario.change]]``
tables; numbers finite and non-negative; ``regions`` names at least one region; ``series`` names
conflict series of the schema (and, checked against the data, series the data count); at most one
duration key; ``values`` not combined with ``multiply`` or ``hold``, and as many values as
``periods`` when both are given; a date (``start``) that is not a period start of the data - the
1st of a month for monthly data, the data's weekday for weekly data - is an error naming the
period starts on either side, never moved silently (:func:`period_date_index`); a start date
before the first forecast period; ``hold`` longer
than the observed history; two changes touching the same series, region and period (with integer
or date starts). A change that can have no effect (``multiply = 1`` alone, or a start after the
forecast horizon) is a warning carried in :attr:`Scenario.warnings`, printed by the command line
and written into the sidecar with the scenario; so is a change whose ``values`` or ``periods`` run
past the horizon (the periods not used are named); so is a change that takes a series far beyond its
history in the regions it changes (above :data:`BEYOND_HISTORY` times the largest count observed
there, :func:`beyond_history`; ``multiply = 1000`` for ``10``): a warning naming the file, line,
scenario and factor, never a refusal (an analyst may mean it).

Scenario ids name files (``fan_<id>.png``) and CSV cells, so they follow one documented safe
pattern, :data:`ID_PATTERN`: a letter or digit, then letters, digits, ``.``, ``-`` or ``_``, at most 64
characters in all; two ids may not differ only by case (they would share a chart file on some
file systems). Anything else (spaces, ``/``, control characters, a leading ``=``/``+``/``-``/``@``)
is one clear error before anything is fitted or written. ``baseline``, in any case, is the
forecast with no change (:data:`BASELINE`): it is spelled ``baseline`` in every output, and a
scenario of that id with changes is an error (it would have made the baseline rows the changed
forecast).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..conventions import FREQ_WORD, period_unit
from ..data.regions import RegionTable
from ..data.schema import (
    CONFLICT_SERIES,
    DRIVER_SERIES,
    WEEKDAYS,
    DataError,
    Problem,
    future_dates,
)
from ..data.schema import period_grid as schema_grid
from ..data.tomlfile import TomlDoc, read_toml

_SCENARIO_KEYS = {"id", "description", "change"}
_DURATION_KEYS = ("periods", "weeks", "months")
_CHANGE_KEYS = {"regions", "series", "start", *_DURATION_KEYS, "multiply", "values", "hold"}
#: Scenario ids: a letter or digit, then letters, digits, '.', '-' or '_'; 64 characters at most.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: The frequency a duration key is written in (``periods`` fits any).
_UNIT_FREQ = {"weeks": "W", "months": "M"}


#: The id of the forecast with no change, spelled so in every output whatever the case it is written in.
BASELINE = "baseline"


def _baseline_changed(sid: str) -> str:
    """Why a scenario called ``baseline`` (any case) may not have changes."""
    return (f"scenario {sid!r} has changes; the baseline is the forecast with no change: give this scenario "
            "another id")


def check_id(sid: Any) -> str | None:
    """Why ``sid`` is not a valid scenario id (``None`` if it is); see :data:`ID_PATTERN`."""
    if sid is None or sid == "":
        return "missing or empty scenario id"
    if not isinstance(sid, str):
        return f"scenario id {sid!r} is not text; expected a quoted id such as \"{sid}\""
    if ID_PATTERN.fullmatch(sid):
        return None
    return (f"scenario id {sid!r} is not allowed: ids name files and CSV cells, so they must be a letter or "
            "digit followed by letters, digits, '.', '-' or '_' (at most 64 characters)")


@dataclass(frozen=True)
class Change:
    """One modification of driver paths: multiply by ``multiply``, replace by ``values``, or hold
    each region at its mean over the last ``hold`` observed periods (times ``multiply`` if given).

    ``unit`` is the duration key the user wrote (``periods``, ``weeks`` or ``months``); ``weeks``
    and ``months`` must match the data's frequency.
    """

    regions: tuple[str, ...] = ("ALL",)
    series: tuple[str, ...] | None = None
    start: int | str = 1
    periods: int | None = None
    multiply: float | None = None
    values: tuple[float, ...] | None = None
    hold: int | None = None
    unit: str = "periods"
    #: Where the change is written: ``(key, line)`` pairs, ``""`` = its ``[[scenario.change]]`` line.
    lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)

    def line_of(self, key: str = "") -> int | None:
        """File line of ``key`` in this change's table (its header line if the key is not written)."""
        at = dict(self.lines)
        return at.get(key, at.get(""))

    def to_dict(self) -> dict[str, Any]:
        d = {"regions": list(self.regions), "start": self.start}
        if self.series is not None:
            d["series"] = list(self.series)
        if self.periods is not None:
            d[self.unit] = self.periods
        if self.multiply is not None:
            d["multiply"] = self.multiply
        if self.values is not None:
            d["values"] = list(self.values)
        if self.hold is not None:
            d["hold"] = self.hold
        return d

    def span(self, dates: pd.DatetimeIndex, freq: str | None, where: str) -> tuple[int, int | None]:
        """``[h0, h1)`` forecast-period indices (0 = the first forecast period) this change covers,
        ``h1 = None`` to the end of any horizon. Indices may lie beyond ``dates``.

        Raises
        ------
        DataError
            ``weeks``/``months`` that do not match ``freq``; a start date that is not a period
            start of the data (:func:`period_date_index`); a start before the first forecast period.
        """
        want = _UNIT_FREQ.get(self.unit)
        if want is not None and freq is not None and freq != want:
            raise DataError(_kp(where, None, self.unit,
                                    f"{self.unit} = {self.periods} but the data are {FREQ_WORD.get(freq, freq)}; "
                                    f"write periods = N (one period = one {period_unit(freq)})"))
        if isinstance(self.start, int):
            h0 = self.start - 1
        else:
            h0 = period_date_index(pd.Timestamp(self.start), dates, freq, where=where, key="start")
            if h0 < 0:
                raise DataError(_kp(where, None, "start",
                                        f"{self.start} is before the first forecast period ({dates[0].date()}); "
                                        "a scenario can only change the future"))
        return h0, None if self.periods is None else h0 + self.periods


@dataclass(frozen=True)
class Scenario:
    """A named set of changes to the baseline driver paths.

    ``warnings`` hold what the checks found that is not an error (a change with no effect); they
    travel with the scenario into the sidecar.
    """

    id: str
    description: str = ""
    changes: tuple[Change, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()
    #: The scenario file it was read from (None: built in code), so problems found when it is
    #: applied name the file and line as those found when it is read.
    file: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        why = check_id(self.id)
        if why:
            raise DataError(_kp("scenario", None, "id", why))
        if self.id.lower() == BASELINE:  # one spelling in every output (a pipeline filters on it)
            if self.changes:
                raise DataError(_kp("scenario", None, "id", _baseline_changed(self.id)))
            object.__setattr__(self, "id", BASELINE)

    @classmethod
    def baseline(cls) -> Scenario:
        return cls(BASELINE, "conflict continues as forecast from its own recent history")

    @classmethod
    def intensify(cls, regions: list[str], k: float = 2.0, periods: int | None = None, start: int = 1,
                  id: str = "intensify", hold: int | None = None) -> Scenario:
        """Drivers ``k`` times the baseline forecast, or with ``hold = N`` ``k`` times the level of
        the last N observed periods (above the current level)."""
        what = "baseline forecast" if hold is None else f"level of the last {hold} periods"
        return cls(id, f"conflict drivers (strikes, flights, ...) x{k:g} the {what} in {', '.join(regions)}",
                   (Change(tuple(regions), None, start, periods, float(k), None, hold),))

    @classmethod
    def ceasefire(cls, regions: list[str] | None = None, start: int = 1, id: str = "ceasefire",
                  drivers: Sequence[str] | None = None) -> Scenario:
        """Every conflict driver set to zero from period ``start`` in ``regions`` (default all).

        ``drivers``: the series the model uses, named in the description ("conflict drivers
        (strikes, shelling) set to zero"); without them it names none. It had said "(strikes,
        flights, ...)" of data without flights (notebook 03, trial 19)."""
        what = f"conflict drivers ({', '.join(drivers)})" if drivers else "all conflict drivers"
        return cls(id, f"{what} set to zero", (Change(tuple(regions or ["ALL"]), None, start, None, 0.0),))

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "description": self.description, "change": [c.to_dict() for c in self.changes]}
        fixed = _fixed_note(self)
        if fixed:
            d["conflict_uncertainty"] = fixed
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d

    # -- application ----------------------------------------------------------------------
    def apply(self, drivers: dict[str, np.ndarray], regions: RegionTable, dates: pd.DatetimeIndex,
              history: dict[str, np.ndarray] | None = None,
              counts: Callable[[str, np.ndarray], np.ndarray] | None = None, *,
              freq: str | None = None) -> dict[str, np.ndarray]:
        """Return ``drivers`` (``series -> draw x region x horizon``) as this scenario changes them.

        For ``hold`` changes only: ``history`` (``series -> region x period`` observed counts,
        NaN = missing) gives the level, and ``counts(series, means)`` draws ``draw x region x
        horizon`` counts around ``means`` (``region x horizon``; only the held cells are used);
        without ``counts`` every path is set to the level itself. With ``multiply`` as well, the
        held counts are multiplied by it, path by path.

        ``freq`` (``D``, ``W``, ``M``) is the data's frequency, inferred from ``dates`` when not
        given; ``weeks``/``months`` durations are checked against it.

        A series the scenario changes is a new array; the others are the input arrays themselves
        (not copies), so the input is never modified but must not be modified through the result.

        Raises
        ------
        DataError
            A duration unit that does not match the data, a start before the first forecast
            period, ``hold`` longer than the history, a series the model does not use.
        """
        out = dict(drivers)
        copied: set[str] = set()
        codes = regions.codes
        freq = freq or _dates_freq(dates)
        file = self.file or "<scenarios>"
        for n, ch in enumerate(self.changes):
            # problems found here are placed as those found when the file is read: file:line, key change[n]
            where = f"scenario '{self.id}'.change[{n}]"
            try:
                resolved = regions.resolve(ch.regions, context=where)
            except DataError as e:
                raise DataError(_kp(file, ch.line_of("regions"), f"{where}.regions", e.problems[0].message)) from None
            idx = sorted({codes.index(c) for c in resolved})
            try:
                h0, end = ch.span(dates, freq, where)
            except DataError as e:
                raise DataError(_placed(e.problems, file, ch, where)) from None
            h1 = len(dates) if end is None else min(len(dates), end)
            series = ch.series or tuple(s for s in out if s in CONFLICT_SERIES)
            for s in series:
                if s not in out:
                    raise DataError(_kp(file, ch.line_of("series"), f"{where}.series",
                                        f"series {s!r} is not a driver of this model (drivers: "
                                        f"{', '.join(out) or 'none'}); expected one of those"))
                if h0 >= len(dates):
                    continue
                if s not in copied:
                    out[s] = np.array(out[s], dtype=float)
                    copied.add(s)
                if ch.hold is not None:
                    means = np.zeros(out[s].shape[1:])
                    try:
                        level = _recent_mean(history, s, idx, ch.hold, regions, where)
                    except DataError as e:
                        raise DataError(_placed(e.problems, file, ch, where)) from None
                    means[idx, h0:h1] = level[:, None]
                    drawn = np.broadcast_to(means, out[s].shape) if counts is None else counts(s, means)
                    k = 1.0 if ch.multiply is None else ch.multiply
                    out[s][:, idx, h0:h1] = k * drawn[:, idx, h0:h1]
                elif ch.multiply is not None:
                    for lo, hi in _runs(idx):  # slices, not a fancy-indexed copy and write-back
                        out[s][:, lo:hi, h0:h1] *= ch.multiply
                else:
                    vals = np.asarray(ch.values, dtype=float)[: h1 - h0]
                    out[s][:, idx, h0 : h0 + len(vals)] = vals
        for s in out.keys() - copied:
            out[s] = out[s].view()
            out[s].flags.writeable = False
        return out


def _placed(problems: list[Problem], file: str, change: Change, key: str) -> list[Problem]:
    """``problems`` raised with ``key`` (``scenario 'x'.change[0]``) standing for the file, as
    :meth:`Change.span` and :func:`_recent_mean` raise them, placed as every scenario error is:
    ``file``, the line of the key in ``change`` and the key path ``scenario 'x'.change[0].start``."""
    return [dataclasses.replace(p, file=file, row=change.line_of(p.column or ""),
                                column=f"{key}.{p.column}" if p.column else key, kind="key")
            if p.file == key else p for p in problems]


def _fixed_note(sc: Scenario) -> str | None:
    """What a scenario with fixed driver values leaves out (``None`` if its paths keep their noise)."""
    fixed = [c for c in sc.changes if c.values is not None or c.multiply == 0]
    if not fixed:
        return None
    return ("NOT included for the changes that fix the drivers (values, or multiply = 0): those series are the "
            "same in every path, so the bands leave out the chance that the conflict turns out otherwise "
            "(e.g. violations of a ceasefire)")


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
        raise DataError(_kp(where, None, "hold", f"needs the observed {series!r} counts; none were given"))
    hist = np.asarray(history[series], dtype=float)
    if n > hist.shape[1]:
        raise DataError(_kp(where, None, "hold",
                                f"hold = {n} periods but the data hold only {hist.shape[1]}; expected at most that"))
    recent = hist[idx, -n:]
    seen = np.isfinite(recent).any(axis=1)
    if not seen.all():
        ever = np.isfinite(hist[idx]).any(axis=1)
        missing = ", ".join(regions.codes[idx[i]] for i in np.flatnonzero(~seen))
        when = "at all" if not ever[~seen].any() else f"in the last {n} periods"
        raise DataError(_kp(where, None, "hold",
                            f"no observed {series!r} count {when} for {missing}, so there is no level to hold; "
                            f"expected regions with {series!r} counts in the last {n} periods"
                            f"{'' if when == 'at all' else ' (or a longer hold)'}"))
    return np.nanmean(recent, axis=1)


def _dates_freq(dates: pd.DatetimeIndex) -> str | None:
    """``D``, ``W`` or ``M`` from the spacing of forecast dates (``None`` if it cannot tell)."""
    if len(dates) >= 2:
        gap = (dates[1] - dates[0]).days
        return "D" if gap == 1 else "W" if gap == 7 else "M" if 28 <= gap <= 31 else None
    if len(dates) == 1:
        d = pd.Timestamp(dates[0])
        if d.day == 1 and d.weekday() != 0:
            return "M"
        if d.weekday() == 0 and d.day != 1:
            return "W"
    return None


def period_date_index(ts: pd.Timestamp, dates: pd.DatetimeIndex, freq: str | None, *, where: str = "<scenarios>",
                      key: str = "start") -> int:
    """Forecast-period index of the period starting on ``ts`` (0 = ``dates[0]``; negative = before it).

    The rule for every date key of a scenario file: a date must be a period start on the data's
    own grid (the 1st of a month for monthly data; the data's weekday for weekly data, e.g. a
    Sunday for Sunday weeks; any day for daily data). A date inside a period is not moved to a
    period start silently (that would shift the change by up to a month): it is an error naming
    the key and the period starts on either side.

    Raises
    ------
    DataError
        ``ts`` is not a period start of the data (``where``/``key`` name the key).
    """
    ts = pd.Timestamp(ts).normalize()
    first = pd.Timestamp(dates[0])
    if freq is None:  # cannot label periods: the first forecast date on or after ts
        pos = int(np.searchsorted(dates, ts))
        return -1 if pos == 0 and ts < first else pos
    step = {"M": pd.DateOffset(months=1), "W": pd.Timedelta(days=7), "D": pd.Timedelta(days=1)}[freq]
    if freq == "M":
        k = (ts.year - first.year) * 12 + ts.month - first.month
    else:
        k = (ts - first).days // (7 if freq == "W" else 1)
    before = first + step * k if freq != "M" else first + pd.DateOffset(months=k)
    if before != ts:
        grid = "the 1st of a month" if freq == "M" else f"a {WEEKDAYS[first.weekday()]}" if freq == "W" else "a day"
        raise DataError(_kp(where, None, key,
                            f"{ts.date()} is not the start of a {period_unit(freq)} of the data (periods start on "
                            f"{grid}); expected a period start, e.g. {before.date()} or {(before + step).date()}"))
    return int(k)


# -- checks against the data ------------------------------------------------------------------
def check_scenarios(scenarios: list[Scenario], observations: pd.DataFrame, horizon: int, *,
                    regions: RegionTable | None = None, file: str = "scenarios") -> list[Scenario]:
    """Check scenarios against the data they will be applied to, before anything is fitted.

    Parameters
    ----------
    scenarios : list of Scenario
        As loaded by :func:`load_scenarios`.
    observations : pandas.DataFrame
        The clean observation frame (``date, region, series, value``) the forecast starts from.
    horizon : int
        Forecast periods.
    regions : RegionTable, optional
        To resolve zones for the overlap check (default: regions compared by name).
    file : str
        Named in the messages.

    Returns
    -------
    list of Scenario
        The same scenarios, each with the warnings found for it added (changes with no effect
        within ``horizon``).

    Raises
    ------
    DataError
        All problems at once: ``weeks``/``months`` against the data's frequency, start dates
        before the first forecast period, ``hold`` longer than the observed history, overlapping
        changes (date starts included), a ``series`` the data do not count.
    """
    from ..data.schema import observation_frequency

    freq = observation_frequency(observations)
    first, origin = observations["date"].min(), observations["date"].max()
    n_hist = len(period_grid(first, origin, freq))
    dates = future_dates(origin, horizon, freq)
    have = set(observations["series"].unique())
    problems: list[Problem] = []
    out: list[Scenario] = []
    for sc in scenarios:
        warns = list(sc.warnings)
        spans = []
        for n, ch in enumerate(sc.changes):
            key = f"scenario '{sc.id}'.change[{n}]"
            absent = [s for s in ch.series or () if s not in have]
            if absent:  # no model can take a driver the data do not count
                problems.append(_kp(file, ch.line_of("series"), f"{key}.series",
                                    f"series {', '.join(map(repr, absent))} not in the data (they count "
                                    f"{', '.join(sorted(have))}); expected a conflict series of the data"))
            try:
                h0, h1 = ch.span(dates, freq, key)
            except DataError as e:
                problems += _placed(e.problems, file, ch, key)
                spans.append(None)
                continue
            spans.append((h0, h1))
            if h0 >= horizon:
                when = "" if str(ch.start) == str(h0 + 1) else f" ({ch.start})"  # a date, not '6 (6)'
                warns.append(_kw(file, ch.line_of("start"), f"{key}.start", f"starts at forecast period "
                                 f"{h0 + 1}{when}, after the horizon of {horizon} periods: the change has no effect "
                                 "on this forecast"))
            elif h1 is not None and h1 > horizon:  # values or periods past the horizon were cut off unsaid
                what = "values" if ch.values is not None else ch.unit
                span = "" if h0 == 0 else f" (forecast periods {h0 + 1}-{h1})"
                unused = f"period {h1} is" if h1 == horizon + 1 else f"periods {horizon + 1}-{h1} are"
                warns.append(_kw(file, ch.line_of(what), f"{key}.{what}", f"sets {h1 - h0} periods"
                                 f"{span}; the horizon is {horizon}: {unused} not used"))
            if ch.hold is not None and ch.hold > n_hist:
                problems.append(_kp(file, ch.line_of("hold"), f"{key}.hold",
                                        f"hold = {ch.hold} periods but the data hold only {n_hist}; expected at most that"))
            elif not absent:
                far = beyond_history(ch, observations, regions)
                if far:
                    what = "values" if ch.values is not None else "multiply"
                    warns.append(_kw(file, ch.line_of(what), f"{key}.{what}", far))
        problems += _overlaps(sc.changes, f"scenario '{sc.id}'", file, regions, spans)
        out.append(dataclasses.replace(sc, warnings=tuple(warns)))
    if problems:
        raise DataError(problems)
    return out


#: A scenario level above this many times the largest count observed in the regions it changes is
#: warned about (:func:`beyond_history`): more than an order of magnitude beyond anything seen.
BEYOND_HISTORY = 10.0
#: Periods whose mean is the level ``multiply`` alone scales (the driver forecast starts there).
RECENT_PERIODS = 4


def beyond_history(change: Change, observations: pd.DataFrame, regions: RegionTable | None = None) -> str | None:
    """What a change does that lies far beyond the history of the regions it changes, or None.

    The level a change sets, per series it changes: ``values``: their largest; ``multiply = k``:
    k times each region's mean of its last ``hold`` observed periods (``hold`` given) or of its
    last :data:`RECENT_PERIODS` (``multiply`` alone: the baseline forecast starts from there and
    falls back towards normal), the largest over the regions. Above :data:`BEYOND_HISTORY` times
    the largest count of that series observed in those regions (any period), the change is named
    with its factor: most likely a typo (``multiply = 1000`` for ``10``), but an analyst may mean
    it, so it is a warning, never an error.

    Parameters
    ----------
    change : Change
        A checked change (finite, non-negative numbers).
    observations : pandas.DataFrame
        The clean observation frame (``date, region, series, value``).
    regions : RegionTable, optional
        Resolves names and parents; without it ``regions`` are codes (``ALL``: every region).

    Returns
    -------
    str or None
        ``multiply = 1000 takes strikes in R1 to about 6,500 per period, 812x the largest count
        observed there (8); ...`` for the series furthest beyond its history.
    """
    if change.values is None and not change.multiply:
        return None
    if regions is not None:
        codes = regions.resolve(change.regions)
    else:
        codes = sorted(observations["region"].unique()) if "ALL" in change.regions else list(change.regions)
    obs = observations[observations["region"].isin(codes) & observations["value"].notna()]
    series = change.series or tuple(s for s in CONFLICT_SERIES if s in set(obs["series"]))
    worst: tuple[float, str, float, float] | None = None
    for s in series:
        sub = obs[obs["series"] == s]
        if sub.empty:
            continue
        peak = float(sub["value"].max())
        if change.values is not None:
            level = max(change.values)
        else:
            n = change.hold or RECENT_PERIODS
            recent = sub.sort_values("date").groupby("region")["value"].apply(lambda v, n=n: v.tail(n).mean())
            level = float(change.multiply) * float(recent.max())
        if level > BEYOND_HISTORY * peak:
            ratio = level / peak if peak > 0 else np.inf
            if worst is None or ratio > worst[0]:
                worst = (ratio, s, level, peak)
    if worst is None:
        return None
    ratio, s, level, peak = worst
    where = ", ".join(codes[:3]) + (f" and {len(codes) - 3} more" if len(codes) > 3 else "")
    what = (f"values up to {max(change.values):g} take" if change.values is not None
            else f"multiply = {change.multiply:g} takes")
    times = f"{ratio:,.0f}x the largest count observed there ({peak:,.0f})" if np.isfinite(ratio) \
        else f"where no {s} were ever observed"
    return (f"{what} {s} in {where} to about {level:,.0f} per period, {times}; used as given (check the "
            f"{'values' if change.values is not None else 'factor'} if that is not what you meant)")


def period_grid(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Period labels from ``first`` to ``last`` inclusive (the grid a panel is built on; weekly
    grids keep the weekday of ``first``, as :func:`~displacement_forecast.data.schema.period_grid`)."""
    return pd.date_range(first, last, freq=schema_grid(pd.Series([pd.Timestamp(first)]), freq))


# -- loading -------------------------------------------------------------------------------
def load_scenarios(path: str | Path, regions: RegionTable | None = None) -> list[Scenario]:
    """Read scenarios from a TOML file; every problem is reported with the key that causes it."""
    doc = read_toml(path, what="scenario file")
    return scenarios_from_dict(doc.data, regions, file=str(path), toml=doc)


def with_baseline(scenarios: list[Scenario]) -> tuple[list[Scenario], bool]:
    """``scenarios`` with the baseline first when none of them is ``baseline`` (ids compared
    without case, as chart files are), and whether it was added.

    Every forecast holds the baseline: scenarios are read against it and the exceedance
    comparisons need it. A file with only ``ceasefire-banadir`` and ``double-all`` gave a forecast
    without baseline rows, and no word said so."""
    if any(s.id == BASELINE for s in scenarios):  # Scenario spells the baseline's id one way
        return list(scenarios), False
    return [Scenario.baseline(), *scenarios], True


def _kp(file: str, line: int | None, key: str, message: str) -> Problem:
    """A problem with a key of the scenario file (named as a key, whatever the file is called)."""
    return Problem(file, line, key, message, kind="key")


def _kw(file: str, line: int | None, key: str, message: str) -> str:
    """A warning on a key of the scenario file, in the errors' form (``file:6: key scenario
    'early'.change[0].start: ...``; warnings were ``scenario 'future': file:6: change[0] starts ...``)."""
    return str(_kp(file, line, key, message))


def scenarios_from_dict(doc: dict, regions: RegionTable | None = None, *, file: str = "<scenarios>",
                        toml: TomlDoc | None = None) -> list[Scenario]:
    """Scenarios from a parsed TOML document; all problems of the file at once (see module doc).

    ``toml`` (from :func:`~displacement_forecast.data.tomlfile.read_toml`) gives each problem the
    line of its key.
    """

    def top(*path: Any) -> int | None:
        return toml.line(*path) if toml is not None else None

    problems: list[Problem] = []
    extra = set(doc) - {"scenario"}
    for k in sorted(extra):
        problems.append(_kp(file, top(k), k, "unknown top-level key; expected [[scenario]] tables"))
    items = doc.get("scenario", [])
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        problems.append(_kp(file, top("scenario"), "scenario", "no [[scenario]] tables found"))
        raise DataError(problems)
    out: list[Scenario] = []
    seen: dict[str, str] = {}  # id in lower case -> its first spelling
    exact: dict[str, int | None] = {}  # id -> the line of its first
    for i, sc in enumerate(items):
        key = f"scenario[{i}]"

        def at(*path: Any, i: int = i) -> int | None:
            return top("scenario", i, *path)

        for k in sorted(set(sc) - _SCENARIO_KEYS):
            problems.append(_kp(file, at(k), f"{key}.{k}", f"unknown key; expected one of {', '.join(sorted(_SCENARIO_KEYS))}"))
        sid = sc.get("id")
        why = check_id(sid)
        if why:
            problems.append(_kp(file, at("id"), f"{key}.id", why))
            continue
        key = f"scenario '{sid}'"
        if sid in exact:  # the exact repeat first: 'x', 'X', 'x' said twice that ids differed by case
            first = f" (first on line {exact[sid]})" if exact[sid] is not None else ""
            problems.append(_kp(file, at("id"), f"{key}.id", f"duplicate scenario id {sid!r}{first}; expected each id once"))
        elif sid.lower() in seen:
            problems.append(_kp(file, at("id"), f"{key}.id", f"scenario ids {seen[sid.lower()]!r} and {sid!r} differ "
                                                              "only by case (they would share a chart file)"))
        seen.setdefault(sid.lower(), sid)
        exact.setdefault(sid, at("id"))
        desc = sc.get("description", "")
        if not isinstance(desc, str):
            problems.append(_kp(file, at("description"), f"{key}.description", "expected text"))
        raw = sc.get("change", [])
        if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
            problems.append(_kp(file, at("change"), f"{key}.change",
                                    f"expected [[scenario.change]] tables (keys regions, multiply, hold, ...), got {raw!r}"))
            continue
        changes, warns = [], []
        for j, ch in enumerate(raw):
            c, probs = _parse_change(ch, f"{key}.change[{j}]", file, regions,
                                     lambda *k, j=j, at=at: at("change", j, *k))
            problems += probs
            if c is not None:
                changes.append(c)
                if c.multiply == 1 and c.hold is None:
                    warns.append(_kw(file, at("change", j, "multiply"), f"{key}.change[{j}].multiply",
                                     "multiplies by 1: it has no effect"))
        if sid.lower() != BASELINE:
            if not raw:
                warns.append(_kw(file, at("id"), key, "no changes: this scenario is the baseline"))
        elif raw:  # read as the baseline, its changes made the baseline rows the changed forecast
            problems.append(_kp(file, at("id"), f"{key}.id", _baseline_changed(sid)))
        elif sid != BASELINE:
            warns.append(_kw(file, at("id"), f"{key}.id",
                             f"id {sid!r} is the baseline: it is written {BASELINE!r} in the outputs"))
        problems += _overlaps(changes, key, file, regions)
        if not problems:
            out.append(Scenario(sid, str(desc), tuple(changes), tuple(warns), file=file))
    if problems:
        raise DataError(problems)
    return out


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and bool(np.isfinite(x)) and x >= 0


def _parse_change(ch: dict, key: str, file: str, regions: RegionTable | None,
                  at: Callable[..., int | None] = lambda *k: None) -> tuple[Change | None, list[Problem]]:
    """One ``[[scenario.change]]`` table; ``at(key)`` is the file line of one of its keys."""
    probs: list[Problem] = []
    for k in sorted(set(ch) - _CHANGE_KEYS):
        probs.append(_kp(file, at(k), f"{key}.{k}", f"unknown key; expected one of {', '.join(sorted(_CHANGE_KEYS))}"))
    regs = ch.get("regions", ["ALL"])
    if isinstance(regs, str):
        regs = [regs]
    if not isinstance(regs, list) or not regs or not all(isinstance(r, str) and r.strip() for r in regs):
        probs.append(_kp(file, at("regions"), f"{key}.regions",
                             f"{regs!r} names no region; expected a list of codes, names or parents, or [\"ALL\"]"))
    elif regions is not None:
        try:
            regions.resolve(regs, context=f"{file}: {key}.regions")
        except DataError as e:
            probs.append(_kp(file, at("regions"), f"{key}.regions", e.problems[0].message))
    series = ch.get("series")
    if isinstance(series, str):
        series = [series]
    if series is not None and (not isinstance(series, list) or not series
                               or not all(isinstance(x, str) and x.strip() for x in series)):
        probs.append(_kp(file, at("series"), f"{key}.series", f"{series!r} names no series; expected e.g. [\"strikes\"]"))
    elif series is not None:
        for name in series:
            if name not in DRIVER_SERIES:
                probs.append(_kp(file, at("series"), f"{key}.series",
                                 f"unknown series {name!r}; expected conflict series: {', '.join(DRIVER_SERIES)}"))
    start = ch.get("start", 1)
    if isinstance(start, bool) or not isinstance(start, int | str) and not hasattr(start, "isoformat"):
        probs.append(_kp(file, at("start"), f"{key}.start", "expected a period number (1 = first forecast period) or a date"))
    elif isinstance(start, int) and start < 1:
        probs.append(_kp(file, at("start"), f"{key}.start", f"{start} is before the first forecast period; expected >= 1"))
    elif not isinstance(start, int):
        try:
            ts = pd.Timestamp(str(start))
        except ValueError:
            probs.append(_kp(file, at("start"), f"{key}.start", f"cannot read {start!r} as a date"))
        else:
            if ts != ts.normalize():  # a time of day would be dropped without a word
                probs.append(_kp(file, at("start"), f"{key}.start",
                                 f"{start} carries a time of day; expected a date (YYYY-MM-DD), the start of a period"))
            start = str(ts.date())
    given = [k for k in _DURATION_KEYS if k in ch]
    unit = given[0] if given else "periods"
    if len(given) > 1:
        probs.append(_kp(file, at(given[1]), f"{key}.{given[1]}",
                             f"{' and '.join(given)} contradict each other; give one duration (periods = N)"))
    periods = ch.get(unit)
    if periods is not None and (not _is_count(periods) or periods < 1):
        probs.append(_kp(file, at(unit), f"{key}.{unit}", f"{periods!r} is not a positive whole number of periods"))
    mult, vals, hold = ch.get("multiply"), ch.get("values"), ch.get("hold")
    if vals is not None and (mult is not None or hold is not None):
        probs.append(_kp(file, at(), key, "'values' contradicts 'multiply'/'hold'; give values, or multiply, "
                                              "or hold (optionally with multiply)"))
    elif mult is None and vals is None and hold is None:
        probs.append(_kp(file, at(), key, "give exactly one of 'multiply', 'values' or 'hold' "
                                              "('hold' may be combined with 'multiply')"))
    if hold is not None and (not _is_count(hold) or hold < 1):
        probs.append(_kp(file, at("hold"), f"{key}.hold", f"{hold!r} is not a positive whole number of periods"))
    if mult is not None and not _is_number(mult):
        probs.append(_kp(file, at("multiply"), f"{key}.multiply", f"{mult!r} is not a non-negative number (0 = ceasefire)"))
    if vals is not None:
        if not isinstance(vals, list) or not vals or not all(_is_number(v) for v in vals):
            probs.append(_kp(file, at("values"), f"{key}.values", "expected a non-empty list of finite non-negative numbers"))
        elif periods is None:
            periods = len(vals)
        elif _is_count(periods) and periods != len(vals):
            probs.append(_kp(file, at("values"), f"{key}.values",
                                 f"{len(vals)} values but {unit} = {periods}; give one value per period"))
    if probs:
        return None, probs
    return Change(tuple(regs), tuple(series) if series else None, start, periods,
                  None if mult is None else float(mult), None if vals is None else tuple(float(v) for v in vals),
                  hold, unit, tuple((k, n) for k in ("", *ch) if (n := at(*((k,) if k else ()))) is not None)), probs


def _overlaps(changes: list[Change] | tuple[Change, ...], key: str, file: str, regions: RegionTable | None,
              spans: list[tuple[int, int | None] | None] | None = None) -> list[Problem]:
    """Two changes may not touch the same series, region and period.

    ``spans`` (from :meth:`Change.span`, ``None`` for a change that could not be placed) compare
    date starts too; without them only integer starts (and equal dates) can be compared.
    """
    probs = []
    for a in range(len(changes)):
        for b in range(a + 1, len(changes)):
            ca, cb = changes[a], changes[b]
            sa = set(ca.series or CONFLICT_SERIES)
            sb = set(cb.series or CONFLICT_SERIES)
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
            if spans is not None:
                if spans[a] is None or spans[b] is None:
                    continue
                (a0, a1), (b0, b1) = spans[a], spans[b]
            elif isinstance(ca.start, int) and isinstance(cb.start, int):
                a0, a1, b0, b1 = ca.start, ca.start + ca.periods if ca.periods else None, \
                    cb.start, cb.start + cb.periods if cb.periods else None
            elif ca.start == cb.start:
                a0, a1, b0, b1 = 0, None, 0, None
            else:
                continue
            if a0 < (b1 if b1 is not None else 10**9) and b0 < (a1 if a1 is not None else 10**9):
                probs.append(_kp(file, cb.line_of(), f"{key}.change[{b}]",
                                     f"overlaps change[{a}] (same series, region and period); merge them into one change"))
    return probs
