"""Refresh a forecast when a new week of data arrives: append, validate, refit, write a dated folder.

    python experiments/refresh_forecast.py --new new_week.csv            # append to the shipped data
    python experiments/refresh_forecast.py --demo                         # replay the last shipped week

``--new`` is a tidy observation CSV (``date, region, series, value[, source]``) with the new
week's rows. They are appended to ``--observations`` (rows for a date already there replace the
old ones only with ``--replace``; otherwise overlapping rows are an error), the whole table is
validated against the region table, the model is refitted, and the forecast (CSV, sidecar,
charts) is written to ``<out>/<origin date>/``. The updated observations are written there too,
so each folder is a complete record of what the forecast was made from. ``--demo`` holds back
the last week of the shipped synthetic data and plays it as the new week.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from displacement_forecast.data import (
    DataError,
    Problem,
    check_observations,
    load_regions,
    read_observations,
)
from displacement_forecast.data.io import write_csv_atomic
from displacement_forecast.forecast.run import run_forecast, write_run
from displacement_forecast.scenarios import load_scenarios

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria"


def append_week(old: pd.DataFrame, new: pd.DataFrame, regions: list[str], *, replace: bool = False) -> pd.DataFrame:
    """Old + new observations, validated; overlapping (date, region, series) keys are an error unless ``replace``."""
    key = ["date", "region", "series"]
    overlap = new.merge(old[key], on=key, how="inner")
    if len(overlap) and not replace:
        raise DataError(Problem("<new rows>", None, None,
                                f"{len(overlap)} row(s) already in the observations (first: {overlap.iloc[0]['date']:%Y-%m-%d} "
                                f"{overlap.iloc[0]['region']} {overlap.iloc[0]['series']}); pass --replace to overwrite"))
    if replace and len(overlap):
        old = old.merge(new[key], on=key, how="left", indicator=True).query("_merge == 'left_only'").drop(columns="_merge")
    both = pd.concat([old, new], ignore_index=True)
    both["date"] = both["date"].dt.strftime("%Y-%m-%d")
    return check_observations(both, file="<observations + new rows>", region_codes=regions)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--observations", type=Path, default=DATA / "observations.csv")
    ap.add_argument("--regions", type=Path, default=DATA / "regions.csv")
    ap.add_argument("--scenarios", type=Path, default=ROOT / "experiments" / "scenarios" / "idlib.toml")
    ap.add_argument("--new", type=Path, help="tidy CSV with the new week's rows")
    ap.add_argument("--demo", action="store_true", help="replay the last week of the observations as the new week")
    ap.add_argument("--replace", action="store_true", help="new rows replace existing rows with the same key")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "forecasts")
    ap.add_argument("--model", default="nb-dl")
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args(argv)
    if (a.new is None) == (not a.demo):
        ap.error("give exactly one of --new FILE or --demo")

    regions = load_regions(a.regions)
    old = read_observations(a.observations, region_codes=regions.codes)
    if a.demo:
        last = old["date"].max()
        new, old = old[old["date"] == last], old[old["date"] < last]
        print(f"demo: holding back the week of {last:%Y-%m-%d} ({len(new)} rows) and adding it as new data")
    else:
        new = read_observations(a.new, region_codes=regions.codes)
    obs = append_week(old, new, regions.codes, replace=a.replace)
    weeks = sorted(new["date"].unique())
    print(f"appended {len(new)} rows for {', '.join(f'{pd.Timestamp(d):%Y-%m-%d}' for d in weeks)}; "
          f"{len(obs):,} rows validated")

    scenarios = load_scenarios(a.scenarios, regions)
    run = run_forecast(obs, regions, model=a.model, scenarios=scenarios, horizon=a.horizon, n_draws=a.draws,
                       seed=a.seed, data_files=[str(a.observations)] + ([str(a.new)] if a.new else []))
    folder = a.out / run.sidecar["forecast"]["origin_date"]
    data_copy = obs.assign(date=obs["date"].dt.strftime("%Y-%m-%d"))
    write_csv_atomic(data_copy, folder / "observations_used.csv")
    written = write_run(run, folder, plots=not a.no_plots)
    print(run.model.summary())
    for sid, p in run.prob_exceed(250_000, a.horizon).items():
        print(f"  P(> 250,000 within {a.horizon} weeks | {sid}) = {p:.1%}")
    print(f"wrote {len(written) + 1} files to {folder}")
    return folder


if __name__ == "__main__":
    main()
