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
# # Scenario brief: how many more people could be displaced in north-west Syria?
#
# **The data in this brief are synthetic.** They were made by the toolkit's seeded simulator to look
# like north-west Syria in the winter of the Idlib offensive (sub-district names are real; the
# populations, strikes, flights and displacement are made up, scaled to the published figures).
# Use this brief to learn how to read a forecast, not as a statement about Syria.
#
# **The question.** When the offensive was at its height, aid agencies feared that many more people
# would be displaced if attacks intensified. How likely is that, and how does it change if
# attacks intensify in the south, de-escalate, or stop?
#
# Every number in the text below is computed by the code of this notebook from the forecast it
# describes; none is typed by hand.

# %% tags=["parameters"]
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from displacement_forecast.brief import (
    bands_statement,
    driver_effects,
    exceedance_table,
    fmt_by,
    fmt_date,
    fmt_people,
    fmt_prob,
    peak_lag,
    scenario_paragraph,
    total_summary,
)
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.evaluate.backtest import backtest_record
from displacement_forecast.forecast.engine import driver_forecaster
from displacement_forecast.forecast.run import caption, run_forecast
from displacement_forecast.forecast.summaries import total_within
from displacement_forecast.plot.fan import (
    add_caption,
    exceedance_curve,
    fan_chart,
    marked_title,
    observed_chart,
    scenario_fans,
    show,
)
from displacement_forecast.scenarios import load_scenarios

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "synthetic_nw_syria").is_dir())
DATA = ROOT / "data" / "synthetic_nw_syria"
PUBLISHED = ROOT / "data" / "idlib_2019_2020" / "published_figures.csv"
SCENARIOS = ROOT / "experiments" / "scenarios" / "idlib.toml"
BACKTEST = ROOT / "experiments" / "results" / "backtest_synthetic"  # the toolkit's full backtest of these data

MODEL = "auto"           # the command line's default: weighs its candidate models by a short backtest on these data
HORIZON = 12             # weeks forecast
WINDOWS = (4, 8, 12)     # weeks over which new displacement is added up
N_DRAWS = 1000           # simulated futures per scenario
SEED = 2020              # same seed -> same numbers
LEVEL = 90               # central interval quoted in the text (percent)

pd.options.display.float_format = "{:,.0f}".format

# %% [markdown]
# ## The planning threshold
#
# The threshold is the number agencies feared, read from the published figures shipped with the
# toolkit (`data/idlib_2019_2020/published_figures.csv`).

# %%
published = pd.read_csv(PUBLISHED)
feared = published.query("kind == 'scenario'").iloc[0]
observed_pub = published.query("measure == 'newly_displaced_people'").iloc[0]
THRESHOLD = float(feared["value"])
display(Markdown(
    f"Published: **{observed_pub['value']:,.0f}** people newly displaced in Idlib between "
    f"{pd.Timestamp(observed_pub['window_start']):%d %B %Y} and {pd.Timestamp(observed_pub['window_end']):%d %B %Y}; "
    f"agencies feared another **{THRESHOLD:,.0f}** if attacks intensified ({feared['citation']}). "
    f"The question below is therefore: *what is the chance that more than {THRESHOLD:,.0f} people are "
    f"newly displaced within {', '.join(str(w) for w in WINDOWS[:-1])} and {WINDOWS[-1]} weeks?*"
))

# %% [markdown]
# ## What happened in the last months

# %%
regions = load_regions(DATA / "regions.csv")
obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
zones = dict(zip(regions.codes, regions.frame["parent"], strict=True))
names = dict(zip(regions.codes, regions.frame["name"], strict=True))


def wide(series: str) -> pd.DataFrame:
    """Observed ``date x region`` counts of one series."""
    return obs[obs["series"] == series].pivot(index="date", columns="region", values="value")[regions.codes]


displaced, strikes, flights = wide("displaced"), wide("strikes"), wide("flights")
last = displaced.index[-1]
vintage = f"Source: synthetic NW-Syria data ({DATA.name}/observations.csv), data to week of {last:%d %b %Y}."
fig = observed_chart(displaced, {"strikes": strikes, "flights": flights}, groups=zones, n_history=30,
                     title="Observed new displacement per week, by zone (synthetic data)", caption=vintage)
show(fig)

