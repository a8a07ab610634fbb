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
# # Bring your own data: from an ACLED export and a displacement report to a forecast
#
# This notebook walks through the steps an analyst takes with real files: read a conflict-event
# export from ACLED, read a displacement report in whatever layout the agency sent, match both to
# a region table, check everything, fit a model and forecast under scenarios.
#
# **The example files are synthetic** (`data/examples/`, made by `experiments/make_examples.py`
# from the toolkit's simulator): they have the *layout* of an ACLED export and of a weekly IDP
# report, but every event and figure in them is made up. Replace the three paths below with your
# own files; nothing else needs to change.

# %%
import json
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from displacement_forecast.brief import (
    bands_statement,
    exceedance_table,
    fmt_people,
    fmt_prob,
    scenario_paragraph,
)
from displacement_forecast.data import DataError, check_observations, load_regions
from displacement_forecast.data.loaders import DataWarning, load_acled, load_mapped
from displacement_forecast.forecast.run import caption, run_forecast, write_run
from displacement_forecast.models import get_model
from displacement_forecast.plot.fan import exceedance_curve, scenario_fans, show
from displacement_forecast.scenarios import Scenario

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "examples").is_dir())
EXAMPLES = ROOT / "data" / "examples"
ACLED_FILE = EXAMPLES / "acled_export_synthetic.csv"     # your ACLED export
REPORT_FILE = EXAMPLES / "idp_report_synthetic.csv"      # your displacement report
REPORT_MAPPING = EXAMPLES / "idp_report_synthetic.toml"  # which columns mean what in it
REGIONS_FILE = EXAMPLES / "regions.csv"                  # code, name, parent, population, aliases

THRESHOLD = 250_000   # people: the planning question
HORIZON = 12          # weeks
N_DRAWS = 1000
SEED = 3

# %% [markdown]
# ## Step one: the region table
#
# One row per region: a code, a name, a parent (a zone that scenarios can name), the population
# at risk, and other spellings used by the data sources (`aliases`, separated by `|`).

# %%
regions = load_regions(REGIONS_FILE)
# populations as whole people and no "None" where a region has no other spelling
regions.frame.style.format({"population": "{:,.0f}"}).format(
    na_rep="", subset=[c for c in ("aliases",) if c in regions.frame.columns]).hide(axis="index")

# %% [markdown]
# ## Step two: the ACLED export
#
# ACLED lists events. The loader counts them per region and week: air and drone strikes become
# the `strikes` series, shelling becomes `shelling`, and all events and fatalities are counted too.
# Weeks inside the export's coverage with no event are real zeros. Names are matched to the
# region table through its names and aliases; names that match nothing are reported, not
# silently dropped.

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", DataWarning)
    conflict = load_acled(ACLED_FILE, regions, level="admin3", freq="W")
# only the loader's own warnings about the data (others, such as a progress-bar library's notice
# that notebook widgets are missing, say nothing about the file)
caught = [w for w in caught if issubclass(w.category, DataWarning)]
for w in caught:
    print("WARNING:", w.message)
display(Markdown(f"Read **{len(pd.read_csv(ACLED_FILE, usecols=['event_id_cnty'])):,}** events from `{ACLED_FILE.name}` "
                 f"into **{len(conflict):,}** weekly counts ({', '.join(sorted(conflict['series'].unique()))}) from "
                 f"{conflict['date'].min():%d %B %Y} to {conflict['date'].max():%d %B %Y}; "
                 + (f"{len(caught)} warning{'s' if len(caught) > 1 else ''} about the data (above)." if caught
                    else "no warning about the data.")))
conflict.pivot_table(index="date", columns="series", values="value", aggfunc="sum").tail()

# %% [markdown]
# ## Step three: the displacement report
#
# Agencies send tables in many layouts. Instead of a new loader for each, a short mapping file
# says which column holds what. This one is *wide*: one row per sub-district, one column per week.
# Blank cells mean "not reported" and stay missing, never zero.

# %%
print(REPORT_MAPPING.read_text())
displaced = load_mapped(REPORT_FILE, REPORT_MAPPING, regions)
n_missing = int(displaced["value"].isna().sum())
display(Markdown(f"Read **{len(displaced):,}** region-weeks of new displacement; **{n_missing}** not reported (left missing)."))

