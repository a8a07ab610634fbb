"""Compare registry models on the same data and scenarios: P(> threshold) and medians side by side.

    python experiments/compare_models.py                       # nb-dl, sarimax, last-value, climatology
    python experiments/compare_models.py --models nb-dl bayes-hierarchical --out out/compare.csv

Every model is fitted to the shipped synthetic NW-Syria data and forecasts the scenarios in
``experiments/scenarios/idlib.toml`` with the same seed. Models that ignore strikes and flights
(``last-value``, ``climatology``) give the same answer under every scenario - the table shows it.
Forecast skill comes from backtests: with ``--backtest`` the evaluate module's backtest is run
(when that module is installed) and its summary is printed after the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from displacement_forecast.brief import exceedance_table, total_summary
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.data.io import write_csv_atomic
from displacement_forecast.forecast.run import run_forecast
from displacement_forecast.scenarios import load_scenarios

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria"


def compare(models: list[str], horizon: int, draws: int, seed: int, threshold: float) -> pd.DataFrame:
    """One row per (model, scenario): median and 90% interval over the horizon, P(> threshold) per window."""
    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    scenarios = load_scenarios(ROOT / "experiments" / "scenarios" / "idlib.toml", regions)
    windows = sorted({w for w in (4, 8, 12, horizon) if w <= horizon})
    rows = []
    for name in models:
        t0 = time.perf_counter()
        run = run_forecast(obs, regions, model=name, scenarios=scenarios, horizon=horizon, n_draws=draws, seed=seed)
        tot = total_summary(run.paths, horizon).rename(columns={"lo": "q05", "hi": "q95"})
        ex = exceedance_table(run.paths, threshold, windows)
        ex.columns = [f"P(>{threshold:,.0f}) {c}" for c in ex.columns]
        t = tot[["median", "q05", "q95"]].join(ex).reset_index()
        t.insert(0, "model", name)
        t["uses strikes"] = run.model.uses_drivers
        t["reliable"] = run.sidecar["reliable"]
        t["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(t)
    return pd.concat(rows, ignore_index=True)


def backtest_skill(models: list[str]) -> pd.DataFrame | None:
    """Skill by model from the evaluate module's backtest, or None with a printed reason."""
    try:
        from displacement_forecast.evaluate import backtest  # noqa: F401
    except ImportError as e:
        print(f"no backtest skill: the evaluate module has no backtest yet ({e})")
        return None
    from displacement_forecast.evaluate import backtest as bt

    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    return bt(obs, regions, models=models)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["nb-dl", "sarimax", "last-value", "climatology"])
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threshold", type=float, default=250_000)
    ap.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    ap.add_argument("--backtest", action="store_true", help="also print backtest skill (slow)")
    a = ap.parse_args(argv)
    table = compare(a.models, a.horizon, a.draws, a.seed, a.threshold)
    fmt = {c: (lambda p: f"{p:.1%}") for c in table.columns if c.startswith("P(")}
    fmt.update({c: (lambda v: f"{v:,.0f}") for c in ("median", "q05", "q95")})
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, formatters=fmt))
    if a.out:
        write_csv_atomic(table, a.out)
        print(f"wrote {a.out}")
    if a.backtest:
        skill = backtest_skill(a.models)
        if skill is not None:
            print(skill)
    return table


if __name__ == "__main__":
    main()
