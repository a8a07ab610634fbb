"""The driver autoregression's sample paths (:class:`~.drivers.SeriesAR`) in one compiled pass.

Period by period and draw by draw: the features of :func:`.drivers._ar_features` from a window
of the last ``N_AR`` counts (own and zone means), the linear predictor, an NB2 count
(:func:`displacement_forecast._poisson.nb_cell`), and the window moves on. Only
``draw x region`` work per step and no NumPy temporaries, where a NumPy loop builds
``draw x region x N_AR`` arrays every period.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._poisson import _C, _ppf, in_blocks, log1p_ratio, log1p_table, nb_cell, split_rows


@numba.njit(cache=True, inline="always")
def _zone_features(win, zone, zone_n, zsum, zlast, zprev):
    """Log1p of each zone's mean count in the last period and in the earlier ones."""
    K = win.shape[1]
    zsum[:, :] = 0.0
    for r in range(win.shape[0]):
        for j in range(K):
            zsum[zone[r], j] += win[r, j]
    for q in range(zone_n.shape[0]):
        s = 0.0
        for j in range(K - 1):
            s += zsum[q, j]
        zlast[q] = math.log1p(zsum[q, K - 1] / zone_n[q])
        zprev[q] = math.log1p(s / ((K - 1) * zone_n[q]))


@numba.njit(cache=True, inline="always")
def _mean(d, r, h, a, phi, shock, win, zone, nz, zlast, zprev, log1p_1, log1p_k):
    """The count's mean for draw ``d``, region ``r``, step ``h`` from the window ``win``."""
    K = win.shape[1]
    s = 0.0
    for j in range(K - 1):
        s += win[r, j]
    eta = (a[d, r] + phi[d, 0] * log1p_ratio(win[r, K - 1], 1.0, log1p_1)
           + phi[d, 1] * log1p_ratio(s, K - 1.0, log1p_k) + shock[d, h])
    if nz:
        eta += phi[d, 2] * zlast[zone[r]] + phi[d, 3] * zprev[zone[r]]
    if eta < -20.0:
        eta = -20.0
    elif eta > 12.0:
        eta = 12.0
    return math.exp(eta)


@numba.njit(cache=True, nogil=True)
def _ar_paths(g, a, phi, alpha, shock, history, zone, zone_n, active, out, log1p_1, log1p_k, C, mult, z):
    """The recursion for draws ``out.shape[0]``; the noise from the generator ``g`` when ``mult``
    is empty, else the Poisson quantile of ``Phi(z)`` at the mean times ``mult`` (given cells)."""
    D, R, H = out.shape
    K = history.shape[1]
    nz = zone_n.shape[0]  # 0: no zone features
    given = mult.shape[0] > 0
    win = np.empty((R, K))
    zsum = np.zeros((max(nz, 1), K))
    zlast = np.zeros(max(nz, 1))
    zprev = np.zeros(max(nz, 1))
    for d in range(D):
        win[:, :] = history
        for h in range(H):
            if nz:
                _zone_features(win, zone, zone_n, zsum, zlast, zprev)
            for r in range(R):
                if not active[r]:
                    out[d, r, h] = 0.0
                    continue
                m = _mean(d, r, h, a, phi, shock, win, zone, nz, zlast, zprev, log1p_1, log1p_k)
                if given:
                    out[d, r, h] = _ppf(z[d, r, h], -1.0, m * mult[d, r, h], C)
                else:
                    out[d, r, h] = nb_cell(g, m, alpha[d], C)
            for r in range(R):
                for j in range(K - 1):
                    win[r, j] = win[r, j + 1]
                win[r, K - 1] = out[d, r, h]


def _zones(zone: np.ndarray | None, R: int) -> tuple[np.ndarray, np.ndarray]:
    if zone is None:
        return np.zeros(R, dtype=np.int64), np.zeros(0)
    zone = np.ascontiguousarray(zone, dtype=np.int64)
    return zone, np.bincount(zone).astype(float)


_NONE = np.zeros((0, 0, 0))
_UNUSED = np.random.default_rng(0)  # the kernel's generator argument when the cells are given


def ar_paths(rng: np.random.Generator, a: np.ndarray, phi: np.ndarray, alpha: np.ndarray,
             shock: np.ndarray, history: np.ndarray, zone: np.ndarray | None,
             active: np.ndarray) -> np.ndarray:
    """Counts ``(D, R, H)`` from region effects ``a`` ``(D, R)``, AR coefficients ``phi``
    ``(D, 2 or 4)``, NB2 dispersions ``alpha`` ``(D,)``, common shocks ``(D, H)``, the last
    ``N_AR`` counts ``(R, N_AR)`` (newest last) and zones (``None``: own features only).
    Inactive regions stay at 0. Blocks of draws run in parallel (:func:`in_blocks`)."""
    D, H = shock.shape
    R = history.shape[0]
    zone, zone_n = _zones(zone, R)
    a, phi, alpha, shock, history = (np.ascontiguousarray(x, dtype=float) for x in (a, phi, alpha, shock, history))
    active = np.ascontiguousarray(active, dtype=np.bool_)
    log1p_k = log1p_table(history.shape[1] - 1)  # counts are whole: their sums are looked up
    out = np.empty((D, R, H))

    def block(g: np.random.Generator, lo: int, hi: int) -> None:
        _ar_paths(g, a[lo:hi], phi[lo:hi], alpha[lo:hi], shock[lo:hi], history, zone, zone_n, active,
                  out[lo:hi], log1p_table(1), log1p_k, _C, _NONE, _NONE)

    in_blocks(rng, D, out.size, block)
    return out


def ar_paths_given(a: np.ndarray, phi: np.ndarray, shock: np.ndarray, history: np.ndarray,
                   zone: np.ndarray | None, active: np.ndarray, mult: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Counts ``(D, R, H)`` as :func:`ar_paths`, with each cell's randomness given: gamma
    multipliers ``mult`` and normals ``z``, both ``(D, R, H)``. So a region's paths depend only on
    its own randomness and its zone's: a forecast computed region chunk by region chunk (whole
    zones per chunk) equals the one computed at once."""
    D, H = shock.shape
    R = history.shape[0]
    zone, zone_n = _zones(zone, R)
    a, phi, shock, history, mult, z = (np.ascontiguousarray(x, dtype=float) for x in (a, phi, shock, history, mult, z))
    active = np.ascontiguousarray(active, dtype=np.bool_)
    alpha = np.zeros(0)
    log1p_k = log1p_table(history.shape[1] - 1)
    out = np.empty((D, R, H))

    def rows(lo: int, hi: int) -> None:
        _ar_paths(_UNUSED, a[lo:hi], phi[lo:hi], alpha, shock[lo:hi], history, zone, zone_n, active, out[lo:hi],
                  log1p_table(1), log1p_k, _C, mult[lo:hi], z[lo:hi])

    split_rows(rows, D, out.size)
    return out
