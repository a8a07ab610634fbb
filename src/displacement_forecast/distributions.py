"""Distributions shared by the simulator and the models (one definition of the NB we use)."""

from __future__ import annotations

import numpy as np


def draw_nb(rng: np.random.Generator, mean: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """NB2 draws (variance = mean + alpha * mean^2) via the gamma-Poisson mixture.

    ``alpha`` may be a scalar or broadcast against ``mean``; ``alpha -> 0`` is Poisson.
    """
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    alpha = np.broadcast_to(np.maximum(np.asarray(alpha, dtype=float), 1e-8), mean.shape)
    shape = 1.0 / alpha
    return rng.poisson(rng.gamma(shape, mean / shape)).astype(float)


class CommonNoiseNB:
    """NB2 draws for ``draw x region x horizon`` whose randomness does not depend on the means.

    Common random numbers across scenarios need every scenario to see the *same* noise. NumPy's
    Poisson sampler consumes a mean-dependent number of uniforms, so one shared stream would
    drift as soon as one region's mean changes. Here all randomness is drawn up front, a fixed
    amount that does not depend on the means: per cell one mean-one gamma multiplier (it depends
    only on the dispersion, which scenarios share) and one uniform (carried as a standard normal).
    A count is the Poisson quantile of that uniform at ``mean * multiplier``: exact inversion,
    see :mod:`displacement_forecast._poisson`. So

    * the draws are exactly NB2 (variance ``mean + alpha * mean^2``),
    * a change in one cell's mean never moves the noise of another cell,
    * counts never decrease when the mean increases (draw by draw, cell by cell).

    Parameters
    ----------
    rng
        Source of all randomness (consumed a fixed amount at construction).
    alpha
        NB2 dispersion, broadcastable to ``(n_draws, n_regions)``.
    shape
        ``(n_draws, n_regions, horizon)``.
    """

    def __init__(self, rng: np.random.Generator, alpha: np.ndarray | float, shape: tuple[int, int, int]):
        from ._poisson import nb_randomness

        a = np.broadcast_to(np.maximum(np.asarray(alpha, dtype=float), 1e-8), shape[:2])
        self._mult, self._z = nb_randomness(rng, 1.0 / a, shape)

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """The randomness of every cell, ``(multiplier, z)`` with the uniform ``Phi(z)``: for
        compiled kernels that compute their means as they go (see
        :func:`displacement_forecast._poisson.deplete_row`)."""
        return self._mult, self._z

    def draw(self, h: int | slice, mean: np.ndarray) -> np.ndarray:
        """Counts for horizon index ``h`` given means of shape ``(n_draws, n_regions)``, or for the
        horizons of the slice ``h`` given means that broadcast to ``(n_draws, n_regions, len)``."""
        from ._poisson import poisson_ppf_z

        return poisson_ppf_z(self._z[:, :, h], np.asarray(mean, dtype=float) * self._mult[:, :, h])

    def draw_depleting(self, hazard: np.ndarray, at_risk: np.ndarray, depletes: np.ndarray | None = None
                       ) -> np.ndarray:
        """Counts for all horizons when each period's mean is ``hazard`` times the people still at
        risk, and no period takes more people than are left.

        ``hazard`` is ``(n_draws, n_regions, horizon)``, ``at_risk`` broadcasts to
        ``(n_draws, n_regions)`` (people at risk before the first period). The same as, period by
        period: ``y = min(draw(h, at_risk * hazard[..., h]), at_risk); at_risk -= y``, except in the
        regions where ``depletes`` (``(n_regions,)`` bool; all when None) is False: their counts
        are movements and ``at_risk`` stays (:meth:`~.models.panel.Panel.depletes`).
        """
        from ._poisson import nb_depleting

        left = np.broadcast_to(np.asarray(at_risk, dtype=float), self._mult.shape[:2])
        return nb_depleting(hazard, left, self._mult, self._z, depletes)
