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
    m = SeriesAR(persistence=0.0).fit(y)  # the autoregression's own paths
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
        m = SeriesAR(persistence=0.0).fit(y, z)  # the recursion alone (held paths: tests below)
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


# -- held paths: the current intensity kept in a share of the paths -------------------------
def test_held_paths_replace_whole_draws_around_the_recent_mean():
    y, zone = _zoned(0.25)
    m = SeriesAR(persistence=0.3).fit(y, zone)
    D, H = 6000, 4
    ar = m.sample(H, D, np.random.default_rng(5))
    held = np.full((D, 12, H), -1.0)
    u = np.random.default_rng(6).random(D)
    out = m.held_paths(ar, held, u)
    np.testing.assert_array_equal(out[u < 0.3], held[u < 0.3])  # whole draws, every region and period
    np.testing.assert_array_equal(out[u >= 0.3], ar[u >= 0.3])
    # the recent mean, each period weighted by the chance that it is in the last one's regime (no
    # escalation here: close to the plain mean; tests/test_regimes.py has the rest)
    np.testing.assert_allclose(m.held_mean(), y[:, -2:].mean(axis=1), rtol=0.02)
    # a held draw's counts: NB2 around the recent mean with the series' dispersion, at every horizon
    m0 = SeriesAR(persistence=1.0).fit(y, zone)
    x = m0.sample(H, D, np.random.default_rng(7))
    mu = m0.held_mean()
    se = np.sqrt((mu + m0.nb_alpha() * mu**2) / D)
    assert (np.abs(x.mean(axis=0) - mu[:, None]) < 4.5 * se[:, None] + 1e-9).all()


def test_without_a_share_the_paths_and_random_numbers_are_the_former_ones():
    """persistence 0, and a fit saved before the share existed (no ``persistence_``), draw exactly
    the autoregression's paths and no further random numbers."""
    y, zone = _zoned(0.25)
    m = SeriesAR(persistence=0.0).fit(y, zone)
    r1 = np.random.default_rng(3)
    a = m.sample(4, 500, r1)
    del m.persistence_
    r2 = np.random.default_rng(3)
    np.testing.assert_array_equal(m.sample(4, 500, r2), a)
    assert r1.random() == r2.random()
    import pytest

    with pytest.raises(ValueError, match="persistence"):
        SeriesAR(persistence=1.5)


def test_held_paths_forecast_persisting_offensives_better():
    """Known truth: the simulator's strikes (log-AR 0.75 intensity, plus escalations that multiply a
    zone's rate 3-12 times for 3-9 weeks). Over the last 30 weekly origins (the final offensive
    among them), holding the current intensity in 30% of the paths lowers the CRPS of the zones'
    3- and 4-week strike totals by at least 4% on two histories, and costs the regions' 1-week
    forecasts at origins before the offensive at most 3%."""
    from displacement_forecast.data.simulate import simulate_nw_syria
    from displacement_forecast.evaluate.scores import crps_sample
    from displacement_forecast.models.panel import Panel

    for seed in (3, 2022):
        sim = simulate_nw_syria(seed=seed)
        panel = Panel.from_observations(sim.observations, sim.regions)
        y = panel.series["strikes"]
        zone = zone_codes(panel.regions.frame["parent"].tolist())
        T = y.shape[1]
        off = T - 9  # the final offensive's first week
        zone_crps = {0.0: 0.0, 0.3: 0.0}
        quiet = {0.0: [], 0.3: []}
        for o in range(T - 34, T - 4):
            for share in zone_crps:
                m = SeriesAR(persistence=share).fit(y[:, : o + 1], zone)
                p = m.sample(4, 400, np.random.default_rng(o))
                for h in (2, 3):
                    obs = y[:, o + 1 + h]
                    zone_crps[share] += sum(float(crps_sample(p[:, zone == z, h].sum(1)[:, None],
                                                              obs[zone == z].sum()[None])[0]) for z in np.unique(zone))
                if o + 1 < off:
                    quiet[share].append(float(np.mean(crps_sample(p[:, :, 0], y[:, o + 1]))))
        assert zone_crps[0.3] < 0.96 * zone_crps[0.0], (seed, zone_crps)
        assert np.mean(quiet[0.3]) < 1.03 * np.mean(quiet[0.0]), (seed, np.mean(quiet[0.3]), np.mean(quiet[0.0]))
