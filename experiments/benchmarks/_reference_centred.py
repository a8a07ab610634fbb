"""The straightforward reference: centred PyMC model, Python loop over lags, default ``pm.sample()``.

Same likelihood and priors as :mod:`displacement_forecast.models.bayes` (on the original,
un-centred driver scale), written the way one would first write it. Used only by
``bench_bayes.py`` as the baseline whose ESS per second the fast implementation is compared to.
"""

from __future__ import annotations

import numpy as np


def build_reference(panel, n_lags: int = 8, drivers=("strikes", "flights"), priors=None):
    import pymc as pm

    from displacement_forecast.models.bayes import DEFAULT_PRIORS

    pr = {**DEFAULT_PRIORS, **(priors or {})}
    L = n_lags
    y = panel.target()
    R, T = y.shape
    Y = y[:, L - 1 :]
    off = np.log(panel.at_risk())[:, L - 1 :]
    ok = np.isfinite(Y)
    logd = {s: np.log1p(panel.series[s]) for s in drivers}
    with pm.Model() as model:
        mu_alpha = pm.Normal("mu_alpha", pr["mu_alpha_mu"], pr["mu_alpha_sigma"])
        sigma_alpha = pm.HalfNormal("sigma_alpha", pr["sigma_alpha"])
        alpha = pm.Normal("alpha", mu_alpha, sigma_alpha, shape=R)  # centred
        decay = pm.Beta("decay", pr["decay_a"], pr["decay_b"])
        nb_alpha = pm.Deterministic("nb_alpha", pm.HalfNormal("sqrt_nb_alpha", pr["sqrt_nb_alpha"]) ** 2)
        eta = alpha[:, None] + off
        for s in drivers:
            b = pm.Normal(f"beta_{s}", pr["beta_mu"], pr["beta_sigma"])
            x = 0.0
            for lag in range(L):  # the loop over lags
                x = x + decay**lag * logd[s][:, L - 1 - lag : T - lag]
            eta = eta + b * x
        mu = pm.math.exp(eta)
        pm.NegativeBinomial("y", mu=mu[ok], alpha=1.0 / nb_alpha, observed=Y[ok])
    return model
