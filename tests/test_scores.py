"""Scores from sample paths: cross-checked against scoringrules and against known distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from displacement_forecast.evaluate import scores as S

sr = pytest.importorskip("scoringrules")


@pytest.fixture
def ens():
    rng = np.random.default_rng(1)
    x = rng.negative_binomial(3, 0.02, size=(400, 7, 5)).astype(float)  # draws x region x horizon
    y = rng.negative_binomial(3, 0.02, size=(7, 5)).astype(float)
    y[0, 0] = 0.0
    y[1, 1] = 5000.0  # far in the tail
    return x, y


@pytest.mark.parametrize("ours,theirs", [("fair", "fair"), ("nrg", "nrg")])
def test_crps_matches_scoringrules(ens, ours, theirs):
    x, y = ens
    ref = sr.crps_ensemble(y, np.moveaxis(x, 0, -1), estimator=theirs, backend="numpy")
    np.testing.assert_allclose(S.crps_sample(x, y, estimator=ours), ref, rtol=1e-10, atol=1e-9)


def test_crps_estimators_differ_by_spread_term(ens):
    x, y = ens
    m = x.shape[0]
    fair, nrg = S.crps_sample(x, y, "fair"), S.crps_sample(x, y, "nrg")
    half_mean_abs_diff = np.abs(x[:, None] - x[None]).mean(axis=(0, 1)) / 2
    assert np.all(nrg >= fair)
    np.testing.assert_allclose(nrg - fair, half_mean_abs_diff / (m - 1), rtol=1e-9)


def test_crps_poisson_analytic():
    """Poisson(lam) draws vs the exact CRPS sum_k (F(k) - 1{y <= k})^2 of the Poisson."""
    lam, rng = 12.0, np.random.default_rng(7)
    ys = np.array([0.0, 5.0, 12.0, 20.0, 40.0])
    k = np.arange(0, 400)
    exact = np.array([((stats.poisson.cdf(k, lam) - (y <= k)) ** 2).sum() for y in ys])
    x = rng.poisson(lam, size=(200_000, len(ys))).astype(float)
    np.testing.assert_allclose(S.crps_sample(x, ys), exact, rtol=5e-3)


def test_crps_point_mass_is_absolute_error():
    x = np.full((10, 3), 4.0)
    np.testing.assert_allclose(S.crps_sample(x, np.array([4.0, 0.0, 10.0]), "nrg"), [0, 4, 6])


def test_wis_matches_scoringrules(ens):
    x, y = ens
    al = np.asarray(S.WIS_ALPHAS)
    med = np.quantile(x, 0.5, axis=0)
    lo = np.moveaxis(np.quantile(x, al / 2, axis=0), 0, -1)
    hi = np.moveaxis(np.quantile(x, 1 - al / 2, axis=0), 0, -1)
    # numba backend: in scoringrules 0.10 the numpy backend adds w0 * median instead of
    # w0 * |y - median| (see test_scoringrules_numpy_wis_bug_is_still_there)
    ref = sr.weighted_interval_score(y, med, lo, hi, al, backend="numba")
    np.testing.assert_allclose(S.wis(x, y), ref, rtol=1e-10)


def test_wis_by_hand():
    # one interval (alpha 0.2) [1, 9], median 5, y = 20: IS = 8 + 10 * 11 = 118
    x = np.array([1.0, 5.0, 9.0])  # not used directly: check the formula through a 3-point ensemble
    y = np.array(20.0)
    lo, med, hi = np.quantile(x, [0.1, 0.5, 0.9])
    expected = (0.5 * abs(y - med) + 0.1 * ((hi - lo) + 10 * (y - hi))) / 1.5
    assert S.wis(x, y, alphas=[0.2]) == pytest.approx(expected)


def test_scoringrules_numpy_wis_bug_is_still_there():
    """Documents why the cross-check uses the numba backend; fails once scoringrules fixes it."""
    args = (np.array([20.0]), np.array([5.0]), np.array([[1.0]]), np.array([[9.0]]), np.array([0.2]))
    numba = np.atleast_1d(sr.weighted_interval_score(*args, backend="numba"))
    numpy_ = np.atleast_1d(sr.weighted_interval_score(*args, backend="numpy"))
    assert numba[0] == pytest.approx((0.5 * 15 + 0.1 * 118) / 1.5)
    if numpy_[0] == pytest.approx(numba[0]):
        pytest.skip("scoringrules' numpy backend WIS is fixed; the numba-only cross-check can go")
    assert numpy_[0] == pytest.approx((0.5 * 5 + 0.1 * 118) / 1.5)


def test_wis_close_to_crps_for_smooth_forecast():
    rng = np.random.default_rng(3)
    x = rng.normal(100, 10, size=(20_000, 50))
    y = rng.normal(100, 10, size=50)
    # Bracher et al.: WIS approximates CRPS for many quantile levels (within ~10% with K = 11)
    ratio = S.wis(x, y).mean() / S.crps_sample(x, y).mean()
    assert 0.85 < ratio < 1.05


def test_coverage_calibrated_normal():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 4000))
    y = rng.normal(size=4000)
    cov = S.coverage(x, y)
    for lv, c in cov.items():
        assert abs(c.mean() - lv / 100) < 0.025, (lv, c.mean())


def test_coverage_detects_overconfidence():
    rng = np.random.default_rng(5)
    x = rng.normal(scale=0.5, size=(2000, 4000))
    y = rng.normal(size=4000)
    assert S.coverage(x, y, [80])[80].mean() < 0.6


def test_pit_randomised_uniform_for_calibrated_counts():
    rng = np.random.default_rng(11)
    lam = rng.uniform(0.5, 30, size=5000)
    x = rng.poisson(lam, size=(2000, 5000)).astype(float)
    y = rng.poisson(lam).astype(float)
    pit = S.pit_randomised(x, y, rng)
    assert stats.kstest(pit, "uniform").pvalue > 0.001
    dens, edges = S.pit_histogram(pit)
    assert len(edges) == 11 and np.allclose(dens.mean(), 1.0)
    assert np.all(np.abs(dens - 1) < 0.15)


def test_pit_flags_biased_forecast():
    rng = np.random.default_rng(2)
    x = rng.poisson(10, size=(1000, 3000)).astype(float)
    y = rng.poisson(20, size=3000).astype(float)
    dens, _ = S.pit_histogram(S.pit_randomised(x, y, rng))
    assert dens[-1] > 5  # observations pile up above the forecast


def test_ignorance_bins_and_pseudocounts():
    e = S.IGNORANCE_EDGES
    assert e[:11] == (0.0, 0.5, 2.5, 5.5, 10.5, 25.5, 50.5, 100.5, 250.5, 500.5, 1000.5)
    assert e[11:] == (2500.5, 5000.5, 10000.5, 25000.5, 50000.5, 100000.5, 250000.5, 500000.5, 1000000.5)
    nb = len(e)
    x = np.zeros((10, 1))
    # all draws at 0, observation 0: p = (10 + 1) / (10 + nb)
    assert S.ignorance(x, np.array([0.0]))[0] == pytest.approx(-np.log2(11 / (10 + nb)))
    # observation 1 is in bin [0.5, 2.5): no draw there, p = 1 / (10 + nb)
    assert S.ignorance(x, np.array([1.0]))[0] == pytest.approx(-np.log2(1 / (10 + nb)))
    x = np.array([[3.0], [5.0], [6.0], [2e6]])
    assert S.ignorance(x, np.array([4.0]))[0] == pytest.approx(-np.log2(3 / (4 + nb)))
    assert S.ignorance(x, np.array([3e6]))[0] == pytest.approx(-np.log2(2 / (4 + nb)))


def test_median_errors_and_nan_observation():
    x = np.array([[1.0, 10.0, 5.0], [3.0, 10.0, 5.0], [2.0, 10.0, 5.0]])
    ae, ape = S.median_errors(x, np.array([4.0, 0.0, np.nan]))
    np.testing.assert_allclose(ae[:2], [2.0, 10.0])
    assert ape[0] == pytest.approx(50.0) and np.isnan(ape[1]) and np.isnan(ae[2])
    sc = S.score_paths(x, np.array([4.0, 0.0, np.nan]), np.random.default_rng(0))
    for k in ("crps", "wis", "ignorance", "pit", "cover_80"):
        assert np.isnan(sc[k][2]) and np.isfinite(sc[k][0]), k


def test_skill():
    assert S.skill(0.5, 1.0) == pytest.approx(0.5)
    assert S.skill(2.0, 1.0) == pytest.approx(-1.0)
    assert np.isnan(S.skill(1.0, 0.0))


def test_shape_errors():
    with pytest.raises(ValueError):
        S.crps_sample(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError):
        S.crps_sample(np.zeros((5, 3)), np.zeros(3), estimator="bogus")


def test_wis_intervals_matches_scoringrules_and_hand():
    """WIS from given interval bounds (how the statsforecast peers are scored) = scoringrules, and a
    hand computation with one interval."""
    rng = np.random.default_rng(7)
    al = np.asarray(S.WIS_ALPHAS)
    med = rng.normal(100, 10, 50)
    half = np.abs(rng.normal(30, 5, 50))[None] * (1 - al[:, None])
    lo, hi = med[None] - half, med[None] + half
    y = rng.normal(100, 40, 50)
    ref = sr.weighted_interval_score(y, med, lo.T, hi.T, al, backend="numba")
    np.testing.assert_allclose(S.wis_intervals(med, lo, hi, y), ref, rtol=1e-10)
    # alpha 0.2 interval [1, 9], median 5, y = 20: (0.5 * 15 + 0.1 * (8 + 10 * 11)) / 1.5
    got = S.wis_intervals(np.array(5.0), np.array([1.0]), np.array([9.0]), np.array(20.0), alphas=[0.2])
    assert got == pytest.approx((7.5 + 0.1 * 118) / 1.5)
