"""Benchmark: 52 weekly origins x 3 classical models x 13 regions, with 1 and 2 local workers.

Writes ``experiments/benchmarks/results/bench_backtest.md`` with the measured wall times and the
speed-up. Both runs use the same tasks and seeds, and the script checks their scores are equal.
Usage::

    python experiments/benchmarks/bench_backtest.py [--horizon 4] [--draws 500] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pandas as pd

from displacement_forecast.data.io import read_observations, write_text_atomic
from displacement_forecast.data.regions import load_regions
from displacement_forecast.evaluate.backtest import default_origins, run_backtest
from displacement_forecast.models.base import Panel

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "synthetic_nw_syria"
MODELS = ["last-value", "nb-dl", "sarimax"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", type=int, default=4)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--origins", type=int, default=52)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "benchmarks" / "results" / "bench_backtest.md")
    a = ap.parse_args(argv)
    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    panel = Panel.from_observations(obs, regions)
    origins = default_origins(panel.dates, a.horizon, n=a.origins)
    runs, ref = [], None
    for w in (int(x) for x in a.workers.split(",")):
        t0 = time.perf_counter()
        res = run_backtest(panel, models=MODELS, origins=origins, horizon=a.horizon, n_draws=a.draws,
                           seed=0, workers=w, progress=False)
        wall = time.perf_counter() - t0
        assert len(res.failures) == 0, res.failures
        if ref is None:
            ref = res.scores
        else:
            pd.testing.assert_frame_equal(res.scores, ref, check_exact=True)
        per_model = res.tasks.groupby("model")["seconds"].sum()
        runs.append({"workers": w, "wall": wall, "task_seconds": res.tasks["seconds"].sum(), "per_model": per_model,
                     "rows": len(res.scores)})
        print(f"{w} worker(s): {wall:.1f} s wall, {res.tasks['seconds'].sum():.1f} s in tasks, {len(res.scores)} score rows")
    base = runs[0]["wall"]
    lines = [
        "# Backtest benchmark",
        "",
        "*Measured by `python experiments/benchmarks/bench_backtest.py` "
        f"(`--horizon {a.horizon} --draws {a.draws} --origins {a.origins} --workers {a.workers}`); do not edit by hand.*",
        "",
        f"Task: {len(origins)} weekly origins ({origins[0].date()} .. {origins[-1].date()}) x {len(MODELS)} models "
        f"({', '.join(MODELS)}) x {len(regions)} regions on the shipped synthetic data; horizons 1..{a.horizon}, "
        f"{a.draws} sample paths per forecast, every forecast scored (CRPS, WIS, coverage, PIT, ignorance, "
        "median errors) per region and for the total. Workers are local processes (joblib/loky); "
        "1 worker runs in-process. Both runs gave identical scores.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}. "
        "Other sessions may have been using the machine at the same time.",
        "",
        "| workers | wall time (s) | speed-up vs 1 worker | sum of task times (s) |",
        "|---|---|---|---|",
        *(f"| {r['workers']} | {r['wall']:.1f} | {base / r['wall']:.2f}x | {r['task_seconds']:.1f} |" for r in runs),
        "",
        "Seconds per model (sum over origins, 1-worker run): "
        + ", ".join(f"{m} {s:.1f}" for m, s in runs[0]["per_model"].items()) + ".",
        "",
    ]
    write_text_atomic("\n".join(lines), a.out)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
