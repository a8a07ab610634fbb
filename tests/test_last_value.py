"""``last-value``: per-region, per-horizon NB dispersion from each region's own naive errors, partially pooled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.models import get_model
from displacement_forecast.models.base import Panel
from displacement_forecast.models.baselines import shrink_to_common

#: Calm regions of very different sizes, 8 of each (NB chains around their last value with a known
#: dispersion), and one spiky region (iid NB around a constant with a large dispersion).
START = np.repeat([50.0, 50_000.0], 8)
ALPHA = np.repeat([0.1, 0.01], 8)
CALM = len(START)


def _nb(rng, mean, alpha, size=None):
    r = 1.0 / alpha
    return rng.negative_binomial(r, r / (r + np.maximum(mean, 0.5)), size=size).astype(float)


def _panel(T=25, seed=0) -> Panel:
    """y[t] | y[t-1] ~ NB(mean = y[t-1], alpha_r) (the model's own law at h = 1) for the calm
    regions; a chain is a martingale whose median drifts down, so the histories are kept short."""
    rng = np.random.default_rng(seed)
    y = np.empty((CALM + 1, T))
    y[:CALM, 0] = START
    for t in range(1, T):
        y[:CALM, t] = _nb(rng, y[:CALM, t - 1], ALPHA)
    y[CALM] = _nb(rng, 2000.0, 3.0, size=T)
    codes = [f"R{i}" for i in range(CALM)] + ["SPIKY"]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A",
                                               "population": 10**12}))
    return Panel(pd.date_range("2020-01-01", periods=T, freq="MS"), regions, "M", {"displaced": y})


def test_last_value_dispersion_is_per_region_and_recovered():
    """The calm regions' fitted h=1 dispersions are near their own truths (0.1 for the regions of
    ~50 a period, 0.01 for those of ~50,000), not one value pooled with the spiky region, and the
    spiky region gets a far larger one. (The old pooled fit gave every region 33 to 2,950 times
    its truth.)"""
    ratios = []
    for seed in range(4):
        m = get_model("last-value").fit(_panel(seed=seed))
        a = m.alpha_[:, 0]
        assert m.alpha_.shape[0] == CALM + 1 and a[CALM] > 10 * a[:CALM].max(), a
        ratios.append(a[:CALM] / ALPHA)
        d = m.info_.diagnostics
        assert {"median_alpha_h1", "alpha_pooled_h1", "alpha_common_h1", "tau_log_alpha_h1"} <= set(d)
    ratios = np.array(ratios)
    assert np.all((ratios > 0.25) & (ratios < 4)), ratios
    for group in (ALPHA == 0.1, ALPHA == 0.01):  # geometric mean over regions and seeds
        assert abs(np.exp(np.log(ratios[:, group]).mean()) - 1) < 0.25, ratios[:, group]


def test_last_value_median_is_the_last_value_and_intervals_cover():
    """Forecast medians at h=1 sit near each calm region's last count (not 0, and not pulled down
    by the spiky region's dispersion), and the 80% / 95% intervals cover about 80% / 95% of many
    next values drawn from the true law NB(last, alpha_r) (the old pooled fit: medians 0, coverage
    0 or 1)."""
    rng = np.random.default_rng(99)
    covers = {80: [], 95: []}
    for seed in range(4):
        p = _panel(seed=seed)
        last = p.target()[:CALM, -1]
        x = get_model("last-value").fit(p).sample_paths(1, n_draws=4000, seed=seed).values[:, :CALM, 0]
        med = np.median(x, axis=0)
        assert np.all(np.abs(med - last) <= 0.15 * last + 2), (med, last)
        truth = _nb(rng, last[None, :], ALPHA[None, :], size=(4000, CALM))
        for lv, (lo_q, hi_q) in ((80, (0.1, 0.9)), (95, (0.025, 0.975))):
            lo, hi = np.quantile(x, [lo_q, hi_q], axis=0)
            covers[lv].append(((truth >= lo) & (truth <= hi)).mean(axis=0))
    big = START == 50_000
    for lv, c in covers.items():
        c = np.array(c)
        assert abs(c[:, big].mean() - lv / 100) < 0.05, (lv, c[:, big])
        # small counts are discrete: closed intervals cover at least the nominal rate, not far more
        assert lv / 100 - 0.05 < c[:, ~big].mean() < lv / 100 + 0.12, (lv, c[:, ~big])


def test_shrink_to_common_recovers_known_group_effects():
    """theta_r = t_r + noise, t_r ~ N(1, 0.5^2), noise var from 0.01 to 4: the shrunk estimates
    are closer to the true t_r than the raw ones; precise groups barely move, noisy ones move to
    the common mean; equal groups (tau = 0) all get the common mean; no variance: unchanged."""
    rng = np.random.default_rng(0)
    var = np.tile([0.01, 0.1, 1.0, 4.0], 50)
    t = 1.0 + 0.5 * rng.standard_normal(var.size)
    theta = t + np.sqrt(var) * rng.standard_normal(var.size)
    out, mu, tau2 = shrink_to_common(theta, var)
    assert abs(mu - 1.0) < 0.15 and 0.1 < tau2 < 0.45, (mu, tau2)
    assert ((out - t) ** 2).mean() < 0.7 * ((theta - t) ** 2).mean()
    precise, noisy = var == 0.01, var == 4.0
    assert np.abs(out - theta)[precise].max() < 0.1
    assert np.abs(out - mu)[noisy].mean() < 0.3 * np.abs(theta - mu)[noisy].mean()
    same, m2, t2 = shrink_to_common(np.array([1.0, 1.01, 0.99]), np.array([1.0, 1.0, np.inf]))
    assert t2 == 0.0 and np.allclose(same, m2)
    np.testing.assert_array_equal(shrink_to_common(np.array([2.0, 3.0]), np.full(2, np.inf))[0], [2.0, 3.0])


def test_a_last_value_fit_saved_with_one_dispersion_per_horizon_still_forecasts(tmp_path):
    """Fits saved before the dispersion was per region hold ``alpha_`` of shape ``(horizons,)``:
    loading one (same format version) and forecasting raised IndexError; it forecasts with that
    dispersion for every region, the same paths as the per-region form with equal rows."""
    from displacement_forecast.models.io import load_model, save_model

    m = get_model("last-value").fit(_panel())
    per_h = np.median(m.alpha_, axis=0)
    m.alpha_ = per_h
    old = load_model(save_model(m, tmp_path / "old"))
    assert old.alpha_.shape == per_h.shape
    x = old.sample_paths(3, n_draws=50, seed=0).values
    m.alpha_ = np.tile(per_h, (CALM + 1, 1))
    np.testing.assert_array_equal(x, m.sample_paths(3, n_draws=50, seed=0).values)


def test_nb_log_alpha_rows_mle_and_its_variance_match_known_truth():
    """Rows of iid NB(1000, alpha) counts, alpha from 0.02 to 5: the grid + Newton MLE equals a
    bounded scalar optimiser's within 0.005 on the log scale, its mean over 200 rows is the true
    log alpha, and the variance it reports (inverse observed information, what the shrinkage
    weights by) matches the MLE's spread over the rows within 25%."""
    from scipy import optimize, special

    from displacement_forecast.models.baselines import _nb_log_alpha_rows

    rng = np.random.default_rng(7)
    for alpha in (0.02, 0.5, 5.0):
        y = _nb(rng, 1000.0, alpha, size=(200, 120))
        mu = np.full_like(y, 1000.0)
        t, var, n, pooled = _nb_log_alpha_rows(y, mu)
        assert (n == 120).all() and np.isfinite(var).all()
        assert abs(t.mean() - np.log(alpha)) < 0.05, (alpha, t.mean())
        assert abs(np.sqrt(var.mean()) / t.std() - 1) < 0.25, (alpha, np.sqrt(var.mean()), t.std())
        assert abs(pooled - np.log(alpha)) < 0.05, (alpha, pooled)
        for row in range(3):
            def nll(la, yy=y[row]):
                r = np.exp(-la)
                return -np.sum(special.gammaln(yy + r) - special.gammaln(r) + r * np.log(r / (r + 1000.0))
                               + yy * np.log(1000.0 / (r + 1000.0)))
            ref = optimize.minimize_scalar(nll, bounds=(np.log(1e-4), np.log(50.0)), method="bounded",
                                           options={"xatol": 1e-6}).x
            assert abs(t[row] - ref) < 0.005, (alpha, t[row], ref)


