"""Bayesian hierarchical negative-binomial model of new displacement (PyMC, sampled with nutpie).

For region r and period t, with ``P[r,t]`` the people not yet displaced at the start of t::

    x_s[r,t]  = sum_{l=0}^{L-1} decay**l * log1p(driver_s[r,t-l])       (geometric adstock)
    log h[r,t] = alpha[r] + sum_s beta[s] * x_s[r,t]
    displaced[r,t] ~ NegBin(mean = P[r,t] * h[r,t], var = mean + nb_alpha * mean**2)
    alpha[r] ~ Normal(mu_alpha, sigma_alpha)                              (partial pooling)

This is the generative model of :func:`displacement_forecast.data.simulate.simulate_nw_syria`
(drivers ``strikes`` and ``flights``), so the simulator's ``truth`` can be recovered. The lag
weights ``decay**l`` are learned (``decay ~ Beta``); the lags are one matrix product of a
pre-computed ``(observation, driver, lag)`` array of ``log1p`` windows with the weight vector,
not a loop. Periods whose count is missing (NaN), or whose lag window has a missing driver
value, are left out of the likelihood (masked), never filled. The first ``L - 1`` periods only
serve as lag history.

Region effects are sampled **non-centred** (``alpha[r] = mu_alpha + sigma_alpha * z[r]``,
``z[r] ~ Normal(0, 1)``) where a region's data are weak and **centred** where they are strong
(``parametrisation="auto"``, see :func:`noncentred_regions`); ``"noncentred"`` or ``"centred"``
force one form. The model is the same; only the sampler's geometry changes (on the simulated
NW-Syria panel, where every region has many counts, forcing non-centring cut the minimum ESS by
about two thirds; see experiments/benchmarks/results/bench_bayes.md).

With nutpie (the default sampler) the log-density and its gradient are the hand-written,
disk-cached numba functions of :mod:`._bayes_fast`, tested equal to this module's PyMC graph;
the PyMC graph is sampled directly with ``gradient="pytensor"`` or ``sampler="pymc"``.

By default the driver windows are centred on their mean before the product (``center_drivers``):
``alpha`` is then sampled as the log-hazard at average exposure, which removes most of the
posterior correlation between the intercepts and ``beta``; ``mu_alpha`` and ``alpha`` are
reported on the original scale (as in the formula above), so the model is unchanged and only
the prior on the intercept refers to average exposure.

Sample paths (:meth:`BayesHierarchical.sample_paths`, ``sample_scenarios``) use one posterior draw
per path and carry three uncertainties: **parameter** (posterior draws), **process** (NB noise
each period) and **scenario/conflict** (future strikes and flights drawn by the driver model and
modified by the scenario). Each path removes the people it displaces from those at risk, so a
region cannot empty twice; the hazard is capped at 0.5 per period as in the simulator.

Every fit runs a diagnostics gate (R-hat, bulk/tail ESS, divergences, E-BFMI); a fit that fails
it is marked ``info_.reliable = False`` with a warning, never silently.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ..data.schema import DataError, Problem
from ..distributions import CommonNoiseNB, draw_nb
from . import io as mio
from .base import ForecastModel, Panel, ffill_time

MODEL_ID = "bayes-hierarchical"
FORMAT_VERSION = 1
DEFAULT_LAGS = {"D": 14, "W": 8, "M": 3}

#: Weakly informative priors (checked with :func:`prior_predictive_check`).
DEFAULT_PRIORS: dict[str, float] = {
    # log-hazard per period at average driver exposure (centred drivers) or at zero drivers:
    # Normal(-9, 2.5) puts 95% of the baseline hazard between 1e-6 and 0.02 per period.
    "mu_alpha_mu": -9.0,
    "mu_alpha_sigma": 2.5,
    "sigma_alpha": 1.0,  # HalfNormal scale of region effects (log scale)
    "beta_mu": 0.0,
    "beta_sigma": 1.0,  # Normal scale of the effect of one unit of adstocked log1p(driver)
    "decay_a": 2.0,  # Beta(a, b) for the geometric lag decay
    "decay_b": 2.0,
    "sqrt_nb_alpha": 1.0,  # HalfNormal scale of sqrt(NB2 overdispersion)
}

#: Configuration defaults; ``BayesHierarchical(config)`` merges a plain dict over these.
DEFAULT_CONFIG: dict[str, Any] = {
    "drivers": ["strikes", "flights"],
    "n_lags": None,  # None: 8 weekly, 3 monthly, 14 daily
    "draws": 1000,  # per chain, after tuning
    "tune": 500,
    "chains": 2,
    "cores": None,  # chains run in parallel threads (nutpie) / processes (PyMC); None = min(chains, CPUs)
    "target_accept": 0.9,
    "sampler": "nutpie",  # "nutpie" (falls back to "pymc" when nutpie is not installed) or "pymc"
    "seed": 0,
    "parametrisation": "auto",  # "auto" (non-centred where data are weak), "noncentred", "centred"
    "gradient": "numba",  # nutpie only: "numba" = hand-written cached log-density, "pytensor" = PyMC graph
    "center_drivers": True,
    "likelihood": "fast",  # "fast": hand-written NB2 log-density; "pymc": pm.NegativeBinomial
    "progress": None,  # None: show a progress bar when stderr is a terminal
    "priors": DEFAULT_PRIORS,
}

#: Diagnostics gate thresholds.
GATE = {"rhat_max": 1.01, "ess_min": 400, "divergences_max": 0, "ebfmi_min": 0.3}


def merge_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Merge a plain config dict over :data:`DEFAULT_CONFIG` (``priors`` merged key by key)."""
    cfg = merge_defaults(DEFAULT_CONFIG, DEFAULT_PRIORS, config, MODEL_ID)
    cfg["drivers"] = list(cfg["drivers"])
    if cfg["parametrisation"] not in ("auto", "noncentred", "centred"):
        raise ValueError("parametrisation must be 'auto', 'noncentred' or 'centred'")
    if cfg["gradient"] not in ("numba", "pytensor"):
        raise ValueError("gradient must be 'numba' or 'pytensor'")
    if cfg["likelihood"] not in ("fast", "pymc"):
        raise ValueError("likelihood must be 'fast' or 'pymc'")
    if cfg["sampler"] not in ("nutpie", "pymc"):
        raise ValueError("sampler must be 'nutpie' or 'pymc'")
    return cfg


