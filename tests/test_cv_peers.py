"""The statsforecast cross-validation harness (experiments/real_world/cv_peers.py)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments" / "real_world"))


def _panel(R=2, T=20, seed=0):
    from displacement_forecast.data.regions import regions_from_frame
    from displacement_forecast.models.base import Panel

    rng = np.random.default_rng(seed)
    codes = [f"R{i}" for i in range(R)]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A", "population": 1e9}))
    y = rng.negative_binomial(2, 2 / (2 + 500.0), size=(R, T)).astype(float)
    return Panel(pd.date_range("2020-01-01", periods=T, freq="MS"), regions, "M", {"displaced": y})


def test_origins_match_statsforecast_and_wis_by_hand():
    """The harness's origins are statsforecast's cutoffs (T//2-2 windows); the peers' WIS equals a
    hand computation from their clipped Gaussian bounds."""
    from cv_peers import cv_origins, peer_cv
    from scipy import stats

    p = _panel()
    sc = peer_cv(p, 3, 1, peers=("HistoricAverage",))
    assert sorted(sc["origin"].unique()) == list(cv_origins(p, 3))
    assert len(cv_origins(p, 3)) == 20 // 2 - 2
    # HistoricAverage by hand at the first origin, region R0, horizon 1
    o = cv_origins(p, 3)[0]
    hist = p.target()[0, p.dates <= o]
    y = p.target()[0, list(p.dates).index(o) + 1]
    mu, sd = hist.mean(), hist.std(ddof=1) * np.sqrt(1 + 1 / len(hist))  # statsforecast: sigma * sqrt(1 + 1/n)
    al = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    z = stats.norm.ppf(1 - al / 2)
    lo, hi = np.maximum(mu - z * sd, 0), mu + z * sd
    is_k = (hi - lo) + 2 / al * np.clip(lo - y, 0, None) + 2 / al * np.clip(y - hi, 0, None)
    want = (0.5 * abs(y - mu) + (al / 2 * is_k).sum()) / 11.5
    row = sc[(sc["origin"] == o) & (sc["region"] == "R0") & (sc["horizon"] == 1)]
    assert float(row["wis"].iloc[0]) == pytest.approx(want, rel=2e-3)


@pytest.mark.real
@pytest.mark.slow
def test_reproduces_the_issue_reference_on_somalia(real_dir):
    """Issue 16's HistoricAverage reference on Somalia: WIS 7,396 / 11,949 / 11,350 (bounds clipped at 0)."""
    from cv_peers import complete_regions, datasets, peer_cv

    ds = datasets()["somalia"]
    panel, _ = complete_regions(ds.build())
    sc = peer_cv(panel, 3, 1, peers=("HistoricAverage",))
    w = sc.groupby("horizon")["wis"].mean().round().tolist()
    assert w == [7396, 11949, 11350]
