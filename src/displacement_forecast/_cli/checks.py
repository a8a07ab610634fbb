"""Checks run by the CLI before any fitting: options, and whether the data can support a model.

Every check raises :class:`~displacement_forecast.data.schema.DataError` (one line per problem,
exit code 2) or returns notes that go to the screen and into the sidecar. The rules, documented
here once:

* Dates on the command line (``--origin``, the dates of ``--origins``): ISO ``YYYY-MM-DD`` only
  (``01/06/2019`` could be June or January; never guessed), between 1946-01-01 and next year as the
  data's dates are (``9999-01-01`` was an internal error), checked before any data is read.
* ``--seed``: a whole number >= 0 (NumPy's ``SeedSequence`` takes no negative seeds).
* ``--thresholds``: finite, >= 0, no repeats (each is a cdf row ``P(X <= x)`` in people), at most
  :data:`MAX_THRESHOLD` and, when the region table gives every population, at most their total.
  Not given: :func:`default_thresholds` (said so on screen).
* ``--horizon``: at least 1 and at most :func:`horizon_cap` periods: the length of the history
  (a forecast further ahead than the data reach back is extrapolation), never more than
  :data:`MAX_HORIZON`; ``--max-horizon N`` raises the cap. ``--draws``: at least
  :data:`MIN_DRAWS` (probabilities and quantiles are read off the paths); the sample
  paths of one run may hold at most :data:`MAX_CELLS` numbers.
* History: at least :func:`~displacement_forecast.models.history.min_history` periods of
  displacement counts, the rule ``backtest`` applies at each origin too: :data:`MIN_HISTORY` for
  any model; for the driver models the lags plus four, and for ``nb-dl`` (one free coefficient
  per lag and driver) enough usable region-periods per shared coefficient at the lags it would
  shorten to: one when it chooses them, the lags given (``n_lags``, ``--lags``) otherwise. A
  shorter history is one line naming the models that run on it, or each model's minimum when
  none does (:func:`history_advice`).
* Something to fit: the displacement series is not zero (or missing) everywhere.
* ``validate`` warns (exit 0: it checks the format) of what these checks will refuse or leave out
  in a well-formed file: :func:`forecast_would_refuse`.
* Drivers: a model that uses drivers (strikes, flights) needs them in the data; without them the
  error names the driver-free models.
* Regions the data cannot support (no displacement counts, or no rows of a driver the model
  needs) are left out of the fit and forecast, with a warning and a mark in every output.
* A trailing period without any displacement count moves the origin back so the forecast covers it.
* Frequency: always the one rule, :func:`~displacement_forecast.data.schema.detect_frequency`;
  dates it cannot name are its one-line error, never a silently assumed frequency.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..conventions import MIN_HISTORY, period_unit
from ..data.regions import RegionTable
from ..data.schema import (
    EARLIEST_DATE,
    DataError,
    Problem,
    detect_frequency,
    latest_date,
    period_grid,
)
from ..models.history import min_history, model_needs, regions_left_out

#: Horizon never goes beyond this many periods, even with ``--max-horizon``.
MAX_HORIZON = 520
#: Largest number of simulated values (draws x regions x horizon x scenarios) a run may hold
#: (8 bytes each: 200 million is 1.6 GB).
MAX_CELLS = 200_000_000
TARGET = "displaced"
#: Fewest sample paths a forecast may draw: probabilities are counted on the paths (resolution
#: 1/draws) and the outer quantiles (2.5%, 97.5%) need at least a few paths beyond them.
MIN_DRAWS = 20
#: Largest ``--thresholds`` value without a region table giving every population.
MAX_THRESHOLD = 1e10


#: A date on the command line: ISO ``YYYY-MM-DD``.
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_iso_date(text: str, option: str) -> pd.Timestamp:
    """``text`` as a date if it is ISO ``YYYY-MM-DD`` and a real calendar date.

    Raises
    ------
    DataError
        Any other spelling (``01/06/2019``, ``2019-6-1``, ``20190601``) or an impossible date
        (``2019-13-01``): one line naming ``option``.
    """
    s = str(text).strip()
    if not ISO_DATE.fullmatch(s):
        raise DataError(Problem("command line", None, option,
                                f"{text!r} is not a date in the form YYYY-MM-DD (e.g. 2019-06-01); "
                                "other forms are not read, as 01/06/2019 could be January or June"))
    try:
        day = datetime.date.fromisoformat(s)
    except ValueError:
        raise DataError(Problem("command line", None, option,
                                f"{text!r} is not a calendar date; expected YYYY-MM-DD")) from None
    # the dates data may hold (9999-01-01 was an internal error: pandas holds no date past 2262)
    if not EARLIEST_DATE.date() <= day <= latest_date().date():
        raise DataError(Problem("command line", None, option,
                                f"{s} is out of range; expected a date between {EARLIEST_DATE.date()} and next year, "
                                "as the data's dates are"))
    return pd.Timestamp(day)


def check_origins_spec(spec: str | None) -> None:
    """The dates in ``--origins START:END[:STEP]`` or ``D1,D2,...`` are ISO (:func:`check_iso_date`);
    period numbers pass."""
    if spec is None or (":" in str(spec) and "," in str(spec)):
        return  # a range and a list mixed: parse_origins refuses it, saying so
    parts = str(spec).split(":")[:2] if ":" in str(spec) else str(spec).split(",")
    for part in parts:
        if part.strip() and not re.fullmatch(r"\s*[+-]?\d+\s*", part):
            check_iso_date(part, "--origins")


def apart_problem(first: str, first_option: str, second: str, second_option: str, *,
                  nested: bool = False) -> Problem | None:
    """Two folders a command writes or reads as one thing each must not be the same (nor, unless
    ``nested``, one inside the other): ``forecast --hub DIR --out DIR`` swapped the hub over the
    forecast and lost the hub's file, though the screen said it was written; ``--model-dir DIR --out
    DIR`` replaced the saved fit with the forecast. The problem, or None when they are apart."""
    from pathlib import Path

    a, b = Path(first).resolve(), Path(second).resolve()
    if a == b or (not nested and (a in b.parents or b in a.parents)):
        where = "the same folder" if a == b else "one inside the other"
        return Problem("command line", None, second_option, f"{second} and {first_option} {first} are {where}; "
                       "expected separate folders")
    return None


def check_seed(seed: int) -> int:
    """``seed`` if it is a valid seed (0 <= seed < 2**63)."""
    if seed < 0 or seed >= 2**63:
        raise DataError(Problem("command line", None, "--seed",
                                f"{seed} is not a valid seed; expected a whole number from 0 to 2**63-1"))
    return seed


def parse_thresholds(text: str) -> list[float]:
    """Comma-separated people counts for the cdf rows, in increasing order; every problem listed."""
    problems, out = [], []
    for cell in (c.strip() for c in text.split(",")):
        if not cell:
            continue
        if out and len(cell) == 3 and cell.isdigit() and cell.startswith("0"):
            # "250,000": a thousands separator read as a list separator would give 250 and 0
            problems.append(Problem("command line", None, "--thresholds",
                                    f"{cell!r} after {out[-1]:g}: looks like a thousands separator; write people "
                                    "counts without separators, e.g. 250000,500000"))
            continue
        try:
            x = float(cell)
        except ValueError:
            problems.append(Problem("command line", None, "--thresholds", f"{cell!r} is not a number"))
            continue
        if not math.isfinite(x) or x < 0:
            problems.append(Problem("command line", None, "--thresholds",
                                    f"{cell!r}: expected a finite number of people >= 0"))
        elif x > MAX_THRESHOLD:
            problems.append(Problem("command line", None, "--thresholds",
                                    f"{cell if len(cell) <= 20 else people(x)} is above {people(MAX_THRESHOLD)}; "
                                    "expected a number of people"))
        elif x in out:
            problems.append(Problem("command line", None, "--thresholds", f"{cell!r} is given twice"))
        else:
            out.append(x)
    if not out and not problems:  # '--thresholds ""' (an empty shell variable) gave no cdf rows, not a word said
        problems.append(Problem("command line", None, "--thresholds", f"{text!r} holds no number; expected "
                                "comma-separated numbers of people (leave --thresholds out for the defaults)"))
    if problems:
        raise DataError(problems)
    return sorted(out)  # cdf rows and the sidecar in increasing order, as a CDF is read


def history_periods(obs: pd.DataFrame, *, file: str = "<observations>") -> int:
    """Number of periods from the first to the last date of the observations.

    The frequency is named by the one rule (:func:`~displacement_forecast.data.schema.detect_frequency`);
    dates it rejects raise its :class:`DataError` (naming ``file``), never a guessed frequency.
    """
    dates = pd.DatetimeIndex(sorted(obs["date"].unique()))
    freq = detect_frequency(pd.Series(dates), file=file).code
    # the data's own grid: weekly data keep their weekday (Sundays, Thursdays...)
    return len(pd.date_range(dates[0], dates[-1], freq=period_grid(pd.Series(dates), freq)))


def horizon_cap(n_history: int, max_horizon: int | None = None) -> int:
    """Largest horizon allowed: the history length, or ``max_horizon``; at most :data:`MAX_HORIZON`."""
    return min(MAX_HORIZON, max_horizon if max_horizon is not None else n_history)


def check_draws(draws: int) -> int:
    """``draws`` if it is at least :data:`MIN_DRAWS` (checked before any data is read)."""
    if draws < MIN_DRAWS:
        raise DataError(Problem("command line", None, "--draws",
                                f"{draws}: expected at least {MIN_DRAWS} (probabilities and quantiles are counted "
                                f"on the sample paths; fewer than {MIN_DRAWS} cannot resolve them)"))
    return draws


def people(x: float) -> str:
    """A people count for a message: ``250,000``; huge numbers as ``1e+300``, not 300 digits."""
    return f"{x:,.0f}" if abs(x) < 1e15 else f"{x:g}"


def check_thresholds(thresholds: list[float] | None, regions: RegionTable | None = None) -> None:
    """Thresholds no larger than the people there are (see the module docstring).

    Raises
    ------
    DataError
        A threshold above the region table's total population (when every region gives one),
        or above :data:`MAX_THRESHOLD`: one line each.
    """
    if not thresholds:
        return
    pop = regions.population if regions is not None and "population" in regions.frame else None
    if pop is not None and len(pop) and bool((pop > 0).all()):
        bound, what = float(pop.sum()), "the total population of the region table"
    else:
        bound, what = MAX_THRESHOLD, "the largest count of people accepted"
    problems = [Problem("command line", None, "--thresholds",
                        f"{people(t)} is above {what} ({people(bound)}); expected a number of people up to that")
                for t in thresholds if t > bound]
    if problems:
        raise DataError(problems)


def default_thresholds(obs: pd.DataFrame, horizon: int, fixed: tuple[float, ...]) -> tuple[list[float], str]:
    """The cdf thresholds used when ``--thresholds`` is not given, and one phrase saying how.

    Weekly and daily data: ``fixed`` (the documented defaults), unless the people newly displaced
    (all regions) in the last ``horizon`` periods already exceed every one of them: then every
    probability would be close to 1 and say nothing (the Ukraine panel, about 48,000 refugees a
    day, printed "more than 999 in 1,000" for all five). Monthly data, whose totals over a horizon
    are much larger, and that case: 0.5, 1 and 2 times that recent total, to two significant
    figures, so the probabilities say whether the coming periods bring fewer or more than the same
    span just past. Falls back to ``fixed`` when that total is zero or unknown.
    """
    note = "defaults; give --thresholds for your own"
    d = obs[obs["series"] == TARGET]
    if d.empty:
        return list(fixed), note
    freq = detect_frequency(pd.Series(d["date"].unique()))
    per = d.groupby("date")["value"].sum(min_count=1).sort_index()
    recent = float(per.iloc[-horizon:].sum())
    if not math.isfinite(recent) or recent <= 0 or (freq.code != "M" and recent <= max(fixed)):
        return list(fixed), note
    out = sorted({float(f"{k * recent:.2g}") for k in (0.5, 1.0, 2.0)})
    unit = period_unit(freq.code) + "s"
    why = "" if freq.code == "M" else f", which exceed every default ({people(max(fixed))} or fewer)"
    return out, (f"from the data: 0.5x, 1x and 2x the {people(recent)} newly displaced in the last {horizon} "
                 f"{unit}{why}; give --thresholds for your own")


def horizon_problems(horizon: int, max_horizon: int | None = None, *, raisable: bool = True) -> list[Problem]:
    """What is wrong with ``--horizon`` and ``--max-horizon`` whatever the data: below 1, or a
    horizon above :data:`MAX_HORIZON` (``raisable``: the command has a ``--max-horizon``, which
    the message says cannot raise it further). Checked before the data are read, so before any
    date is counted forward: ``--horizon 3000`` on monthly data reached past the year 2262, the
    last date pandas can hold, and stopped with an internal error instead of the cap."""
    problems = []
    if horizon < 1:
        problems.append(Problem("command line", None, "--horizon", f"{horizon}: expected at least 1"))
    if max_horizon is not None and max_horizon < 1:  # was reported as '--horizon 12 is above the cap of 0'
        problems.append(Problem("command line", None, "--max-horizon", f"{max_horizon}: expected at least 1"))
    elif horizon > MAX_HORIZON:
        problems.append(Problem("command line", None, "--horizon",
                                f"{horizon} is above the cap of {MAX_HORIZON} periods"
                                f"{', which --max-horizon cannot raise' if raisable else ''}; "
                                f"expected at most {MAX_HORIZON}"))
    return problems


def check_horizon_option(horizon: int, max_horizon: int | None = None, *, raisable: bool = True) -> None:
    """:func:`horizon_problems` as an error (exit 2), before any data is read."""
    problems = horizon_problems(horizon, max_horizon, raisable=raisable)
    if problems:
        raise DataError(problems)


def check_horizon(horizon: int, draws: int, n_history: int, n_regions: int, n_scenarios: int,
                  max_horizon: int | None = None) -> None:
    """Horizon and the run's size within the documented caps (see the module docstring); the
    fewest draws is :func:`check_draws`' rule, checked before any data is read, as are the caps
    that need no data (:func:`horizon_problems`). Called before anything counts dates forward over
    the horizon (the scenarios' dates)."""
    check_draws(draws)
    check_horizon_option(horizon, max_horizon)
    problems: list[Problem] = []
    cap = horizon_cap(n_history, max_horizon)
    if horizon > cap:
        why = (f"the data hold {n_history} periods and a forecast may reach no further ahead than the "
               f"history reaches back; raise the cap with --max-horizon (at most {MAX_HORIZON})"
               if max_horizon is None else f"--max-horizon is {max_horizon} (at most {MAX_HORIZON})")
        problems.append(Problem("command line", None, "--horizon", f"{horizon} is above the cap of {cap}: {why}"))
    cells = max(draws, 1) * max(n_regions, 1) * max(min(horizon, cap), 1) * max(n_scenarios, 1)
    if not problems and cells > MAX_CELLS:
        problems.append(Problem("command line", None, "--draws",
                                f"{draws} draws x {n_regions} regions x {horizon} periods x {n_scenarios} scenarios "
                                f"is {cells:,} numbers; expected at most {MAX_CELLS:,} (fewer draws or periods)"))
    if problems:
        raise DataError(problems)


@dataclass
class DataNotes:
    """What the pre-fit checks found: regions left out, periods dropped, warnings to show."""

    regions_left_out: dict[str, str] = field(default_factory=dict)
    missing_last_periods: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: region -> which driver series' counts stopped there, and when (:func:`.forecast.marks.stopped_counts`)
    driver_counts_stopped: dict[str, str] = field(default_factory=dict)
    #: region -> when its displacement counts stopped (:func:`.forecast.marks.stopped_counts`)
    target_counts_stopped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"regions_left_out": dict(self.regions_left_out),
                "missing_last_periods": list(self.missing_last_periods), "warnings": list(self.warnings),
                "driver_counts_stopped": dict(self.driver_counts_stopped),
                "target_counts_stopped": dict(self.target_counts_stopped)}


