"""Numbers and sentences for planners, computed from sample paths (never typed by hand).

The notebooks and analyst scripts use these helpers so that every figure quoted in prose comes
from the forecast it describes: totals over the first ``within`` periods with central intervals,
exceedance probabilities as a scenario x window table, a plain-language paragraph, what the
bands include and leave out, and what drives the numbers (model coefficients).

Rounding for prose: people to two significant figures ("about 140,000"), probabilities to whole
percent, and probabilities that no (or every) sample path reached written as less than one
path's share ("less than 0.1%" of 1,000 paths) rather than 0% (or 100%), since that is all
``n_draws`` paths can tell (:func:`fmt_prob`, the one wording on screen and in the notebooks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .conventions import BRIEF_LEVEL, INTERVAL_LEVELS, interval_bounds, period_unit
from .data.schema import horizon_end, period_ends, period_offset
from .forecast.summaries import total_within

#: What no band in this toolkit includes, whatever the model (stated next to every forecast).
NOT_INCLUDED: tuple[str, ...] = (
    "errors in the reported displacement counts themselves (under-counting, double counting, late reports)",
    "conflict that departs from the scenario in ways the scenario does not describe",
    "people returning home, and movements that are not new displacement",
    "the chance that the model's form is wrong (it is checked only by backtests)",
)


def round_sig(x: float, sig: int = 2) -> float:
    """Round to ``sig`` significant figures (0 stays 0).

    Parameters
    ----------
    x : float
        The value.
    sig : int
        Significant figures kept.

    Returns
    -------
    float
        The rounded value.
    """
    if x == 0 or not np.isfinite(x):
        return float(x)
    return float(round(x, sig - 1 - int(np.floor(np.log10(abs(x))))))


def fmt_people(x: float, sig: int = 2) -> str:
    """People for prose: two significant figures with thousands separators (``140,000``).

    Parameters
    ----------
    x : float
        Number of people.
    sig : int
        Significant figures kept.

    Returns
    -------
    str
        The formatted number.
    """
    return f"{round_sig(float(x), sig):,.0f}"


def fmt_by(last: pd.Timestamp, within: int, freq: str) -> str:
    """Where a total over the first ``within`` periods after ``last`` ends, for a header or a
    sentence: ``"by 22 Mar 2020 (8 weeks)"`` (weekly data to the week of 20 Jan 2020). The end is
    the last day of the ``within``-th period (:func:`~.data.schema.horizon_end`), so a planner
    reads the date off instead of counting weeks.

    Parameters
    ----------
    last : pandas.Timestamp
        Start of the last observed period (the forecast's origin).
    within : int
        Number of forecast periods added up (at least 1).
    freq : str
        The data's frequency code (``"W"``, ``"M"``, ``"D"``).

    Returns
    -------
    str
    """
    unit = period_unit(freq)
    end = horizon_end(last, within, freq)
    return f"by {fmt_date(end)} ({within} {unit}{'' if within == 1 else 's'})"


def fmt_date(d: pd.Timestamp) -> str:
    """A day for prose and headers: ``22 Mar 2020`` (no leading zero)."""
    d = pd.Timestamp(d)
    return f"{d.day} {d:%b %Y}"


def fmt_prob(p: float, n_draws: int | None = None) -> str:
    """A probability for prose: whole percent, honest about the Monte Carlo floor.

    One wording everywhere (screen, sidecar notes, notebooks): always a percentage. A probability
    of 0 or 1 from ``n_draws`` paths is written as below one path's share or above all but one
    ("less than 0.1%" / "more than 99.9%" of 1,000 paths); the screen had mixed that with
    "more than 999 in 1,000" on one line ("... more than 999 in 1,000, ceasefire more than 99%").

    Parameters
    ----------
    p : float
        Probability estimated from sample paths.
    n_draws : int, optional
        Number of paths; when given, 0 and 1 are written as "less than" / "more than" one path's
        share (1 / ``n_draws``) from 0 or 1.

    Returns
    -------
    str
        E.g. ``"8%"``, ``"less than 1%"``, ``"less than 0.1%"``, ``"more than 99.9%"``.
    """
    if n_draws and p <= 0:
        return f"less than {_pct(1 / n_draws)}"
    if n_draws and p >= 1:
        return f"more than {_pct(1 - 1 / n_draws)}"
    if 0 < p <= 0.005:  # would round to "0%" (0.5% rounds to even): not what the paths say
        return "less than 1%"
    if 0.995 <= p < 1:
        return "more than 99%"
    return f"{p:.0%}"


def _pct(p: float) -> str:
    """``p`` as a percentage with the decimals it needs (0.001 -> "0.1%", 0.999 -> "99.9%",
    1/3000 -> "0.033%", 0.02 -> "2%")."""
    x = 100 * p
    if x >= 50:  # near 100: the digits of the shortfall (99.95 -> "99.95%")
        return f"{100 - float(f'{100 - x:.2g}'):g}%"
    return f"{float(f'{x:.2g}'):g}%"


def compare_scores(scores: Sequence[float], reference: Sequence[float]) -> dict[str, Any]:
    """How a forecast's scores compare with a reference's on the same cells (lower is better: CRPS).

    Parameters
    ----------
    scores, reference : sequence of float
        Paired scores, one per scored cell (e.g. region-month), same order and length.

    Returns
    -------
    dict
        ``skill`` (1 - mean score / mean reference score), ``half_width`` (two standard errors of
        that skill, from the paired differences; NaN with fewer than 2 cells), ``wins`` (cells where
        the forecast scored better), ``n`` (cells) and ``verdict``: ``"better"`` or ``"worse"`` when
        the skill is more than two standard errors from 0, else ``"no better"``.

    Raises
    ------
    ValueError
        When the two have different lengths or there is no cell.
    """
    a, b = np.asarray(scores, float), np.asarray(reference, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"expected paired scores of one length, got {a.size} and {b.size}")
    n, ref = a.size, float(b.mean())
    skill = 1.0 - float(a.mean()) / ref if ref > 0 else float("nan")
    half = 2 * float(np.std(b - a, ddof=1)) / np.sqrt(n) / ref if n > 1 and ref > 0 else float("nan")
    verdict = ("no better" if not np.isfinite(half) or abs(skill) <= half else "better" if skill > 0 else "worse")
    return {"skill": skill, "half_width": half, "wins": int((a < b).sum()), "n": n, "verdict": verdict}


def skill_phrase(cmp: Mapping[str, Any], reference: str, cells: str = "scored cells") -> str:
    """Words for :func:`compare_scores`, chosen by the measured skill and its uncertainty, never
    stronger than they are: "no better than last-value (skill +0%, ±9%; better in 4 of 9 scored
    governorate-months)". Notebook 04 said "did better than last-value" of a +0% skill that lost 5
    of 9 months (trial 19); "better on average ... but better in only k of n" when a few cells
    carry a real average gain."""
    k, n = cmp["wins"], cmp["n"]
    pm = f", ±{cmp['half_width']:.0%}" if np.isfinite(cmp["half_width"]) else ""
    sk = f"skill {cmp['skill']:+.0%}{pm}"
    detail = f"{sk}; better in {k} of {n} {cells}"
    if cmp["verdict"] == "better":
        if 2 * k <= n:
            return f"better on average than {reference} ({sk}), but better in only {k} of {n} {cells}"
        return f"better than {reference} ({detail})"
    if cmp["verdict"] == "worse":
        return f"worse than {reference} ({detail})"
    return f"no better than {reference} ({detail}: within chance of no difference)"


def total_summary(paths_by_scenario: Mapping[str, xr.DataArray], within: int | None = None, *,
                  level: float = BRIEF_LEVEL, regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Median, mean and central interval of people newly displaced over the first ``within`` periods.

    Parameters
    ----------
    paths_by_scenario : mapping of str to xarray.DataArray
        Scenario -> ``draw x region x horizon`` sample paths.
    within : int, optional
        Number of forecast periods added up (default: the whole horizon).
    level : float
        Central interval level in percent.
    regions : sequence of str, optional
        Region codes added up (default all).

    Returns
    -------
    pandas.DataFrame
        Index scenario; columns ``median``, ``mean``, ``lo``, ``hi`` (people) with
        ``attrs['level']`` and ``attrs['within']``.
    """
    if not 0 < level < 100:
        raise ValueError(f"level {level} is not strictly between 0 and 100")
    lo_q, hi_q = interval_bounds(level)  # the bands' rule (conventions)
    rows = {}
    for sid, p in paths_by_scenario.items():
        t = total_within(p, within, regions)
        lo, med, hi = np.quantile(t, [lo_q, 0.5, hi_q])
        rows[sid] = {"median": med, "mean": t.mean(), "lo": lo, "hi": hi}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "scenario"
    out.attrs.update(level=level, within=within)
    return out