# %%
published_start = pd.Timestamp(observed_pub["window_start"])
recent = displaced.index >= published_start
recent_total = displaced[recent].sum().sum()
by_zone = displaced[recent].sum().groupby(pd.Series(zones)).sum().sort_values(ascending=False)
before = strikes[(strikes.index < published_start) & (strikes.index >= published_start - pd.Timedelta(weeks=13))]
after = strikes[recent]
display(Markdown(
    f"Since {published_start:%d %B %Y}, the synthetic data record **{fmt_people(recent_total)}** people newly displaced "
    f"(published figure for the real offensive: {fmt_people(observed_pub['value'])}), "
    f"{by_zone.iloc[0] / recent_total:.0%} of them from {by_zone.index[0]}. "
    f"Air strikes rose from about {before.sum(axis=1).mean():,.0f} a week in the three months before to "
    f"about {after.sum(axis=1).mean():,.0f} a week since, and {fmt_people(regions.population.sum() - displaced.sum().sum())} "
    f"people remain in the area who have not been displaced in the data."
))

# %% [markdown]
# ## The scenarios
#
# Scenarios change the *strikes and flights* the model expects; the model turns those into
# displacement. They are defined in a plain text file (`experiments/scenarios/idlib.toml`) that
# an analyst can edit.

# %%
scenarios = load_scenarios(SCENARIOS, regions)
descriptions = {s.id: s.description for s in scenarios}
pd.DataFrame({"scenario": [s.id for s in scenarios], "what changes": [s.description for s in scenarios]}).style.hide(axis="index")

# %%
run = run_forecast(obs, regions, model=MODEL, scenarios=scenarios, horizon=HORIZON, n_draws=N_DRAWS, seed=SEED,
                   data_files=[str(DATA / "observations.csv")])
cap = caption(run.sidecar)
hist = run.history()
if not run.sidecar["reliable"]:
    display(Markdown("**Warning: the model fit is flagged unreliable:** " + "; ".join(run.sidecar["warnings"])))

# %% [markdown]
# ## Which model
#
# The brief uses the toolkit's default model, the one the command line uses when no model is
# named. It tries several forecasting models on the past weeks of these data, weighs them by how
# well they did, and widens the bands where that short test found them too narrow.

# %%
auto = run.sidecar["diagnostics"].get("auto", {})
weights = auto.get("weights", {MODEL: 1.0})
members = getattr(run.model, "members_", {MODEL: run.model})
DL = next((m for m in members if m.startswith("nb-dl")), None)  # the driver model, described below
if auto:
    bt_origins = auto.get("backtest_origins", [])
    upper = np.atleast_1d(auto.get("upper_tail_factor", 1.0)).astype(float)
    cov = auto.get("backtest_coverage", {})
    widened = [f"the upper part of each week's band stretched by factors from {upper.min():.1f} to {upper.max():.1f}, "
               f"growing with the weeks ahead" if upper.max() > 1 else "",
               f"the far upper tail raised (each week's 97.5% quantile times {np.exp(auto['far_tail_lift']):.1f})"
               if auto.get("far_tail_lift", 0) > 0 else "",
               f"a shock shared by all regions (standard deviation {auto['total_shock_sd']:.2f} a week on the log scale), "
               f"because the total of all regions had fallen inside its 80% band {cov.get('total_cov80_before', float('nan')):.0%} "
               f"of the time ({cov.get('total_cov80_after', float('nan')):.0%} with the shock)"
               if auto.get("total_shock_sd", 0) > 0 else ""]
    widened = [w for w in widened if w]
    display(Markdown(
        f"`{MODEL}` tested its candidates from {len(bt_origins)} past weeks ({bt_origins[0]} to {bt_origins[-1]}), "
        f"{auto.get('backtest_horizon')} weeks ahead, and weighs them "
        + ", ".join(f"`{m}` {w:.1f}" for m, w in weights.items()) + ". "
        + (f"So the forecast below is `{DL}`, the model that links displacement to strikes and flights, alone. "
           if list(weights) == [DL] else "")
        + ("From the same test it widened the bands: " + "; ".join(widened) + ". " if widened else "")
        + (f"The bands below are therefore wider than those of `{DL}` on its own" if widened else
           f"The bands below differ from those of `{DL}` on its own")
        + f" (`--model {DL}` on the command line, and the analyst script `experiments/idlib_question.py`), and so do the "
          f"probabilities. The test started from only {len(bt_origins)} past weeks and looked "
          f"{auto.get('backtest_horizon')} weeks ahead; the brief looks {HORIZON} weeks ahead."
        if DL else ""))
else:
    display(Markdown(f"The brief uses model `{MODEL}` as named above."))

# %% [markdown]
# ## The answer in one paragraph

