"""Shared fixtures: simulated panels with known truth, the shipped data, the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REAL = SHARED / "data" / "real"


@pytest.fixture(scope="session")
def sim():
    from displacement_forecast.data.simulate import simulate_nw_syria

    return simulate_nw_syria()


@pytest.fixture(scope="session")
def fitted_nbdl(sim):
    from displacement_forecast.forecast import engine
    from displacement_forecast.models import get_model

    # through the engine: it fits the driver forecaster too (tests use driver_model_)
    return engine.fit(get_model("nb-dl"), sim.observations, sim.regions)


@pytest.fixture
def real_dir() -> Path:
    if not REAL.exists():
        pytest.skip(f"real data folder {REAL} is absent (it sits beside the project in ../shared)")
    return REAL


@pytest.fixture
def umask_022():
    """The umask most systems use (files 0o644, folders 0o755), restored afterwards."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)
