"""Tests of the Bayesian dynamic model (bayes-dynamic): filter, gradient, recovery, coverage, I/O.

The data are simulated from the model itself with known parameters (``simulate``), so the fit
can be checked against the truth. Fast tests use small panels and few draws; the ``slow`` ones
fit larger panels and several seeds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")
pytest.importorskip("nutpie")

from scipy.special import digamma, polygamma  # noqa: E402
from scipy.stats import multivariate_normal  # noqa: E402

from displacement_forecast.data.regions import RegionTable  # noqa: E402
from displacement_forecast.data.schema import DataError  # noqa: E402
from displacement_forecast.distributions import draw_nb  # noqa: E402
from displacement_forecast.models import _bayes_dynamic_fast as kf  # noqa: E402
from displacement_forecast.models import get_model  # noqa: E402
from displacement_forecast.models.base import Panel  # noqa: E402
from displacement_forecast.models.bayes_dynamic import (  # noqa: E402
    BayesDynamic,
    Density,
    FilterData,
    choose_drivers,
    merge_config,
)

TRUTH = {"mu": -6.0, "tau": 0.8, "phi": 0.7, "sigma": 0.4, "nb_alpha": 0.3, "beta": 0.5, "decay": 0.5}
FAST = {"draws": 300, "tune": 300, "chains": 2, "max_chains": 2, "seed": 1, "progress": False}


def simulate(n_regions: int, n_periods: int, seed: int, truth: dict | None = None) -> Panel:
    """A monthly panel drawn from the model: NB counts around P * exp(mu + m + u + beta * c)."""
    t = {**TRUTH, **(truth or {})}
    rng = np.random.default_rng(seed)
    R, T = n_regions, n_periods
    pop = rng.uniform(3e5, 2e6, R)
    strikes = rng.poisson(rng.gamma(2.0, 5.0, (R, 1)) * np.exp(np.cumsum(rng.normal(0, 0.3, (R, T)), axis=1)))
    xd = np.log1p(strikes.astype(float))[None]
    c, _ = kf.adstock(xd, t["decay"])
    drive = t["beta"] * (c[0] - xd.mean())
    m = rng.normal(0, t["tau"], R)
    u = np.empty((R, T))
    u[:, 0] = rng.normal(0, t["sigma"] / np.sqrt(1 - t["phi"] ** 2), R)
    for i in range(1, T):
        u[:, i] = t["phi"] * u[:, i - 1] + t["sigma"] * rng.normal(size=R)
    eta = t["mu"] + m[:, None] + u + drive
    y = np.empty((R, T))
    left = pop.copy()
    for i in range(T):
        y[:, i] = np.minimum(draw_nb(rng, left * np.minimum(np.exp(eta[:, i]), 0.5), t["nb_alpha"]), left)
        left -= y[:, i]
    codes = [f"R{i:02d}" for i in range(R)]
    regions = RegionTable(pd.DataFrame({"code": codes, "name": codes, "parent": [""] * R, "population": pop}))
    dates = pd.date_range("2020-01-01", periods=T, freq="MS")
    return Panel(dates, regions, "M", {"displaced": y, "strikes": strikes.astype(float)})


def _fit(panel, **cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BayesDynamic({**FAST, **cfg}).fit(panel)


@pytest.fixture(scope="module")
def small_fit():
    return _fit(simulate(6, 24, seed=3))


# -- the filter is the exact marginal likelihood; the gradient is exact -------------------------
def _dense_loglik(x, d: FilterData):
    """Log-likelihood by dense multivariate normals per region (level integrated out by hand)."""
    mu, tau, phi = x[0], np.exp(x[1]), 1 / (1 + np.exp(-x[2]))
    sdu, k = np.exp(x[3]), np.exp(-2 * x[4])
    c, _ = kf.adstock(d.xd, 1 / (1 + np.exp(-x[6])))
    ll = 0.0
    for r in range(d.n_regions):
        ii = np.flatnonzero(d.obs[r])
        tt = np.arange(d.n_periods)
        cov = sdu**2 * phi ** np.abs(tt[:, None] - tt[None, :]) + tau**2
        f = d.off[r] + mu + digamma(k) - np.log(k) + x[5] * (c[0, r] - d.cbar[0])
        ll += multivariate_normal(f[ii], cov[np.ix_(ii, ii)] + np.diag(polygamma(1, k) + d.q[r, ii])).logpdf(d.z[r, ii])
    return ll


def test_filter_equals_dense_marginal_likelihood_and_gradient_is_exact():
    panel = simulate(3, 12, seed=0)
    panel.series["displaced"][1, 4] = np.nan  # a gap: prediction step only
    panel.series["displaced"][2, :2] = np.nan
    d = FilterData(panel, ["strikes"])
    dens = Density(d, merge_config({})["priors"])
    rng = np.random.default_rng(0)
    prior_only = Density(FilterData(panel, ["strikes"]), merge_config({})["priors"])
    prior_only.data.obs = np.zeros_like(d.obs)  # no observation: the log-prior alone
    diffs = []
    for _ in range(3):
        x = d.initial_point() + rng.normal(0, 0.4, d.n_params)
        lp, g = dens(x)
        diffs.append(lp - prior_only(x)[0] - _dense_loglik(x, d))
        eps = 1e-6
        fd = np.array([(dens(x + eps * e)[0] - dens(x - eps * e)[0]) / (2 * eps) for e in np.eye(len(x))])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)
    # the filter's log-likelihood is exactly the dense one (the log-prior is the kernel's own)
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8)


@pytest.mark.parametrize("x", [1e-3, 0.3, 2.5, 7.9, 8.1, 50.0, 1e4])
def test_polygamma_matches_scipy(x):
    d0, d1, d2 = kf.polygamma012(x)
    np.testing.assert_allclose([d0, d1, d2], [digamma(x), polygamma(1, x), polygamma(2, x)], rtol=1e-9)


# -- config and drivers ---------------------------------------------------------------------------
def test_config_and_driver_choice():
    with pytest.raises(ValueError, match="unknown config"):
        BayesDynamic({"draw": 10})
    with pytest.raises(ValueError, match="unknown priors"):
        BayesDynamic({"priors": {"rho": 1.0}})
    panel = simulate(3, 10, seed=0)
    assert choose_drivers(panel, "auto") == ["strikes"]
    assert choose_drivers(panel, []) == []
    with pytest.raises(DataError, match="flights"):
        choose_drivers(panel, ["flights"])
    assert BayesDynamic(drivers="strikes").config["drivers"] == ["strikes"]
    assert "bayes-dynamic" in __import__("displacement_forecast.models", fromlist=["REGISTRY"]).REGISTRY


def test_too_short_panel_is_a_data_error():
    panel = simulate(2, 2, seed=0)
    with pytest.raises(DataError, match="at least 3"):
        FilterData(panel, [])


# -- fitting: gate reported, truth recovered, paths ----------------------------------------------
def test_gate_is_reported_in_diagnostics(small_fit):
    d = small_fit.info_.diagnostics
    for k in ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "ebfmi_min", "gate_passed", "chains",
              "sampler"):
        assert k in d
    assert d["gate_passed"] == small_fit.info_.reliable == (not small_fit.info_.warnings)
    assert small_fit.drivers == ("strikes",)


def test_small_fit_covers_the_truth(small_fit):
    post = small_fit.idata_.posterior
    for v in ("mu", "phi", "sigma", "nb_alpha", "beta", "decay", "tau"):
        lo, hi = np.quantile(np.asarray(post[v]).ravel(), [0.005, 0.995])
        assert lo <= TRUTH[v] <= hi, (v, lo, hi)


def test_paths_shape_seed_and_scenarios_move_it(small_fit):
    from displacement_forecast.scenarios import Scenario

    p1 = small_fit.sample_paths(4, n_draws=200, seed=5)
    p2 = small_fit.sample_paths(4, n_draws=200, seed=5)
    assert p1.shape == (200, 6, 4) and np.array_equal(p1.values, p2.values)
    assert (p1.values >= 0).all()
    # scenarios move it through the drivers, with common random numbers: more strikes, more
    # displacement draw by draw when the effect is positive (as here, beta ~ 0.5)
    rng = np.random.default_rng(0)
    fut = {"strikes": rng.poisson(5.0, (200, 6, 4)).astype(float)}
    base = small_fit._simulate(fut, 4, 200, np.random.default_rng(7))
    more = small_fit._simulate({"strikes": fut["strikes"] * 10}, 4, 200, np.random.default_rng(7))
    pos = small_fit.post_["beta"][:, 0] > 0
    assert pos.mean() > 0.9
    assert more.sum() > base.sum()
    assert (more >= base).mean() > 0.9
    # a scenario through the public interface leaves the regions it does not touch unchanged
    sc = small_fit.sample_scenarios(3, [Scenario.baseline()], n_draws=100, seed=1)["baseline"]
    assert sc.shape == (100, 6, 3)


def test_a_negative_posterior_mean_effect_marks_reversed_scenarios(small_fit):
    """Known truth: with its posterior of ``beta`` moved below 0 (mean -0.5), more strikes mean less
    displacement in the paths. As for nb-dl, ``negative_effects`` names strikes (posterior mean
    below 0), the fit warns, and a forecast with a ceasefire is marked ``scenarios_reversed``; the
    fit as sampled (beta ~ 0.5) has none (trial 19: the Bayesian models never said so)."""
    import copy

    from displacement_forecast.forecast.run import run_forecast
    from displacement_forecast.scenarios import Scenario

    assert small_fit.negative_effects() == [] and small_fit.driver_effects()["strikes"] > 0
    m = copy.deepcopy(small_fit)
    m.post_["beta"] = -m.post_["beta"]
    assert m.driver_effects()["strikes"] == pytest.approx(-small_fit.driver_effects()["strikes"])
    assert m.negative_effects() == ["strikes"]
    m._note_negative_effects()
    assert any(w.startswith("fitted effect below 0 of strikes (posterior mean of beta -") for w in m.info_.warnings)
    scenarios = [Scenario.baseline(), Scenario.ceasefire()]
    r = m.sample_scenarios(3, scenarios, n_draws=300, seed=1)
    assert float(r["ceasefire"].sum() - r["baseline"].sum()) > 0  # the mark tells the truth
    side = run_forecast(model=m, scenarios=scenarios, horizon=3, n_draws=100).sidecar
    assert side["negative_effects"] == ["strikes"] and side["marks"]["scenarios_reversed"] == ["strikes"]


def test_save_load_round_trip(small_fit, tmp_path):
    from displacement_forecast.models.io import load_model

    small_fit.save(tmp_path / "m")
    assert (tmp_path / "m" / "posterior.nc").exists() and not list((tmp_path / "m").glob("*.pkl"))
    m2 = load_model(tmp_path / "m")
    assert isinstance(m2, BayesDynamic) and m2.drivers == small_fit.drivers
    a = small_fit.sample_paths(3, n_draws=100, seed=2).values
    b = m2.sample_paths(3, n_draws=100, seed=2).values
    np.testing.assert_array_equal(a, b)
    assert m2.info_.diagnostics == small_fit.info_.diagnostics


def test_no_drivers_is_a_pure_time_series_model():
    m = _fit(simulate(4, 15, seed=2), drivers=[])
    assert m.drivers == () and m.driver_model_ is None
    assert "beta" not in m.idata_.posterior
    assert m.sample_paths(2, n_draws=50, seed=0).shape == (50, 4, 2)


# -- slow: recovery over seeds, predictive coverage, PyMC fallback --------------------------------
@pytest.mark.slow
def test_recovery_and_interval_coverage_over_seeds():
    """90% posterior intervals hold the truth for most parameters and seeds; 80% predictive
    intervals of held-out months cover ~80% (12 regions x 3 months x 4 seeds)."""
    hits, cover = [], []
    for seed in range(4):
        full = simulate(12, 30, seed=100 + seed)
        past = full.truncate(full.dates[26])
        m = _fit(past, draws=1000, tune=600, max_chains=8, seed=seed)
        assert m.info_.reliable, m.info_.warnings
        post = m.idata_.posterior
        for v in ("mu", "phi", "sigma", "nb_alpha", "beta", "tau"):
            lo, hi = np.quantile(np.asarray(post[v]).ravel(), [0.05, 0.95])
            hits.append(lo <= TRUTH[v] <= hi)
        paths = m.sample_paths(3, n_draws=1000, seed=seed).values
        y = full.target()[:, 27:30]
        lo, hi = np.quantile(paths, [0.1, 0.9], axis=0)
        cover.extend(((y >= lo) & (y <= hi)).ravel())
    assert np.mean(hits) >= 0.75, np.mean(hits)
    assert 0.68 <= np.mean(cover) <= 0.92, np.mean(cover)


@pytest.mark.slow
def test_pymc_fallback_samples_the_same_density():
    panel = simulate(4, 15, seed=4)
    a = _fit(panel, sampler="pymc", draws=400, tune=400)
    b = _fit(panel, draws=400, tune=400)
    assert a.info_.diagnostics["sampler"] == "pymc" and b.info_.diagnostics["sampler"] == "nutpie"
    for v in ("mu", "phi"):
        ma, mb = float(a.idata_.posterior[v].mean()), float(b.idata_.posterior[v].mean())
        sd = float(b.idata_.posterior[v].std())
        assert abs(ma - mb) < 0.5 * sd, (v, ma, mb, sd)


def test_registry_builds_it():
    assert isinstance(get_model("bayes-dynamic", draws=10), BayesDynamic)
