# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Idlib retrospective: what the toolkit would have said, on real data
#
# **The data in this notebook are real**, and patchy. They are monthly figures for the four
# governorates of north-west Syria (Idleb, Aleppo, Hama, Lattakia), built from published sources by
# `experiments/nw_syria_panel.py`: people recorded **arriving** in each governorate (OCHA and the
# CCCM cluster's monitoring), and lethal conflict events from UCDP, with air strikes and shelling
# picked out by keywords in news headlines. What happened after the last month of the data is held
# back on purpose.
#
# Two questions, asked as a planner would have asked them at the time:
#
# - **On the first of December, at the start of the winter offensive**: how many people might be
#   newly displaced over the next three months, if the conflict continues as it has, if the
#   offensive goes on at its current level, or if attacks intensify? How likely is it that more
#   than a quarter of a million, or half a million, people are displaced?
# - **How good was such a forecast before?** The same method, started just before the spring
#   offensive, is scored against what the data later recorded, next to two naive forecasts.
#
# Every number in the text is computed by the code of this notebook; none is typed by hand.

# %% tags=["parameters"]
import importlib.util
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from displacement_forecast.brief import compare_scores, fmt_people, fmt_prob, skill_phrase
from displacement_forecast.evaluate.scores import pit_histogram
from displacement_forecast.forecast.engine import driver_forecaster
from displacement_forecast.forecast.run import caption
from displacement_forecast.forecast.summaries import total_within
from displacement_forecast.plot.fan import (
    add_caption,
    exceedance_curve,
    fan_chart,
    observed_chart,
    scenario_fans,
    show,
)

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "nw_syria").is_dir())
N_DRAWS = 2000
SEED = 2019

spec = importlib.util.spec_from_file_location("idlib_retrospective", ROOT / "experiments" / "idlib_retrospective.py")
retro = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = retro  # its dataclasses look their module up there
spec.loader.exec_module(retro)

# %% [markdown]
# ## What the data hold

# %%
obs, regions = retro.load()


def wide(series: str) -> pd.DataFrame:
    """Observed ``month x governorate`` values of one series (gaps stay missing)."""
    w = obs[obs["series"] == series].pivot(index="date", columns="region", values="value")
    return w.reindex(columns=regions.codes)


months = pd.date_range(obs["date"].min(), obs["date"].max(), freq="MS")
displaced = wide("displaced").reindex(months)
strikes, shelling = wide("strikes").reindex(months), wide("shelling").reindex(months)
missing = displaced.isna()
gap_months = [f"{d:%B %Y}" for d in months[missing.all(axis=1)]]
fig = observed_chart(displaced, {"strikes (UCDP, headline keywords)": strikes, "shelling (UCDP, headline keywords)": shelling},
                     unit="month", n_history=len(months), title="People arriving per month, by governorate (real data)",
                     caption="Sources: OCHA IDP Task Force / ISMI arrivals by governorate; UCDP GED lethal events "
                             "(strikes, shelling = headline keyword flags). Months without a published figure are blank.")
show(fig)
display(Markdown(
    f"The panel runs from {months[0]:%B %Y} to {months[-1]:%B %Y} ({len(months)} months). "
    f"{int(missing.values.sum())} of the {missing.size} governorate-months have no published displacement figure; "
    f"no governorate has one for {', '.join(gap_months)}, which include the height of the spring-summer offensive. "
    f"The largest month recorded is {fmt_people(displaced.max().max())} arrivals in "
    f"{displaced.max().idxmax()} ({displaced.stack().idxmax()[0]:%B %Y})."
))

