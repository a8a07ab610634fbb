"""Bayesian dynamic model of new displacement: a log-level that evolves, drivers with carry-over.

For region r and period t, with ``P[r,t]`` the people not yet displaced at the start of t
(:meth:`Panel.at_risk`: population minus past displacement, the depletion offset)::

    displaced[r,t] ~ NegBin(mean = P[r,t] * exp(eta[r,t]), var = mean + nb_alpha * mean**2)
    eta[r,t]  = mu + m[r] + u[r,t] + sum_s beta[s] * (c[s,r,t] - cbar[s])
    m[r]      ~ Normal(0, tau)                         region means, partially pooled around mu
    u[r,t]    = phi * u[r,t-1] + sigma * eps[r,t]      AR(1) log-level, u[r,0] stationary
    c[s,r,t]  = (1 - decay) * log1p(driver[s,r,t]) + decay * c[s,r,t-1]     (geometric carry-over)

``phi`` near 1 lets the level follow a persistent rise or fall (as last-value does); ``phi``
near 0 makes it revert to the region's long-run mean (as a historic average does); the data
decide, through the posterior. Drivers are any conflict series the panel has (``strikes``,
``shelling``, ``flights``, ``events``, ``fatalities``; ``drivers="auto"``) or a chosen list, or
none (``[]``): then the model is a pure dynamic time-series model and scenarios cannot move it.

**Fitting (marginalised latent level).** The latent level is not sampled. The NB count is
replaced by the Gaussian with its first two moments on the log scale (gamma-Poisson:
``E log y = log mean + digamma(k) - log k``, ``Var log y = trigamma(k) + 1/mean``, ``k = 1/nb_alpha``,
with ``1/mean`` taken at the observed ``y + 0.5``), so given the parameters the level integrates
out exactly by a Kalman filter (Durbin & Koopman, *Time Series Analysis by State Space Methods*,
2012, ch. 4) and NUTS samples only ~6-11 parameters (mu, tau, phi, sigma, nb_alpha, beta, decay)
whatever the panel's length. The log-density and its gradient are hand-written numba code
(:mod:`._bayes_dynamic_fast`, disk-cached compile) sampled with nutpie; without nutpie the same
density is sampled by PyMC's NUTS through a PyTensor Op. Missing counts are skipped by the filter
(prediction only), never filled.

**Paths** (:meth:`BayesDynamic._simulate`) carry parameter uncertainty (one posterior draw per
path), the level's uncertainty at the origin (its filtered distribution given that draw),
process uncertainty (future level innovations and NB noise) and future-conflict uncertainty
(driver paths from the driver model, modified by the scenario). Each path removes the people it
displaces from those at risk; the hazard is capped at ``max_hazard`` per period.

Every fit runs the diagnostics gate of :mod:`.bayes` (R-hat, bulk/tail ESS, divergences,
E-BFMI) on the sampled parameters; a fit that fails is marked ``info_.reliable = False`` with a
warning, never silently.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data.schema import DataError, Problem
from ..distributions import CommonNoiseNB
from . import _bayes_dynamic_fast as kf
from .base import ForecastModel, Panel, ffill_time
from .driver_choice import CONFLICT_SERIES

MODEL_ID = "bayes-dynamic"
FORMAT_VERSION = 1
#: Conflict series the model may use as drivers (``drivers="auto"`` takes those present).

#: Weakly informative priors; ``config["priors"]`` is merged over these key by key.
DEFAULT_PRIORS: dict[str, float] = {
    "mu_mu": -8.0,  # mean log-hazard per period: Normal(-8, 3) puts 95% between 8e-7 and 0.1
    "mu_sigma": 3.0,
    "tau": 1.5,  # HalfNormal scale of the spread of region means (log scale)
    "phi_a": 1.5,  # Beta(a, b) for the level's AR(1) coefficient in (0, 1)
    "phi_b": 1.5,
    "sigma": 1.0,  # HalfNormal scale of the level's innovation sd per period (log scale)
    # log NB2 dispersion ~ Normal(log median, log_sd): 95% between 0.07 and 3.5, and away from the
    # boundary 0, where the observation noise and the level's noise trade off along a long ridge
    "nb_alpha_median": 0.5,
    "nb_alpha_log_sd": 1.0,
    "beta_mu": 0.0,
    "beta_sigma": 0.5,  # Normal scale of the effect of one unit of adstocked log1p(driver)
    "decay_a": 2.0,  # Beta(a, b) for the carry-over of the adstock
    "decay_b": 2.0,
}

#: Configuration defaults; ``BayesDynamic(config)`` merges a plain dict over these.
DEFAULT_CONFIG: dict[str, Any] = {
    "drivers": "auto",  # "auto": every series of CONFLICT_SERIES the panel has; or a list ([] = none)
    "draws": 1000,  # per chain, after tuning
    "tune": 600,
    "chains": 2,
    # when the gate finds too few effective draws, sample `chains` more chains (new seeds) and
    # pool them, up to this many chains in all (short panels: weakly identified variances);
    # after a divergence, start again with target_accept 0.95, then 0.99
    "max_chains": 8,
    "cores": None,  # nutpie threads / PyMC processes; None = min(chains, CPUs)
    "target_accept": 0.9,
    "sampler": "nutpie",  # "nutpie" (falls back to "pymc" when nutpie is not installed) or "pymc"
    "seed": 0,
    "max_hazard": 0.5,  # cap on the share of people at risk displaced in one period (paths)
    "progress": None,  # None: show a progress bar when stderr is a terminal
    "priors": DEFAULT_PRIORS,
}


def merge_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Merge a plain config dict over :data:`DEFAULT_CONFIG` (``priors`` merged key by key).

    Raises ``ValueError`` for unknown keys or priors and for invalid choices.
    """
    from .bayes import merge_defaults

    cfg = merge_defaults(DEFAULT_CONFIG, DEFAULT_PRIORS, config, MODEL_ID)
    cfg["priors"] = {k: float(v) for k, v in cfg["priors"].items()}
    if cfg["drivers"] != "auto":
        if isinstance(cfg["drivers"], str):
            cfg["drivers"] = [s for s in cfg["drivers"].split(",") if s]
        cfg["drivers"] = list(cfg["drivers"])
    if cfg["sampler"] not in ("nutpie", "pymc"):
        raise ValueError("sampler must be 'nutpie' or 'pymc'")
    if not 0 < float(cfg["max_hazard"]) <= 1:
        raise ValueError("max_hazard must be in (0, 1]")
    return cfg


