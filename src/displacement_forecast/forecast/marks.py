"""Marks that travel: what makes a forecast less trustworthy, recorded once, shown everywhere.

A forecast carries a mark when

* its fit failed its diagnostics gate (``model.info_.reliable`` is False),
* regions were left out because the data cannot support them (no displacement counts, no rows of
  a driver the model needs, no data at all), so totals (``ALL``) leave them out,
* its intervals did not cover as stated in a backtest (``--backtest``), each period's
  (``intervals_calibrated_in_backtest``) or those of the sums from the first forecast period, the
  forecast CSV's ``cum_new_displaced`` rows (``cumulative_intervals_calibrated_in_backtest``): a
  separate mark, since sums over periods can cover far less than each period does and a planner
  reading "more than 250,000 within 12 weeks" reads the sums,
* a region's counts of a driver the model uses stopped long before the origin
  (``driver_counts_stopped``; the driver models carry the last count forward as if current:
  unreliable, as a region without a single count is left out),
* a region's displacement counts stopped long before the origin (``target_counts_stopped``; its
  forecast rests on old data: unreliable by the same rule, :func:`stopped_counts`; "long" is
  :data:`~displacement_forecast.conventions.STALE_AFTER`: 14 days, 3 weeks or 3 months). Found
  by :func:`~displacement_forecast.forecast.output.build_sidecar` on the fitted panel, so the
  library (``run_forecast``, notebooks) and the command line mark the same runs,
* the last periods held no displacement counts (the origin moved back; a note, not a fault; a
  horizon shorter than that gap covers only its start, :func:`missing_periods_note`),
* a model that no scenario can move at all (it uses no conflict series: a driver-free model, or
  ``auto`` on data without any), when a scenario of the run changes something: its scenario rows
  are the baseline's (``scenarios_ignored``),
* regions whose forecast no scenario can move (``model.scenario_blind_regions()``, e.g. ``auto``
  on a region without a count of the conflict series; a note, not a fault),
* scenarios that may move the forecast the wrong way: the model's fitted effect of a conflict
  series is below 0 (``model.negative_effects()``, e.g. ``nb-dl`` on Somalia's ACLED shelling and
  events), and a scenario of the run changes that series (how far depends on the effect's size:
  ``dynamic``'s -0.02 on Somalia's shelling barely moves anything, ``nb-dl``'s raised 8 of 18
  regions' 12-month means under a ceasefire),
* a scenario that only scales the conflict one way (every change ``multiply`` alone, all below 1
  or all above 1) moved the forecast the other way (``scenarios_ran_the_wrong_way``, from the
  paths themselves, :func:`wrong_way`: a check of every model, whatever it says of its effects;
  trial 19's bayes-hierarchical ceasefire raised P(more than 500,000 within 7 days) from 5% to 79%).

:func:`apply_marks` writes them into the sidecar (``marks``, ``warnings``, ``reliable``); the data
package, hub model metadata, HXL file and chart captions read them from there via
:func:`mark_text`, so a consumer who reads any one file alone sees them.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from ..conventions import period_unit, periods_text, stale_after

#: The series forecast: its counts that stopped are "displacement" counts.
TARGET = "displaced"


def stopped_counts(panel: Any, series: Sequence[str]) -> dict[str, str]:
    """``region -> "its last 'strikes' count is 2018-08-27, 73 weeks before the last week"`` for the
    regions of ``panel`` (a :class:`~displacement_forecast.models.panel.Panel`: ``dates``, ``freq``,
    ``series`` of ``(region, period)`` arrays, NaN missing) whose counts of a series in ``series``
    stopped more than :func:`~displacement_forecast.conventions.stale_after` periods before its last
    period (14 days, 3 weeks, 3 months; the first such series per region; regions without a single
    count are left out elsewhere). The target reads "its last displacement count is ...".

    One rule for the target and the drivers, on both paths (the command line's checks before a fit,
    :func:`.output.build_sidecar` after it), each a mark that makes the forecast unreliable: a
    driver's last count is carried forward as the region's current level (NW Syria's NWS02 with
    strikes to 2018-08-27 was forecast from 2020-01-20 as fully observed, and a scenario
    multiplying its strikes by 5 raised its forecast tenfold from a count 73 weeks old); a target
    whose counts stopped leaves the forecast resting on old data (Syria's Quneitra, last count
    2018-06-01, 7 months before the origin: a 95% band over 110,000 a month where its history is
    almost always under 25,000, marked reliable before 2026-12-02). "More than 3 periods" for every
    frequency marked daily counts 4 days old (trial 19, review 19).
    """
    import numpy as np

    limit, unit = stale_after(panel.freq), period_unit(panel.freq)
    codes = list(panel.regions.codes)
    out: dict[str, str] = {}
    for s in series:
        if s not in panel.series:
            continue
        what = "displacement" if s == TARGET else f"'{s}'"
        seen = np.isfinite(np.asarray(panel.series[s], dtype=float))
        for i, code in enumerate(codes):
            idx = np.flatnonzero(seen[i])
            if len(idx) and code not in out:
                behind = len(panel.dates) - 1 - int(idx[-1])
                if behind > limit:
                    out[str(code)] = (f"its last {what} count is {panel.dates[idx[-1]].date()}, "
                                      f"{periods_text(behind, panel.freq)} before the last {unit}")
    return out


def stopped_warnings(target_stopped: Mapping[str, str], driver_stopped: Mapping[str, str]) -> list[str]:
    """The warnings (screen, sidecar) for :func:`stopped_counts`' findings: one per region."""
    out = [f"region {code}: {why}; its forecast rests on old data (marked: give the later counts if they exist "
           "or leave the region out)" for code, why in target_stopped.items()]
    out += [f"region {code}: {why}; the driver models carry it forward as the region's current level (missing "
            "is not read as 0), so its forecast and any scenario that changes that series rest on old counts; "
            "give the counts if they exist or leave the region out (or use a driver-free model)"
            for code, why in driver_stopped.items()]
    return out