# %% [markdown]
# ## The data caveats, in plain words
#
# - **Arrivals, not departures.** The displacement series counts people who arrived in a governorate in
#   the month, including moves within it. Someone who fled the south of Idleb to its north counts for
#   Idleb; someone who fled Idleb to Aleppo counts for Aleppo. Summed over the four governorates it is
#   close to, but not the same as, the "people newly displaced" in agencies' statements.
# - **Gaps are gaps.** Months without a report are missing, not zero, and the models leave them out.
#   Hama and Lattakia are almost never reported after the first month of the last year.
# - **Strikes and shelling are guesses from headlines.** They are UCDP events that killed someone and
#   whose news headline mentions an air strike or shelling. There are no flight counts at all.
# - **Populations are rough**, some of them pre-war official estimates. They matter little here.
# - **The model is chosen by hand**: the negative-binomial distributed-lag model on strikes and
#   shelling, the method whose record on the spring offensive is scored below. The toolkit's default
#   model (`auto`, a mixture weighted by a short backtest, using every conflict series the panel has)
#   answers the same question with different probabilities (README, "Quick start"): read both.

# %% [markdown]
# ## As of the first of December: the winter offensive

# %%
run, table = retro.winter(N_DRAWS, SEED)
cap = caption(run.sidecar)
start = pd.Timestamp(run.paths["baseline"]["target_date"].values[0])
end = pd.Timestamp(run.paths["baseline"]["target_date"].values[-1])
t = table.set_index("scenario")
lo, hi = retro.THRESHOLDS
display(Markdown(
    f"Forecast made from the data up to {pd.Timestamp(run.sidecar['forecast']['origin_date']):%B %Y} for "
    f"{start:%B %Y} to {end:%B %Y}, with {N_DRAWS:,} sample paths per scenario (seed {SEED}). "
    f"If the conflict continues as it has (**baseline**), the model expects about **{fmt_people(t.loc['baseline', 'median'])}** "
    f"people newly displaced over the {len(run.paths['baseline']['horizon'])} months (90% interval "
    f"{fmt_people(t.loc['baseline', 'lo90'])} to {fmt_people(t.loc['baseline', 'hi90'])}). "
    f"The chance of more than {lo:,} is {fmt_prob(t.loc['baseline', f'p_gt_{lo}'], N_DRAWS)} in the baseline, "
    f"{fmt_prob(t.loc['offensive-continues', f'p_gt_{lo}'], N_DRAWS)} if the offensive goes on at its November level, and "
    f"**{fmt_prob(t.loc['intensify', f'p_gt_{lo}'], N_DRAWS)} if attacks intensify** to twice that level. "
    f"More than {hi:,}: {fmt_prob(t.loc['baseline', f'p_gt_{hi}'], N_DRAWS)}, "
    f"{fmt_prob(t.loc['offensive-continues', f'p_gt_{hi}'], N_DRAWS)} and {fmt_prob(t.loc['intensify', f'p_gt_{hi}'], N_DRAWS)}."
))
display(Markdown(table.assign(**{c: table[c].map(fmt_people) for c in ("median", "lo90", "hi90")},
                              **{f"p_gt_{x}": table[f"p_gt_{x}"].map(lambda p: fmt_prob(p, N_DRAWS)) for x in retro.THRESHOLDS})
                 .rename(columns={"lo90": "90% low", "hi90": "90% high",
                                  **{f"p_gt_{x}": f"P(> {x:,})" for x in retro.THRESHOLDS}})
                 .to_markdown(index=False)))

# %%
display(Markdown(
    f"**Not scored here.** The shipped panel ends in {months[-1]:%B %Y}: what happened from {start:%B %Y} to "
    f"{end:%B %Y} is not in these data, so this notebook cannot say where the outcome fell. To judge the forecast, "
    "set the published figures for that winter (OCHA's situation reports for north-west Syria) against the "
    "90% intervals above, and note that they count people newly displaced, not arrivals per governorate."))

# %%
# The forecast's own marks (the charts' captions carry them too): said here in words.
marks = run.sidecar["marks"]
old = {**marks.get("target_counts_stopped", {}), **marks.get("driver_counts_stopped", {})}
if old:
    display(Markdown(
        "**Marked unreliable: some counts are old.** " + "; ".join(f"{code}: {why}" for code, why in old.items())
        + ". Those governorates are forecast from their last counts as if they were current, so their share of "
        "the totals above rests on old data; the captions below say UNRELIABLE for this reason."))