def used_drivers(model: Any, series: Mapping[str, Any], required: Sequence[str]) -> tuple[str, ...]:
    """The driver series ``model`` (registry name or instance) uses on data holding ``series``: its
    :meth:`~displacement_forecast.models.base.ForecastModel.drivers_for`, which also names those of
    the models that choose drivers from the data without needing them (``dynamic``, ``auto``); the
    checks on trailing driver counts once looked only at ``required``, the drivers of models that
    need them (``nb-dl``)."""
    from ..models import get_model

    try:
        obj = get_model(model) if isinstance(model, str) else model
        used = tuple(obj.drivers_for(series))
    except (DataError, KeyError, ValueError, TypeError, ImportError, AttributeError):
        used = ()
    return tuple(dict.fromkeys((*required, *used)))


@functools.cache
def driver_free_models() -> tuple[str, ...]:
    """The models that run without a driver series (:data:`models.driver_choice.DRIVER_FREE`, the
    one list) whose module imports here (an optional backend may be missing).

    Derived from the classes' ``uses_drivers`` before, it left out ``auto`` (forecast's default),
    ``dynamic`` and ``arima``, which decide per fit whether they use drivers."""
    import importlib

    from ..models import REGISTRY
    from ..models.driver_choice import DRIVER_FREE

    out = []
    for name in DRIVER_FREE:
        try:
            importlib.import_module(f"displacement_forecast.models.{REGISTRY[name].split(':')[0]}")
        except ImportError:  # an optional backend that is not installed
            continue
        out.append(name)
    return tuple(out)


