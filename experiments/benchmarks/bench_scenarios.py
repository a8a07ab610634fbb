"""Scenario projection speed: 1,000 draws x 50 regions x 26 weeks x 5 scenarios after fitting.

Reported as a ratio against a reference measured in the same run: drawing the same number of
plain NB2 variates with NumPy (the irreducible cost of the noise alone).

    python experiments/benchmarks/bench_scenarios.py [--model nb-dl] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.data.simulate import NW_SYRIA_REGIONS, simulate_nw_syria
from displacement_forecast.distributions import draw_nb
from displacement_forecast.models import get_model
from displacement_forecast.scenarios import Scenario


def fifty_regions():
    rows = [(f"R{i:02d}", f"Region {i}", NW_SYRIA_REGIONS[i % 13][2], 80_000) for i in range(50)]
    return regions_from_frame(pd.DataFrame(rows, columns=["code", "name", "parent", "population"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nb-dl")
    ap.add_argument("--repeat", type=int, default=5)
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
    for i in range(a.repeat):
        t = time.perf_counter()
        m.sample_scenarios(H, scen, n_draws=D, seed=i)
        times.append(time.perf_counter() - t)
        rng = np.random.default_rng(i)
        t = time.perf_counter()
        for _ in scen:
            draw_nb(rng, np.full((D, R, H), 500.0), 0.2)
        ref.append(time.perf_counter() - t)
    best, rbest = min(times), min(ref)
    print(f"model {a.model}: fit {fit_s:.2f} s on {R} regions x 160 weeks")
    print(f"scenario run {D} draws x {R} regions x {H} weeks x {len(scen)} scenarios: "
          f"best {best:.3f} s, median {np.median(times):.3f} s over {a.repeat} runs")
    print(f"reference (plain NumPy NB2 draws of the same size): best {rbest:.3f} s; ratio {best / rbest:.1f}x")
    print(f"first call in this process (numba kernels loaded from cache, or compiled once per machine): {first_s:.2f} s")


if __name__ == "__main__":
    main()
