"""Regenerate the shipped synthetic NW-Syria dataset in data/synthetic_nw_syria/ from the seeded simulator.

    python experiments/make_shipped_data.py            # writes data/synthetic_nw_syria/*
The files are deterministic: the same seed gives byte-identical CSVs (tested).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from displacement_forecast.data.io import write_csv_atomic, write_text_atomic
from displacement_forecast.data.simulate import simulate_nw_syria


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=Path(__file__).resolve().parents[1] / "data" / "synthetic_nw_syria", type=Path)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--weeks", type=int, default=160)
    a = ap.parse_args()
    sim = simulate_nw_syria(n_weeks=a.weeks, seed=a.seed)
    obs = sim.observations.copy()
    obs["date"] = obs["date"].dt.strftime("%Y-%m-%d")
    obs["value"] = obs["value"].astype(int)
    write_csv_atomic(obs, a.out / "observations.csv")
    regions = sim.regions.frame.astype({"population": int})
    write_csv_atomic(regions, a.out / "regions.csv")
    truth = {"seed": a.seed, "n_weeks": a.weeks, "parameters": sim.truth.as_dict(),
             "escalations": json.loads(sim.escalations.to_json(orient="records", date_format="iso"))}
    write_text_atomic(json.dumps(truth, indent=2) + "\n", a.out / "truth.json")
    print(f"wrote {len(obs):,} rows to {a.out}")


if __name__ == "__main__":
    main()