def exceedance_table(paths_by_scenario: Mapping[str, xr.DataArray], threshold: float,
                     withins: Sequence[int], *, regions: Sequence[str] | None = None,
                     unit: str = "week", dated: bool = False) -> pd.DataFrame:
    """P(people newly displaced over the first ``w`` periods > threshold), scenario x window.

    Parameters
    ----------
    paths_by_scenario : mapping of str to xarray.DataArray
        Scenario -> ``draw x region x horizon`` sample paths.
    threshold : float
        People.
    withins : sequence of int
        Windows in periods from the forecast start.
    regions : sequence of str, optional
        Region codes added up (default all).
    unit : str
        Period name used in the column labels.
    dated : bool
        Label the columns with the day each window ends (:func:`fmt_by`, from the paths'
        ``target_date`` and ``freq``): ``"by 22 Mar 2020 (8 weeks)"``, so a planner reads "by
        March" off the table instead of counting weeks from the origin.

    Returns
    -------
    pandas.DataFrame
        Probabilities; index scenario, columns ``"within {w} {unit}s"`` (``dated``: ``"by <day>
        (<w> <unit>s)"``).
    """
    first = next(iter(paths_by_scenario.values()))

    def label(w: int) -> str:
        if not dated:
            return f"within {w} {unit}s"
        freq = first.attrs.get("freq", "W")
        start = pd.Timestamp(first["target_date"].values[0])
        return fmt_by(start - period_offset(freq), w, freq)

    data = {label(w): {sid: float((total_within(p, w, regions) > threshold).mean())
                                     for sid, p in paths_by_scenario.items()} for w in withins}
    out = pd.DataFrame(data)
    out.index.name = "scenario"
    out.attrs.update(threshold=threshold, withins=list(withins))
    return out