def test_regions_with_no_usable_history_get_the_common_dispersion():
    """A region with no count (all NaN) or one count (no h=1 pair) has no estimate of its own: it
    gets the shrinkage's common value, and its forecast is finite; the others keep their own."""
    p = _panel()
    y = p.target().copy()
    y[0] = np.nan
    y[1, :-1] = np.nan
    q = Panel(p.dates, p.regions, p.freq, {"displaced": y})
    m = get_model("last-value").fit(q)
    common = m.info_.diagnostics["alpha_common_h1"]
    np.testing.assert_allclose(m.alpha_[:2, 0], common, rtol=5e-3)  # the diagnostic is rounded
    assert not np.allclose(m.alpha_[2:, 0], common, rtol=0.05)
    assert np.isfinite(m.sample_paths(2, n_draws=20, seed=0).values).all()


def test_a_history_too_short_for_any_region_estimate_writes_no_nan(tmp_path):
    """Three periods: no region has 3 h=1 pairs, so every region gets the pooled dispersion and the
    shrinkage's tau is undefined; it was written as a bare NaN into the saved model.json."""
    import json

    from displacement_forecast.models.io import MODEL_FILE, save_model

    m = get_model("last-value").fit(_panel(T=3))
    assert "tau_log_alpha_h1" not in m.info_.diagnostics and "alpha_pooled_h1" in m.info_.diagnostics
    assert np.allclose(m.alpha_[:, 0], m.info_.diagnostics["alpha_pooled_h1"], rtol=5e-3)
    text = (save_model(m, tmp_path / "m") / MODEL_FILE).read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"model.json holds {c}"))