# %%
# how far the total's bands held in the full backtest (details under "How far the bands have held", at the end):
# said here, next to the headline probability, not only at the end
record = backtest_record(BACKTEST, DL) if DL and (BACKTEST / "summary.csv").exists() else None
if record is None:
    calibration_note = "*How often bands like these held is not known: no backtest of this model is shipped.*"
elif record["intervals_ok"] and MODEL == DL:
    calibration_note = ("*In the full backtest the total's bands held about as often as stated (see *How far the bands "
                        "have held*).*")
else:
    calibration_note = (
        f"**Caution: these probabilities are not calibrated for the total of all regions.** In the full backtest of "
        f"`{DL}` the total's 80% band held {record['nominal_vs_observed'].get('80%', float('nan')):.0%} of the time"
        + (f", and the brief's `{MODEL}` bands are widened from it on a shorter test" if MODEL != DL else "")
        + ": read them as a guide to the order of magnitude (see *How far the bands have held*).")
display(Markdown(scenario_paragraph(run.paths, threshold=THRESHOLD, within=HORIZON, descriptions=descriptions,
                                    level=LEVEL) + "\n\n" + calibration_note))

# %% [markdown]
# ## Probability of exceeding the threshold
#
# Share of simulated futures in which the number of people newly displaced, added up over all
# regions from the first forecast week, exceeds the threshold.

# %%
probs = exceedance_table(run.paths, THRESHOLD, WINDOWS, dated=True)  # "by 22 Mar 2020 (8 weeks)": read off, not counted
first_week = pd.Timestamp(run.paths["baseline"]["target_date"].values[0])
display(Markdown(f"**P(more than {THRESHOLD:,.0f} people newly displaced)** from the start of the first forecast week, "
                 f"{fmt_date(first_week)}, to the end of the day named in each column, {N_DRAWS:,} paths per scenario"
                 + (" (not calibrated for the total: see the caution above):" if "Caution" in calibration_note else ":")))
display(probs.style.format(lambda p: fmt_prob(p, N_DRAWS)))

# %% [markdown]
# A planner expects "the offensive goes on" to be worse than the baseline. Where it is not, the
# paragraph below says why, from the same simulated futures.

# %%
HELD, BASE = "offensive-continues", "baseline"
if HELD in run.paths:
    def window_totals(sid: str, w: int) -> np.ndarray:
        return total_within(run.paths[sid], w)

    def p_over(sid: str, w: int) -> float:
        return float((window_totals(sid, w) > THRESHOLD).mean())

    lower_at = [w for w in WINDOWS if p_over(HELD, w) < p_over(BASE, w)]
    held = strikes.iloc[-4:].mean().sum()  # the level the scenario holds: each region's mean of its last 4 weeks
    # the baseline's own forecast of strikes (the driver model's paths, before any scenario), all regions
    future = driver_forecaster(members[DL]).sample(HORIZON, N_DRAWS, np.random.default_rng(SEED))["strikes"].sum(axis=1)
    first4 = future[:, :4].mean(axis=1)
    b12, h12 = window_totals(BASE, HORIZON), window_totals(HELD, HORIZON)
    mb, mh, qb, qh = np.median(b12), np.median(h12), np.quantile(b12, 0.95), np.quantile(h12, 0.95)
    grid = np.linspace(0, max(b12.max(), h12.max()), 2001)
    above = grid[((b12[:, None] > grid).mean(0) > (h12[:, None] > grid).mean(0)) & (grid > mh)]
    parts = [f"**Why `{HELD}` is not always above the baseline.** `{HELD}` holds strikes and flights at each region's "
             f"average of the last four weeks (about {held:,.0f} strikes a week in all regions together), with only "
             "week-to-week noise in the counts. The baseline forecasts them from their own history instead: the median of "
             f"its strike forecasts goes from {np.median(future[:, 0]):,.0f} strikes in the first week to "
             f"{np.median(future[:, -1]):,.0f} in week {HORIZON}, but in {np.mean(first4 > 1.25 * held):.0%} of its simulated "
             f"futures the first four weeks average more than a quarter above the held level. "
             + ("So " + (f"`{HELD}` has the higher median but" if mh > 1.02 * mb else
                         f"the two have about the same median, but `{HELD}` has" if mh >= 0.98 * mb else
                         f"`{HELD}` even has the lower median, and")
                + (" the narrower upper tail" if qh < qb else " not the narrower upper tail")
                + f": over {HORIZON} weeks its median is {fmt_people(mh)} against {fmt_people(mb)}, "
                f"its 95% quantile {fmt_people(qh)} against {fmt_people(qb)}.")]
    if len(above):
        parts.append(f"The curves in the chart below cross: above about {fmt_people(above.min())} people in {HORIZON} weeks "
                     "the baseline's escalating futures make it the likelier of the two.")
    for w in lower_at:
        b, h = window_totals(BASE, w) > THRESHOLD, window_totals(HELD, w) > THRESHOLD
        only_b, only_h = int((b & ~h).sum()), int((h & ~b).sum())
        se = np.sqrt(only_b + only_h) / N_DRAWS  # standard error of the difference of two paired proportions
        diff = b.mean() - h.mean()
        parts.append(
            f"Within {w} weeks the two effects nearly cancel at the threshold: "
            f"P(more than {THRESHOLD:,.0f}) is {fmt_prob(h.mean(), N_DRAWS)} under `{HELD}` and {fmt_prob(b.mean(), N_DRAWS)} "
            f"under the baseline. Both scenarios use the same random numbers, path by path: {only_b} paths exceed the "
            f"threshold under the baseline only and {only_h} under `{HELD}` only, so the difference, "
            f"{100 * diff:.1f} percentage points, is "
            + (f"less than two standard errors ({100 * 2 * se:.1f} points) of chance: read the two as equal."
               if diff < 2 * se else f"more than two standard errors ({100 * 2 * se:.1f} points) of chance: it is real.")
        )
    if not lower_at and not len(above):
        parts.append(f"Here `{HELD}` is above the baseline at every window and threshold.")
    parts.append("This follows from how the scenario is defined (the current level held, not an escalation; "
                 "`intensify-south` is the escalation), not from an error in building it.")
    display(Markdown(" ".join(parts)))

