"""Marginal log-density of the Bayesian dynamic model by a Kalman filter, with its exact gradient.

The latent log-level of :mod:`.bayes_dynamic` is Gaussian given the parameters, and the
observation model is Gaussian on the log scale (the NB's first two log-moments), so the latent
level integrates out exactly: per region a two-state Kalman filter (region mean deviation ``m``,
AR(1) deviation ``u``) gives the marginal likelihood of the log counts. Its gradient is computed
in the same pass by forward-mode differentiation (one derivative of the filter's state per
parameter, ~12 parameters). All functions are ``numba.njit(cache=True)``: after the first run on
a machine they load from numba's disk cache in well under a second.

Unconstrained vector ``x`` (``S`` drivers)::

    x[0]        mu            mean log-hazard (at mean driver exposure)
    x[1]        log tau       sd of the region means around mu
    x[2]        logit phi     AR(1) coefficient of the level, in (0, 1)
    x[3]        log sd_u      stationary sd of the level, sd_u = sigma / sqrt(1 - phi^2)
    x[4]        log s         s = sqrt(NB2 dispersion alpha)
    x[5:5+S]    beta          effect of one unit of adstocked log1p(driver)
    x[5+S]      logit decay   carry-over of the adstock (only when S > 0)

Model per region (``z[t] = log(y[t] + 0.5)``, ``k = 1/alpha``)::

    z[t] = log P[t] + mu + beta . (c[t] - cbar) + m + u[t] + digamma(k) - log k + e[t]
    e[t] ~ N(0, trigamma(k) + 1/(y[t] + 0.5))          (log-moments of NB2 = gamma-Poisson)
    u[t] = phi u[t-1] + sigma eps[t],  u[0] ~ N(0, sigma^2 / (1 - phi^2)),  m ~ N(0, tau^2)
    c[s, t] = (1 - decay) x[s, t] + decay c[s, t-1],  c[s, 0] = x[s, 0]   (x = log1p(driver))

``tests/test_bayes_dynamic.py`` checks the log-likelihood against a dense multivariate normal and
the gradient against finite differences.
"""

from __future__ import annotations

import math

import numba
import numpy as np

LOG2PI = math.log(2.0 * math.pi)
#: prior hyper-parameters in the order :func:`logp_grad` reads them
PRIOR_ORDER = ("mu_mu", "mu_sigma", "tau", "phi_a", "phi_b", "sigma", "nb_alpha_median",
               "beta_mu", "beta_sigma", "decay_a", "decay_b", "nb_alpha_log_sd")
PARAM_NAMES = ("mu", "tau", "phi", "sigma", "nb_alpha")


@numba.njit(cache=True, inline="always")
def _softplus(x):
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@numba.njit(cache=True, inline="always")
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True)
def polygamma012(x):
    """``(digamma, trigamma, tetragamma)`` at ``x > 0`` (recurrence to x >= 8, then asymptotic series)."""
    d0 = 0.0
    d1 = 0.0
    d2 = 0.0
    while x < 8.0:
        d0 -= 1.0 / x
        d1 += 1.0 / (x * x)
        d2 -= 2.0 / (x * x * x)
        x += 1.0
    i1 = 1.0 / x
    i2 = i1 * i1
    d0 += math.log(x) - 0.5 * i1 - i2 * (1.0 / 12 - i2 * (1.0 / 120 - i2 * (1.0 / 252 - i2 * (1.0 / 240 - i2 / 132))))
    d1 += i1 + 0.5 * i2 + i1 * i2 * (1.0 / 6 - i2 * (1.0 / 30 - i2 * (1.0 / 42 - i2 / 30)))
    d2 += -i2 - i1 * i2 - i2 * i2 * (0.5 - i2 * (1.0 / 6 - i2 * (1.0 / 6 - i2 * 0.3)))
    return d0, d1, d2


@numba.njit(cache=True)
def adstock(xd, decay):
    """Geometric carry-over along the last axis: ``(c, dc/ddecay)``, both shaped like ``xd`` (S, R, T)."""
    S, R, T = xd.shape
    c = np.empty_like(xd)
    dc = np.empty_like(xd)
    for s in range(S):
        for r in range(R):
            c[s, r, 0] = xd[s, r, 0]
            dc[s, r, 0] = 0.0
            for t in range(1, T):
                c[s, r, t] = (1.0 - decay) * xd[s, r, t] + decay * c[s, r, t - 1]
                dc[s, r, t] = -xd[s, r, t] + c[s, r, t - 1] + decay * dc[s, r, t - 1]
    return c, dc