def merge_defaults(defaults: dict[str, Any], default_priors: dict[str, float], config: dict[str, Any] | None,
                   model_id: str) -> dict[str, Any]:
    """A deep copy of ``defaults`` updated by ``config``, its ``priors`` merged key by key over
    ``default_priors``; ``ValueError`` naming ``model_id`` for unknown keys or priors."""
    cfg = copy.deepcopy(defaults)
    config = dict(config or {})
    unknown = sorted(set(config) - set(cfg))
    if unknown:
        raise ValueError(f"unknown config keys for {model_id}: {unknown}; known: {sorted(cfg)}")
    priors = config.pop("priors", None) or {}
    bad = sorted(set(priors) - set(default_priors))
    if bad:
        raise ValueError(f"unknown priors {bad}; known: {sorted(default_priors)}")
    cfg.update(config)
    cfg["priors"] = {**default_priors, **priors}
    return cfg


# ----------------------------------------------------------------------------------------------
# Design: observed rows only, lag windows as one array
# ----------------------------------------------------------------------------------------------
class Design:
    """The likelihood's data: one row per observed (region, period), lag windows pre-computed.

    Attributes
    ----------
    y : (N,) observed counts
    log_at_risk : (N,) log people at risk (offset)
    region : (N,) region index
    windows : (N, S, L) ``log1p(driver)`` over the last L periods, **oldest first**
    """

    def __init__(self, panel: Panel, drivers: list[str], n_lags: int):
        L = n_lags
        y = panel.target()
        R, T = y.shape
        if T < L + 2:
            raise DataError(Problem("<observations>", None, "date",
                                    f"{MODEL_ID} with {L} lags needs at least {L + 2} periods, got {T}"))
        missing = [s for s in drivers if s not in panel.series]
        if missing:
            raise DataError(Problem("<observations>", None, "series",
                                    f"model {MODEL_ID!r} needs driver series {missing}"))
        win = np.stack([sliding_window_view(np.log1p(panel.series[s]), L, axis=-1) for s in drivers],
                       axis=2)  # (R, T-L+1, S, L)
        Y = y[:, L - 1 :]
        off = np.log(panel.at_risk())[:, L - 1 :]
        ok = np.isfinite(Y) & np.isfinite(win).all(axis=(2, 3))
        if not ok.any():
            raise DataError(Problem("<observations>", None, "value",
                                    "no period has both a displacement count and a complete driver history"))
        rr = np.broadcast_to(np.arange(R)[:, None], Y.shape)
        self.y = Y[ok].astype(float)
        self.log_at_risk = off[ok]
        self.region = rr[ok].astype(np.int64)
        self.windows = win[ok]
        self.n_regions, self.n_lags, self.drivers = R, L, list(drivers)
        self.n_masked = int((~ok).sum())

    @property
    def n_obs(self) -> int:
        return len(self.y)