# %% [markdown]
# ## Step four: check everything together
#
# The combined table must follow the observation schema: one frequency, one value per date,
# region and series, no negative counts, known region codes. The check lists *every* problem
# with the file, line and column, so you can fix them all in one pass.

# %%
obs = check_observations(pd.concat([conflict, displaced], ignore_index=True), region_codes=regions.codes)
obs.groupby("series")["value"].agg(["count", "sum"]).style.format("{:,.0f}")

# %% [markdown]
# ### What a validation error looks like
#
# Below, the displacement report is copied with typical mistakes, one at a time: a count typed
# as text, a negative count, and a sub-district spelt in a way the region table does not know.
# The loader refuses each file and says what is wrong, on which line and in which column.

# %%
raw = REPORT_FILE.read_text().splitlines()


def with_mistake(line: int, column: int, value: str) -> str:
    """The report with one cell replaced (line and column counted from zero, header = line zero)."""
    rows = [r.split(",") for r in raw]
    rows[line][column] = value
    return "\n".join(",".join(r) for r in rows) + "\n"


def try_load(text: str, label: str) -> None:
    """Load a copy of the report from ``text`` and print what the loader says."""
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "idp_report_with_mistake.csv"
        f.write_text(text)
        try:
            load_mapped(f, REPORT_MAPPING, regions, strict=True)
            print(f"{label}: loaded without complaint")
        except DataError as err:
            print(f"{label}: DataError")
            print("   " + str(err).replace(str(tmp) + "/", "").replace("\n", "\n   ") + "\n")


try_load(with_mistake(5, 10, "about 40"), "a count typed as text")
try_load(with_mistake(3, 8, "-" + raw[3].split(",")[8]), "a negative count")
try_load(with_mistake(3, 0, "Kafr Nabl"), "an unknown spelling")

# %% [markdown]
# Fix the file (or add the other spelling to the `aliases` column of the region table) and run
# the cell again.

# %% [markdown]
# ## Step five: fit and forecast
#
# The displacement model uses the series the conflict file provides: here `strikes` and
# `shelling` from ACLED (this export has no warplane-flight counts). With only a few months of
# history, fewer lags are estimated.

# %%
n_weeks = obs["date"].nunique()
model = get_model("nb-dl", drivers=("strikes", "shelling"), n_lags=4)
scenarios = [
    Scenario.baseline(),
    Scenario("intensify-south", "strikes and shelling in southern Idlib at twice their level of the last four weeks, "
             "for eight weeks", Scenario.intensify(["South Idlib"], k=2.0, periods=8, hold=4).changes),
    Scenario("de-escalation", "strikes and shelling fall by half everywhere",
             Scenario.intensify(["ALL"], k=0.5).changes),
    Scenario.ceasefire(drivers=model.drivers),  # names the series these data have (no flights here)
]
run = run_forecast(obs, regions, model=model, scenarios=scenarios, horizon=HORIZON, n_draws=N_DRAWS, seed=SEED,
                   data_files=[str(ACLED_FILE), str(REPORT_FILE)])
print(run.model.summary())
display(Markdown(f"Fitted on **{n_weeks}** weeks of data "
                 f"({'reliable fit' if run.sidecar['reliable'] else 'UNRELIABLE fit: ' + '; '.join(run.sidecar['warnings'])})."))

# %%
cap = caption(run.sidecar)
display(Markdown(scenario_paragraph(run.paths, threshold=THRESHOLD, within=HORIZON,
                                    descriptions={s.id: s.description for s in scenarios})))

# %%
probs = exceedance_table(run.paths, THRESHOLD, (4, 8, 12), dated=True)
probs.style.format(lambda p: fmt_prob(p, N_DRAWS))

# %%
show(scenario_fans(run.paths, run.history(), title="People newly displaced per week, all regions", caption=cap))

# %% [markdown]
# Look at the end of the de-escalation fan: can halving the strikes make a bad week *more* likely
# than in the baseline? The paragraph below answers from the same simulated futures.