def scenario_paragraph(
    paths_by_scenario: Mapping[str, xr.DataArray],
    *,
    threshold: float,
    within: int,
    descriptions: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    level: float = BRIEF_LEVEL,
    unit: str = "week",
) -> str:
    """A plain-language paragraph about the forecast, every number computed from the paths.

    Parameters
    ----------
    paths_by_scenario : mapping of str to xarray.DataArray
        Scenario -> ``draw x region x horizon`` sample paths (all from one origin).
    threshold : float
        The planning threshold in people (e.g. 250,000).
    within : int
        Forecast periods added up.
    descriptions : mapping of str to str, optional
        Scenario -> description (from the scenario file).
    baseline : str
        Scenario the others are compared with.
    level : float
        Central interval level in percent.
    unit : str
        Period name (``week``).

    Returns
    -------
    str
        Markdown text.
    """
    descriptions = descriptions or {}
    first = next(iter(paths_by_scenario.values()))
    n = first.sizes["draw"]
    dates = pd.DatetimeIndex(first["target_date"].values)
    # the last day of the within-th period (data.schema.period_ends: monthly data end on 29 Feb 2020,
    # where the spacing of the first two dates minus a day gave 2 Mar)
    end = period_ends(dates[within - 1:within], first.attrs.get("freq"))[0]
    span = f"the next {within} {unit}s, {dates[0]:%d %B %Y} to {end:%d %B %Y}"
    tab = total_summary(paths_by_scenario, within, level=level)
    ex = {sid: float((total_within(p, within) > threshold).mean()) for sid, p in paths_by_scenario.items()}
    base = baseline if baseline in tab.index else tab.index[0]
    b = tab.loc[base]
    parts = [
        f"Under the **{base}** scenario ({descriptions.get(base, '').rstrip('.').lower() or 'no change'}), "
        f"we expect about **{fmt_people(b['median'])}** people to be newly displaced over {span} "
        f"({level:g}% interval: {fmt_people(b['lo'])} to {fmt_people(b['hi'])} people). "
        f"The chance that more than {threshold:,.0f} people are newly displaced in that time is "
        f"**{fmt_prob(ex[base], n)}**."
    ]
    for sid in tab.index:
        if sid == base:
            continue
        r = tab.loc[sid]
        ratio = r["median"] / b["median"] if b["median"] > 0 else np.nan
        if np.isfinite(ratio) and ratio >= 1.05:
            rel = f"about {ratio:.1f} times the {base}"
        elif np.isfinite(ratio) and ratio < 0.005:
            rel = f"almost none compared with the {base}"
        elif np.isfinite(ratio) and ratio <= 0.95:
            rel = f"{1 - ratio:.0%} fewer people than under the {base}"
        else:
            rel = f"about the same as the {base}"
        desc = descriptions.get(sid, "").rstrip(".")
        parts.append(
            f"If **{sid}** ({desc[:1].lower() + desc[1:] if desc else 'see the scenario file'}), the median is "
            f"about {fmt_people(r['median'])} ({rel}; {level:g}% interval {fmt_people(r['lo'])} to "
            f"{fmt_people(r['hi'])}) and the chance of more than {threshold:,.0f} is **{fmt_prob(ex[sid], n)}**."
        )
    parts.append(
        f"These figures come from {n:,} simulated futures per scenario; scenarios share the same random "
        f"draws, so their differences are due to the scenario, not to chance."
    )
    return " ".join(parts)