def model_histories(series: dict[str, Any], freq: str, n_regions: int) -> dict[str, int]:
    """Each model that imports here and the fewest periods of history it is fitted on, by the rule
    ``forecast`` applies (:func:`~displacement_forecast.models.model_needs` on the data's ``series``,
    then :func:`~displacement_forecast.models.history.min_history`); a model the data cannot drive
    (no conflict series) is left out. The driver-free models come first, ``auto`` leading."""
    import importlib

    from ..models import REGISTRY

    needs = {}
    for m in (*driver_free_models(), *REGISTRY):
        if m in needs:
            continue
        try:
            importlib.import_module(f"displacement_forecast.models.{REGISTRY[m].split(':')[0]}")
            _, drivers, lags = model_needs(m, series)
        except (ImportError, DataError):  # an optional backend not installed; no driver for it in the data
            continue
        needs[m] = min_history(m, drivers, lags, freq, n_regions)
    return needs


def history_advice(n: int, model: str, needs: dict[str, int]) -> str:
    """The end of the too-short-history error: the models that run on ``n`` periods (``needs``:
    :func:`model_histories`), else what each needs, grouped (o03, 3 weeks: the error said what
    failed, not what would work)."""
    fit = [m for m, k in needs.items() if k <= n and m != model]
    if fit:
        return f"; models that run on {n} period{'s' if n != 1 else ''}: {', '.join(fit)} (--model NAME)"
    groups: dict[int, list[str]] = {}
    for m, k in needs.items():
        groups.setdefault(k, []).append(m)
    said = "; ".join(f"{', '.join(ms)} {'need ' if i == 0 else ''}at least {k}"
                     for i, (k, ms) in enumerate(sorted(groups.items())))
    return f"; no model runs on {n} period{'s' if n != 1 else ''} ({said}): expected a longer history"


