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
import pandas as pd
from IPython.display import Markdown, display

from displacement_forecast.brief import (
    bands_statement,
    driver_effects,
    exceedance_table,
    fmt_people,
    fmt_prob,
    peak_lag,
    scenario_paragraph,
    total_summary,
)
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.forecast.run import caption, run_forecast
from displacement_forecast.plot.fan import (
    exceedance_curve,
    fan_chart,
    observed_chart,
    scenario_fans,
    show,
)
from displacement_forecast.scenarios import load_scenarios

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "synthetic_nw_syria").is_dir())
DATA = ROOT / "data" / "synthetic_nw_syria"
PUBLISHED = ROOT / "data" / "idlib_2019_2020" / "published_figures.csv"
SCENARIOS = ROOT / "experiments" / "scenarios" / "idlib.toml"

MODEL = "nb-dl"          # the default model, chosen by backtests (see notebook 02)
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
# ## The answer in one paragraph

# %%
display(Markdown(scenario_paragraph(run.paths, threshold=THRESHOLD, within=HORIZON, descriptions=descriptions,
                                    level=LEVEL)))

# %% [markdown]
# ## Probability of exceeding the threshold
#
# Share of simulated futures in which the number of people newly displaced, added up over all
# regions from the first forecast week, exceeds the threshold.

# %%
probs = exceedance_table(run.paths, THRESHOLD, WINDOWS)
display(Markdown(f"**P(more than {THRESHOLD:,.0f} people newly displaced)**, forecast from the week of "
                 f"{run.sidecar['forecast']['origin_date']}, {N_DRAWS:,} paths per scenario:"))
probs.style.format(lambda p: fmt_prob(p, N_DRAWS))

# %%
totals = total_summary(run.paths, HORIZON, level=LEVEL)
display(Markdown(f"People newly displaced over the {HORIZON} forecast weeks, all regions (median and {LEVEL}% interval):"))
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
zone_tab.style.format(fmt_people)

# %% [markdown]
# ## What drives the numbers

# %%
eff = driver_effects(run.model)
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
    ax.set_title("How strongly strikes and flights in past weeks move this week's displacement", loc="left", fontsize=10)
    fig.get_layout_engine().set(rect=(0, 0.1, 1, 0.9))
    fig.text(0.01, 0.005, cap, fontsize=7, color="#444", wrap=True)
    show(fig)
    top = eff["x if doubled"].idxmax()
    display(Markdown(
        f"The `{MODEL}` model links each week's displacement to the strikes and flights of the same week and the "
        f"{len(lags) - 1} weeks before, in proportion to the people not yet displaced. **{top.capitalize()}** drive "
        f"it most: if {top} doubled in every recent week, weekly displacement would rise about "
        f"**{eff.loc[top, 'x if doubled']:.1f}-fold** (flights alone: {eff.loc[[d for d in eff.index if d != top][0], 'x if doubled']:.1f}-fold "
        f"on top of that). The effect of {top} is strongest {when(peak_lag(eff, top))} and fades over "
        f"the following weeks. People who have fled are no longer at risk, so a region that has emptied "
        f"cannot produce the same displacement again: this is one reason the forecast falls even in the baseline; "
        f"the other is that strikes are forecast to fall back from their peak unless a scenario says otherwise."
        if len(eff) > 1 else
        f"The `{MODEL}` model links each week's displacement to {top} in that week and the weeks before; doubling "
        f"{top} raises weekly displacement about {eff.loc[top, 'x if doubled']:.1f}-fold."
    ))
    display(eff.style.format("{:.2f}"))

# %% [markdown]
# ## What the bands include

# %%
display(Markdown(bands_statement(run.sidecar)))

# %% [markdown]
# How often the bands have held the truth in the past is measured in the companion notebook
# *How far to trust this* (`02_how_far_to_trust.py`).

# %%
display(Markdown(f"*{cap}*"))
