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