def empty_target(obs: pd.DataFrame) -> str | None:
    """Why there is nothing to fit when every ``displaced`` row has an empty value (None otherwise):
    the one phrase of ``forecast``'s error and ``validate``'s warning."""
    disp = obs.loc[obs["series"] == TARGET, "value"]
    if disp.empty or disp.notna().any():
        return None
    n = len(disp)
    return (f"the {n:,} '{TARGET}' values are all empty (missing): nothing to fit" if n > 1
            else f"the one '{TARGET}' value is empty (missing): nothing to fit")


def check_target(obs: pd.DataFrame, *, file: str) -> None:
    """The observations hold counts of the forecast target (``displaced``); else one line naming the
    series they do hold and how a recipe names its target (``rename = { arrivals = "displaced" }``),
    or, when the file has ``displaced`` rows whose values are all empty, saying so."""
    disp = obs.loc[obs["series"] == TARGET, "value"]
    if disp.notna().any():
        return
    empty = empty_target(obs)
    if empty:  # was 'no displaced counts ... if one of these is the target, read it as displaced' for 246 rows
        raise DataError(Problem(file, None, "value", f"{empty}; expected some displacement counts"))
    held = ", ".join(sorted(set(obs["series"]) - {TARGET})) or "none"
    raise DataError(Problem(file, None, "series",
                            f"no '{TARGET}' counts to forecast (series held: {held}); expected rows with series "
                            f"'{TARGET}': if one of these is the target, read it as '{TARGET}' (a panel recipe's "
                            f"source: rename = {{ arrivals = \"{TARGET}\" }})"))


