"""Escalation regimes: the two-state model recovers known parameters, its weights are exact, and the
held paths keep the current regime's intensity (known truth: the simulator's escalations)."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import norm

from displacement_forecast.models.drivers import SeriesAR, regime_held_level, zone_codes
from displacement_forecast.models.regimes import TwoStateFit, fit_two_state, same_regime_weights


def _hmm(rng: np.random.Generator, Z: int, T: int, A: np.ndarray, mean=(0.0, 1.5), sd=0.4) -> tuple:
    s = np.zeros((Z, T), int)
    for z in range(Z):
        for t in range(1, T):
            s[z, t] = rng.random() < A[s[z, t - 1], 1]
    return np.asarray(mean)[s] + rng.normal(0, sd, (Z, T)), s


def test_fit_recovers_known_parameters():
    A = np.array([[0.97, 0.03], [0.15, 0.85]])
    x, _ = _hmm(np.random.default_rng(1), 8, 300, A)
    f = fit_two_state(x)
    np.testing.assert_allclose(f.mean, [0.0, 1.5], atol=0.08)
    assert abs(f.sd - 0.4) < 0.03
    np.testing.assert_allclose(np.diag(f.transition), np.diag(A), atol=0.04)
    # states ordered: state 1 is the higher one whatever the start
    g = fit_two_state(-x)
    assert g.mean[1] > g.mean[0]
    np.testing.assert_allclose(np.sort(g.mean), np.sort(-f.mean), atol=1e-6)


def test_same_regime_weights_are_exact():
    """Against brute force over all 2^8 state sequences."""
    f = TwoStateFit(mean=np.array([0.0, 1.2]), sd=0.5, transition=np.array([[0.9, 0.1], [0.3, 0.7]]),
                    initial=np.array([0.8, 0.2]))
    x = np.array([[0.1, 1.3, 0.2, 1.0, 0.9, 0.3, 0.7, 0.05], [1.4, 1.1, 0.0, 0.2, 1.3, 1.2, 1.6, 1.5]])
    T, k = x.shape[1], 4
    for z in range(2):
        num, tot = np.zeros(k), 0.0
        for s in itertools.product([0, 1], repeat=T):
            p = f.initial[s[0]] * norm.pdf(x[z, 0], f.mean[s[0]], f.sd)
            for t in range(1, T):
                p *= f.transition[s[t - 1], s[t]] * norm.pdf(x[z, t], f.mean[s[t]], f.sd)
            tot += p
            num += p * (np.asarray(s[-k:]) == s[-1])
        np.testing.assert_allclose(same_regime_weights(x, f, k)[z], num / tot, rtol=1e-9)


def test_held_level_leaves_out_an_escalation_that_has_ended():
    """A zone whose offensive (x8) ended in the last period holds the quiet level; one whose
    offensive goes on holds the offensive's; a quiet zone the plain mean of its last two periods."""
    rng = np.random.default_rng(4)
    T, per_zone = 120, 3
    zone = np.repeat(np.arange(4), per_zone)
    lam = np.full((4, T), 10.0)
    for z, (a, b) in enumerate([(30, 36), (70, 78), (90, 97), (100, 106)]):
        lam[z, a:b] *= 8
    lam[0, T - 6 : T - 1] *= 8  # zone 0: ended in the last period
    lam[1, T - 5 :] *= 8  # zone 1: going on
    y = rng.poisson(np.repeat(lam, per_zone, axis=0)).astype(float)
    active = np.ones(len(zone), bool)
    level = regime_held_level(y, zone, active, 2)
    plain = y[:, -2:].mean(axis=1)
    ended, going, quiet = zone == 0, zone == 1, zone >= 2
    np.testing.assert_allclose(level[ended], y[ended, -1], rtol=0.05)  # the last (quiet) period
    assert (plain[ended] > 3 * level[ended]).all()  # the plain mean holds half the offensive
    np.testing.assert_allclose(level[going], plain[going], rtol=0.05)
    np.testing.assert_allclose(level[quiet], plain[quiet], rtol=0.05)
    # too short to fit a model: the plain mean
    np.testing.assert_array_equal(regime_held_level(y[:, -8:], zone, active, 2), y[:, -2:].mean(axis=1))


def test_fitted_series_holds_the_regime_level_and_fits_saved_before_keep_the_plain_mean():
    rng = np.random.default_rng(2)
    y = rng.poisson(np.full((6, 60), 5.0)).astype(float)
    y[:, -6:-1] *= 10
    zone = np.zeros(6, np.int64)
    m = SeriesAR().fit(y, zone)
    np.testing.assert_allclose(m.held_mean(), regime_held_level(y, zone, np.ones(6, bool), 2))
    np.testing.assert_allclose(m.held_mean(), y[:, -1], rtol=0.05)  # the quiet last period, not half the offensive
    del m.held_level_
    np.testing.assert_allclose(m.held_mean(), y[:, -2:].mean(axis=1))


def test_regime_level_forecasts_the_ends_of_escalations_better():
    """Known truth: on simulated histories, at the origins whose last period is the first after an
    escalation ended, the zones' strike totals 1-2 periods ahead have a lower CRPS with held paths
    at the regime level than at the plain mean of the last two periods (nothing else changes)."""
    from displacement_forecast.data.simulate import simulate_nw_syria
    from displacement_forecast.evaluate.scores import crps_sample
    from displacement_forecast.models.panel import Panel

    crps = {"regime": 0.0, "plain": 0.0}
    n = 0
    for seed in (11, 4, 2022):
        sim = simulate_nw_syria(seed=seed)
        panel = Panel.from_observations(sim.observations, sim.regions)
        y = panel.series["strikes"]
        zone = zone_codes(panel.regions.frame["parent"].tolist())
        zones = panel.regions.frame["parent"].to_numpy()
        for e in sim.escalations.itertuples():
            o = e.start_week + e.weeks  # first period after the escalation: the origin's last one
            if o < 40 or o + 3 > y.shape[1]:
                continue
            m = SeriesAR(persistence=1.0).fit(y[:, : o + 1], zone)
            rows = zones == e.zone
            for how in crps:
                if how == "plain":
                    del m.held_level_
                p = m.sample(2, 2000, np.random.default_rng(o))
                for h in range(2):
                    crps[how] += float(crps_sample(p[:, rows, h].sum(1)[:, None], y[rows, o + 1 + h].sum()[None])[0])
            n += 1
    assert n >= 6, n
    assert crps["regime"] < 0.8 * crps["plain"], crps
