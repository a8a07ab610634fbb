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
# # How far to trust this: how past forecasts would have fared
#
# A forecast is only useful if its bands mean what they say: a band drawn to hold the outcome
# eight times in ten should hold it about eight times in ten. We check that by a **backtest**:
# go back to an earlier week, pretend it is the latest data, forecast the following weeks, and
# compare with what actually happened. Repeat from many starting weeks ("origins").
#
# We look at three things:
#
# - **coverage**: how often the bands held the observed number, by how far ahead;
# - **skill**: how much better the model is than simple rules that ignore the conflict
#   (repeat the recent average; repeat the last week);
# - **where it fails**: which forecasts missed, and why.
#
# The data are the **synthetic** north-west Syria data shipped with the toolkit. The backtest here
# is deliberately small, so the notebook runs in about a minute; run the full one with the
# `displacement-forecast backtest` command.

# %%
import importlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from displacement_forecast.brief import fmt_people
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.models import get_model
from displacement_forecast.plot.fan import people, show
from displacement_forecast.scenarios import Change, Scenario

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "synthetic_nw_syria").is_dir())
DATA = ROOT / "data" / "synthetic_nw_syria"

MODELS = ("nb-dl", "climatology", "last-value")  # the model and two simple rules to beat
REFERENCE = "climatology"                          # skill is measured against this rule
HORIZON = 8                                        # weeks ahead
ORIGIN_EVERY = 8                                   # weeks between origins
FIRST_ORIGIN = 60                                  # weeks of data before the first origin
LEVELS = (50, 80, 95)                              # central intervals checked
N_DRAWS = 500
SEED = 11

regions = load_regions(DATA / "regions.csv")
obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
dates = pd.DatetimeIndex(sorted(obs["date"].unique()))
origins = dates[FIRST_ORIGIN - 1 : len(dates) - HORIZON : ORIGIN_EVERY]
source = f"Source: synthetic NW-Syria data ({DATA.name}/observations.csv), data to {dates[-1]:%d %b %Y}."

# %% [markdown]
# ## Running the backtest
#
# From each origin, every model is fitted to the data up to that week only (nothing later is
# seen) and draws simulated futures for the next weeks. Driver models forecast the strikes and
# flights too, exactly as in a real forecast. To separate *not knowing the future conflict* from
# *not knowing how people respond to it*, the model is also run once more from each origin
# with the strikes and flights that actually happened ("observed conflict"), the way a scenario
# would supply them.
#
# When the toolkit's evaluation module provides a backtest, its results are used instead of
# the small loop below; the notebook says which was used.