def prepare_data(obs: pd.DataFrame, regions: RegionTable, model: Any, *, file: str,
                 horizon: int | None = None, max_horizon: int | None = None,
                 ) -> tuple[pd.DataFrame, RegionTable, DataNotes]:
    """Check that ``obs`` can support ``model``; drop what it cannot; say what was dropped.

    Parameters
    ----------
    obs
        Clean observations (``date, region, series, value``).
    regions
        The region table.
    model
        Registry name or model instance (fitted models skip the history checks).
    file
        Observation file name for messages.
    horizon
        Forecast periods (None: a fit, forecast later); the note on trailing periods without
        displacement counts says how many of them it covers.
    max_horizon
        The ``--max-horizon`` given, if any: a horizon suggested above the cap
        (:func:`horizon_cap`) says it needs ``--max-horizon``.

    Returns
    -------
    (obs, regions, notes)
        Observations and regions to fit on, and the notes for the screen and the sidecar.

    Raises
    ------
    DataError
        No displacement series, all zero, too short a history, or the model's drivers missing.
    """
    notes = DataNotes()
    free = ", ".join(driver_free_models())
    check_target(obs, file=file)
    disp = obs[obs["series"] == TARGET]
    if not (disp["value"].fillna(0) > 0).any():
        raise DataError(Problem(file, None, "value", f"every '{TARGET}' count is 0: there is nothing to fit; "
                                                     "expected some displacement in the history"))
    series = {s: g["value"].to_numpy(dtype=float) for s, g in obs.groupby("series")}
    uses, drivers, lags = model_needs(model, series, file=file)
    present = set(obs["series"])
    missing = [s for s in drivers if s not in present]
    if missing:
        name = model if isinstance(model, str) else model.name
        raise DataError(Problem(file, None, "series",
                                f"model {name!r} needs the driver series {', '.join(missing)}, which the file "
                                f"does not hold; add them or use a driver-free model ({free})"))
    # Trailing periods without any displacement count: the origin moves back to the last count.
    last_seen = disp.loc[disp["value"].notna(), "date"].max()
    later = sorted(d for d in obs["date"].unique() if d > last_seen)
    gap_note = None  # where the note on them goes: written once the history (so the horizon cap) is known
    if later:
        notes.missing_last_periods = [str(pd.Timestamp(d).date()) for d in later]
        gap_note = len(notes.warnings)
        notes.warnings.append("")
        obs = obs[obs["date"] <= last_seen]
    grid = pd.DatetimeIndex(sorted(obs["date"].unique()))
    # Trailing periods without any count of a driver the model uses (needs or chooses): said, as for displacement.
    used = used_drivers(model, series, drivers)
    for s in used:
        seen = obs.loc[(obs["series"] == s) & obs["value"].notna(), "date"]
        gap = [str(d.date()) for d in grid[grid > seen.max()]] if len(seen) else []
        if gap:
            notes.warnings.append(
                f"no '{s}' counts in any region for the last {len(gap)} period(s) ({', '.join(gap)}): the driver "
                f"models carry each region's last count forward over them (missing is not read as 0); give the "
                f"counts if they exist")
    # Regions the data cannot support.
    counted = set(obs.loc[(obs["series"] == TARGET) & obs["value"].notna(), "region"])
    for code in regions.codes:
        if code not in counted:
            has_any = (obs["region"] == code).any()
            notes.regions_left_out[code] = ("no displacement counts" if has_any else "no data at all")
    # ... and those without a count of a driver series the model uses (one rule for every driver model)
    for code, why in regions_left_out(model, obs, regions.codes, series).items():
        notes.regions_left_out.setdefault(code, why)
    if notes.regions_left_out:
        if len(notes.regions_left_out) == len(regions):
            raise DataError(Problem(file, None, "region", "no region has the data the model needs: "
                                    + "; ".join(f"{k}: {v}" for k, v in notes.regions_left_out.items())))
        for code, why in notes.regions_left_out.items():
            notes.warnings.append(f"region {code} is not forecast ({why}); totals (ALL) leave it out")
        keep = [c for c in regions.codes if c not in notes.regions_left_out]
        obs = obs[obs["region"].isin(keep)]
        regions = regions.subset(keep, left_out=notes.regions_left_out)
    # Regions whose last displacement or driver count is old (conventions.STALE_AFTER): their forecast
    # rests on old data, or the model carries the last count forward (said and marked; the one rule
    # build_sidecar applies to the fitted panel, said here before the fit).
    from ..forecast.marks import stopped_counts, stopped_warnings
    from ..models.panel import Panel

    freq = detect_frequency(obs["date"], file=file).code
    panel = Panel.from_observations(obs, regions, freq=freq, series=tuple(s for s in (TARGET, *used) if s in present))
    notes.target_counts_stopped = stopped_counts(panel, [TARGET])
    notes.driver_counts_stopped = stopped_counts(panel, used)
    notes.warnings += stopped_warnings(notes.target_counts_stopped, notes.driver_counts_stopped)
    # History length.
    n = history_periods(obs, file=file)
    if gap_note is not None:
        from ..forecast.marks import missing_periods_note

        fitted = getattr(model, "panel_", None)  # a saved fit: its own history sets the cap
        cap = horizon_cap(len(fitted.dates) if fitted is not None else n, max_horizon)
        notes.warnings[gap_note] = (
            f"no displacement counts for the last {len(later)} period(s) ({', '.join(notes.missing_last_periods)}); "
            + missing_periods_note(notes.missing_last_periods, str(pd.Timestamp(last_seen).date()), horizon, cap))
    name = model if isinstance(model, str) else model.name
    need = min_history(name, drivers, lags, freq)  # the lags rule; with the regions, the rows rule below
    if n < min_history(name, drivers, lags, freq, len(regions)):  # what would run instead, on the error path only
        alt = history_advice(n, name, model_histories(series, freq, len(regions)))
    if n < need:
        raise DataError(Problem(file, None, "date",
                                f"{n} period{'s' if n != 1 else ''} of history; model {name!r} needs at least "
                                f"{need}{alt}"))
    if n < min_history(name, drivers, lags, freq, len(regions)):  # nb-dl: too few rows per coefficient
        from ..models.glm import rows_needed
        from ..models.history import free_lag_rows

        L, rows = free_lag_rows(lags, len(regions), n)
        raise DataError(Problem(file, None, "date",
                                f"{n} periods x {len(regions)} region(s) give {rows} usable rows for the "
                                f"{L * len(drivers) + 1} shared coefficients of {name!r} ({L} lag(s) of "
                                f"{len(drivers)} drivers); expected at least {rows_needed(len(drivers), L)} (a longer history, more "
                                f"regions or fewer series with --drivers{' or lags with --lags' if lags else ''}){alt}"))
    return obs.reset_index(drop=True), regions, notes