def test_all_zero_regions_do_not_pull_the_common_dispersion():
    """Ten NB regions with alpha 1.5 and three regions of only zeros (whose estimate runs to the
    grid's upper bound): the common value is that of the ten alone; the zero regions keep a
    dispersion at least the common one (a count of 0 stays likely for them)."""
    from displacement_forecast.models.baselines import nb_alpha_by_region

    rng = np.random.default_rng(3)
    mu = np.full((10, 60), 200.0)
    y = rng.negative_binomial(1 / 1.5, 1 / (1 + 1.5 * mu))
    a10, i10 = nb_alpha_by_region(y, mu)
    a13, i13 = nb_alpha_by_region(np.vstack([y, np.zeros((3, 60))]), np.vstack([mu, np.full((3, 60), 0.5)]))
    assert abs(np.log(i10["alpha_common"] / 1.5)) < 0.2, i10
    assert abs(i13["alpha_common"] / i10["alpha_common"] - 1) < 1e-9, (i10, i13)
    np.testing.assert_allclose(a13[:10], a10)
    assert (a13[10:] >= i13["alpha_common"]).all()


def test_overlapping_errors_borrow_more():
    """h-step errors from consecutive origins overlap: ``overlap=h`` multiplies the estimates'
    variances by h, so the regions end up closer to the common value than with independent
    errors (most of them, and on average)."""
    from displacement_forecast.models.baselines import nb_alpha_by_region

    rng = np.random.default_rng(4)
    alpha = np.exp(rng.normal(0, 1, 12))[:, None]
    mu = np.full((12, 20), 300.0)
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu))
    a1, i1 = nb_alpha_by_region(y, mu)
    a3, i3 = nb_alpha_by_region(y, mu, overlap=3)
    d1, d3 = np.abs(np.log(a1 / i1["alpha_common"])), np.abs(np.log(a3 / i3["alpha_common"]))
    assert (d3 < d1).mean() >= 0.75 and d3.mean() < 0.85 * d1.mean(), (d1, d3)


def test_the_farthest_horizons_keep_the_last_estimated_dispersion():
    """Horizons with fewer than 3 naive errors in all used to get a dispersion of 1 whatever the
    nearer horizons gave (one region swinging by factors of ten: dispersion 50 at h = 1-21 and 1
    at h = 22-23, narrower bands far out than next period); they now use the last horizon
    estimated from 3 or more errors."""
    rng = np.random.default_rng(7)
    T = 12
    v = np.round(np.exp(rng.normal(7, 2.0, (1, T))))  # factor-of-ten swings: a dispersion far above 1
    regions = regions_from_frame(pd.DataFrame({"code": ["A1"], "name": ["A1"], "parent": "A",
                                               "population": 10**12}))
    panel = Panel(pd.date_range("2020-01-01", periods=T, freq="MS"), regions, "M", {"displaced": v})
    m = get_model("last-value").fit(panel)
    assert m.alpha_.shape == (1, T - 3), m.alpha_.shape  # h = 1..9 have >= 3 errors
    assert not (m.alpha_ == 1.0).any(), m.alpha_  # no fallback value among them
    # h = 10, 11 are drawn with h = 9's dispersion: their 80% bands as wide as h = 9's
    p = m.sample_paths(T - 1, n_draws=4000, seed=0).values[:, 0]
    lo, hi = np.quantile(p, [0.1, 0.9], axis=0)
    np.testing.assert_allclose(hi[-2:] - lo[-2:], hi[8] - lo[8], rtol=0.15)