# %%
LOW, BASE = "de-escalation", "baseline"
week = {sid: run.paths[sid].sum("region").values for sid in (BASE, LOW)}  # draw x week, all regions
last = HORIZON - 1
q90 = {sid: np.quantile(w[:, last], 0.9) for sid, w in week.items()}
later = week[LOW][:, last] > week[BASE][:, last]  # futures in which de-escalation's last week is the worse one
# people not yet displaced at the start of the last week, per zone: population - displaced so far (history + forecast)
zone_of = dict(zip(regions.codes, regions.frame["parent"], strict=True))
so_far = run.history().sum().reindex(regions.codes).fillna(0)
pop = pd.Series(regions.population, index=regions.codes) - so_far
zone = max(set(zone_of.values()), key=lambda z: run.paths[BASE].sel(region=[c for c in regions.codes if zone_of[c] == z]).sum().item())
cz = [c for c in regions.codes if zone_of[c] == zone]
at_risk = {sid: pop[cz].sum() - run.paths[sid].sel(region=cz).isel(horizon=slice(0, last)).sum(("region", "horizon")).values
           for sid in (BASE, LOW)}
cum = {sid: w.sum(axis=1) for sid, w in week.items()}
if q90[LOW] > q90[BASE] or later.mean() > 0:
    display(Markdown(
        f"**Why the `{LOW}` band ends higher than the baseline's.** In week {HORIZON}, the top of the `{LOW}` fan's "
        f"80% band is {fmt_people(q90[LOW])} people against {fmt_people(q90[BASE])} for the baseline, and in "
        f"{later.mean():.0%} of the simulated futures `{LOW}` displaces more people that week than the baseline does "
        "in the same future. It is not an error: the model takes people who have fled out of those still at risk. "
        f"Those are futures of heavy fighting, in which many people flee early under the baseline: by the start of week "
        f"{HORIZON} it has displaced on average {fmt_people(week[BASE][later, :last].sum(axis=1).mean())} people in them "
        f"(against {fmt_people(week[BASE][:, :last].sum(axis=1).mean())} over all futures), and "
        f"{fmt_people(at_risk[BASE][later].mean())} people in {zone} have not yet fled. Under `{LOW}` fewer flee early "
        f"({fmt_people(week[LOW][later, :last].sum(axis=1).mean())}), so {fmt_people(at_risk[LOW][later].mean())} are "
        f"still there in {zone}, and even halved strikes then displace more of them each week. "
        f"**Over the {HORIZON} weeks as a whole, `{LOW}` displaces fewer people**: median {fmt_people(np.median(cum[LOW]))} "
        f"against {fmt_people(np.median(cum[BASE]))}, 95% quantile {fmt_people(np.quantile(cum[LOW], 0.95))} against "
        f"{fmt_people(np.quantile(cum[BASE], 0.95))}; it displaces more in total than the baseline in "
        f"{int((cum[LOW] > cum[BASE]).sum())} of the {N_DRAWS:,} futures. For planning: de-escalation prevents much of the "
        "displacement of these weeks but delays some of it: the people who stay remain at risk, and may still flee "
        "later if the strikes do not fall far enough."))

# %%
show(exceedance_curve(run.paths, within=HORIZON, marks=(THRESHOLD,),
                      title=f"Chance that more than x people are newly displaced within {HORIZON} weeks", caption=cap))

# %% [markdown]
# These numbers differ from the scenario brief, which runs the toolkit's default model (`auto`,
# which chooses among models and widens their bands by a short backtest) on three years of data:
# a few months of history leave this model less sure of how strongly strikes drive displacement,
# and it only has strikes and shelling to go on. Before using a forecast from
# your own data, run a backtest on it (notebook *How far to trust this*).

# %%
display(Markdown(bands_statement(run.sidecar)))

# %% [markdown]
# ## Step six: write the forecast files
#
# One call writes the forecast table (CSV, one row per scenario, region, week and quantity), a
# sidecar describing exactly how it was made, a description of the files for data tools, and the
# charts (a fan chart per scenario, per week and added up, and the exceedance curves). Here they
# go to a temporary folder that is removed at the end of the cell; give `write_run` a folder of
# your own to keep them.

# %%
with tempfile.TemporaryDirectory(prefix="forecast-") as tmp:
    written = write_run(run, Path(tmp), plots=True)
    plt.close("all")
    files = pd.DataFrame({"file": [p.name for p in written], "bytes": [p.stat().st_size for p in written]})
    sidecar = json.loads((Path(tmp) / "forecast.json").read_text())
display(Markdown(f"Wrote **{len(files)}** files ({', '.join(sorted({p.suffix for p in written}))}); "
                 f"the sidecar records the data as {'synthetic' if sidecar['data']['synthetic'] else 'real'}. "
                 "The folder is removed again."))
files
