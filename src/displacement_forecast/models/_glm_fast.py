"""The NB distributed-lag model's sample paths in one compiled pass.

Per path and region: the hazard ``min(exp(clip(eta, -50, 5)), 0.5)`` for every period, with
``eta = a[d, r] + sum_s sum_j b[d, s, j] * log1p(x_s)[d, r, j + h]`` where ``x_s`` is driver
``s``'s history (last ``L-1`` periods, shared by all draws) followed by its future path; then the
counts, each period's mean being the hazard times the people still at risk
(:func:`displacement_forecast._poisson.deplete_row`). The same arithmetic in the same order as
the NumPy formula (``tests/test_models.py`` checks they agree), without any
``draw x region x horizon`` temporaries: one pass, and no hazard array.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._poisson import _C, deplete_row, depletion_share, log1p_ratio, log1p_table, split_rows


@numba.njit(cache=True, nogil=True)
def _paths(a, b, log_hist, future, at_risk, shrink, mult, z, out, table, C):
    D, R, H = out.shape
    S, _, L1 = log_hist.shape
    L = L1 + 1
    buf = np.empty((S, L1 + H))
    eta = np.empty(H)
    for d in range(D):
        for r in range(R):
            for s in range(S):
                for j in range(L1):
                    buf[s, j] = log_hist[s, r, j]
                x = future[s][d, r]
                for h in range(H):
                    buf[s, L1 + h] = log1p_ratio(2.0 * x[h], 2.0, table)  # exact: x * 2 / 2 == x
            for h in range(H):
                eta[h] = a[d, r]
            for s in range(S):  # same order of additions as the NumPy formula: driver, then lag
                for j in range(L):
                    c = b[d, s, j]
                    for h in range(H):
                        eta[h] += c * buf[s, j + h]
            for h in range(H):  # eta becomes the hazard
                v = eta[h]
                if v < -50.0:
                    v = -50.0
                elif v > 5.0:
                    v = 5.0
                hz = math.exp(v)
                eta[h] = hz if hz < 0.5 else 0.5
            deplete_row(at_risk[r], shrink[r], eta, mult[d, r], z[d, r], out[d, r], C)


def _read_only(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=float).view()
    x.flags.writeable = False
    return x


def displacement_paths(a: np.ndarray, b: np.ndarray, history: list[np.ndarray], future: list[np.ndarray],
                       at_risk: np.ndarray, noise, depletes: np.ndarray | None = None) -> np.ndarray:
    """Counts ``(D, R, H)`` from region effects ``a`` ``(D, R)``, lag coefficients ``b``
    ``(D, S, L)`` (oldest lag first), driver histories ``(R, L-1)``, future paths ``(D, R, H)``,
    the people at risk at the origin ``(R,)``, the call's
    :class:`~displacement_forecast.distributions.CommonNoiseNB` and which regions deplete
    ``(R,)`` bool (:meth:`~.panel.Panel.depletes`; all when None)."""
    fut = tuple(_read_only(f) for f in future)  # one array type for every series: one compiled kernel
    D, R, H = fut[0].shape
    log_hist = np.ascontiguousarray(np.log1p(np.stack(history)), dtype=float)  # (S, R, L-1)
    a = np.ascontiguousarray(a, dtype=float)
    b = np.ascontiguousarray(b, dtype=float)
    at_risk = np.ascontiguousarray(at_risk, dtype=float)
    shrink = depletion_share(depletes, R)
    mult, z = noise.cells()
    out = np.empty((D, R, H))

    def rows(lo: int, hi: int) -> None:
        _paths(a[lo:hi], b[lo:hi], log_hist, tuple(f[lo:hi] for f in fut), at_risk, shrink, mult[lo:hi], z[lo:hi],
               out[lo:hi], log1p_table(2), _C)

    split_rows(rows, D, out.size)
    return out