def noncentred_regions(design: Design, parametrisation: str, threshold: float = 25.0) -> np.ndarray:
    """``(R,)`` 1 where a region's intercept is sampled non-centred, 0 where centred.

    ``"auto"`` non-centres only regions whose data say little about their own intercept: the
    approximate Fisher information ``sum_t y/(1 + 0.1 y)`` of the region's log-hazard (NB2 with
    dispersion 0.1) is below ``threshold`` (posterior sd of the intercept above ~0.2, the scale
    of the spread between regions). Regions with many counts are centred, which samples better
    when the likelihood dominates (measured in experiments/benchmarks/bench_bayes.py).
    """
    R = design.n_regions
    if parametrisation == "noncentred":
        return np.ones(R, dtype=np.int64)
    if parametrisation == "centred":
        return np.zeros(R, dtype=np.int64)
    info = np.bincount(design.region, weights=design.y / (1.0 + 0.1 * design.y), minlength=R)
    return (info < threshold).astype(np.int64)


def build_model(design: Design, region_codes: list[str], config: dict[str, Any]) -> Any:
    """The PyMC model for a :class:`Design` (see module docstring); returns ``pm.Model``."""
    import pymc as pm
    import pytensor.tensor as pt

    pr = config["priors"]
    L, S = design.n_lags, len(design.drivers)
    W = design.windows
    wmean = W.mean(axis=0) if config["center_drivers"] else np.zeros((S, L))
    coords = {"region": list(region_codes), "driver": list(design.drivers)}
    with pm.Model(coords=coords) as model:
        mu_alpha_c = pm.Normal("mu_alpha_c", pr["mu_alpha_mu"], pr["mu_alpha_sigma"])
        sigma_alpha = pm.HalfNormal("sigma_alpha", pr["sigma_alpha"])
        nc = noncentred_regions(design, config["parametrisation"])
        alpha_c = pt.zeros(design.n_regions)
        i_nc, i_c = np.flatnonzero(nc == 1), np.flatnonzero(nc == 0)
        if len(i_nc):  # weak data: alpha_c = mu + sigma * z
            z = pm.Normal("z", 0.0, 1.0, shape=len(i_nc))
            alpha_c = pt.set_subtensor(alpha_c[i_nc], mu_alpha_c + sigma_alpha * z)
        if len(i_c):  # strong data: alpha_c ~ Normal(mu, sigma) directly
            a_c = pm.Normal("alpha_c", mu_alpha_c, sigma_alpha, shape=len(i_c))
            alpha_c = pt.set_subtensor(alpha_c[i_c], a_c)
        beta = pm.Normal("beta", pr["beta_mu"], pr["beta_sigma"], dims="driver")
        decay = pm.Beta("decay", pr["decay_a"], pr["decay_b"])
        sqrt_nb = pm.HalfNormal("sqrt_nb_alpha", pr["sqrt_nb_alpha"])
        nb_alpha = pm.Deterministic("nb_alpha", sqrt_nb**2)

        w = decay ** pt.arange(L - 1, -1, -1, dtype="float64")  # weights, oldest lag first
        shift = pt.dot(pt.dot(pt.as_tensor(wmean), w), beta)  # mean exposure effect (0 if not centred)
        pm.Deterministic("mu_alpha", mu_alpha_c - shift)
        pm.Deterministic("alpha", alpha_c - shift, dims="region")
        x = pt.dot(pt.as_tensor(W - wmean), w)  # (N, S): ONE product for all lags and drivers
        eta = alpha_c[design.region] + pt.dot(x, beta) + design.log_at_risk
        y = design.y
        if config["likelihood"] == "fast":
            # NB2 log-density on the log-mean scale, constant -lgamma(y+1) dropped:
            # lgamma(y+phi) - lgamma(phi) + y*(eta - log phi) - (y+phi)*log1p(exp(eta - log phi))
            phi = 1.0 / nb_alpha
            logphi = -pt.log(nb_alpha)
            d = eta - logphi
            ll = (pt.gammaln(y + phi) - pt.gammaln(phi) + y * d - (y + phi) * pt.softplus(d)).sum()
            pm.Potential("loglik", ll)
        else:
            pm.NegativeBinomial("y", mu=pt.exp(eta), alpha=1.0 / nb_alpha, observed=y)
    return model