def counts_stopped(model: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`apply_marks` for a fitted ``model``'s old counts
    (:func:`stopped_counts` of ``displaced`` and of the drivers it uses, on its own panel) and
    their warnings."""
    p = model.panel_
    target = stopped_counts(p, [TARGET])
    drivers = stopped_counts(p, model.drivers_for(p.series))
    return {"target_counts_stopped": target, "driver_counts_stopped": drivers,
            "warnings": stopped_warnings(target, drivers)}


def apply_marks(sidecar: MutableMapping[str, Any], *, fit_reliable: bool,
                regions_left_out: Mapping[str, str] | None = None,
                missing_last_periods: list[str] | None = None,
                warnings: list[str] | None = None,
                driver_counts_stopped: Mapping[str, str] | None = None,
                target_counts_stopped: Mapping[str, str] | None = None) -> MutableMapping[str, Any]:
    """Record the marks in ``sidecar`` (in place) and return it.

    ``reliable`` becomes False when the fit failed its gate, regions were left out, or a region's
    driver or displacement counts stopped long before the origin (``driver_counts_stopped``,
    ``target_counts_stopped``, region -> when: a region whose counts never began is left out; one
    whose counts stopped is forecast from the last of them, as if still current, and marked so;
    None keeps what the sidecar's marks already hold, :func:`counts_stopped` in ``build_sidecar``).
    """
    held = sidecar.get("marks") or {}
    stopped = dict(held.get("driver_counts_stopped") or {} if driver_counts_stopped is None else driver_counts_stopped)
    target_stopped = dict(held.get("target_counts_stopped") or {} if target_counts_stopped is None
                          else target_counts_stopped)
    left = dict(regions_left_out or {})
    for w in warnings or []:
        if w not in sidecar["warnings"]:
            sidecar["warnings"].append(w)
    marks = {
        "fit_failed_gate": not fit_reliable,
        "regions_left_out": left,
        "bands_did_not_cover_in_backtest": sidecar.get("intervals_calibrated_in_backtest") is False,
        "cumulative_bands_did_not_cover_in_backtest":
            sidecar.get("cumulative_intervals_calibrated_in_backtest") is False,
        "missing_last_periods": list(missing_last_periods or []),
        "scenarios_ignored": _ignored(sidecar),
        "scenarios_cannot_move": dict(sidecar.get("scenario_blind_regions") or {}),
        "scenarios_reversed": _reversed(sidecar),
        "driver_counts_stopped": stopped,
        "target_counts_stopped": target_stopped,
        "scenarios_ran_the_wrong_way": dict(sidecar.get("scenarios_ran_the_wrong_way") or {}),
    }
    sidecar["marks"] = marks
    sidecar["reliable"] = bool(sidecar.get("reliable", True) and fit_reliable and not left and not stopped
                               and not target_stopped)
    return sidecar


def missing_periods_note(missing: Sequence[str], origin: str, horizon: int | None, cap: int | None = None) -> str:
    """What the forecast does about ``missing``, the last periods without displacement counts (the
    origin, ``origin``, moved back before them; the forecast's first periods are those periods).

    ``horizon`` None: a fit, forecast later. A horizon shorter than the gap covers only its start:
    said, with the horizon that would reach its end (not an error: a short horizon is a choice),
    and the ``--max-horizon`` it needs when that horizon is above ``cap``, the cap in force.
    """
    n = len(missing)
    if horizon is None:
        return (f"the fit ends at {origin}: a forecast from it starts after that date and covers them with "
                f"--horizon {n} or more")
    if horizon >= n:
        return f"the forecast starts after {origin} and covers them"
    return (f"the forecast starts after {origin}; its {horizon} period(s) cover only {horizon} of the {n} periods "
            f"with no displacement count (to {missing[horizon - 1]}); use --horizon {n} or more"
            f"{f' with --max-horizon {n}' if cap is not None and n > cap else ''} to reach {missing[-1]}")


def _ignored(sidecar: Mapping[str, Any]) -> bool:
    """Whether the run has a scenario that changes something and a model that no scenario can
    move (``model.answers_scenarios`` False; sidecars written before it existed: ``uses_drivers``)."""
    model = sidecar.get("model") or {}
    answers = model.get("answers_scenarios", model.get("uses_drivers", True))
    return not answers and any(sc.get("change") for sc in sidecar.get("scenarios") or [])


def _reversed(sidecar: Mapping[str, Any]) -> list[str]:
    """The series with a negative fitted effect that some scenario of the run changes (a change
    without ``series`` changes every conflict series)."""
    negative = list(sidecar.get("negative_effects") or [])
    changed = {s for sc in sidecar.get("scenarios") or [] for c in sc.get("change") or []
               for s in (c.get("series") or negative)}
    return [s for s in negative if s in changed]


#: Smallest move of the median total, as a share of the baseline's, that :func:`wrong_way` reads as
#: a move (smaller ones are noise, e.g. people left at risk by a lower first period).
WRONG_WAY_MIN_SHIFT = 0.01


def scenario_direction(scenario: Mapping[str, Any]) -> int:
    """-1 when every change of ``scenario`` (its sidecar dict) only scales the conflict down
    (``multiply`` below 1, without ``hold`` or ``values``), +1 when every one scales it up, 0
    otherwise: no change, both ways, or a level (``hold``, ``values``) that may lie on either side
    of the baseline's conflict forecast."""
    changes = scenario.get("change") or []
    ks = [c.get("multiply") for c in changes if "values" not in c and "hold" not in c]
    if not changes or len(ks) != len(changes) or any(k is None for k in ks):
        return 0
    return -1 if all(k < 1 for k in ks) else 1 if all(k > 1 for k in ks) else 0


def wrong_way(totals: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``scenario id -> what ran the wrong way`` for scenarios whose conflict changes all go one
    way (:func:`scenario_direction`) but whose forecast went the other: the all-region total over
    the horizon (``totals``: scenario id -> one total per path, ``baseline`` among them) is on the
    wrong side of the baseline's in more than half the paths (the same random numbers in every
    scenario, so path by path) and its median by more than :data:`WRONG_WAY_MIN_SHIFT`.

    A check on the paths, whatever the model says of its effects (``negative_effects``): a model
    whose effects are below 0 in some regions or draws only, or that moves paths by other means,
    is caught too. ``{}`` without a baseline."""
    import numpy as np

    if "baseline" not in totals:
        return {}
    base = np.asarray(totals["baseline"], dtype=float)
    out = {}
    for sc in scenarios:
        d, sid = scenario_direction(sc), sc.get("id")
        if not d or sid not in totals:
            continue
        tot = np.asarray(totals[sid], dtype=float)
        share = float(np.mean(np.sign(tot - base) == -d))  # paths moved against the change
        med, med_b = float(np.median(tot)), float(np.median(base))
        if share > 0.5 and -d * (med - med_b) > WRONG_WAY_MIN_SHIFT * max(med_b, 1.0):
            what = "lowers" if d < 0 else "raises"
            out[str(sid)] = (f"it {what} the conflict, yet its total over the horizon is {'above' if d < 0 else 'below'} "
                             f"the baseline's in {share:.0%} of paths, median {med:,.0f} against {med_b:,.0f}")
    return out


def _how(record: Mapping[str, Any]) -> str:
    """`` (80%, 90%, 95% too narrow; 80%, 90% within chance)``: the direction of each band off and
    what the interval of its rate says of it, from the backtest record's ``verdict``
    (:func:`~displacement_forecast.evaluate.backtest.coverage_verdict`, the verdict the sidecar's
    warning says in words): bands whose interval holds the stated level are "within chance" (all of
    them: "the origins cannot tell this from chance"); bands with no interval "too few origins for
    an interval of these rates" (not chance); the rest are clearly off. '' for a sidecar written
    before it was recorded."""
    verdict = record.get("verdict") or {}
    off = [lv for k in ("too_narrow", "too_wide") for lv in verdict.get(k) or []]
    parts = [f"{', '.join(verdict[k])} too {k.removeprefix('too_')}" for k in ("too_narrow", "too_wide")
             if verdict.get(k)]
    chance, none = verdict.get("within_chance"), verdict.get("no_interval")
    if chance:
        parts.append("the origins cannot tell this from chance" if len(chance) == len(off)
                     else f"{', '.join(chance)} within chance")
    if none:
        which = "" if len(none) == len(off) else f" ({', '.join(none)})"
        parts.append(("too few origins for an interval of these rates" if verdict.get("too_few_origins")
                      else "no interval of these rates") + which)
    return f" ({'; '.join(parts)})" if parts else ""


def wrong_way_marks(sidecar: Mapping[str, Any]) -> list[str]:
    """The marks of scenario rows that may run, or ran, the wrong way ("SCENARIO ROWS MAY RUN THE
    WRONG WAY: ...", "SCENARIO ROWS RAN THE WRONG WAY: ..."), each one line: part of
    :func:`mark_text`, and the screen's ``WARNING:`` lines whether or not the run is reliable (they
    do not make it unreliable, so the UNRELIABLE banner alone never showed them; review 19)."""
    marks = sidecar.get("marks") or {}
    parts = []
    if marks.get("scenarios_reversed"):
        rev = marks["scenarios_reversed"]
        parts.append("SCENARIO ROWS MAY RUN THE WRONG WAY: this model fitted less displacement with more "
                     + ", ".join(rev) + f", so scenarios that change {'it' if len(rev) == 1 else 'them'} move the "
                     "forecast the other way (baseline rows unaffected; the default model, auto, does not do this)")
    ran = marks.get("scenarios_ran_the_wrong_way") or {}
    if ran:
        parts.append("SCENARIO ROWS RAN THE WRONG WAY: " + ", ".join(f"{k} ({v})" for k, v in ran.items()))
    return parts


def mark_text(sidecar: Mapping[str, Any], *, scenario_rows: bool = True) -> str:
    """One line a consumer must read before using the numbers ('' when there is nothing to say).

    ``scenario_rows=False`` leaves out :func:`wrong_way_marks` (the screen says them on lines of their own)."""
    marks = sidecar.get("marks") or {}
    parts = []
    if marks.get("fit_failed_gate") or (not marks and sidecar.get("reliable") is False):
        parts.append("UNRELIABLE FIT (failed its diagnostics)")
    left = marks.get("regions_left_out") or {}
    if left:
        parts.append("NOT FORECAST: " + ", ".join(f"{k} ({v})" for k, v in left.items())
                     + f"; ALL leaves {'it' if len(left) == 1 else 'them'} out")
    target_stopped = marks.get("target_counts_stopped") or {}
    if target_stopped:
        parts.append("OLD DISPLACEMENT COUNTS: " + ", ".join(f"{k} ({v})" for k, v in target_stopped.items())
                     + f"; {'its' if len(target_stopped) == 1 else 'their'} forecast rests on old data")
    stopped = marks.get("driver_counts_stopped") or {}
    if stopped:
        parts.append("OLD DRIVER COUNTS: " + ", ".join(f"{k} ({v})" for k, v in stopped.items())
                     + "; forecast from that count as if current")
    backtest = sidecar.get("backtest") or {}
    if marks.get("bands_did_not_cover_in_backtest") or sidecar.get("intervals_calibrated_in_backtest") is False:
        parts.append("CAUTION: intervals did not cover as stated in backtests" + _how(backtest))
    if (marks.get("cumulative_bands_did_not_cover_in_backtest")
            or sidecar.get("cumulative_intervals_calibrated_in_backtest") is False):
        parts.append("CAUTION: cumulative intervals (cum_new_displaced) did not cover as stated in backtests"
                     + _how(backtest.get("cumulative") or {}))
    if marks.get("scenarios_ignored"):
        name = (sidecar.get("model") or {}).get("name", "this model")
        parts.append(f"SCENARIOS DO NOT MOVE: model {name!r} uses no conflict series, so every scenario row "
                     "equals the baseline")
    blind = marks.get("scenarios_cannot_move") or {}
    if blind and not marks.get("scenarios_ignored"):
        parts.append("SCENARIOS DO NOT MOVE: " + ", ".join(f"{k} ({v})" for k, v in blind.items()))
    if scenario_rows:
        parts += wrong_way_marks(sidecar)
    missing = marks.get("missing_last_periods") or []
    if missing:
        horizon = (sidecar.get("forecast") or {}).get("horizon")
        cover = ("forecast covers them" if horizon is None or horizon >= len(missing) else
                 f"the forecast's {horizon} period(s) cover only {horizon} of them, to {missing[horizon - 1]}")
        parts.append("no displacement counts for " + ", ".join(missing) + f" ({cover})")
    return "; ".join(parts)
