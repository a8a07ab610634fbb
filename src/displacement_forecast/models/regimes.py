"""Escalation regimes of a conflict series: a two-state hidden Markov model on zone intensities.

Conflict moves between a usual level and escalations (an offensive lasts weeks and then ends).
:class:`~.drivers.SeriesAR`'s held paths keep the current intensity; read as a plain mean of the
last periods, that intensity mixes regimes when one has just started or ended (a week of an
offensive and a quiet week after it hold half the offensive). Here each zone's intensity
``x[z, t] = log1p(mean count of z's regions in t) - its median over t`` follows a hidden state
``s[t]`` in {usual, escalated} with Gaussian emissions ``N(mean[s], sd)`` and a Markov transition
matrix, all shared by the zones and fitted by EM (Baum-Welch; Rabiner 1989, "A tutorial on hidden
Markov models", Proc. IEEE 77(2), with scaled forward-backward recursions). From the fit,
:func:`same_regime_weights` gives, for each of the last ``k`` periods, the probability that it was
in the same regime as the last one given everything observed: the held intensity is the mean of the
last periods weighted by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

#: Periods of history below which no model is fitted (every weight is then 1).
MIN_PERIODS = 12
_SD_FLOOR = 0.05


@dataclass(frozen=True)
class TwoStateFit:
    """A fitted two-state Gaussian HMM: ``mean`` (2,) with state 1 the higher (escalated),
    ``sd`` shared, ``transition`` (2, 2) rows = from-state, ``initial`` (2,)."""

    mean: np.ndarray
    sd: float
    transition: np.ndarray
    initial: np.ndarray


@numba.njit(cache=True)
def _emissions(x, mean, sd):
    Z, T = x.shape
    B = np.empty((Z, T, 2))
    for z in range(Z):
        for t in range(T):
            for s in range(2):
                u = (x[z, t] - mean[s]) / sd
                B[z, t, s] = math.exp(-0.5 * u * u) / sd + 1e-300
    return B


@numba.njit(cache=True)
def _forward(B, A, init):
    """Scaled forward pass: ``alpha[z, t]`` = P(s_t | x_1..t), ``c[z, t]`` = P(x_t | x_1..t-1)."""
    Z, T, _ = B.shape
    al = np.empty((Z, T, 2))
    c = np.empty((Z, T))
    for z in range(Z):
        a0 = init[0] * B[z, 0, 0]
        a1 = init[1] * B[z, 0, 1]
        c[z, 0] = a0 + a1
        al[z, 0, 0] = a0 / c[z, 0]
        al[z, 0, 1] = a1 / c[z, 0]
        for t in range(1, T):
            p0 = al[z, t - 1, 0] * A[0, 0] + al[z, t - 1, 1] * A[1, 0]
            p1 = al[z, t - 1, 0] * A[0, 1] + al[z, t - 1, 1] * A[1, 1]
            a0 = p0 * B[z, t, 0]
            a1 = p1 * B[z, t, 1]
            c[z, t] = a0 + a1
            al[z, t, 0] = a0 / c[z, t]
            al[z, t, 1] = a1 / c[z, t]
    return al, c


@numba.njit(cache=True)
def _em(x, mean, sd, A, init, max_iter, tol):
    Z, T = x.shape
    """Baum-Welch from the given start; stops when the log-likelihood changes by less than ``tol``
    (relative) or after ``max_iter`` steps. Returns the updated ``mean, sd, A, init``."""
    prev = -np.inf
    gam = np.empty((Z, T, 2))
    be = np.empty((T, 2))
    for _ in range(max_iter):
        B = _emissions(x, mean, sd)
        al, c = _forward(B, A, init)
        ll = 0.0
        xi = np.zeros((2, 2))
        for z in range(Z):
            for t in range(T):
                ll += math.log(c[z, t])
            be[T - 1, 0] = 1.0
            be[T - 1, 1] = 1.0
            for t in range(T - 2, -1, -1):
                for i in range(2):
                    be[t, i] = (A[i, 0] * B[z, t + 1, 0] * be[t + 1, 0]
                                + A[i, 1] * B[z, t + 1, 1] * be[t + 1, 1]) / c[z, t + 1]
            for t in range(T):
                g = al[z, t, 0] * be[t, 0] + al[z, t, 1] * be[t, 1]
                for i in range(2):
                    gam[z, t, i] = al[z, t, i] * be[t, i] / g
                if t < T - 1:
                    for i in range(2):
                        for j in range(2):
                            xi[i, j] += al[z, t, i] * A[i, j] * B[z, t + 1, j] * be[t + 1, j] / c[z, t + 1]
        ss = 0.0
        for i in range(2):
            g_sum = 0.0
            gx = 0.0
            for z in range(Z):
                for t in range(T):
                    g_sum += gam[z, t, i]
                    gx += gam[z, t, i] * x[z, t]
            mean[i] = gx / max(g_sum, 1e-12)
            for z in range(Z):
                for t in range(T):
                    d = x[z, t] - mean[i]
                    ss += gam[z, t, i] * d * d
        sd = max(math.sqrt(ss / (Z * T)), _SD_FLOOR)
        for i in range(2):
            row = xi[i, 0] + xi[i, 1]
            if row > 0:
                A[i, 0] = xi[i, 0] / row
                A[i, 1] = xi[i, 1] / row
            s0 = 0.0
            for z in range(Z):
                s0 += gam[z, 0, i]
            init[i] = s0 / Z
        if abs(ll - prev) < tol * (1.0 + abs(ll)):
            break
        prev = ll
    return mean, sd, A, init


def fit_two_state(x: np.ndarray, max_iter: int = 200, tol: float = 1e-7) -> TwoStateFit:
    """Fit the model to ``x`` ``(sequence, period)`` (every sequence the same length, no NaN).

    Started from the median and the 95th percentile of all values as the two state means; the
    states are returned ordered so that state 1 has the higher mean.
    """
    x = np.ascontiguousarray(x, dtype=float)
    mean = np.quantile(x, [0.5, 0.95]).astype(float)
    if mean[1] - mean[0] < 1e-6:
        mean[1] = mean[0] + max(float(x.std()), 0.1)
    sd = max(float(x.std()), _SD_FLOOR)
    A = np.array([[0.95, 0.05], [0.2, 0.8]])
    init = np.array([0.9, 0.1])
    mean, sd, A, init = _em(x, mean, sd, A, init, int(max_iter), float(tol))
    if mean[1] < mean[0]:  # keep state 1 the escalated one
        mean, A, init = mean[::-1].copy(), A[::-1, ::-1].copy(), init[::-1].copy()
    return TwoStateFit(mean=mean, sd=float(sd), transition=A, initial=init)


def same_regime_weights(x: np.ndarray, fit: TwoStateFit, k: int) -> np.ndarray:
    """``(sequence, k)``: for each of the last ``k`` periods ``t``, P(s_t = s_T | x_1..T), T the last.

    Exact under the model: ``P(s_t = i, s_T = j | x) = alpha_t(i) * b_t^j(i)`` with the scaled
    forward probabilities and a backward pass started from ``s_T = j``. The last column is 1.
    """
    x = np.ascontiguousarray(x, dtype=float)
    Z, T = x.shape
    k = min(int(k), T)
    B = _emissions(x, fit.mean, fit.sd)
    al, c = _forward(B, fit.transition, fit.initial)
    A = fit.transition
    w = np.zeros((Z, k))
    for j in range(2):
        b = np.zeros((Z, 2))
        b[:, j] = 1.0
        joint = [al[:, T - 1, j]]  # P(s_T = j | x)
        for t in range(T - 2, T - k - 1, -1):
            b = (b * B[:, t + 1, :] / c[:, t + 1, None]) @ A.T
            joint.append(al[:, t, j] * b[:, j])
        w += np.stack(joint[::-1], axis=1)
    return np.clip(w, 0.0, 1.0)