elif not run.sidecar["reliable"]:
    display(Markdown("**Marked unreliable** (the captions below say so): "
                     + "; ".join(run.sidecar["warnings"]) + "."))

# %%
fig = scenario_fans(run.paths, cumulative=True, marks=retro.THRESHOLDS,
                    title="People newly displaced since the forecast start, four governorates", caption=cap)
show(fig)
fig = exceedance_curve(run.paths, marks=retro.THRESHOLDS,
                       title="Chance that more than x people are newly displaced, December to February", caption=cap)
show(fig)
hist = pd.DataFrame(run.model.panel_.series["displaced"].T, index=run.model.panel_.dates, columns=regions.codes)
fig = fan_chart(run.paths["intensify"], hist, title="Scenario 'intensify'", caption=cap, n_history=12)
show(fig)

# %% [markdown]
# In the per-month chart above, the observed line before the forecast adds up only the governorates
# that published a figure that month (open dots mark months with a governorate missing), so it is
# lower than a total of all four would be. The forecast is for all four.
#
# The exceedance curves of the baseline and of the held offensive cross. The paragraph below says
# why, from the same simulated futures.

# %%
HELD, BASE = "offensive-continues", "baseline"
n_months = run.paths[BASE].sizes["horizon"]
tb, th = total_within(run.paths[BASE], n_months), total_within(run.paths[HELD], n_months)
panel = run.model.panel_
future = driver_forecaster(run.model).sample(n_months, N_DRAWS, np.random.default_rng(SEED))  # the baseline's conflict
november = {s: panel.series[s][:, -1].sum() for s in future}
hotter = np.mean(future["strikes"].sum(axis=1).mean(axis=1) > 1.25 * november["strikes"])
lag_sums = run.sidecar["diagnostics"].get("lag_sums", {})
parts = [
    f"**Why `{HELD}` is not above the baseline everywhere.** `{HELD}` holds each governorate's strikes and shelling at "
    f"their {panel.dates[-1]:%B %Y} level ({november['strikes']:,.0f} strikes and {november['shelling']:,.0f} shelling "
    "events in the four governorates), with only month-to-month noise. The baseline forecasts them from their own "
    f"history: the median of its strike forecasts is {np.median(future['strikes'].sum(axis=1)[:, 0]):,.0f} in the first "
    f"month, below the {panel.dates[-1]:%B} level, but in {hotter:.0%} of its futures strikes average more than a quarter "
    f"above it over the {n_months} months. So `{HELD}` has the "
    + ("higher" if np.median(th) > np.median(tb) else "lower") + f" median ({fmt_people(np.median(th))} against "
    f"{fmt_people(np.median(tb))}) but the baseline the longer upper tail (99% quantile {fmt_people(np.quantile(tb, 0.99))} "
    f"against {fmt_people(np.quantile(th, 0.99))})."]
for x in retro.THRESHOLDS:
    b, h = tb > x, th > x
    if h.mean() < b.mean():
        only_b, only_h = int((b & ~h).sum()), int((h & ~b).sum())
        se = np.sqrt(only_b + only_h) / N_DRAWS  # standard error of the difference of two paired proportions
        parts.append(
            f"Above {x:,}, the baseline's escalating futures count for more: {fmt_prob(b.mean(), N_DRAWS)} against "
            f"{fmt_prob(h.mean(), N_DRAWS)}. The scenarios share their random numbers path by path; {only_b} futures exceed "
            f"{x:,} under the baseline only and {only_h} under `{HELD}` only, and the difference, "
            f"{100 * (b.mean() - h.mean()):.1f} percentage points, is "
            + (f"within about two standard errors ({100 * 2 * se:.1f} points) of chance: too few futures reach {x:,} to "
               "tell the two apart." if b.mean() - h.mean() <= 2.05 * se else
               f"more than two standard errors ({100 * 2 * se:.1f} points): a real difference in the upper tail."))
