"""Scenario projection speed: 1,000 draws x 50 regions x 26 weeks x 5 scenarios after fitting.

Reported as a ratio against a reference measured in the same run: drawing the same number of
plain NB2 variates with NumPy (the cost of the noise alone, with nothing computed). Also times
the stages of one run (driver paths, displacement noise, one scenario's response) and writes
``experiments/benchmarks/results/bench_scenarios.md``.

    python experiments/benchmarks/bench_scenarios.py [--model nb-dl] [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.data.io import write_text_atomic
from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.data.simulate import NW_SYRIA_REGIONS, simulate_nw_syria
from displacement_forecast.distributions import draw_nb
from displacement_forecast.models import get_model
from displacement_forecast.scenarios import Scenario

ROOT = Path(__file__).resolve().parents[2]


def fifty_regions():
    rows = [(f"R{i:02d}", f"Region {i}", NW_SYRIA_REGIONS[i % 13][2], 80_000) for i in range(50)]
    return regions_from_frame(pd.DataFrame(rows, columns=["code", "name", "parent", "population"]))


def _best(fn, repeat: int) -> tuple[float, float]:
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nb-dl")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "benchmarks" / "results" / "bench_scenarios.md")
    a = ap.parse_args()
    D, R, H = 1000, 50, 26
    sim = simulate_nw_syria(n_weeks=160, seed=1, regions=fifty_regions())
    t = time.perf_counter()
    m = get_model(a.model).fit(sim.observations, sim.regions)
    fit_s = time.perf_counter() - t
    scen = [Scenario.baseline(), Scenario.intensify(["South Idlib"], 2.0, 4),
            Scenario.intensify(["ALL"], 1.5, id="intensify-all"), Scenario.intensify(["ALL"], 0.5, id="de-escalation"),
            Scenario.ceasefire()]
    t = time.perf_counter()
    m.sample_scenarios(H, scen, n_draws=D, seed=0)  # warm-up: loads (or first compiles) numba kernels
    first_s = time.perf_counter() - t
    times, ref = [], []
    for i in range(a.repeat):  # interleaved, so both see the same machine load
        t = time.perf_counter()
        m.sample_scenarios(H, scen, n_draws=D, seed=i)
        times.append(time.perf_counter() - t)
        rng = np.random.default_rng(i)
        t = time.perf_counter()
        for _ in scen:
            draw_nb(rng, np.full((D, R, H), 500.0), 0.2)
        ref.append(time.perf_counter() - t)
    best, rbest = min(times), min(ref)
    stages = {}
    if m.driver_model_ is not None:
        stages["baseline strike and flight paths (once per call)"] = _best(
            lambda i: m.driver_model_.sample(H, D, np.random.default_rng(i)), a.repeat)
        base = m.driver_model_.sample(H, D, np.random.default_rng(0))
        dates = m.panel_.future_dates(H)
        stages["applying the 5 scenarios to them"] = _best(
            lambda i: [sc.apply(base, m.panel_.regions, dates) for sc in scen], a.repeat)
        fut = scen[1].apply(base, m.panel_.regions, dates)

        stages["one scenario's displacement paths, incl. parameter draws and noise (first scenario)"] = _best(
            lambda i: m._simulate(fut, H, D, np.random.default_rng(i)), a.repeat)
        draws = m._draw(H, D, np.random.default_rng(0))  # made once per call by the engine
        if draws is not None:
            stages["one scenario's displacement paths (later scenarios share draws and noise)"] = _best(
                lambda i: m._paths(fut, H, D, draws), a.repeat)
    lines = [
        f"model {a.model}: fit {fit_s:.2f} s on {R} regions x 160 weeks",
        f"scenario run {D} draws x {R} regions x {H} weeks x {len(scen)} scenarios: "
        f"best {best:.3f} s, median {np.median(times):.3f} s over {a.repeat} runs",
        f"reference (plain NumPy NB2 draws of the same size): best {rbest:.3f} s, median {np.median(ref):.3f} s; "
        f"ratio of bests {best / rbest:.2f}x",
        f"first call in this process (numba kernels loaded from cache, or compiled once per machine): {first_s:.2f} s",
    ] + [f"  {k}: best {v[0]:.3f} s, median {v[1]:.3f} s" for k, v in stages.items()]
    print("\n".join(lines))
    md = [
        "# Scenario benchmark", "",
        "*Measured by `python experiments/benchmarks/bench_scenarios.py` "
        f"(`--model {a.model} --repeat {a.repeat}`); do not edit by hand.*", "",
        f"Task: after fitting `{a.model}` to simulated data ({R} regions x 160 weeks), sample {D} paths x {R} "
        f"regions x {H} weeks for {len(scen)} scenarios in one call (`sample_scenarios`: baseline strike and "
        "flight paths, each scenario applied to them, displacement with parameter uncertainty, NB noise and "
        "depletion). Reference, measured in the same run and interleaved with it: drawing as many plain NB2 "
        "variates with NumPy (`draw_nb`, 5 x 1.3 million), i.e. the noise alone.", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}. "
        "Other sessions may have been using the machine at the same time; bests are the steadier figure.", "",
        "| | best (s) | median (s) |", "|---|---|---|",
        f"| scenario run, {len(scen)} scenarios | {best:.3f} | {np.median(times):.3f} |",
        f"| reference: plain NumPy NB2 draws of the same size | {rbest:.3f} | {np.median(ref):.3f} |",
        f"| ratio | {best / rbest:.2f}x | {np.median(times) / np.median(ref):.2f}x |", "",
        f"First call in a process (numba kernels loaded from the on-disk cache): {first_s:.2f} s.", "",
        "Stages (each timed on its own):", "",
        "| stage | best (s) | median (s) |", "|---|---|---|",
    ] + [f"| {k} | {v[0]:.3f} | {v[1]:.3f} |" for k, v in stages.items()] + [""]
    write_text_atomic("\n".join(md), a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
