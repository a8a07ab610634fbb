"""NB noise by CDF inversion: exact against SciPy, monotone in the mean, a fixed amount of randomness."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st
from scipy.optimize import brentq

from displacement_forecast import _poisson as P
from displacement_forecast.distributions import CommonNoiseNB

ROOT = Path(__file__).resolve().parents[1]

# Means from 0 and tiny up to 1e5, across every path of the sampler (sequential sum below 6 and
# below 30, the quantile expansion from 6, Temme's CDF beyond), and around the switch points.
MEANS = [0.0, 1e-6, 0.01, 0.7, 1.0, 5.99, 6.01, 9.5, 29.9, 30.1, 41.0, 250.0, 1000.0, 12345.6, 1e5]


def _cdf_reference(k: np.ndarray, lam: float, pmf: bool = False) -> np.ndarray:
    """P(N <= k) (or P(N = k)), summed in long double around the mode (independent of SciPy and
    of _poisson)."""
    L = np.longdouble(lam)
    mode = int(lam)
    w = int(40 * np.sqrt(lam) + 60)
    lo, hi = max(0, mode - w), mode + w
    r = np.ones(hi - lo + 1, dtype=np.longdouble)
    for j in range(mode + 1, hi + 1):
        r[j - lo] = r[j - 1 - lo] * L / j
    for j in range(mode - 1, lo - 1, -1):
        r[j - lo] = r[j + 1 - lo] * (j + 1) / L
    c = (r if pmf else np.cumsum(r)) / r.sum()
    k = np.asarray(k, dtype=np.int64)
    return np.where(k < lo, 0.0, c[np.clip(k - lo, 0, len(c) - 1)].astype(float))


@pytest.mark.parametrize("lam", MEANS)
def test_poisson_quantiles_are_exact(lam):
    """k(u) is the smallest k with F(k) >= u, F the exact CDF, for random and extreme u."""
    rng = np.random.default_rng(int(lam * 1000) % 2**32)
    u = np.concatenate([rng.random(4000), [1e-15, 1e-9, 1e-4, 0.5, 1 - 1e-4, 1 - 1e-9, 1 - 2**-52]])
    k = P.poisson_ppf(u, lam)
    assert np.all(k == np.floor(k)) and np.all(k >= 0)
    if lam == 0:
        assert np.all(k == 0)
        return
    F_k, F_km1 = _cdf_reference(k, lam), np.where(k > 0, _cdf_reference(k - 1, lam), 0.0)
    tol = 1e-12  # draws with u this close to a CDF value are decided by rounding either way
    assert np.all(F_k >= u - tol), (u[F_k < u - tol][:3], k[F_k < u - tol][:3])
    assert np.all(F_km1 < u + tol), (u[F_km1 >= u + tol][:3], k[F_km1 >= u + tol][:3])


def _implied_cdf(draw, ks: np.ndarray) -> np.ndarray:
    """P(draw(U) <= k) for U uniform: the smallest u whose draw exceeds k, by bisection."""
    lo, hi = np.zeros(len(ks)), np.full(len(ks), 1 - 2**-53)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        gt = draw(mid) > ks
        hi, lo = np.where(gt, mid, hi), np.where(gt, lo, mid)
    return hi


@pytest.mark.parametrize("lam", [0.01, 1.0, 5.9, 6.1, 29.9, 30.1, 45.0, 777.7, 2e4, 1e5])
def test_sampler_distribution_is_the_poisson_cdf(lam):
    """The distribution the sampler draws from (its CDF, found exactly by bisection in u) is the
    Poisson CDF to 1e-12, over +-9 sd: the KS distance of the sampler itself, no sampling error."""
    sd = np.sqrt(lam)
    ks = np.arange(max(0, int(lam - 9 * sd)), int(lam + 9 * sd + 5))
    implied = _implied_cdf(lambda u: P.poisson_ppf(u, lam), ks)
    assert np.max(np.abs(implied - _cdf_reference(ks, lam))) < 1e-12


def test_nb_direct_inversion_distribution_is_the_nb2_cdf():
    worst = 0.0
    small_ppf = numba.njit(lambda m, a, u: P._nb_small_ppf(m, a, u))
    for mean in [0.01, 0.5, 3.0, 9.9, 39.9]:
        for alpha in [1e-4, 0.05, 0.3, 1.0, 2.0]:
            r = 1 / alpha
            exact = st.nbinom(r, r / (r + mean))
            ks = np.arange(0, int(exact.ppf(1 - 1e-12)) + 2)

            def draw(u, mean=mean, alpha=alpha):
                return np.array([small_ppf(mean, alpha, x) for x in u])

            worst = max(worst, np.max(np.abs(_implied_cdf(draw, ks) - exact.cdf(ks))))
    assert worst < 1e-11, worst


def test_poisson_quantiles_match_scipy():
    rng = np.random.default_rng(3)
    lam = np.exp(rng.uniform(np.log(1e-3), np.log(2e4), 20000))
    u = rng.random(20000)
    np.testing.assert_array_equal(P.poisson_ppf(u, lam), st.poisson.ppf(u, lam))


@numba.njit
def _nb_cells(g, mean, alpha, C):
    """``P.nb_cell`` (the driver paths' sampler) once per entry of the 1-D ``mean``."""
    out = np.empty(mean.size)
    for i in range(mean.size):
        out[i] = P.nb_cell(g, mean[i], alpha, C)
    return out


@pytest.mark.parametrize("alpha", [1e-4, 0.05, 0.3, 1.0, 2.0])
@pytest.mark.parametrize("mean", [0.01, 0.7, 3.0, 30.0, 1000.0, 1e5])
def test_nb_draws_have_the_nb2_distribution(mean, alpha):
    """CommonNoiseNB (gamma x Poisson quantile) and nb_cell (the driver paths' sampler) against
    scipy's NB2 CDF."""
    n = 40_000
    r = 1.0 / alpha
    exact = st.nbinom(r, r / (r + mean))
    seed = int(mean * 100 + alpha * 1e4)
    crn = CommonNoiseNB(np.random.default_rng(seed), alpha, (n // 20, 20, 1)).draw(0, np.full((n // 20, 20), mean))
    inv = _nb_cells(np.random.default_rng(seed + 1), np.full(n, mean), alpha, P._C)
    for y in (crn.ravel(), inv.ravel()):
        grid = np.unique(np.quantile(y, np.linspace(0, 1, 201)))
        ks = np.max(np.abs(np.searchsorted(np.sort(y), grid, side="right") / n - exact.cdf(grid)))
        assert ks < 1.63 / np.sqrt(n) * 1.3, ks  # KS 1% critical value, with room for the grid


def test_temme_cdf_error_below_2e_13():
    worst = 0.0
    for lam in [30.0, 41.3, 60.0, 100.0, 250.7, 1000.0, 5e3, 3e4, 1e5, 1e6]:
        k = np.unique(np.floor(lam + np.linspace(-8.5, 8.5, 69) * np.sqrt(lam)))
        k = k[k + 1 >= P.TEMME_FROM]
        F, pmf = _cdf_reference(k, lam), _cdf_reference(k, lam, pmf=True)
        for kk, f, q in zip(k, F, pmf, strict=True):
            lo, p = P._temme(kk + 1.0, lam, False, P._C)
            hi, _ = P._temme(kk + 1.0, lam, True, P._C)
            worst = max(worst, abs(lo - f), abs(hi - (1.0 - f)))
            assert abs(p - q) <= 1e-12 * q + 1e-300
    assert worst < 2e-13, worst


def _continuous_quantile(z: float, lam: float) -> float:
    u = sc.ndtr(z)
    g = lambda t: sc.gammaincc(t + 1.0, lam) - u  # noqa: E731
    c = lam + z * np.sqrt(lam)
    return brentq(g, max(-0.999999, c - 10 - 3 * abs(z)), c + 10 + 3 * abs(z), xtol=1e-12, rtol=1e-15)


def test_quantile_expansion_within_a_tenth_of_its_bound():
    """The fast path trusts |t_expansion - t| < FAST_ERROR lam^-5.5: check it with room to spare."""
    ratio = 0.0
    for lam in np.exp(np.linspace(np.log(P.FAST_FROM), np.log(1e6), 40)):
        for z in np.linspace(-P.FAST_Z, P.FAST_Z, 49):
            t, _ = P._quantile_expansion(z, lam)
            err = abs(t - _continuous_quantile(z, lam))
            ratio = max(ratio, err / (P.FAST_ERROR * lam**-5.5 + 1e-12 * lam))
    assert ratio < 0.1, ratio


def test_counts_never_decrease_when_the_mean_grows():
    rng = np.random.default_rng(5)
    z = P.nb_randomness(rng, np.ones((1, 1)), (1, 1, 3000))[1].ravel()
    lam = np.concatenate([np.linspace(0, 45, 900), np.exp(np.linspace(np.log(45), np.log(2e5), 300))])
    k = np.stack([P.poisson_ppf_z(z, np.full(3000, x)) for x in lam])
    assert (np.diff(k, axis=0) >= 0).all()
    # and on random pairs, with NB multipliers
    noise = CommonNoiseNB(np.random.default_rng(6), 0.4, (400, 50, 3))
    m1 = np.exp(rng.normal(2, 2, (400, 50)))
    m2 = m1 * np.exp(np.abs(rng.normal(0, 1, (400, 50))))
    for h in range(3):
        assert (noise.draw(h, m2) >= noise.draw(h, m1)).all()


def test_one_cells_mean_never_moves_another_cells_noise():
    noise = CommonNoiseNB(np.random.default_rng(7), np.full((300, 1), 0.3), (300, 20, 4))
    mean = np.exp(np.random.default_rng(8).normal(3, 2, (300, 20)))
    base = [noise.draw(h, mean) for h in range(4)]
    changed = mean.copy()
    changed[:, 5] *= 7.0
    for h in range(4):
        y = noise.draw(h, changed)
        np.testing.assert_array_equal(np.delete(y, 5, axis=1), np.delete(base[h], 5, axis=1))
        assert (y[:, 5] >= base[h][:, 5]).all() and (y[:, 5] > base[h][:, 5]).any()
    # the randomness drawn does not depend on anything but the shape and the dispersion
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    CommonNoiseNB(a, 0.3, (10, 4, 2))
    CommonNoiseNB(b, 0.3, (10, 4, 2)).draw(0, np.full((10, 4), 1e4))
    assert a.random() == b.random()


def test_depleting_draws_equal_the_period_by_period_loop():
    D, R, H = 200, 7, 6
    noise = CommonNoiseNB(np.random.default_rng(10), np.full((D, 1), 0.2), (D, R, H))
    rng = np.random.default_rng(11)
    hazard = np.minimum(np.exp(rng.normal(-3, 1.5, (D, R, H))), 0.5)
    at_risk = rng.uniform(10, 5e4, R)
    fast = noise.draw_depleting(hazard, at_risk)
    left = np.broadcast_to(at_risk, (D, R)).copy()
    for h in range(H):
        y = np.minimum(noise.draw(h, left * hazard[:, :, h]), left)
        np.testing.assert_array_equal(fast[:, :, h], y)
        left -= y
    assert (fast.sum(axis=2) <= at_risk + 1e-9).all()


def test_threads_do_not_change_the_draws(monkeypatch):
    noise = CommonNoiseNB(np.random.default_rng(12), 0.3, (64, 30, 26))
    hazard = np.full((64, 30, 26), 0.01)
    monkeypatch.setattr(P, "PARALLEL_FROM", 1)
    monkeypatch.setattr(P, "n_threads", lambda: 3)
    threaded = noise.draw_depleting(hazard, 1e5)
    monkeypatch.setattr(P, "n_threads", lambda: 1)
    np.testing.assert_array_equal(threaded, noise.draw_depleting(hazard, 1e5))


def test_edge_values():
    assert np.isnan(P.poisson_ppf(0.3, np.nan))
    assert P.poisson_ppf(0.3, -1.0) == 0 and P.poisson_ppf(0.0, 50.0) == 0
    y = _nb_cells(np.random.default_rng(0), np.array([0.0, -3.0, np.nan, 1e6]), 0.5, P._C)
    assert y[0] == 0 and y[1] == 0 and np.isnan(y[2]) and y[3] > 0


def _derivation():
    spec = importlib.util.spec_from_file_location("_derive_poisson", ROOT / "experiments" / "derive_poisson_tables.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_temme_table_is_the_derived_one():
    derived = _derivation().temme_coefficients()
    assert [d[: len(c)] for d, c in zip(derived, P._TEMME, strict=True)] == [list(c) for c in P._TEMME]


@pytest.mark.slow
def test_quantile_table_is_the_derived_one():
    assert _derivation().quantile_expansion() == [list(c) for c in P._QUANTILE]