if lag_sums.get("shelling", 0) < 0:
    parts.append(f"Also, the model's fitted effect of shelling is slightly negative here (lag sum "
                 f"{lag_sums['shelling']:+.2f}): holding shelling up lowers its forecast a little.")
parts.append("This follows from how the scenario is defined (the current level held, not an escalation; `intensify` "
             "is the escalation), not from an error in building it.")
display(Markdown(" ".join(parts)))

# %%
battles = pd.read_csv(retro.DATA / "acled_battles.csv", parse_dates=["date"]).pivot(index="date", columns="region", values="value")
before = battles.loc[battles.index <= "2019-11-01"].tail(3).sum(axis=1).mean()
during = battles.loc[(battles.index >= start) & (battles.index <= end)].sum(axis=1)
display(Markdown(
    f"**What the fighting did** (ACLED battle events, the one conflict series that runs past the origin; not used by "
    f"the forecast): about {before:,.0f} battles a month in the four governorates in the three months before, then "
    + ", ".join(f"{v:,.0f} in {d:%B}" for d, v in during.items())
    + f", {during.mean() / before:.1f} times the earlier level on average. Battles are not air strikes, and the "
    "displacement that followed is not in this panel, so this is context for reading the scenarios, not a score."
))

# %% [markdown]
# ## The spring offensive: how good was the same forecast before?

# %%
res = retro.spring(N_DRAWS, SEED)
s = res.summary.set_index("forecaster")
model = "nb-dl (strikes, shelling)"
# words chosen by the measured skill, its uncertainty and the months won (paired by governorate-month): a +0%
# skill that lost most months had read "better than the last value carried forward by 0%"
crps_cells = res.cells.pivot_table(index=["region", "month"], columns="forecaster", values="crps")
vs = {ref: compare_scores(crps_cells[model], crps_cells[ref]) for ref in ("last-value", "climatology")}
words = {ref: skill_phrase(c, "the last value carried forward" if ref == "last-value" else ref,
                           "scored governorate-months") for ref, c in vs.items()}
display(Markdown(
    f"Forecasts made from the data up to {res.origin:%B %Y}, the month before the spring offensive, for the next "
    f"{retro.SPRING_HORIZON} months, scored on the {int(s.loc[model, 'n'])} governorate-months that have a published figure. "
    f"The driver model's mean CRPS is {s.loc[model, 'crps']:,.0f} people per governorate and month: "
    f"{words['last-value']}, and {words['climatology']} (±: two standard errors of the skill, from the paired "
    f"months). Its 80% intervals held {s.loc[model, 'cover_80']:.0%} of outcomes "
    f"and its median was below the outcome in {s.loc[model, 'median_below_observed']:.0%} of them: it under-forecast the "
    f"offensive. Given the strikes and shelling that really happened, its CRPS was {s.loc['nb-dl + observed conflict (oracle)', 'crps']:,.0f}."
))
display(Markdown(retro.spring_markdown(res)))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
names = list(s.index)
# one style per forecaster, drawn widest first, so a line that lies on another still shows
styles = [dict(color="#1b6ca8", ls="-", lw=4.0, alpha=0.55), dict(color="#d35400", ls="--", lw=2.0),
          dict(color="#27ae60", ls=":", lw=2.2), dict(color="#8e44ad", ls="-.", lw=1.6)]
markers = [("o", 10), ("s", 6), ("^", 6), ("D", 5)]
for name, st in zip(names, styles, strict=False):
    freq, edges = pit_histogram(res.cells.loc[res.cells["forecaster"] == name, "pit"].to_numpy(), n_bins=5)
    axes[0].stairs(freq, edges, label=name, **st)  # every bin, 0.8-1.0 (outcomes above most of the forecast) too