def check_population(obs: pd.DataFrame, regions: RegionTable, *, file: str, regions_file: str,
                     regions_first_line: int = 2, lines: Callable[[pd.DataFrame], list[int | None]] | None = None,
                     ) -> list[str]:
    """No displacement count above the population; a warning when the counts sum above it.

    The population is the number at risk at the start of the data, so one period cannot displace
    more people than a region holds: each such count is one problem naming the observation file
    and the region table line. Summed over the history, agency flow counts can exceed the
    population honestly (people displaced twice, returns; UNHCR PRMN in Somalia 2022-2023 counts
    813,171 departures from Hiraan, population 520,685), so that is a warning, naming the region
    table line: such counts are movements, so that region is not depleted
    (:meth:`~displacement_forecast.models.panel.Panel.counts_movements`), and the warning says so
    (not for a region its table already declares ``counts = movements``).

    ``lines(rows)``, when given, is the file line of each of ``rows`` (a tidy file's,
    :func:`~displacement_forecast.data.io.observation_lines`): a region with one such count names
    its line, as every one-row problem does; a region with more names its largest count's line.

    Returns
    -------
    list of str
        Warnings for the screen and the sidecar.

    Raises
    ------
    DataError
        A count above its region's population.
    """
    pop = dict(zip(regions.codes, regions.population, strict=True))
    line = {c: i + regions_first_line for i, c in enumerate(regions.codes)}
    disp = obs[(obs["series"] == TARGET) & obs["value"].notna()]
    problems = []
    over = disp[disp["value"].to_numpy() > disp["region"].map(pop).to_numpy()]
    tops = [rows.loc[rows["value"].idxmax()] for _, rows in over.groupby("region", sort=False)]
    at = lines(pd.DataFrame(tops)) if tops and lines is not None else [None] * len(tops)
    for (code, rows), top, row in zip(over.groupby("region", sort=False), tops, at, strict=True):
        table = f"its population {people(pop[code])} ({regions_file}:{line[code]})"
        when = pd.Timestamp(top["date"]).date()
        if len(rows) == 1:  # one row keeps its own line
            problems.append(Problem(file, row, "value", f"'{TARGET}' count {people(top['value'])} for {code} on {when} "
                                                        f"exceeds {table}; expected at most the population"))
        else:
            on = f" (line {row})" if row is not None else ""
            problems.append(Problem(file, None, "value",
                                    f"{len(rows)} '{TARGET}' counts for {code} exceed {table}, the largest "
                                    f"{people(top['value'])} on {when}{on}; expected at most the population"))
    if problems:
        raise DataError(problems)
    warnings = []
    total = disp.groupby("region")["value"].sum()
    largest = disp.groupby("region")["value"].max()
    says = dict(zip(regions.codes, regions.frame["counts"] if "counts" in regions.frame.columns
                    else [""] * len(regions), strict=True))  # what the table's counts column says
    for code, fled in total.items():
        if code in pop and fled > pop[code] and says[code] != "movements":  # a table saying movements expects it
            told = ("its counts column says people, but they" if says[code] == "people"
                    else "the counts")  # the data overrule a table saying people: such counts cannot be people
            warnings.append(f"{regions_file}:{line[code]}: population {pop[code]:,.0f} for {code} is below the "
                            f"{fled:,.0f} displacements the data count (up to {largest[code]:,.0f} in one "
                            f"period): {told} must include repeated displacement or returns, so they are read as "
                            "movements and the people at risk there are not depleted - the whole population stays "
                            f"at risk in every period, and a forecast there can reach at most {pop[code]:,.0f} in "
                            "one period (write movements in the region table's counts column to read them so from "
                            "the first period, without this warning)")
    return warnings


