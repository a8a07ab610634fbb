"""The seeded NW-Syria simulator: determinism, totals, and the shipped data file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.schema import validate_observations
from displacement_forecast.data.simulate import simulate_nw_syria

ROOT = Path(__file__).resolve().parents[1]


def test_same_seed_same_data_and_different_seeds_differ():
    a, b = simulate_nw_syria(seed=7), simulate_nw_syria(seed=7)
    pd.testing.assert_frame_equal(a.observations, b.observations)
    c = simulate_nw_syria(seed=8)
    assert not np.array_equal(a.observations["value"].to_numpy(), c.observations["value"].to_numpy())


def test_simulated_frame_is_valid_and_populations_sum_to_4m():
    sim = simulate_nw_syria(seed=2022)
    assert validate_observations(sim.observations, freq="W", region_codes=sim.regions.codes) == []
    assert sim.regions.population.sum() == pytest.approx(4.0e6)
    assert len(sim.regions) == 13
    assert set(sim.observations["series"]) == {"strikes", "flights", "displaced"}


@pytest.mark.parametrize("seed", range(2019, 2027))
def test_final_escalation_displaces_a_few_hundred_thousand(seed):
    sim = simulate_nw_syria(seed=seed)
    obs = sim.observations
    d = obs[obs["series"] == "displaced"]
    last9 = d[d["date"] >= d["date"].max() - pd.Timedelta(weeks=8)]
    total = last9["value"].sum()
    assert 100_000 <= total <= 800_000, total
    # Depletion: nobody is displaced twice, so totals stay below the population.
    per_region = d.groupby("region")["value"].sum()
    pop = sim.regions.frame.set_index("code")["population"]
    assert (per_region <= pop.loc[per_region.index]).all()


def test_shipped_observations_are_reproducible(tmp_path):
    out = tmp_path / "regen"
    subprocess.run([sys.executable, str(ROOT / "experiments" / "make_shipped_data.py"), "--out", str(out)],
                   check=True, capture_output=True)
    shipped = (ROOT / "data" / "synthetic_nw_syria" / "observations.csv").read_bytes()
    assert (out / "observations.csv").read_bytes() == shipped


def test_intensity_is_what_the_counts_were_drawn_from():
    """Strikes are NB around the exposed intensity: counts/intensity averages one, and the
    final offensive shows as the zone multipliers (x12 in the south)."""
    sim = simulate_nw_syria(seed=2022)
    lam = sim.intensity["strikes"]
    obs = sim.observations
    strikes = obs[obs["series"] == "strikes"].pivot(index="region", columns="date", values="value")
    y = strikes.loc[sim.regions.codes].to_numpy()
    assert lam.shape == y.shape
    assert y.sum() / lam.sum() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(sim.intensity["flights"], sim.truth.flights_per_strike * lam)
    south = (sim.regions.frame["parent"] == "South Idlib").to_numpy()
    ratio = lam[south, -9:].mean() / lam[south, -30:-9].mean()
    assert 5 < ratio < 30