# %%
totals = total_summary(run.paths, HORIZON, level=LEVEL)
fixed = [sc["id"] for sc in run.sidecar["scenarios"] if sc.get("conflict_uncertainty")]
display(Markdown(f"People newly displaced from {fmt_date(first_week)} {fmt_by(last, HORIZON, 'W').replace('by ', 'to ', 1)}, all regions "
                 f"(median and {LEVEL}% interval)"
                 + (f". {', '.join(f'`{i}`' for i in fixed)} {'fixes' if len(fixed) == 1 else 'fix'} strikes and flights: "
                    "the same in every path, so the interval leaves out the chance that the conflict turns out otherwise "
                    "(violations of a ceasefire); it is conditional on the scenario holding exactly:" if fixed else ":")))
totals[["median", "lo", "hi"]].rename(columns={"lo": f"{LEVEL}% low", "hi": f"{LEVEL}% high"}).style.format(fmt_people)

# %%
fig = exceedance_curve(run.paths, within=HORIZON, marks=(THRESHOLD,),
                       title=f"Chance that more than x people are newly displaced within {HORIZON} weeks", caption=cap)
show(fig)

# %% [markdown]
# **How to read this chart.** Pick a number of people on the horizontal axis; the height of each
# curve is the chance that more people than that are newly displaced under that scenario. The
# dashed line marks the planning threshold.

# %% [markdown]
# ## Fan charts: all regions together

# %%
fig = scenario_fans(run.paths, cumulative=True, marks=(THRESHOLD,),
                    title="People newly displaced since the forecast start, all regions", caption=cap)
show(fig)

# %%
fig = scenario_fans(run.paths, hist, title="People newly displaced per week, all regions", caption=cap)
show(fig)

# %% [markdown]
# The dark band holds the middle half of the simulated futures, the lighter bands the middle
# eighty and ninety-five percent; the line is the median; black dots are the observed weeks.

# %% [markdown]
# ## Fan charts per region

# %%
for sid in ("baseline", "intensify-south"):
    if sid in run.paths:
        fig = fan_chart(run.paths[sid], hist, region_names=names, title=f"Scenario '{sid}'", caption=cap)
        show(fig)

# %%
zone_tab = pd.DataFrame({
    z: total_summary(run.paths, HORIZON, regions=[c for c in regions.codes if zones[c] == z])["median"]
    for z in dict.fromkeys(zones.values())
}).T
zone_tab.index.name = "zone"
display(Markdown(f"Median people newly displaced over {HORIZON} weeks, by zone and scenario:"))
display(zone_tab.style.format(fmt_people))
base_sum, base_total = zone_tab[BASE].sum(), totals.loc[BASE, "median"]
display(Markdown(
    f"The zone medians do not add up to the median of all regions: under `{BASE}` they sum to {fmt_people(base_sum)} "
    f"against {fmt_people(base_total)}. Medians are not additive: each zone's median comes from a different set of "
    "paths, and a zone's bad paths are not always another's. What adds up is each simulated future: its zone totals "
    "sum to its all-region total, and the all-region median is the median of those sums."))