axes[0].axhline(1, color="#555", ls="--", lw=0.9)
axes[0].set_xlim(0, 1)
axes[0].set_title("PIT histogram (flat at 1 = calibrated)", loc="left", fontsize=10)
axes[0].set_xlabel("PIT of the outcome: share of the forecast's paths below it (0-1)")
axes[0].set_ylabel("share of outcomes in the bin,\nrelative to a calibrated forecast")
axes[0].legend(fontsize=7, frameon=False, loc="upper left")
levels = np.array(retro.LEVELS)
for name, st, (mk, ms) in zip(names, styles, markers, strict=False):
    axes[1].plot(levels, [s.loc[name, f"cover_{lv}"] * 100 for lv in retro.LEVELS], marker=mk, ms=ms, **st, label=name)
axes[1].plot(levels, levels, color="#555", ls="--", lw=0.9, label="calibrated")
axes[1].set_title("Share of outcomes inside the central interval", loc="left", fontsize=10)
axes[1].set_xticks(levels)
axes[1].set_xlabel("central interval (%)")
axes[1].set_ylabel("outcomes inside it (%)")
axes[1].legend(fontsize=7, frameon=False, loc="upper left")
add_caption(fig, f"Spring 2019 retrospective, origin {res.origin:%B %Y}: {int(s.loc[model, 'n'])} governorate-months per "
                 "forecaster, so every bar and point rests on a few outcomes. Sources as above.")
show(fig)

# %% [markdown]
# ## What to take from this

# %%
p_lo = {k: t.loc[k, f"p_gt_{lo}"] for k in ("baseline", "offensive-continues", "intensify")}
p_hi = {k: t.loc[k, f"p_gt_{hi}"] for k in p_lo}
ordered = p_lo["baseline"] <= p_lo["offensive-continues"] <= p_lo["intensify"]
verdicts = {ref: c["verdict"] for ref, c in vs.items()}
under = s.loc[model, "median_below_observed"] > 0.5
display(Markdown("\n".join([
    "- The forecast answers the planners' question with probabilities. "
    + ("The scenarios are ordered as a planner would expect: holding the offensive at its current level, and "
       "intensifying beyond it, raise the chance of more than " f"{lo:,} above the baseline "
       f"({fmt_prob(p_lo['baseline'], N_DRAWS)}, {fmt_prob(p_lo['offensive-continues'], N_DRAWS)}, "
       f"{fmt_prob(p_lo['intensify'], N_DRAWS)})"
       + (f"; above {hi:,} the baseline's chance is above the held offensive's ({fmt_prob(p_hi['baseline'], N_DRAWS)} "
          f"against {fmt_prob(p_hi['offensive-continues'], N_DRAWS)}), for the reason given above."
          if p_hi["offensive-continues"] < p_hi["baseline"] else ".")
       if ordered else "The scenarios are **not** ordered as a planner would expect here "
       f"({', '.join(f'{k} {fmt_prob(v, N_DRAWS)}' for k, v in p_lo.items())}): read them with care."),
    "- On the spring offensive the method did "
    + ("no better than either naive forecast" if set(verdicts.values()) == {"no better"} else
       " and ".join(f"{v} than {r}" for r, v in verdicts.items()))
    + f" (against last-value: better in {vs['last-value']['wins']} of {vs['last-value']['n']} scored governorate-months)"
    + (", but it still **under-forecast** the escalation (its median was below the outcome in "
       f"{s.loc[model, 'median_below_observed']:.0%} of the scored months)" if under else "")
    + f". With {int(s.loc[model, 'n'])} scored governorate-months, these scores are fragile; read the bands as a lower "
      "bound on the real uncertainty.",
    f"- The winter forecast is not scored: the shipped data end in {months[-1]:%B %Y}, before the months it forecasts.",
    "- The data are the weak point: arrivals instead of departures, missing months at the worst times, and conflict "
    "counts guessed from headlines. Better data would do more for this forecast than a better model.",
])))