# ----------------------------------------------------------------------------------------------
# Sampling and diagnostics
# ----------------------------------------------------------------------------------------------
def sampler_settings(config: dict[str, Any]) -> tuple[str, int, int, bool]:
    """``(sampler, chains, cores, progress)`` for a NUTS run, shared by ``bayes-hierarchical``
    and ``bayes-dynamic``.

    ``"nutpie"`` falls back to ``"pymc"`` with a warning when nutpie is not installed; cores
    default to one per chain up to the CPUs this process may use; the progress bar shows on a
    terminal unless ``config["progress"]`` says otherwise.
    """
    sampler = config["sampler"]
    if sampler == "nutpie" and importlib.util.find_spec("nutpie") is None:
        warnings.warn("nutpie is not installed; falling back to PyMC's NUTS sampler (slower)", stacklevel=4)
        sampler = "pymc"
    chains = int(config["chains"])
    cores = int(config["cores"] or min(chains, _n_cpus()))
    p = config.get("progress")
    progress = bool(sys.stderr.isatty()) if p is None else bool(p)
    return sampler, chains, cores, progress


def sample_model(model: Any, config: dict[str, Any]) -> tuple[Any, str]:
    """Sample with nutpie (in-process chains) or PyMC's NUTS; returns ``(idata, sampler)``.

    ``model`` is a ``pm.Model`` or a ``(Design, region_codes)`` pair, which nutpie samples with
    the hand-written numba log-density of :mod:`._bayes_fast` (PyMC builds the graph if nutpie
    is missing).
    """
    sampler, chains, cores, progress = sampler_settings(config)
    if isinstance(model, tuple) and sampler != "nutpie":
        model = build_model(model[0], model[1], config)
    if sampler == "nutpie":
        import nutpie

        if isinstance(model, tuple):  # (design, region codes): hand-written log-density
            from ._bayes_fast import make_nutpie_model

            design, codes = model
            wmean = design.windows.mean(axis=0) if config["center_drivers"] else np.zeros(design.windows.shape[1:])
            compiled = make_nutpie_model(design, wmean, noncentred_regions(design, config["parametrisation"]),
                                         config["priors"], codes)
        else:
            compiled = nutpie.compile_pymc_model(model)
        idata = nutpie.sample(compiled, draws=int(config["draws"]), tune=int(config["tune"]),
                              chains=chains, cores=cores, seed=int(config["seed"]),
                              target_accept=float(config["target_accept"]), progress_bar=progress,
                              save_warmup=False)
    else:
        import pymc as pm

        with model:
            idata = pm.sample(draws=int(config["draws"]), tune=int(config["tune"]), chains=chains,
                              cores=cores, random_seed=int(config["seed"]),
                              target_accept=float(config["target_accept"]), progressbar=progress,
                              compute_convergence_checks=False)
    return idata, sampler


def _n_cpus() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def diagnostics(idata: Any, var_names: list[str] | None = None) -> dict[str, Any]:
    """R-hat (max), bulk/tail ESS (min over every scalar of every parameter), divergences, E-BFMI.

    ``var_names`` defaults to every variable in the posterior group (free parameters and
    deterministics such as ``alpha`` and ``mu_alpha``).
    """
    import arviz as az

    post = idata.posterior
    names = var_names or [v for v in post.data_vars]
    sub = post[names]
    rhat = az.rhat(sub)
    bulk = az.ess(sub, method="bulk")
    tail = az.ess(sub, method="tail")

    def _ext(ds, fn):
        vals = {v: float(fn(np.asarray(ds[v]))) for v in ds.data_vars}
        worst = (max if fn is np.nanmax else min)(vals, key=vals.get)
        return vals[worst], worst

    rhat_max, rhat_at = _ext(rhat, np.nanmax)
    bulk_min, bulk_at = _ext(bulk, np.nanmin)
    tail_min, tail_at = _ext(tail, np.nanmin)
    ss = idata.sample_stats
    div = int(np.asarray(ss["diverging"]).sum()) if "diverging" in ss else -1
    try:
        ebfmi = [float(v) for v in np.atleast_1d(az.bfmi(idata))]
    except Exception:  # noqa: BLE001  (no energy recorded)
        ebfmi = []
    return {
        "chains": int(post.sizes["chain"]),
        "draws": int(post.sizes["draw"]),
        "rhat_max": round(rhat_max, 4), "rhat_max_at": rhat_at,
        "ess_bulk_min": round(bulk_min, 1), "ess_bulk_min_at": bulk_at,
        "ess_tail_min": round(tail_min, 1), "ess_tail_min_at": tail_at,
        "divergences": div,
        "ebfmi_min": round(min(ebfmi), 3) if ebfmi else None,
    }


