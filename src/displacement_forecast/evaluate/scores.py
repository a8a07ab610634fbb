"""Proper scores and calibration checks computed from sample paths (draws of future counts).

Every function takes forecast draws ``x`` with the draws on **axis 0** (any further axes, e.g.
``region x horizon``) and observations ``y`` with the shape of ``x.shape[1:]``. Missing
observations (NaN) give NaN scores.

==================  ========================================================================
score               definition used here
==================  ========================================================================
CRPS                sample estimator, **fair** (unbiased) by default:
                    ``mean|X_i - y| - sum_{i,j}|X_i - X_j| / (2 m (m - 1))``; the standard
                    (energy / empirical-CDF) estimator divides by ``2 m^2`` instead
                    (``estimator="nrg"``). Both agree with ``scoringrules.crps_ensemble``.
WIS                 weighted interval score (Bracher et al. 2021, PLoS Comput Biol 17:e1008618)
                    from the median and the central intervals of the draws at
                    ``alpha = 0.02, 0.05, 0.1, 0.2, ..., 0.9`` (the 23-quantile hub set),
                    weights ``w0 = 1/2``, ``wk = alpha_k / 2``, divided by ``K + 1/2``.
                    Quantiles are numpy's default (linear interpolation, Hyndman-Fan type 7).
coverage            ``lo <= y <= hi`` for the central interval of each level (bounds included).
PIT                 randomised PIT for counts: ``F(y-1) + V (F(y) - F(y-1))``, V ~ U(0, 1), F the
                    empirical CDF of the draws; uniform when the forecast is calibrated.
ignorance           ``-log2`` of the probability of the observed bin, the bin probabilities being
                    the draws' bin counts plus one pseudo-count per bin (VIEWS challenge style).
AE / APE            absolute (percentage) error of the median; APE is NaN when ``y == 0``.
==================  ========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..conventions import COVERAGE_LEVELS  # levels whose coverage is reported (one source)
from ..conventions import interval_bounds as interval_quantile_levels

#: ``alpha`` of the central (1 - alpha) intervals in the WIS (Bracher et al. 2021, K = 11).
WIS_ALPHAS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

#: VIEWS-challenge fatality bins (lower edges) ...
_VIEWS_EDGES = (0.0, 0.5, 2.5, 5.5, 10.5, 25.5, 50.5, 100.5, 250.5, 500.5, 1000.5)
#: ... continued for displacement counts with the same 1-2.5-5 steps, decade by decade, to 1e6.
IGNORANCE_EDGES: tuple[float, ...] = _VIEWS_EDGES + tuple(
    m * 10**k + 0.5 for k in range(3, 7) for m in (2.5, 5, 10) if m * 10**k <= 1e6
)


def _check(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim < 1 or x.shape[1:] != y.shape:
        raise ValueError(f"draws must have shape (n_draws, *obs.shape); got {x.shape} and {y.shape}")
    if x.shape[0] < 2:
        raise ValueError("at least two draws are needed")
    return x, y


def crps_sample(x: np.ndarray, y: np.ndarray, estimator: str = "fair") -> np.ndarray:
    """CRPS of draws ``x`` (axis 0) for observations ``y``; lower is better, in units of ``y``.

    Parameters
    ----------
    x
        Draws, shape ``(m, ...)``.
    y
        Observations, shape ``x.shape[1:]``.
    estimator
        ``"fair"`` (default): unbiased for the CRPS of the distribution the draws come from,
        ``E|X-y| - sum_{i!=j}|x_i-x_j| / (2 m (m-1))``. ``"nrg"``: the CRPS of the empirical
        distribution of the draws (divides by ``2 m^2``; larger than the fair one by
        ``E|X-X'| / (2 (m-1))`` over distinct pairs).

    Returns
    -------
    numpy.ndarray
        Scores with the shape of ``y`` (NaN where ``y`` is NaN).
    """
    x, y = _check(x, y)
    m = x.shape[0]
    xs = np.sort(x, axis=0)
    # sum_{i,j} |x_i - x_j| = 2 * sum_i (2i - m - 1) x_(i), i = 1..m
    w = (2 * np.arange(1, m + 1) - m - 1).reshape((m,) + (1,) * (x.ndim - 1))
    pair_sum = 2.0 * (w * xs).sum(axis=0)
    if estimator == "fair":
        spread = pair_sum / (2.0 * m * (m - 1))
    elif estimator == "nrg":
        spread = pair_sum / (2.0 * m * m)
    else:
        raise ValueError(f"unknown CRPS estimator {estimator!r}; expected 'fair' or 'nrg'")
    return np.abs(x - y[None]).mean(axis=0) - spread


def interval_bounds(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the central ``level``% interval of draws ``x`` (axis 0)."""
    lo, hi = np.quantile(np.asarray(x, dtype=float), list(interval_quantile_levels(level)), axis=0)
    return lo, hi


def wis(x: np.ndarray, y: np.ndarray, alphas: Sequence[float] = WIS_ALPHAS) -> np.ndarray:
    """Weighted interval score (Bracher et al. 2021) from quantiles of draws ``x`` (axis 0).

    ``WIS = (|y - median| / 2 + sum_k alpha_k / 2 * IS_k) / (K + 1/2)`` with the interval score
    ``IS_k = (u - l) + 2/alpha_k (l - y)+ + 2/alpha_k (y - u)+`` of the central ``1 - alpha_k``
    interval ``[l, u]``.
    """
    x, y = _check(x, y)
    al = np.asarray(alphas, dtype=float)
    probs = np.concatenate([[0.5], al / 2, 1 - al / 2])
    q = np.quantile(x, probs, axis=0)
    return wis_intervals(q[0], q[1 : 1 + len(al)], q[1 + len(al) :], y, al)


def wis_intervals(median: np.ndarray, lo: np.ndarray, hi: np.ndarray, y: np.ndarray,
                  alphas: Sequence[float] = WIS_ALPHAS) -> np.ndarray:
    """Weighted interval score from given quantiles (e.g. a peer's prediction intervals).

    Parameters
    ----------
    median
        Median forecast, shape ``S`` (any shape, that of ``y``).
    lo, hi
        Lower and upper bounds of the central ``1 - alpha_k`` intervals, shape ``(K, *S)`` in
        the order of ``alphas``.
    y
        Observations, shape ``S``.
    alphas
        ``alpha_k`` of the intervals (default the hub set, K = 11).

    Returns
    -------
    numpy.ndarray
        ``(|y - median| / 2 + sum_k alpha_k / 2 * IS_k) / (K + 1/2)``, shape ``S`` (Bracher et al. 2021).
    """
    y = np.asarray(y, dtype=float)
    al = np.asarray(alphas, dtype=float).reshape((-1,) + (1,) * y.ndim)
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if lo.shape != (al.shape[0], *y.shape) or hi.shape != lo.shape:
        raise ValueError(f"lo/hi must have shape {(al.shape[0], *y.shape)}; got {lo.shape}, {hi.shape}")
    is_k = (hi - lo) + 2 / al * np.clip(lo - y, 0, None) + 2 / al * np.clip(y - hi, 0, None)
    return (0.5 * np.abs(y - np.asarray(median, dtype=float)) + (al / 2 * is_k).sum(axis=0)) / (al.shape[0] + 0.5)


def coverage(x: np.ndarray, y: np.ndarray, levels: Sequence[float] = COVERAGE_LEVELS) -> dict[float, np.ndarray]:
    """``level -> float array`` (1.0 covered, 0.0 not, NaN if ``y`` missing) for central intervals."""
    x, y = _check(x, y)
    out = {}
    for lv in levels:
        lo, hi = interval_bounds(x, lv)
        out[lv] = np.where(np.isnan(y), np.nan, ((lo <= y) & (y <= hi)).astype(float))
    return out


def pit_randomised(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomised PIT ``F(y-) + V (F(y) - F(y-))`` with F the empirical CDF of the draws.

    For counts ``F(y-) = P(X < y) = F(y - 1)``. A calibrated forecast gives uniform values.
    """
    x, y = _check(x, y)
    below = (x < y[None]).mean(axis=0)
    at_or_below = (x <= y[None]).mean(axis=0)
    v = rng.uniform(size=y.shape)
    return np.where(np.isnan(y), np.nan, below + v * (at_or_below - below))


def pit_histogram(pit: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Relative frequencies (density: 1 = uniform) of PIT values in ``n_bins`` equal bins, and edges."""
    p = np.asarray(pit, dtype=float)
    p = p[np.isfinite(p)]
    edges = np.linspace(0, 1, n_bins + 1)
    counts, _ = np.histogram(p, bins=edges)
    dens = counts / max(len(p), 1) * n_bins
    return dens, edges


def ignorance(x: np.ndarray, y: np.ndarray, edges: Sequence[float] = IGNORANCE_EDGES) -> np.ndarray:
    """Ignorance score in bits: ``-log2 p(bin of y)`` with one pseudo-count added to every bin.

    Bins are ``[e_k, e_{k+1})`` for the lower edges ``edges`` (the last bin is open above), so
    with the default edges the first bin holds exactly 0, the second 1-2, the third 3-5, ...
    ``p(bin) = (draws in bin + 1) / (m + n_bins)``.
    """
    x, y = _check(x, y)
    e = np.asarray(edges, dtype=float)
    nb = len(e)
    if (x < e[0]).any():
        raise ValueError(f"draws below the first bin edge {e[0]}")
    bx = np.searchsorted(e, x, side="right") - 1  # bin index per draw
    by = np.searchsorted(e, np.nan_to_num(y, nan=0.0), side="right") - 1
    if (by < 0).any():
        raise ValueError(f"observations below the first bin edge {e[0]}")
    counts = (bx == by[None]).sum(axis=0)
    p = (counts + 1) / (x.shape[0] + nb)
    return np.where(np.isnan(y), np.nan, -np.log2(p))


def median_errors(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute error and absolute percentage error (percent; NaN when ``y == 0``) of the median."""
    x, y = _check(x, y)
    med = np.median(x, axis=0)
    ae = np.abs(med - y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(y > 0, 100.0 * ae / np.where(y > 0, y, 1.0), np.nan)
    return ae, ape


def score_paths(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                levels: Sequence[float] = COVERAGE_LEVELS) -> dict[str, np.ndarray]:
    """Every score for draws ``x`` (axis 0) against ``y``: ``name -> array shaped like y``.

    Keys: ``observed, median, mean, crps, wis, ignorance, ae, ape, pit`` and ``cover_<level>``,
    ``lo_<level>``, ``hi_<level>`` for each interval level.
    """
    x, y = _check(x, y)
    ae, ape = median_errors(x, y)
    out = {"observed": y, "median": np.median(x, axis=0), "mean": x.mean(axis=0),
           "crps": crps_sample(x, y), "wis": wis(x, y), "ignorance": ignorance(x, y),
           "ae": ae, "ape": ape, "pit": pit_randomised(x, y, rng)}
    for lv in levels:
        lo, hi = interval_bounds(x, lv)
        out[f"lo_{lv:g}"], out[f"hi_{lv:g}"] = lo, hi
        out[f"cover_{lv:g}"] = np.where(np.isnan(y), np.nan, ((lo <= y) & (y <= hi)).astype(float))
    return out


def skill(score_model: float, score_reference: float) -> float:
    """Skill score ``1 - S_model / S_reference`` (positive: better than the reference)."""
    if not np.isfinite(score_reference) or score_reference <= 0:
        return float("nan")
    return float(1.0 - score_model / score_reference)


__all__ = ["COVERAGE_LEVELS", "IGNORANCE_EDGES", "WIS_ALPHAS", "coverage", "crps_sample",
           "ignorance", "interval_bounds", "median_errors", "pit_histogram", "pit_randomised",
           "score_paths", "skill", "wis"]