def bands_statement(sidecar: Mapping[str, Any]) -> str:
    """What the forecast bands include (from the run's sidecar) and what they leave out.

    Parameters
    ----------
    sidecar : mapping
        ``ForecastRun.sidecar``.

    Returns
    -------
    str
        Markdown with two bullet lists.
    """
    inc = "\n".join(f"- {u}" for u in sidecar.get("uncertainty_included", [])) or "- (the model reports none)"
    exc = "\n".join(f"- {u}" for u in NOT_INCLUDED)
    # scenarios that fix the drivers (a ceasefire): their bands are narrow because the conflict is the
    # same in every path, which notebook 01 never said next to "less than 1 in 1,000" (trial 19)
    fixed = [sc["id"] for sc in sidecar.get("scenarios", []) if sc.get("conflict_uncertainty")]
    if fixed:
        ids = ", ".join(f"`{i}`" for i in fixed)
        exc += (f"\n- for {ids}, which {'fixes' if len(fixed) == 1 else 'fix'} the conflict series (the same in "
                "every path): the chance that the conflict turns out otherwise, e.g. violations of a ceasefire. "
                f"{'Its' if len(fixed) == 1 else 'Their'} bands and probabilities are conditional on the scenario "
                "holding exactly, so they look more certain than any real ceasefire is")
    n = sidecar.get("forecast", {}).get("n_draws")
    model = sidecar.get("model", {}).get("name", "?")
    warn = ""
    if not sidecar.get("reliable", True):
        warn = "\n\n**Warning: the fit is flagged unreliable:** " + "; ".join(sidecar.get("warnings", []))
    bands = ", ".join(f"{lv}%" for lv in INTERVAL_LEVELS[:-1]) + f" and {INTERVAL_LEVELS[-1]}%"
    return (f"The shaded bands ({bands} central intervals, from {n:,} sample paths of model "
            f"`{model}`) **include**:\n\n{inc}\n\nThey **do not include**:\n\n{exc}{warn}")


def driver_effects(model: Any) -> pd.DataFrame | None:
    """Lag coefficients of a distributed-lag model and what doubling each driver does.

    Parameters
    ----------
    model : ForecastModel
        A fitted model. Models with a ``coefficients()`` method returning per-driver lag arrays
        (lag 0 first), such as ``nb-dl``, are described; others give ``None``.

    Returns
    -------
    pandas.DataFrame or None
        Index driver; columns ``lag 0 .. lag L-1`` (coefficients on log1p counts), ``sum``
        and ``x if doubled`` = 2 ** sum: the factor on the weekly displacement rate when the driver
        doubles in every lagged week (exact for large counts, where log1p(2x) - log1p(x) -> log 2).
    """
    coef = getattr(model, "coefficients", None)
    if coef is None:
        return None
    c = coef()
    drivers = [d for d in getattr(model, "drivers", ()) if d in c]
    if not drivers:
        return None
    rows = {}
    for d in drivers:
        b = np.asarray(c[d], dtype=float).ravel()
        rows[d] = {**{f"lag {i}": v for i, v in enumerate(b)}, "sum": b.sum(), "x if doubled": 2.0 ** b.sum()}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "driver"
    return out


def peak_lag(effects: pd.DataFrame, driver: str) -> int:
    """Lag (in periods) with the largest coefficient for ``driver`` in :func:`driver_effects` output."""
    lags = effects.loc[driver, [c for c in effects.columns if c.startswith("lag ")]]
    return int(str(lags.astype(float).idxmax()).split()[1])
