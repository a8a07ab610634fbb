"""Scenario grid: intensity x duration x region set, one fitted model, one CSV.

    python experiments/scenario_grid.py --out out/grid/scenario_grid.csv

Fits the model once to the shipped synthetic NW-Syria data, builds one scenario per combination
of strike/flight multiplier, number of weeks and region set (plus the baseline), samples them all
with common random numbers, and writes one row per scenario: its settings, the median and 90%
interval of people newly displaced over the horizon, and P(more than the threshold) within each
window. ``--full`` writes the long hub-format table (every region, week and quantile) instead.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pandas as pd

from displacement_forecast.brief import exceedance_table, total_summary
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.data.io import write_csv_atomic
from displacement_forecast.forecast.run import run_forecast
from displacement_forecast.scenarios import Change, Scenario

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria"
REGION_SETS = {"south": ["South Idlib"], "south-and-west-aleppo": ["South Idlib", "West Aleppo"], "all": ["ALL"]}


def grid(intensities: list[float], durations: list[int], region_sets: dict[str, list[str]]) -> list[Scenario]:
    """Baseline plus one scenario per (intensity, duration, region set)."""
    out = [Scenario.baseline()]
    for k, weeks, (name, regs) in itertools.product(intensities, durations, region_sets.items()):
        out.append(Scenario(f"x{k:g}-{weeks}w-{name}", f"strikes and flights x{k:g} for {weeks} weeks in {', '.join(regs)}",
                            (Change(tuple(regs), None, 1, weeks, float(k)),)))
    return out


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "grid" / "scenario_grid.csv")
    ap.add_argument("--model", default="nb-dl")
    ap.add_argument("--intensity", type=float, nargs="+", default=[0.0, 0.5, 1.5, 2.0, 3.0])
    ap.add_argument("--weeks", type=int, nargs="+", default=[4, 8, 12])
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--threshold", type=float, default=250_000)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--full", action="store_true", help="write the long hub-format table instead of one row per scenario")
    a = ap.parse_args(argv)

    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    scenarios = grid(a.intensity, a.weeks, REGION_SETS)
    run = run_forecast(obs, regions, model=a.model, scenarios=scenarios, horizon=a.horizon, n_draws=a.draws,
                       seed=a.seed, data_files=[str(DATA / "observations.csv")])
    if a.full:
        table = run.frame
    else:
        windows = sorted({w for w in (4, 8, 12, a.horizon) if w <= a.horizon})
        tot = total_summary(run.paths, a.horizon, level=90).round(0).rename(columns={"lo": "q05", "hi": "q95"})
        ex = exceedance_table(run.paths, a.threshold, windows).round(4)
        ex.columns = [f"p_gt_{a.threshold:.0f}_{c.replace(' ', '_')}" for c in ex.columns]
        settings = pd.DataFrame(
            [{"scenario": s.id, "description": s.description,
              "multiply": s.changes[0].multiply if s.changes else 1.0,
              "weeks": s.changes[0].periods if s.changes else 0,
              "regions": "|".join(s.changes[0].regions) if s.changes else ""} for s in scenarios]).set_index("scenario")
        table = settings.join(tot.add_suffix(f"_{a.horizon}w")).join(ex).reset_index()
        table.insert(1, "origin_date", run.sidecar["forecast"]["origin_date"])
        table.insert(2, "model", run.sidecar["model"]["name"])
    write_csv_atomic(table, a.out)
    print(f"{len(scenarios)} scenarios, {a.draws} paths each -> {a.out} ({len(table):,} rows)")
    if not a.full:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(table.drop(columns=["description", "origin_date", "model"]).to_string(index=False))
    return a.out


if __name__ == "__main__":
    main()