# %%
def crps_samples(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample CRPS, E|X - y| - E|X - X'|/2, over axis 0 (draws); lower is better."""
    xs = np.sort(x, axis=0)
    n = xs.shape[0]
    w = (2 * np.arange(1, n + 1) - n - 1).reshape((n,) + (1,) * (x.ndim - 1))
    return np.abs(x - y[None]).mean(axis=0) - (w * xs).sum(axis=0) / n**2


def observed_conflict(origin: pd.Timestamp, drivers: tuple[str, ...]) -> Scenario:
    """A scenario that replaces forecast strikes/flights by what was actually observed."""
    fut = obs[(obs["date"] > origin) & (obs["series"].isin(drivers))]
    changes = []
    for (code, series), g in fut.groupby(["region", "series"]):
        vals = tuple(g.sort_values("date")["value"].iloc[:HORIZON].astype(float))
        changes.append(Change((code,), (series,), 1, len(vals), None, vals))
    return Scenario("observed-conflict", "strikes and flights as observed", tuple(changes))


def local_backtest() -> pd.DataFrame:
    """Rolling-origin backtest: one row per model, origin, region and week ahead."""
    truth = obs[obs["series"] == "displaced"].pivot(index="date", columns="region", values="value")[regions.codes]
    rows = []
    for origin in origins:
        past = obs[obs["date"] <= origin]
        y = truth.loc[truth.index > origin].iloc[:HORIZON].to_numpy().T  # region x horizon
        for name in MODELS:
            m = get_model(name).fit(past, regions)
            runs = [Scenario.baseline()]
            if m.uses_drivers:
                runs.append(observed_conflict(origin, m.drivers))
            paths = m.sample_scenarios(HORIZON, runs, n_draws=N_DRAWS, seed=SEED)
            for sid, p in paths.items():
                label = name if sid == "baseline" else f"{name} (observed conflict)"
                x = p.values  # draw x region x horizon
                crps = crps_samples(x, y)
                tot_x, tot_y = x.sum(axis=(1, 2)), y.sum()
                for r, code in enumerate(regions.codes):
                    for h in range(HORIZON):
                        row = {"model": label, "origin": origin, "region": code, "horizon": h + 1,
                               "observed": y[r, h], "median": np.median(x[:, r, h]), "crps": crps[r, h],
                               "total_observed": tot_y, "total_median": np.median(tot_x)}
                        for lv in LEVELS:
                            lo, hi = np.quantile(x[:, r, h], [(1 - lv / 100) / 2, 1 - (1 - lv / 100) / 2])
                            row[f"in {lv}%"] = lo <= y[r, h] <= hi
                        for lv in LEVELS:
                            lo, hi = np.quantile(tot_x, [(1 - lv / 100) / 2, 1 - (1 - lv / 100) / 2])
                            row[f"total lo {lv}%"], row[f"total hi {lv}%"] = lo, hi
                        rows.append(row)
    return pd.DataFrame(rows)


NEEDED = {"model", "origin", "region", "horizon", "crps", "total_observed", "total_median",
          *(f"in {lv}%" for lv in LEVELS), *(f"total {e} {lv}%" for e in ("lo", "hi") for lv in LEVELS)}
evaluate = importlib.import_module("displacement_forecast.evaluate")
bt = None
if hasattr(evaluate, "backtest"):
    try:
        bt = evaluate.backtest(obs, regions, models=list(MODELS), origins=list(origins), horizon=HORIZON,
                               n_draws=N_DRAWS, seed=SEED)
        missing = NEEDED - set(getattr(bt, "columns", []))
        if missing:
            print(f"evaluate.backtest result lacks {sorted(missing)}: using the small loop in this notebook instead")
            bt = None
        else:
            print("using displacement_forecast.evaluate.backtest")
    except TypeError as e:
        print(f"evaluate.backtest has another signature ({e}): using the small loop in this notebook instead")
        bt = None
else:
    print("displacement_forecast.evaluate has no backtest yet: using the small rolling-origin loop in this notebook")
if bt is None:
    bt = local_backtest()
display(Markdown(f"**{len(origins)}** origins, one every {ORIGIN_EVERY} weeks from {origins[0]:%d %B %Y} to "
                 f"{origins[-1]:%d %B %Y}; each forecast runs {HORIZON} weeks ahead with {N_DRAWS:,} simulated futures, "
                 f"for {len(regions)} regions."))

# %% [markdown]
# ## Coverage: do the bands hold the outcome as often as they should?

# %%
cov = bt.groupby(["model", "horizon"])[[f"in {lv}%" for lv in LEVELS]].mean()
fig, axes = plt.subplots(1, len(LEVELS), figsize=(12, 3.8), sharey=True, constrained_layout=True)
for ax, lv in zip(axes, LEVELS, strict=True):
    for name, g in cov[f"in {lv}%"].groupby(level="model"):
        ax.plot(g.index.get_level_values("horizon"), g.values, marker="o", ms=3, label=name)
    ax.axhline(lv / 100, color="black", ls="--", lw=1)
    ax.set_title(f"{lv}% band", loc="left")
    ax.set_xlabel("weeks ahead")
    ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
axes[0].set_ylabel("share of region-weeks inside the band")
axes[-1].legend(fontsize=7, frameon=False, loc="lower right")
fig.suptitle("Coverage by weeks ahead (dashed: what the band promises)", x=0.01, ha="left")
fig.get_layout_engine().set(rect=(0, 0.06, 1, 0.94))
fig.text(0.01, 0.005, source + f" Backtest: {len(origins)} origins, {N_DRAWS} paths.", fontsize=7, color="#444")
show(fig)
(cov.groupby(level="model").mean() * 100).style.format("{:.0f}%").set_caption("Coverage, all horizons together")

# %% [markdown]
# ## Skill: better than simple rules?
#
# The continuous ranked probability score (CRPS) measures how far the whole forecast
# distribution is from what happened, in people; lower is better. Skill compares it with the
# reference rule: positive skill means the model is better, and a skill of one would be perfect.

# %%
crps = bt.groupby(["model", "horizon"])["crps"].mean().unstack("model")
skill = 1 - crps.div(crps[REFERENCE], axis=0)
fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
for name in skill.columns:
    if name != REFERENCE:
        ax.plot(skill.index, skill[name], marker="o", ms=3, label=name)
ax.axhline(0, color="black", lw=1)
ax.set_xlabel("weeks ahead")
ax.set_ylabel(f"skill vs {REFERENCE}\n(1 - CRPS / CRPS of {REFERENCE})")
ax.legend(fontsize=8, frameon=False)
ax.set_title("Skill by weeks ahead", loc="left")
fig.get_layout_engine().set(rect=(0, 0.06, 1, 0.94))
fig.text(0.01, 0.005, source, fontsize=7, color="#444")
show(fig)
crps.style.format("{:,.0f}").set_caption("Mean CRPS per region-week (people), by weeks ahead")

# %% [markdown]
# ## Where the model fails
#
# Each bar below is one forecast of the total over all regions for the following weeks (the
# band holds ninety-five percent of the simulated futures); the dot is what happened.

# %%
main_model = MODELS[0]
tot = bt[(bt["region"] == regions.codes[0]) & (bt["horizon"] == 1)].set_index(["model", "origin"])
fig, ax = plt.subplots(figsize=(11, 4.2), constrained_layout=True)
shown = [m for m in (main_model, f"{main_model} (observed conflict)") if m in tot.index.get_level_values("model")]
for i, name in enumerate(shown):
    t = tot.loc[name]
    x = t.index + pd.Timedelta(days=10 * (i - 0.5 * (len(shown) - 1)))
    ax.vlines(x, t["total lo 95%"], t["total hi 95%"], lw=5, alpha=0.5, color=f"C{i}", label=f"{name}: 95% band")
    ax.plot(x, t["total_median"], "_", ms=10, color=f"C{i}")
ax.plot(tot.loc[shown[0]].index, tot.loc[shown[0]]["total_observed"], "ko", ms=4, label="observed")
ax.set_yscale("log")
ax.yaxis.set_major_locator(plt.matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
ax.yaxis.set_major_formatter(people)
ax.yaxis.set_minor_formatter(plt.matplotlib.ticker.NullFormatter())
ax.grid(alpha=0.3, axis="y")
ax.set_ylabel(f"people newly displaced over\nthe {HORIZON} weeks after the origin")
ax.set_xlabel("origin (last week of data used)")
ax.legend(fontsize=8, frameon=False, loc="upper left")
ax.set_title(f"Forecast total vs what happened, all regions, {HORIZON} weeks ahead", loc="left")
fig.get_layout_engine().set(rect=(0, 0.06, 1, 0.94))
fig.text(0.01, 0.005, source + " Logarithmic scale.", fontsize=7, color="#444")
show(fig)

# %%
def misses(name: str) -> pd.DataFrame:
    t = tot.loc[name]
    out = t[(t["total_observed"] < t["total lo 95%"]) | (t["total_observed"] > t["total hi 95%"])]
    return out.assign(direction=np.where(out["total_observed"] > out["total hi 95%"], "more", "fewer"))


m_main = misses(main_model)
cov_main = cov.loc[main_model].mean()
has_oracle = f"{main_model} (observed conflict)" in tot.index.get_level_values("model")
m_oracle = misses(f"{main_model} (observed conflict)") if has_oracle else None
best_rule = skill.drop(columns=[c for c in skill.columns if c.startswith(main_model)]).columns
sk = skill[main_model]
lines = [
    f"Across {len(origins)} origins and {len(regions)} regions, the `{main_model}` bands held the observed weekly count "
    + ", ".join(f"{cov_main[f'in {lv}%']:.0%} of the time for the {lv}% band" for lv in LEVELS) + ". "
    + ("They are roughly honest." if all(abs(cov_main[f'in {lv}%'] - lv / 100) <= 0.1 for lv in LEVELS)
       else "They are **too narrow**: treat them as optimistic." if any(cov_main[f'in {lv}%'] < lv / 100 - 0.1 for lv in LEVELS)
       else "They are wider than they need to be (cautious)."),
    f"Its skill against `{REFERENCE}` is {sk.iloc[0]:+.2f} one week ahead and {sk.iloc[-1]:+.2f} {HORIZON} weeks ahead "
    f"({'better' if sk.mean() > 0 else 'worse'} on average).",
]
if len(m_main):
    first = m_main.index[0]
    lines.append(
        f"The 95% band for the total missed in {len(m_main)} of {len(origins)} forecasts "
        f"({', '.join(f'{d:%d %b %Y} ({r})' for d, r in zip(m_main.index, m_main['direction'], strict=True))}); "
        f"for example from {first:%d %B %Y} it expected about {fmt_people(m_main.loc[first, 'total_median'])} but "
        f"{fmt_people(m_main.loc[first, 'total_observed'])} were displaced."
    )
else:
    lines.append(f"The 95% band for the total held what happened in every one of the {len(origins)} forecasts.")
if m_oracle is not None:
    lines.append(
        f"Given the strikes and flights that actually happened, {len(m_oracle)} of the {len(origins)} forecasts would have "
        f"missed ({', '.join(f'{d:%d %b %Y}' for d in m_oracle.index) or 'none'}). "
        + ("So the misses come mostly from **not knowing the future conflict**, which no model of displacement "
           "can foresee: this is what scenarios are for." if len(m_oracle) <= len(m_main) / 2 else
           "So the misses are **not only** about the future conflict: at those times the model's response to strikes "
           "and flights is itself off, and its bands given the conflict are too narrow.")
    )
display(Markdown(" ".join(lines)))

# %% [markdown]
# ## What this means for the scenario brief
#
# - Read the *scenario* forecasts as "if the conflict goes like this" statements; the backtest
#   with observed conflict shows how honest their bands are when the conflict is known.
# - No baseline can foresee a new offensive: look at where the misses fall in the chart above
#   before trusting a baseline band at a time of rising tension.
# - The backtest above is small; a planning decision should rest on the full backtest.