def choose_drivers(panel: Panel | Mapping[str, Any], drivers: str | list[str]) -> list[str]:
    """The driver series a fit uses: the conflict series the panel (or its ``series`` mapping)
    has (``"auto"``) or the list.

    Raises :class:`DataError` naming the missing series when a requested driver is absent.
    """
    series = panel.series if isinstance(panel, Panel) else panel
    if drivers == "auto":
        return [s for s in CONFLICT_SERIES if s in series]
    missing = [s for s in drivers if s not in series]
    if missing:
        raise DataError(Problem("<observations>", None, "series",
                                f"model {MODEL_ID!r} needs driver series {missing}; the panel has "
                                f"{sorted(set(series) - {'displaced'})} (or use drivers=[])"))
    return list(drivers)


# ----------------------------------------------------------------------------------------------
# Data for the filter
# ----------------------------------------------------------------------------------------------
class FilterData:
    """The arrays the Kalman filter reads, from a panel (shapes ``R`` regions x ``T`` periods).

    Attributes
    ----------
    z, q, obs, off : (R, T) log(y + 0.5), 1/(y + 0.5), observed mask (int), log people at risk
    xd : (S, R, T) log1p(driver), gaps carried forward (0 before the first value)
    cbar : (S,) mean of ``xd`` (drivers enter centred, so ``mu`` is at average exposure)
    """

    def __init__(self, panel: Panel, drivers: list[str]):
        y = panel.target()
        R, T = y.shape
        ok = np.isfinite(y)
        if T < 3 or ok.sum(axis=1).max(initial=0) < 3:
            raise DataError(Problem("<observations>", None, "date",
                                    f"{MODEL_ID} needs at least 3 observed periods in some region, got "
                                    f"{int(ok.sum(axis=1).max(initial=0))}"))
        yy = np.where(ok, y, 0.0)
        self.z = np.ascontiguousarray(np.log(yy + 0.5))
        self.q = np.ascontiguousarray(1.0 / (yy + 0.5))
        self.obs = np.ascontiguousarray(ok.astype(np.int64))
        self.off = np.ascontiguousarray(np.log(panel.at_risk()))
        self.drivers = list(drivers)
        xd = [np.log1p(np.maximum(ffill_time(panel.series[s], fill=0.0), 0.0)) for s in drivers]
        self.xd = np.ascontiguousarray(np.stack(xd) if xd else np.zeros((0, R, T)))
        self.cbar = np.ascontiguousarray(self.xd.mean(axis=(1, 2)) if xd else np.zeros(0))
        self.n_regions, self.n_periods, self.n_obs = R, T, int(ok.sum())

    @property
    def n_params(self) -> int:
        return kf.n_params(len(self.drivers))

    def initial_point(self) -> np.ndarray:
        """A central starting point: overall log-rate, moderate spread, persistence and noise."""
        x0 = np.zeros(self.n_params)
        rate = (self.z - self.off)[self.obs == 1]
        x0[0] = float(np.median(rate)) + 0.5  # + bias correction at nb_alpha ~ 0.5
        x0[1] = np.log(0.5)
        x0[3] = np.log(1.0)
        x0[4] = np.log(0.7)
        return x0


