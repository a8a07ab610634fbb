"""Strike/flight projections: the shared cross-region shock is found when present, not invented."""

from __future__ import annotations

import numpy as np

from displacement_forecast.models.drivers import SeriesAR, zone_codes, zone_mean_matrix


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


# -- zone pooling ---------------------------------------------------------------------------
def _zoned(zone_sd: float, seed: int = 0, T: int = 220) -> tuple[np.ndarray, np.ndarray]:
    """Two zones of six regions; each zone has a persistent shared log intensity (AR 0.95)."""
    rng = np.random.default_rng(seed)
    zone = np.repeat([0, 1], 6)
    g = np.zeros((2, T))
    u = np.zeros((12, T))
    for t in range(1, T):
        g[:, t] = 0.95 * g[:, t - 1] + rng.normal(0, zone_sd, 2)
        u[:, t] = 0.5 * u[:, t - 1] + rng.normal(0, 0.3, 12)
    lam = 4 * np.exp(g[zone] + u)
    return rng.negative_binomial(1 / 0.3, 1 / (1 + 0.3 * lam)).astype(float), zone


def test_zone_codes_from_parents():
    assert zone_codes([None, "", np.nan]) is None  # no parents: every region its own zone
    assert zone_codes(["a", "b", "c"]) is None  # singleton zones add nothing
    z = zone_codes(["a", "b", "a", None])
    assert z[0] == z[2] and len({z[0], z[1], z[3]}) == 3
    m = zone_mean_matrix(z)
    np.testing.assert_allclose(m @ np.array([2.0, 5.0, 4.0, 7.0]), [3.0, 5.0, 3.0, 7.0])


def test_zone_terms_found_when_zones_move_together_and_not_otherwise():
    y, zone = _zoned(0.25)
    m = SeriesAR().fit(y, zone)
    k = len(m.idx_)
    psi, se = m.params_[k + 2 : k + 4], np.sqrt(np.diag(m.cov_))[k + 2 : k + 4]
    assert psi.sum() > 0.3 and psi.sum() > 3 * np.hypot(*se)
    y0, _ = _zoned(0.0)
    m0 = SeriesAR().fit(y0, zone)
    psi0 = m0.params_[k + 2 : k + 4]
    assert abs(psi0.sum()) < 3 * np.sqrt(m0.cov_[k + 2 : k + 4, k + 2 : k + 4].sum())


def test_zone_pooling_forecasts_zone_wide_shifts_better():
    """Held-out 1-week-ahead forecasts from 20 origins on two seeds: pooling zones lowers the CRPS
    by at least 3%."""
    from displacement_forecast.evaluate.scores import crps_sample

    crps = {"own": 0.0, "zone": 0.0}
    for seed in (0, 1):
        y, zone = _zoned(0.25, seed=seed, T=140)
        for origin in range(80, 138, 6):
            for name, z in (("own", None), ("zone", zone)):
                m = SeriesAR().fit(y[:, : origin + 1], z)
                x = m.sample(1, 400, np.random.default_rng(origin))[:, :, 0]
                crps[name] += float(np.mean(crps_sample(x, y[:, origin + 1])))
    assert crps["zone"] < 0.97 * crps["own"], crps


# -- the compiled sampler against the straightforward NumPy recursion ------------------------
def _numpy_paths(m: SeriesAR, horizon: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """The model's recursion written plainly (point estimates, no shock): features from
    ``_ar_features``, NumPy's gamma-Poisson NB2, the window moved by concatenation."""
    from displacement_forecast.distributions import draw_nb
    from displacement_forecast.models.drivers import _ar_features

    R = m.n_regions_
    a = np.zeros(R)
    a[m.idx_] = m.params_[: len(m.idx_)]
    phi = m.params_[len(m.idx_) : -1]
    zm = m._zone_mean()
    win = np.broadcast_to(m.history_, (n_draws, R, m.history_.shape[1])).copy()
    out = np.zeros((n_draws, R, horizon))
    for h in range(horizon):
        mean = np.exp(np.clip(a + _ar_features(win, zm) @ phi, -20, 12))
        y = draw_nb(rng, mean, max(m.params_[-1], 1e-3))
        y[:, ~m.active_] = 0.0
        out[:, :, h] = y
        win = np.concatenate([win[:, :, 1:], y[:, :, None]], axis=2)
    return out


def test_compiled_paths_have_the_distribution_of_the_numpy_recursion():
    """Same model, point estimates: per region and week, the mean and the 10/50/90% quantiles of
    the compiled paths agree with the plain NumPy recursion within Monte Carlo error."""
    y, zone = _zoned(0.25, seed=3)
    for z in (zone, None):
        m = SeriesAR().fit(y, z)
        m.cov_ = np.zeros_like(m.cov_)
        m.common_sd_ = 0.0
        D, H = 20_000, 4
        fast = m.sample(H, D, np.random.default_rng(0))
        ref = _numpy_paths(m, H, D, np.random.default_rng(1))
        se = np.sqrt((fast.var(axis=0) + ref.var(axis=0)) / D)
        assert (np.abs(fast.mean(axis=0) - ref.mean(axis=0)) < 4.5 * se + 1e-9).all()
        for q in (0.1, 0.5, 0.9):
            gap = np.abs(np.quantile(fast, q, axis=0) - np.quantile(ref, q, axis=0))
            assert (gap <= 1 + 0.05 * np.quantile(ref, q, axis=0)).all(), (q, gap.max())


def test_driver_paths_do_not_depend_on_the_number_of_threads(monkeypatch):
    from displacement_forecast import _poisson as P

    y, zone = _zoned(0.25, seed=4)
    m = SeriesAR().fit(y, zone)
    monkeypatch.setattr(P, "PARALLEL_FROM", 1)
    monkeypatch.setattr(P, "n_threads", lambda: 3)
    threaded = m.sample(5, 300, np.random.default_rng(2))
    monkeypatch.setattr(P, "n_threads", lambda: 1)
    np.testing.assert_array_equal(threaded, m.sample(5, 300, np.random.default_rng(2)))