@numba.njit(cache=True)
def filter_all(x, z, q, obs, off, xd, cbar, prior, want_grad):
    """Log-density (constant dropped), gradient and each region's filtered last state.

    Parameters
    ----------
    x : (n,) unconstrained parameters (see module docstring)
    z : (R, T) log(y + 0.5) (anything where ``obs`` is 0)
    q : (R, T) Poisson part of the observation variance, 1 / (y + 0.5)
    obs : (R, T) 1 where the count is observed, 0 where missing (prediction step only)
    off : (R, T) log people at risk
    xd : (S, R, T) log1p(driver), gaps carried forward
    cbar : (S,) centre of each driver's adstock
    prior : hyper-parameters in :data:`PRIOR_ORDER`
    want_grad : compute the gradient (False: zeros)

    Returns
    -------
    (lp, grad, a_end, p_end) with ``a_end`` (R, 2) the filtered mean of ``(m, u[T-1])`` and
    ``p_end`` (R, 3) its covariance ``(P_mm, P_mu, P_uu)`` given all observations.
    """
    R, T = z.shape
    S = xd.shape[0]
    n = x.shape[0]
    mu = x[0]
    tau = math.exp(x[1])
    phi = _sigmoid(x[2])
    sdu = math.exp(x[3])
    s_nb = math.exp(x[4])
    alpha = s_nb * s_nb
    k = 1.0 / alpha
    dg, tg, ttg = polygamma012(k)
    bias = dg - math.log(k)
    # derivatives w.r.t. log s via k = exp(-2 log s): dk = -2k
    dbias = (tg - 1.0 / k) * (-2.0 * k)
    dvar = ttg * (-2.0 * k)
    dphi = phi * (1.0 - phi)
    var0 = sdu * sdu
    sig2 = var0 * (1.0 - phi * phi)
    sig = math.sqrt(sig2)
    dsig2_phi = -2.0 * phi * dphi * var0  # d sigma^2 / d logit phi at fixed sd_u
    ib = 5
    idc = 5 + S
    decay = 0.5
    if S > 0:
        decay = _sigmoid(x[idc])
    c, dc = adstock(xd, decay)
    ddec = decay * (1.0 - decay)

    grad = np.zeros(n)
    a_end = np.zeros((R, 2))
    p_end = np.zeros((R, 3))
    ll = 0.0
    ng = n if want_grad else 0
    da = np.zeros((ng, 2))
    dP = np.zeros((ng, 3))
    df = np.zeros(ng)
    dK = np.zeros(2)
    for r in range(R):
        a1 = 0.0
        a2 = 0.0
        P11 = tau * tau
        P12 = 0.0
        P22 = var0
        for j in range(ng):
            da[j, 0] = 0.0
            da[j, 1] = 0.0
            dP[j, 0] = 0.0
            dP[j, 1] = 0.0
            dP[j, 2] = 0.0
        if want_grad:
            dP[1, 0] = 2.0 * tau * tau
            dP[3, 2] = 2.0 * var0
        for t in range(T):
            if t > 0:  # predict
                if want_grad:
                    for j in range(ng):
                        da[j, 1] = phi * da[j, 1]
                        dP[j, 1] = phi * dP[j, 1]
                        dP[j, 2] = phi * phi * dP[j, 2]
                    da[2, 1] += dphi * a2
                    dP[2, 1] += dphi * P12
                    dP[2, 2] += 2.0 * phi * dphi * P22 + dsig2_phi
                    dP[3, 2] += 2.0 * sig2
                a2 = phi * a2
                P12 = phi * P12
                P22 = phi * phi * P22 + sig2
            if obs[r, t] == 0:
                continue
            f = off[r, t] + mu + bias
            for s in range(S):
                f += x[ib + s] * (c[s, r, t] - cbar[s])
            e = z[r, t] - f - a1 - a2
            v = tg + q[r, t]
            h1 = P11 + P12
            h2 = P12 + P22
            Sv = h1 + h2 + v
            ll += -0.5 * (LOG2PI + math.log(Sv) + e * e / Sv)
            K1 = h1 / Sv
            K2 = h2 / Sv
            if want_grad:
                for j in range(ng):
                    df[j] = 0.0
                df[0] = 1.0
                df[4] = dbias
                if S > 0:
                    acc = 0.0
                    for s in range(S):
                        df[ib + s] = c[s, r, t] - cbar[s]
                        acc += x[ib + s] * dc[s, r, t]
                    df[idc] = acc * ddec
                for j in range(ng):
                    de = -df[j] - da[j, 0] - da[j, 1]
                    if j == 0 or j > 4:
                        # mu, beta, decay move only the mean: P, S and K do not depend on them
                        grad[j] -= e * de / Sv
                        da[j, 0] += K1 * de
                        da[j, 1] += K2 * de
                        continue
                    dh1 = dP[j, 0] + dP[j, 1]
                    dh2 = dP[j, 1] + dP[j, 2]
                    dS = dh1 + dh2
                    if j == 4:
                        dS += dvar
                    grad[j] += -0.5 * (dS / Sv + 2.0 * e * de / Sv - e * e * dS / (Sv * Sv))
                    dK[0] = dh1 / Sv - h1 * dS / (Sv * Sv)
                    dK[1] = dh2 / Sv - h2 * dS / (Sv * Sv)
                    da[j, 0] += dK[0] * e + K1 * de
                    da[j, 1] += dK[1] * e + K2 * de
                    # P <- P - h h' / S
                    dP[j, 0] -= (2.0 * dh1 * h1 * Sv - h1 * h1 * dS) / (Sv * Sv)
                    dP[j, 1] -= ((dh1 * h2 + h1 * dh2) * Sv - h1 * h2 * dS) / (Sv * Sv)
                    dP[j, 2] -= (2.0 * dh2 * h2 * Sv - h2 * h2 * dS) / (Sv * Sv)
            a1 += K1 * e
            a2 += K2 * e
            P11 -= h1 * h1 / Sv
            P12 -= h1 * h2 / Sv
            P22 -= h2 * h2 / Sv
        a_end[r, 0] = a1
        a_end[r, 1] = a2
        p_end[r, 0] = P11
        p_end[r, 1] = P12
        p_end[r, 2] = P22

    # priors, with the log-Jacobians of the transforms
    m0, s0, st, pa, pb, ss, sn = prior[0], prior[1], prior[2], prior[3], prior[4], prior[5], prior[6]
    bm, bs, dca, dcb, nsd = prior[7], prior[8], prior[9], prior[10], prior[11]
    lp = ll
    lp += -0.5 * ((mu - m0) / s0) ** 2
    grad[0] += -(mu - m0) / (s0 * s0)
    lp += -0.5 * (tau / st) ** 2 + x[1]
    grad[1] += -(tau / st) ** 2 + 1.0
    lp += -pa * _softplus(-x[2]) - pb * _softplus(x[2])
    grad[2] += pa * (1.0 - phi) - pb * phi
    # HalfNormal on sigma with the log-Jacobian of log sigma = x[3] + log(1 - phi^2) / 2
    # (the map (logit phi, log sd_u) -> (logit phi, log sigma) has unit Jacobian)
    lp += -0.5 * (sig / ss) ** 2 + math.log(sig)
    gs = -(sig / ss) ** 2 + 1.0
    grad[3] += gs
    grad[2] += gs * (-phi * phi / (1.0 + phi))
    # log nb_alpha = 2 x[4] ~ Normal(log median, sd): keeps the posterior off the boundary 0
    e4 = (2.0 * x[4] - math.log(sn)) / nsd
    lp += -0.5 * e4 * e4
    grad[4] += -2.0 * e4 / nsd
    for s in range(S):
        b = x[ib + s]
        lp += -0.5 * ((b - bm) / bs) ** 2
        grad[ib + s] += -(b - bm) / (bs * bs)
    if S > 0:
        lp += -dca * _softplus(-x[idc]) - dcb * _softplus(x[idc])
        grad[idc] += dca * (1.0 - decay) - dcb * decay
    return lp, grad, a_end, p_end


def n_params(n_drivers: int) -> int:
    """Length of the unconstrained vector for ``n_drivers`` drivers."""
    return 5 + n_drivers + (1 if n_drivers else 0)


def expand(x: np.ndarray, n_drivers: int) -> dict[str, np.ndarray]:
    """Named constrained parameters from unconstrained vectors ``x`` (``(..., n)``)."""
    S = n_drivers
    x = np.asarray(x, dtype=float)
    phi = 1.0 / (1.0 + np.exp(-x[..., 2]))
    out = {"mu": x[..., 0], "tau": np.exp(x[..., 1]), "phi": phi,
           "sigma": np.exp(x[..., 3]) * np.sqrt(1.0 - phi * phi), "nb_alpha": np.exp(2.0 * x[..., 4])}
    if S:
        out["beta"] = x[..., 5 : 5 + S]
        out["decay"] = 1.0 / (1.0 + np.exp(-x[..., 5 + S]))
    return out
