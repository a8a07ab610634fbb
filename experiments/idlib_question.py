"""The seed's question on the shipped synthetic NW-Syria data.

In January 2020, aid agencies feared another 250,000 people would be displaced if attacks in
southern Idlib intensified. This script fits nb-dl (the strike-driven model; ``--model`` changes
it; the CLI's default is ``auto``) to the shipped synthetic data (which mimics that offensive),
forecasts 12 weeks under baseline, "attacks intensify in the south", de-escalation and ceasefire,
writes the forecast CSV, sidecar and charts, and prints the
probability that more than 250,000 people are newly displaced within 12 weeks under each.

    python experiments/idlib_question.py --out out/demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

from displacement_forecast.brief import fmt_people, fmt_prob, total_summary
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.evaluate.backtest import backtest_record
from displacement_forecast.forecast.run import run_forecast, write_run
from displacement_forecast.scenarios import load_scenarios

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=ROOT / "out" / "demo", type=Path)
    ap.add_argument("--model", default="nb-dl")
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--backtest", type=Path, default=ROOT / "experiments" / "results" / "backtest_synthetic",
                    help="backtest folder whose coverage for the model goes into the sidecar "
                         "(made by experiments/backtest_synthetic.py)")
    a = ap.parse_args()

    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    scenarios = load_scenarios(ROOT / "experiments" / "scenarios" / "idlib.toml", regions)
    record = backtest_record(a.backtest, a.model) if (a.backtest / "summary.csv").exists() else None
    run = run_forecast(obs, regions, model=a.model, scenarios=scenarios, horizon=a.horizon,
                       n_draws=a.draws, seed=a.seed, data_files=[str(DATA / "observations.csv")],
                       backtest=record)
    written = write_run(run, a.out, hub=a.out / "hub")  # + a hubverse hub agencies' tools open

    print(run.model.summary())
    n = a.draws
    print(f"\nForecast from {run.sidecar['forecast']['origin_date']} for {a.horizon} weeks, {n} paths:")
    probs = run.prob_exceed(250_000, a.horizon)
    table = total_summary(run.paths, a.horizon, level=90)
    width = max(map(len, table.index))
    for sid, row in table.iterrows():
        print(f"  {sid:{width}s} median {fmt_people(row['median'], 3):>8} newly displaced "
              f"(90% interval {fmt_people(row['lo'])} - {fmt_people(row['hi'])});"
              f" P(> 250,000) = {fmt_prob(probs[sid], n)}")
    if record is not None:
        print("\nHow far to trust the bands: " + ("; ".join(record["warnings"]) if record["warnings"] else
              f"in backtests ({record['origins']['n']} origins) the intervals covered as stated."))
    print(f"\nwrote {len(written)} files to {a.out}: " + ", ".join(str(p.relative_to(a.out)) for p in written))


if __name__ == "__main__":
    main()
