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
    drift as soon as one region's mean changes. Here the gamma multipliers are drawn up front
    (they depend only on the dispersion, which scenarios share) and each region gets its own
    Poisson stream, so a change in one region never moves the noise of another.

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
        D, R, H = shape
        a = np.broadcast_to(np.maximum(np.asarray(alpha, dtype=float), 1e-8), (D, R))
        k = np.broadcast_to((1.0 / a)[:, :, None], shape)
        self._mult = rng.standard_gamma(k) / k  # mean-one gamma multipliers
        self._seeds = rng.integers(0, 2**63 - 1, size=R)
        self.reset()

    def reset(self) -> CommonNoiseNB:
        """Rewind the Poisson streams, so the next scenario sees exactly the same noise."""
        self._streams = [np.random.default_rng(s) for s in self._seeds]
        return self

    def draw(self, h: int, mean: np.ndarray) -> np.ndarray:
        """Counts for horizon index ``h`` given means of shape ``(n_draws, n_regions)``."""
        lam = np.maximum(mean, 0.0) * self._mult[:, :, h]
        out = np.empty_like(lam)
        for r, g in enumerate(self._streams):
            out[:, r] = g.poisson(lam[:, r])
        return out