def regions_without_rows(obs: pd.DataFrame, regions: RegionTable, *, file: str, regions_file: str,
                         regions_first_line: int = 2, most: int = 10) -> str | None:
    """One warning naming the regions of the table that have no row in ``obs`` (None: every one has).

    Legitimate (a file may cover part of the table), so a warning, in the words ``forecast`` uses
    when it leaves them out (:func:`prepare_data`: ``region X is not forecast (no data at all)``);
    each region with its region table line, the first ``most`` of them.
    """
    have = set(obs["region"])
    absent = [(c, i + regions_first_line) for i, c in enumerate(regions.codes) if c not in have]
    if not absent:
        return None
    named = ", ".join(f"{c} ({regions_file}:{n})" for c, n in absent[:most])
    more = f" and {len(absent) - most} more" if len(absent) > most else ""
    if len(absent) == 1:
        return f"region {named} has no rows in {file}: it is not forecast (no data at all); totals (ALL) leave it out"
    return (f"{len(absent)} regions, {named}{more}, have no rows in {file}: they are not forecast (no data at all); "
            "totals (ALL) leave them out")



def forecast_would_refuse(obs: pd.DataFrame, regions: RegionTable | None = None, *, file: str,
                          regions_file: str | None = None, regions_first_line: int = 2) -> list[str]:
    """Warnings for ``validate``: what ``forecast`` will refuse or leave out in a well-formed file.

    ``validate`` checks the format, so these are warnings, one line each, in the words of
    :func:`check_target` and :func:`prepare_data`: every ``displaced`` value empty, or every one 0
    (nothing to fit: ``forecast`` stops); a region whose ``displaced`` values are all empty (not
    forecast, totals leave it out, the forecast is marked); a history shorter than
    :data:`~displacement_forecast.conventions.MIN_HISTORY` periods (``forecast`` stops).
    A file without ``displaced`` rows (an event panel) gets none.
    """
    disp = obs[obs["series"] == TARGET]
    if disp.empty:
        return []
    empty = empty_target(obs)
    if empty:
        return [f"{file}: {empty}; `forecast` stops"]
    out = []
    if not (disp["value"].fillna(0) > 0).any():
        out.append(f"{file}: every '{TARGET}' count is 0: nothing to fit; `forecast` stops")
    line = {c: i + regions_first_line for i, c in enumerate(regions.codes)} if regions is not None else {}
    counted = disp.groupby("region")["value"].count().reindex(pd.unique(obs["region"]), fill_value=0)
    for code in counted.index[counted == 0]:
        where = f" ({regions_file}:{line[code]})" if code in line and regions_file else ""
        rows = int((disp["region"] == code).sum())
        what = (f"has no '{TARGET}' rows" if not rows else
                f"its {rows:,} '{TARGET}' value{'s are all' if rows > 1 else ' is'} empty (missing)")
        out.append(f"region {code}{where}: {what} in {file}: it is not forecast (no displacement counts), totals "
                   "(ALL) leave it out and the forecast is marked (reliable: false)")
    last = disp.loc[disp["value"].notna(), "date"].max()
    try:
        n = history_periods(obs[obs["date"] <= last], file=file)
    except DataError:  # the dates up to the last count name no frequency: forecast says so itself
        return out
    if n < MIN_HISTORY:
        out.append(f"{file}: {n} period{'s' if n != 1 else ''} of history up to the last displacement count; "
                   f"`forecast` needs at least {MIN_HISTORY} (the driver models more) and stops")
    return out


def fit_model(model: Any, obs: pd.DataFrame, regions: RegionTable, *, file: str) -> Any:
    """Fit ``model`` (a registry name or an unfitted instance); a fitted one is returned as is.

    A numerical failure of the fit on data that passed the checks above (a singular information
    matrix, an optimiser that returns no covariance) is one clear error naming the model and what
    may work instead, not a traceback.
    """
    import numpy as np

    from ..forecast import engine
    from ..models import get_model

    m = get_model(model) if isinstance(model, str) else model
    if hasattr(m, "panel_"):
        return m
    try:
        engine.fit(m, obs, regions)  # the model, then its driver forecaster
    except DataError:
        raise
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
        msg = " ".join(str(e).split())[:160]
        free = ", ".join(n for n in driver_free_models() if n != m.name)  # not the model that just failed
        raise DataError(Problem(file, None, None,
                                f"model {m.name!r} could not be fitted to these data ({type(e).__name__}: {msg}); "
                                f"a longer history, more regions or a driver-free model ({free}) may work")) from None
    return m
