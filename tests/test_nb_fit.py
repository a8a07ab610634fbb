"""The linear-in-regions NB2 fit (models/_nb_fit.py) gives statsmodels' estimates and covariance.

statsmodels' ``NegativeBinomial`` with one dummy column per region is the reference (finished with
Newton steps so it is the exact maximum); the models used it before and their fits must not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.data.simulate import NW_SYRIA_REGIONS, simulate_nw_syria
from displacement_forecast.forecast import engine
from displacement_forecast.models import _nb_fit
from displacement_forecast.models._nb_fit import draw_from_blocks, fit_nb2_groups
from displacement_forecast.models._nb_fit import fit_statsmodels_reference as statsmodels_fit
from displacement_forecast.models.base import Panel
from displacement_forecast.models.drivers import SeriesAR, zone_codes
from displacement_forecast.models.glm import NBDistributedLag


def _regions(n: int):
    rows = [(f"R{i:03d}", f"Region {i}", NW_SYRIA_REGIONS[i % 13][2], 80_000) for i in range(n)]
    return regions_from_frame(pd.DataFrame(rows, columns=["code", "name", "parent", "population"]))


@pytest.fixture(scope="module")
def panel50() -> Panel:
    s = simulate_nw_syria(n_weeks=48, seed=3, regions=_regions(50))
    return Panel.from_observations(s.observations, s.regions)


def _assert_same_fit(params, cov, ref_params, ref_cov):
    # coefficients within 1e-4 relative (1e-4 absolute for those within 1e-4 of zero), dispersion 1e-3
    np.testing.assert_allclose(params[:-1], ref_params[:-1], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(params[-1], ref_params[-1], rtol=1e-3)
    sd = np.sqrt(np.diag(ref_cov))
    np.testing.assert_allclose(cov / np.outer(sd, sd), ref_cov / np.outer(sd, sd), atol=1e-4)


def test_nbdl_fit_equals_statsmodels_at_50_regions(panel50):
    m = NBDistributedLag().fit(panel50)
    Y, X, g, off = m._design(panel50, m.n_lags_, np.flatnonzero(m.active_))
    ref, ref_cov, res = statsmodels_fit(Y, X, g, m.n_active_, off)
    assert m.n_active_ == 50 and res.mle_retvals["converged"]
    _assert_same_fit(m.params_, m.cov_, ref, ref_cov)
    assert m.info_.diagnostics["converged"]
    assert abs(m.info_.diagnostics["loglik"] - res.llf) < 0.01
    assert abs(m.info_.diagnostics["aic"] - res.aic) < 0.01


def test_driver_autoregression_fit_equals_statsmodels_at_50_regions(panel50):
    y = panel50.series["strikes"]
    zone = zone_codes(panel50.regions.frame["parent"].tolist())
    m = SeriesAR().fit(y, zone)
    Y, X, g, _ = m._design(y, np.nan_to_num(y), m.idx_)
    ref, ref_cov, _ = statsmodels_fit(Y, X, g, len(m.idx_))
    assert X.shape[1] == 4  # own and zone features
    _assert_same_fit(m.params_, m.cov_, ref, ref_cov)


def test_block_draws_have_the_dense_covariance(panel50):
    """Drawing from the blocks (large fits) gives the dense covariance's distribution."""
    m = NBDistributedLag().fit(panel50)
    n = 40_000
    theta = draw_from_blocks(m.params_, m.cov_blocks_, n, np.random.default_rng(0))
    sd = np.sqrt(np.diag(m.cov_))
    z = (theta - m.params_) / sd
    corr = (z.T @ z) / n
    # Monte Carlo error of a correlation estimate from 40,000 draws is < 0.005 (sd); allow 5 sd
    assert np.abs(corr - m.cov_ / np.outer(sd, sd)).max() < 0.025
    assert np.abs(z.mean(axis=0)).max() < 0.025


def test_large_fits_keep_no_dense_covariance_and_still_sample(monkeypatch, panel50, tmp_path):
    monkeypatch.setattr(_nb_fit, "DENSE_COV_MAX", 10)
    monkeypatch.setattr("displacement_forecast.models.glm.DENSE_COV_MAX", 10)
    monkeypatch.setattr("displacement_forecast.models.drivers.DENSE_COV_MAX", 10)
    m = engine.fit(NBDistributedLag(), panel50)
    assert m.cov_ is None and m.driver_model_.models_["strikes"].cov_ is None
    p = m.sample_paths(4, n_draws=50, seed=1).values
    assert p.shape == (50, 50, 4) and np.isfinite(p).all()
    # saved and loaded with its block covariances (no dense one): the same paths
    from displacement_forecast.models.io import load_model, save_model

    loaded = load_model(save_model(m, tmp_path / "fit"))
    assert loaded.cov_ is None and loaded.driver_model_.models_["strikes"].cov_ is None
    np.testing.assert_array_equal(loaded.sample_paths(4, n_draws=50, seed=1).values, p)


def test_region_with_no_events_in_the_fitted_rows_converges():
    """A region whose fitted rows are all zero has no finite MLE of its intercept: the fit goes
    far negative (mean ~0) and still reports convergence of the rest."""
    rng = np.random.default_rng(0)
    n_per, G = 60, 4
    g = np.repeat(np.arange(G), n_per)
    x = rng.normal(size=(G * n_per, 1))
    mu = np.exp(np.array([1.0, 2.0, 0.5, 0.0])[g] + 0.4 * x[:, 0])
    y = rng.negative_binomial(1 / 0.3, 1 / (1 + 0.3 * mu)).astype(float)
    y[g == 3] = 0.0
    f = fit_nb2_groups(y, x, g, G)
    assert f.converged
    assert f.a[3] < -10 and abs(f.b[0] - 0.4) < 0.15 and abs(f.alpha - 0.3) < 0.2


def test_an_indefinite_covariance_is_projected_and_a_definite_one_kept():
    """Known truth: eigenvalues (2, 1, -0.05) -> (2, 1, 0), same eigenvectors; a PSD matrix is
    returned as is (the same random numbers as before for every fit that was fine)."""
    from displacement_forecast.models._nb_fit import nearest_psd

    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    bad = (q * np.array([2.0, 1.0, -0.05])) @ q.T
    fixed = nearest_psd(bad)
    np.testing.assert_allclose(fixed, (q * np.array([2.0, 1.0, 0.0])) @ q.T, atol=1e-12)
    np.testing.assert_allclose(fixed, fixed.T)
    good = (q * np.array([2.0, 1.0, 1e-12])) @ q.T
    assert nearest_psd(good) is good
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns on an indefinite covariance
        np.random.default_rng(1).multivariate_normal(np.zeros(3), fixed, size=5, method="eigh")


def test_draw_params_does_not_flag_rounding_in_a_nearly_unidentified_covariance():
    """nb-dl on the daily Ukraine panel: eigenvalues up to 2e10 and a rounding-level -6e-6; numpy
    printed 'covariance is not symmetric positive-semidefinite' four times per forecast."""
    import types
    import warnings

    from displacement_forecast.models._nb_fit import draw_params, nearest_psd

    q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((3, 3)))
    cov = (q * np.array([2e10, 1.0, -6e-6])) @ q.T
    cov = (cov + cov.T) / 2
    assert nearest_psd(cov) is cov  # within rounding of the largest eigenvalue
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = draw_params(types.SimpleNamespace(params_=np.zeros(3), cov_=cov), 1000, np.random.default_rng(3))
    assert d.shape == (1000, 3) and np.isfinite(d).all()