def gate(diag: dict[str, Any], thresholds: dict[str, float] = GATE) -> list[str]:
    """Problems with a fit's diagnostics (empty list = passes the gate)."""
    out = []
    if not np.isfinite(diag["rhat_max"]) or diag["rhat_max"] > thresholds["rhat_max"]:
        out.append(f"R-hat {diag['rhat_max']} > {thresholds['rhat_max']} (at {diag['rhat_max_at']}): "
                   "chains disagree")
    for k, label in (("ess_bulk_min", "bulk"), ("ess_tail_min", "tail")):
        if not np.isfinite(diag[k]) or diag[k] < thresholds["ess_min"]:
            out.append(f"{label} ESS {diag[k]} < {thresholds['ess_min']} (at {diag[k + '_at']}): "
                       "too few effective draws")
    if diag["divergences"] < 0:
        out.append("divergences were not recorded")
    elif diag["divergences"] > thresholds["divergences_max"]:
        out.append(f"{diag['divergences']} divergent transitions: the posterior may be biased")
    if diag["ebfmi_min"] is None:
        out.append("E-BFMI could not be computed")
    elif diag["ebfmi_min"] < thresholds["ebfmi_min"]:
        out.append(f"E-BFMI {diag['ebfmi_min']} < {thresholds['ebfmi_min']}: poor exploration")
    return out


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------
class BayesHierarchical(ForecastModel):
    """Hierarchical NB model with partial pooling across regions and learned geometric lags.

    Parameters
    ----------
    config
        Plain dict merged over :data:`DEFAULT_CONFIG` (``priors`` over :data:`DEFAULT_PRIORS`).
    **overrides
        Config keys given as keyword arguments (override ``config``).

    Notes
    -----
    Intervals from :meth:`sample_paths` include parameter uncertainty (one posterior draw per
    path), process uncertainty (NB noise) and scenario/conflict uncertainty (future drivers from
    the driver model, modified by the scenario). They do not include uncertainty about the model's
    form (e.g. other lag shapes) or about the population figures.
    """

    name = MODEL_ID
    uses_drivers = True

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        self.config = merge_config({**(config or {}), **overrides})
        self.drivers = tuple(self.config["drivers"])

    def get_config(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    # -- fitting --------------------------------------------------------------------------
    def _fit(self, panel: Panel) -> None:
        cfg = self.config
        L = self.n_lags_ = int(cfg["n_lags"] or DEFAULT_LAGS[panel.freq])
        self.info_.config = {**self.get_config(), "n_lags_used": L}
        design = Design(panel, list(self.drivers), L)
        t0 = time.perf_counter()
        if cfg["sampler"] == "nutpie" and cfg["gradient"] == "numba":
            model = (design, panel.regions.codes)  # built lazily; PyMC graph only on fallback
        else:
            model = build_model(design, panel.regions.codes, cfg)
        idata, sampler = sample_model(model, cfg)
        elapsed = time.perf_counter() - t0
        keep = ["mu_alpha", "sigma_alpha", "alpha", "beta", "decay", "nb_alpha"]
        self.idata_ = _slim(idata, keep)
        self._set_state(panel)
        diag = diagnostics(self.idata_)
        diag.update({"sampler": sampler, "n_obs": design.n_obs, "n_masked": design.n_masked,
                     "n_lags": L, "seconds": round(elapsed, 1)})
        self._apply_gate(diag)

    def _apply_gate(self, diag: dict[str, Any]) -> None:
        self.info_.diagnostics = diag
        problems = gate(diag)
        self.info_.reliable = not problems
        self.info_.warnings = list(problems)
        if problems:
            warnings.warn(f"{MODEL_ID} fit is UNRELIABLE: " + "; ".join(problems), stacklevel=3)

    def _set_state(self, panel: Panel) -> None:
        L = self.n_lags_
        R = len(panel.regions)
        self.history_ = {s: ffill_time(panel.series[s], fill=0.0)[:, -(L - 1):] if L > 1 else np.zeros((R, 0))
                         for s in self.drivers}
        self.at_risk_end_ = panel.at_risk_end()
        post = self.idata_.posterior.stack(sample=("chain", "draw"))
        self.post_ = {
            "alpha": np.asarray(post["alpha"].transpose("sample", "region"), dtype=float),
            "beta": np.asarray(post["beta"].transpose("sample", "driver"), dtype=float),
            "decay": np.asarray(post["decay"], dtype=float),
            "nb_alpha": np.asarray(post["nb_alpha"], dtype=float),
        }

    # -- posterior summaries --------------------------------------------------------------
    effect_name = "posterior mean of beta"

    def driver_effects(self) -> dict[str, float]:
        """Each driver's posterior mean of ``beta`` (:func:`posterior_mean_effects`)."""
        return posterior_mean_effects(self.drivers, self.post_.get("beta"))

    def posterior_interval(self, var: str, prob: float = 0.9) -> np.ndarray:
        """Equal-tailed posterior interval ``(..., 2)`` of a parameter (parameter uncertainty only)."""
        self._check_fitted()
        x = self.idata_.posterior[var]
        q = x.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=("chain", "draw"))
        return np.moveaxis(np.asarray(q), 0, -1)

    # -- simulation -----------------------------------------------------------------------
    def _draw(self, horizon: int, n_draws: int, rng: np.random.Generator, baseline=None):
        """One posterior draw per path (a seeded permutation, cycled when n_draws exceeds the
        posterior), then NB noise of a fixed amount: all the randomness of a call, which the
        engine draws once and gives to every scenario, so regions a scenario leaves alone get
        exactly the baseline's paths."""
        S = len(self.post_["decay"])
        order = rng.permutation(S)
        k = order[np.arange(n_draws) % S]
        noise = CommonNoiseNB(rng, self.post_["nb_alpha"][k][:, None], (n_draws, len(self.at_risk_end_), horizon))
        return k, noise

    def _simulate(self, future, horizon, n_draws, rng):
        return self._paths(future, horizon, n_draws, self._draw(horizon, n_draws, rng))

    def _paths(self, future, horizon, n_draws, draws):
        L = self.n_lags_
        p = self.post_
        k, noise = draws
        alpha, beta, decay = p["alpha"][k], p["beta"][k], p["decay"][k]
        R = alpha.shape[1]
        w = decay[:, None] ** np.arange(L - 1, -1, -1)[None, :]  # (D, L), oldest first
        eta = np.broadcast_to(alpha[:, :, None], (n_draws, R, horizon)).copy()
        for i, s in enumerate(self.drivers):
            hist = np.broadcast_to(self.history_[s], (n_draws, R, L - 1))
            full = np.concatenate([hist, future[s]], axis=2)  # (D, R, L-1+H)
            win = sliding_window_view(np.log1p(full), L, axis=-1)  # (D, R, H, L) oldest first
            eta += beta[:, i, None, None] * np.einsum("drhl,dl->drh", win, w)
        hazard = np.minimum(np.exp(np.clip(eta, -50, 5)), 0.5)
        return noise.draw_depleting(hazard, self.at_risk_end_, self.panel_.depletes())

    # -- save / load ----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``posterior.nc`` (ArviZ NetCDF) and ``model.json`` into ``directory``.

        ``model.json`` holds what every saved model has (:func:`.io.describe`: model id, format
        version, package version, config, region table, the observed panel, the fitted driver
        model, the diagnostics, the data vintage), the number of lags, the SHA-256 of
        ``posterior.nc`` and of its own content.
        """
        self._check_fitted()
        return save_fit(self, directory, MODEL_ID, FORMAT_VERSION, n_lags=self.n_lags_)

    @classmethod
    def load(cls, directory: str | Path) -> BayesHierarchical:
        """Load a fit written by :meth:`save`; ``sample_scenarios`` then works without refitting.

        Raises :class:`DataError` when the directory holds another model, an unsupported format
        version, a changed file, or is incomplete. Fits saved before hashes were recorded (the
        same format version 1) load without the hash check.
        """
        meta = read_fit(directory, MODEL_ID, FORMAT_VERSION)
        cfg = dict(meta["config"])
        cfg.pop("n_lags_used", None)
        self = cls(cfg)
        self.n_lags_ = int(meta["n_lags"])
        restore_fit(self, directory, meta, MODEL_ID)
        self._set_state(self.panel_)
        return self


def posterior_mean_effects(drivers: tuple[str, ...] | list[str], beta: np.ndarray | None) -> dict[str, float]:
    """``series -> posterior mean of beta`` from the draws ``beta`` ``(draws, drivers)`` (``{}``
    without drivers): the Bayesian models' :meth:`~.base.ForecastModel.driver_effects`.

    The rule for "below 0" is the posterior mean: a scenario's change of a series shifts each
    path's log hazard by that path's draw of ``beta`` times the change of the adstocked series,
    so the mean shift over the paths has the sign of the mean of ``beta`` (the Ukraine fit of
    trial 19, beta [0.065, -0.10] for strikes and shelling: its ceasefire raised P(more than
    500,000 within 7 days) from 5% to 79%). A posterior that straddles 0 with a mean below 0
    is marked too: most of its paths still move the wrong way.
    """
    if not drivers or beta is None:
        return {}
    mean = np.asarray(beta, dtype=float).reshape(-1, len(drivers)).mean(axis=0)
    return {s: float(m) for s, m in zip(drivers, mean, strict=True)}


# ----------------------------------------------------------------------------------------------
# Saved fits (shared by the Bayesian models): posterior.nc + model.json, no pickle
# ----------------------------------------------------------------------------------------------
def save_fit(model: ForecastModel, directory: str | Path, model_id: str, format_version: int,
             **extra: Any) -> Path:
    """Write ``model.idata_`` to ``posterior.nc`` and the fit's description to ``model.json``.

    ``model.json`` holds what every saved model has (:func:`.io.describe`: model id, package
    version, config, region table, observed panel, fitted driver model, diagnostics, data
    vintage), ``format_version``, ``extra`` (model-specific state), the SHA-256 of
    ``posterior.nc`` and of its own content. Both files are written atomically.
    """
    from ..data.io import atomic_path

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(d / "posterior.nc") as tmp:
        _sanitise(model.idata_).to_netcdf(str(tmp))
    meta = {**mio.describe(model), "model": model_id, "format_version": format_version, **extra,
            "files": {"posterior.nc": mio._file_sha(d / "posterior.nc")}}
    mio.write_meta(d, meta)
    return d


def read_fit(directory: str | Path, model_id: str, format_version: int) -> dict[str, Any]:
    """``model.json`` of a saved fit, checked (:func:`.io.check_meta`): raises :class:`DataError`
    when the directory holds another model, an unsupported format version, a changed file or no
    posterior. Fits saved before hashes were recorded (format 1) load without the hash check."""
    d = Path(directory)
    meta = mio.read_meta(d)
    mio.check_meta(d, meta, model_id, format_version, require_hash=False)
    if not (d / "posterior.nc").exists():
        raise DataError(Problem(str(d / "posterior.nc"), None, None, "posterior file is missing"))
    return meta


def restore_fit(model: ForecastModel, directory: str | Path, meta: dict[str, Any], model_id: str) -> None:
    """Set a fresh model's panel, fit info, driver model and data vintage (:func:`.io.restore_common`)
    and its posterior ``idata_`` from a saved fit (``meta`` from :func:`read_fit`)."""
    import arviz as az

    mio.restore_common(model, meta)
    model.idata_ = az.from_netcdf(str(Path(directory) / "posterior.nc"))
    model.idata_.posterior.load()


# ----------------------------------------------------------------------------------------------
# Helpers: slimming/sanitising InferenceData, JSON state
# ----------------------------------------------------------------------------------------------
def _slim(idata, keep: list[str]):
    """Keep the posterior of ``keep`` and the sample stats the diagnostics need."""
    import arviz as az

    post = idata.posterior[[v for v in keep if v in idata.posterior]]
    ss_vars = [v for v in ("diverging", "energy", "step_size", "tree_depth", "n_steps", "lp") if v in idata.sample_stats]
    return az.InferenceData(posterior=post, sample_stats=idata.sample_stats[ss_vars])


def _sanitise(idata):
    """A copy whose groups have only plain numeric/bool/str dtypes, no MultiIndex, simple attrs."""
    import arviz as az

    groups = {}
    for g in idata.groups():
        ds = idata[g].copy()
        for name in list(ds.coords):
            c = ds.coords[name]
            if isinstance(c.to_index(), pd.MultiIndex):
                ds = ds.reset_index(name)
            elif c.dtype == object or pd.api.types.is_string_dtype(c.dtype):
                ds = ds.assign_coords({name: np.asarray(c.values).astype(str)})
        for v in list(ds.data_vars):
            a = ds[v]
            if a.dtype == object:
                ds[v] = a.astype(float)
            elif a.dtype == bool:
                ds[v] = a.astype(np.int8)
            elif a.dtype.kind in "iu" and a.dtype.itemsize > 8:  # pragma: no cover
                ds[v] = a.astype(np.int64)
        ds.attrs = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in ds.attrs.items()}
        groups[g] = ds
    return az.InferenceData(**groups)


#: Loading any saved model directory lives in :mod:`.io` (kept importable from here).
load_model = mio.load_model


# ----------------------------------------------------------------------------------------------
# Prior predictive check
# ----------------------------------------------------------------------------------------------
def prior_predictive_check(panel: Panel | None = None, config: dict[str, Any] | None = None,
                           n_draws: int = 500, seed: int = 0) -> dict[str, Any]:
    """Simulate displacement from the priors on a panel's design and summarise its range.

    Draws parameters from the priors (numpy, seeded) and new displacement per observed
    region-period with the panel's people at risk and drivers (hazard capped at 0.5 as in the
    simulator). Returns quantiles of per-region-period displacement (people), of the hazard, and
    the share of region-periods where the prior hazard hits the cap; also the observed quantiles
    of the panel for comparison. Uses the simulated NW-Syria panel (seed 0) when ``panel`` is None.
    """
    cfg = merge_config(config)
    if panel is None:
        from ..data.simulate import simulate_nw_syria

        sim = simulate_nw_syria(seed=0)
        panel = Panel.from_observations(sim.observations, sim.regions)
    L = int(cfg["n_lags"] or DEFAULT_LAGS[panel.freq])
    des = Design(panel, cfg["drivers"], L)
    pr = cfg["priors"]
    rng = np.random.default_rng(seed)
    R, S = des.n_regions, len(des.drivers)
    wmean = des.windows.mean(axis=0) if cfg["center_drivers"] else np.zeros((S, L))
    mu_c = rng.normal(pr["mu_alpha_mu"], pr["mu_alpha_sigma"], n_draws)
    sig = np.abs(rng.normal(0, pr["sigma_alpha"], n_draws))
    alpha_c = mu_c[:, None] + sig[:, None] * rng.normal(size=(n_draws, R))
    beta = rng.normal(pr["beta_mu"], pr["beta_sigma"], (n_draws, S))
    decay = rng.beta(pr["decay_a"], pr["decay_b"], n_draws)
    nb = rng.normal(0, pr["sqrt_nb_alpha"], n_draws) ** 2
    w = decay[:, None] ** np.arange(L - 1, -1, -1)[None, :]
    x = np.einsum("nsl,dl->dns", des.windows - wmean, w)  # (D, N, S)
    eta = alpha_c[:, des.region] + np.einsum("dns,ds->dn", x, beta)
    log_h = np.clip(eta, -50, 5)
    capped = log_h >= np.log(0.5)
    hazard = np.minimum(np.exp(log_h), 0.5)
    mean = hazard * np.exp(des.log_at_risk)[None, :]
    y = np.minimum(draw_nb(rng, mean, nb[:, None]), np.exp(des.log_at_risk)[None, :])
    qs = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    return {
        "quantiles": qs,
        "displaced": [float(v) for v in np.quantile(y, qs)],
        "hazard": [float(v) for v in np.quantile(hazard, qs)],
        "share_capped": float(capped.mean()),
        "observed_displaced": [float(v) for v in np.quantile(des.y, qs)],
        "freq": panel.freq,
    }