class Density:
    """``x -> (log-density, gradient)`` of the marginal posterior (picklable, for PyMC processes)."""

    def __init__(self, data: FilterData, priors: dict[str, float]):
        self.data = data
        self.prior = np.array([float(priors[k]) for k in kf.PRIOR_ORDER])

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.data
        lp, g, _, _ = kf.filter_all(np.asarray(x, dtype=float), d.z, d.q, d.obs, d.off, d.xd, d.cbar,
                                    self.prior, True)
        return float(lp), g

    def states(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filtered ``(m, u[T-1])`` mean ``(R, 2)`` and covariance ``(R, 3)`` at parameters ``x``."""
        d = self.data
        _, _, a, p = kf.filter_all(np.asarray(x, dtype=float), d.z, d.q, d.obs, d.off, d.xd, d.cbar,
                                   self.prior, False)
        return a, p


# ----------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------
def sample_unconstrained(density: Density, config: dict[str, Any]) -> tuple[np.ndarray, Any, str]:
    """NUTS draws of the unconstrained vector: ``(theta (chain, draw, n), sample_stats, sampler)``.

    nutpie (in-process chains) when installed and asked for, else PyMC's NUTS on the same
    log-density wrapped in a PyTensor Op.
    """
    from .bayes import sampler_settings

    sampler, chains, cores, progress = sampler_settings(config)
    seed, n = int(config["seed"]), density.data.n_params
    x0 = density.data.initial_point()
    if sampler == "nutpie":
        import nutpie
        from nutpie.compiled_pyfunc import from_pyfunc

        def make_logp_fn():
            return lambda x, **_: density(x)

        def make_expand_fn(seed1, seed2, chain):
            return lambda x, **_: {"theta": np.asarray(x, dtype=float).copy()}

        def make_init(s):
            return x0 + np.random.default_rng(s).uniform(-0.3, 0.3, n)

        compiled = from_pyfunc(n, make_logp_fn, make_expand_fn, [np.dtype("float64")], [(n,)], ["theta"],
                               make_initial_point_fn=make_init)
        idata = nutpie.sample(compiled, draws=int(config["draws"]), tune=int(config["tune"]), chains=chains,
                              cores=cores, seed=seed, target_accept=float(config["target_accept"]),
                              progress_bar=progress, save_warmup=False)
    else:
        import pymc as pm

        with pm.Model():
            theta = pm.Flat("theta", shape=n, initval=x0)
            pm.Potential("lp", _logp_op(density)(theta))
            idata = pm.sample(draws=int(config["draws"]), tune=int(config["tune"]), chains=chains, cores=cores,
                              random_seed=seed, target_accept=float(config["target_accept"]),
                              progressbar=progress, compute_convergence_checks=False)
    theta = np.asarray(idata.posterior["theta"].transpose("chain", "draw", ...), dtype=float)
    return theta, idata.sample_stats, sampler


def sample_until_enough(density: Density, config: dict[str, Any], region_codes: list[str]) -> tuple[Any, dict, str]:
    """Sample until the gate's ESS and R-hat are met, or give up and let the gate report it.

    Sample ``chains`` chains; while the gate finds too few effective draws (or R-hat too high)
    and no divergence, add ``chains`` more chains with new seeds, up to ``max_chains``. When a
    run diverges, all its draws are discarded and sampling starts again with a higher
    ``target_accept`` (0.95, then 0.99: smaller steps, the usual remedy), at most twice.

    Returns ``(idata, diagnostics, sampler)``; the diagnostics (of :func:`.bayes.diagnostics`,
    on all pooled chains of the last run) gain ``rounds`` (sampling rounds in all) and
    ``target_accept`` (of the last run).
    """
    levels = [float(config["target_accept"])] + [t for t in (0.95, 0.99) if t > float(config["target_accept"])]
    rounds = 0
    for ta in levels:
        idata, diag, sampler, n = _pool_chains(density, {**config, "target_accept": ta}, region_codes, rounds)
        rounds += n
        if diag["divergences"] == 0:
            break
    diag.update({"rounds": rounds, "target_accept": ta})
    return idata, diag, sampler


def _pool_chains(density: Density, config: dict[str, Any], region_codes: list[str],
                 first_round: int) -> tuple[Any, dict, str, int]:
    """One run of :func:`sample_until_enough`: rounds of ``chains`` chains pooled until the ESS
    and R-hat are met, a divergence occurs, or ``max_chains`` is reached."""
    import xarray as xr

    from .bayes import GATE, diagnostics

    names = param_names(len(density.data.drivers))
    thetas, stats = [], []
    rounds, sampler = 0, config["sampler"]
    while True:
        cfg = {**config, "seed": int(config["seed"]) + 1000 * (first_round + rounds)}
        theta, st, sampler = sample_unconstrained(density, cfg)
        thetas.append(theta)
        stats.append(st.assign_coords(chain=np.arange(st.sizes["chain"]) + sum(t.shape[0] for t in thetas[:-1])))
        rounds += 1
        theta_all, stats_all = np.concatenate(thetas), xr.concat(stats, dim="chain")
        diag = diagnostics(to_inference_data(theta_all, stats_all, density, region_codes, states=False), names)
        short = (diag["ess_bulk_min"] < GATE["ess_min"] or diag["ess_tail_min"] < GATE["ess_min"]
                 or diag["rhat_max"] > GATE["rhat_max"])
        n_chains = theta_all.shape[0]
        if not short or diag["divergences"] > 0 or n_chains + int(config["chains"]) > int(config["max_chains"]):
            return to_inference_data(theta_all, stats_all, density, region_codes), diag, sampler, rounds


def _logp_op(density: Density):
    """A PyTensor Op computing ``density(x)[0]`` whose gradient is ``density(x)[1]``."""
    import pytensor.tensor as pt
    from pytensor.graph.op import Op

    class _Grad(Op):
        itypes, otypes = [pt.dvector], [pt.dvector]

        def perform(self, node, inputs, outputs):
            outputs[0][0] = density(inputs[0])[1]

    class _Logp(Op):
        itypes, otypes = [pt.dvector], [pt.dscalar]

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(density(inputs[0])[0])

        def grad(self, inputs, g):
            return [g[0] * _Grad()(inputs[0])]

    return _Logp()


def to_inference_data(theta: np.ndarray, sample_stats: Any, density: Density, region_codes: list[str],
                      states: bool = True) -> Any:
    """Named posterior as ArviZ InferenceData: the parameters and (``states``) each draw's
    filtered level at the last period, ``state_mean`` ``(region, [m, u])`` and ``state_cov``."""
    import arviz as az

    C, D, _ = theta.shape
    d = density.data
    R = d.n_regions
    post = kf.expand(theta, len(d.drivers))
    if states:
        a = np.empty((C * D, R, 2))
        p = np.empty((C * D, R, 3))
        for j, x in enumerate(theta.reshape(C * D, -1)):
            a[j], p[j] = density.states(x)
        post["state_mean"] = a.reshape(C, D, R, 2)
        post["state_cov"] = p.reshape(C, D, R, 3)
    coords = {"region": list(region_codes), "driver": list(d.drivers), "state": ["m", "u"],
              "cov": ["mm", "mu", "uu"]}
    dims = {"beta": ["driver"], "state_mean": ["region", "state"], "state_cov": ["region", "cov"]}
    idata = az.from_dict(posterior=post, coords=coords, dims={k: v for k, v in dims.items() if k in post})
    keep = [v for v in ("diverging", "energy", "step_size", "tree_depth", "n_steps", "lp") if v in sample_stats]
    idata.add_groups(sample_stats=sample_stats[keep])
    return idata


def param_names(n_drivers: int) -> list[str]:
    """The sampled parameters the diagnostics gate checks."""
    return list(kf.PARAM_NAMES) + (["beta", "decay"] if n_drivers else [])


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------
class BayesDynamic(ForecastModel):
    """Bayesian dynamic NB model: AR(1) log-level around pooled region means, lagged drivers.

    Parameters
    ----------
    config
        Plain dict over :data:`DEFAULT_CONFIG`; its ``priors`` go over :data:`DEFAULT_PRIORS`.
    **overrides
        Config keys as keyword arguments; they win over ``config``.

    Notes
    -----
    Intervals include parameter, level, process and future-conflict uncertainty. They do not
    include uncertainty about the model's form or about the population figures, and regions'
    level innovations are independent given the parameters (shared conflict enters only through
    the driver paths).
    """

    name = MODEL_ID
    uses_drivers = True

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        self.config = merge_config({**(config or {}), **overrides})
        d = self.config["drivers"]
        self.drivers = () if d == "auto" else tuple(d)

    def get_config(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    def _choose_drivers(self, series) -> tuple[str, ...]:
        """The conflict series the data have (``drivers = "auto"``) or the list given."""
        return tuple(choose_drivers(series, self.config["drivers"]))

    # -- fitting --------------------------------------------------------------------------
    def _fit(self, panel: Panel) -> None:
        cfg = self.config
        self.drivers = self._choose_drivers(panel.series)
        self.info_.config = {**self.get_config(), "drivers_used": list(self.drivers)}
        data = FilterData(panel, list(self.drivers))
        density = Density(data, cfg["priors"])
        t0 = time.perf_counter()
        idata, diag, sampler = sample_until_enough(density, cfg, panel.regions.codes)
        self.idata_ = idata
        diag.update({"sampler": sampler, "n_obs": data.n_obs, "n_params": data.n_params,
                     "drivers": list(self.drivers), "seconds": round(time.perf_counter() - t0, 1)})
        self._set_state(panel)
        self._apply_gate(diag)

    def _apply_gate(self, diag: dict[str, Any]) -> None:
        from .bayes import gate

        problems = gate(diag)
        self.info_.diagnostics = {**diag, "gate_passed": not problems}
        self.info_.reliable = not problems
        self.info_.warnings = list(problems)
        if problems:
            warnings.warn(f"{MODEL_ID} fit is UNRELIABLE: " + "; ".join(problems), stacklevel=3)

    def _set_state(self, panel: Panel) -> None:
        post = self.idata_.posterior.stack(sample=("chain", "draw"))

        def arr(v, *dims):
            return np.asarray(post[v].transpose("sample", *dims), dtype=float)

        p = {k: arr(k) for k in kf.PARAM_NAMES}
        p["state_mean"] = arr("state_mean", "region", "state")
        p["state_cov"] = arr("state_cov", "region", "cov")
        data = FilterData(panel, list(self.drivers))
        self.cbar_ = data.cbar
        if self.drivers:
            p["beta"] = arr("beta", "driver")
            p["decay"] = arr("decay")
            # each draw's adstock at the last observed period, (draws, S, R)
            c = data.xd[None, :, :, 0].repeat(len(p["decay"]), axis=0)
            d = p["decay"][:, None, None]
            for t in range(1, data.n_periods):
                c = (1.0 - d) * data.xd[None, :, :, t] + d * c
            p["c_end"] = c
        self.post_ = p
        self.at_risk_end_ = panel.at_risk_end()

    effect_name = "posterior mean of beta"

    def driver_effects(self) -> dict[str, float]:
        """Each driver's posterior mean of ``beta`` (:func:`.bayes.posterior_mean_effects`)."""
        from .bayes import posterior_mean_effects

        return posterior_mean_effects(self.drivers, self.post_.get("beta"))

    # -- simulation -----------------------------------------------------------------------
    def _draw(self, horizon, n_draws, rng, baseline=None):
        """All of one call's randomness, of fixed shapes and independent of the scenario: the
        posterior draw of each path, the level at the origin, the level's innovations, NB noise."""
        p = self.post_
        n_post = len(p["mu"])
        k = rng.permutation(n_post)[np.arange(n_draws) % n_post]
        z0 = rng.standard_normal((n_draws, len(self.at_risk_end_), 2))
        eps = rng.standard_normal((n_draws, len(self.at_risk_end_), horizon))
        noise = CommonNoiseNB(rng, p["nb_alpha"][k][:, None], eps.shape)
        return k, z0, eps, noise

    def _simulate(self, future, horizon, n_draws, rng):
        return self._paths(future, horizon, n_draws, self._draw(horizon, n_draws, rng))

    def _paths(self, future, horizon, n_draws, draws):
        p = self.post_
        k, z0, eps, noise = draws
        a, pc = p["state_mean"][k], p["state_cov"][k]  # (D, R, 2), (D, R, 3)
        l11 = np.sqrt(np.maximum(pc[..., 0], 0.0))
        l21 = np.divide(pc[..., 1], l11, out=np.zeros_like(l11), where=l11 > 0)
        l22 = np.sqrt(np.maximum(pc[..., 2] - l21**2, 0.0))
        m = a[..., 0] + l11 * z0[..., 0]
        u = a[..., 1] + l21 * z0[..., 0] + l22 * z0[..., 1]
        phi, sigma = p["phi"][k][:, None], p["sigma"][k][:, None]
        eta = np.empty(eps.shape)
        for h in range(horizon):
            u = phi * u + sigma * eps[:, :, h]
            eta[:, :, h] = p["mu"][k][:, None] + m + u
        if self.drivers and future is not None:
            beta, d = p["beta"][k], p["decay"][k][:, None]
            c = p["c_end"][k]  # (D, S, R)
            for h in range(horizon):
                x = np.stack([np.log1p(np.maximum(future[s][:, :, h], 0.0)) for s in self.drivers], axis=1)
                c = (1.0 - d[:, :, None]) * x + d[:, :, None] * c
                eta[:, :, h] += np.einsum("ds,dsr->dr", beta, c - self.cbar_[None, :, None])
        hazard = np.minimum(np.exp(np.clip(eta, -50.0, 5.0)), float(self.config["max_hazard"]))
        return noise.draw_depleting(hazard, self.at_risk_end_, self.panel_.depletes())

    # -- save / load ----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``posterior.nc`` (ArviZ NetCDF) and ``model.json`` (config, drivers, panel, driver
        model, diagnostics, data vintage) into ``directory``; no pickle."""
        from .bayes import save_fit

        self._check_fitted()
        return save_fit(self, directory, MODEL_ID, FORMAT_VERSION, drivers=list(self.drivers))

    @classmethod
    def load(cls, directory: str | Path) -> BayesDynamic:
        """Load a fit written by :meth:`save` (no refitting).

        Raises :class:`DataError` when the directory holds another model, an unsupported format
        version, or no posterior file.
        """
        from .bayes import read_fit, restore_fit

        meta = read_fit(directory, MODEL_ID, FORMAT_VERSION)
        self = cls({k: v for k, v in meta["config"].items() if k != "drivers_used"})
        self.drivers = tuple(meta["drivers"])
        restore_fit(self, directory, meta, MODEL_ID)
        self._set_state(self.panel_)
        return self
