"""Strike/flight projections: the shared cross-region shock is found when present, not invented."""

from __future__ import annotations

import numpy as np

from displacement_forecast.models.drivers import SeriesAR


def _panel(common_sd: float, seed: int = 0, R: int = 12, T: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.zeros((R, T))
    shared = rng.normal(0, common_sd, T)
    for t in range(1, T):
        z[:, t] = 0.6 * z[:, t - 1] + rng.normal(0, 0.2, R) + shared[t]
    return rng.poisson(8 * np.exp(z)).astype(float)


def test_common_shock_detected_only_when_regions_move_together():
    assert SeriesAR().fit(_panel(0.0)).common_sd_ < 0.08
    assert SeriesAR().fit(_panel(0.4)).common_sd_ > 0.2


def test_common_shock_correlates_regional_paths():
    y = _panel(0.4)
    m = SeriesAR().fit(y)
    paths = np.log1p(m.sample(3, 4000, np.random.default_rng(1)))[:, :, 0]
    corr = np.corrcoef(paths[:, 0], paths[:, 1])[0, 1]
    assert corr > 0.05
    m.common_sd_ = 0.0
    paths0 = np.log1p(m.sample(3, 4000, np.random.default_rng(1)))[:, :, 0]
    assert abs(np.corrcoef(paths0[:, 0], paths0[:, 1])[0, 1]) < corr