# %% [markdown]
# ## What drives the numbers

# %%
eff = driver_effects(members[DL]) if DL else None
if eff is None:
    display(Markdown(f"Model `{MODEL}` does not report driver coefficients, so this section is left out."))
else:
    lags = [c for c in eff.columns if c.startswith("lag ")]

    def when(lag: int) -> str:
        return "in the same week" if lag == 0 else f"{lag} week{'s' if lag > 1 else ''} later"

    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    for i, d in enumerate(eff.index):
        ax.bar([j + 0.4 * i for j in range(len(lags))], eff.loc[d, lags].astype(float), width=0.4, label=d)
    ax.set_xticks([j + 0.2 for j in range(len(lags))], [c.split()[1] for c in lags])
    ax.set_xlabel("weeks since the strikes/flights (lag)")
    ax.set_ylabel("coefficient on log(1 + count)")
    ax.axhline(0, color="#555", lw=0.8)
    ax.legend(frameon=False)
    ax.set_title(marked_title("How strongly strikes and flights in past weeks move this week's displacement", cap),
                 loc="left", fontsize=10)
    add_caption(fig, caption(run.sidecar, bands=False).split(" The paths' spread")[0]
                + f" Bars: the fitted lag coefficients of {DL} (their uncertainty is not drawn).")
    show(fig)
    top = eff["x if doubled"].idxmax()
    display(Markdown(
        (f"`{DL}` carries weight {weights.get(DL, 1.0):.1f} in the forecast. " if weights.get(DL, 1.0) < 1 else "")
        + f"The `{DL}` model links each week's displacement to the strikes and flights of the same week and the "
        f"{len(lags) - 1} weeks before, in proportion to the people not yet displaced. **{top.capitalize()}** drive "
        f"it most: if {top} doubled in every recent week, weekly displacement would rise about "
        f"**{eff.loc[top, 'x if doubled']:.1f}-fold** (flights alone: {eff.loc[[d for d in eff.index if d != top][0], 'x if doubled']:.1f}-fold "
        f"on top of that). The effect of {top} is strongest {when(peak_lag(eff, top))} and fades over "
        f"the following weeks. People who have fled are no longer at risk, so a region that has emptied "
        f"cannot produce the same displacement again: this is one reason the forecast falls even in the baseline; "
        f"the other is that strikes are forecast to fall back from their peak unless a scenario says otherwise."
        if len(eff) > 1 else
        f"The `{DL}` model links each week's displacement to {top} in that week and the weeks before; doubling "
        f"{top} raises weekly displacement about {eff.loc[top, 'x if doubled']:.1f}-fold."
    ))
    display(eff.style.format("{:.2f}"))

# %% [markdown]
# ## What the bands include

# %%
display(Markdown(bands_statement(run.sidecar)))

# %% [markdown]
# ## How far the bands have held
#
# The threshold question is about the total of all regions, and a band can be honest region by
# region and still too narrow for the total (regions escalate together). The toolkit's full
# backtest of the driver model on these data measured both; the companion notebook *How far to
# trust this* (`02_how_far_to_trust.py`) shows how, and where the misses fall.

# %%
if record is None:  # the record read next to the headline paragraph
    display(Markdown("No backtest of this model is shipped: how often its bands held is not known."))
else:
    nominal = record["nominal_vs_observed"]
    display(Markdown(
        f"In the full backtest of `{DL}` on its own ({record['origins']['n']} origins, {record['origins']['first']} to "
        f"{record['origins']['last']}, up to {max(record['horizons'])} weeks ahead), the bands for the **total of all "
        "regions** held the outcome " + ", ".join(f"{v:.0%} of the time for the {k} band" for k, v in nominal.items()) + ". "
        + ("They held about as often as stated. " if record["intervals_ok"] else
           "**They held less often than stated: the real uncertainty of the total was larger than its bands.** ")
        + (f"The brief's bands are `{MODEL}`'s, widened from `{DL}`'s as described under *Which model*; that widening was "
           f"sized on a shorter test, so do not read the brief's {HORIZON}-week probabilities as calibrated for the total. "
           if MODEL != DL else "")
        + "Read the probabilities as conditional on the scenario, and the baseline's as a central guess with wide error."))

# %%
display(Markdown(f"*{cap}*"))
