"""Baselines: the bar every other model must beat. They ignore strikes, so scenarios cannot move them.

``last-value``
    Next periods ~ NB(mean = last observed count). The dispersion is estimated separately for each
    horizon h and each region from that region's own h-step naive errors (y[t+h] given y[t]), so
    intervals widen with the horizon as much as the past says they should and each region keeps
    its own scale of volatility. The regions' log-dispersions are partially pooled (empirical
    Bayes, DerSimonian-Laird; :func:`shrink_to_common`): a region with few errors borrows from
    the others. One dispersion pooled over all regions (before) was dominated by the most
    volatile ones: on the Somalia panel 72% of the forecasts had a median of 0 (origins of
    ``experiments/real_world/cv_peers.py``, 500 paths, 2026-11-30).
``climatology``
    Block bootstrap of recent periods: each future period is a past period (from the last
    ``window``) drawn at random, all regions together, keeping their co-movement.
``historic-average``
    The analogue of statsforecast's ``HistoricAverage`` with sample paths: every future period
    of region r is NB(mean = m_r, dispersion a_r), m_r the mean of the region's whole observed
    history and a_r the NB2 dispersion estimated by maximum likelihood from the same history
    around m_r (so the spread is the history's own; NB rather than statsforecast's Gaussian
    because counts are skewed and never negative). Periods are independent given (m_r, a_r);
    the mean's own sampling error is added by drawing m_r once per path from a normal with the
    standard error of the mean (``sd / sqrt(n)``, floored at 0.5).

Every baseline path keeps its region's cumulative count within the people still at risk
(:func:`.panel.cap_at_risk`), as the other models do: a region is not emptied twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ..distributions import draw_nb
from .base import ForecastModel, Panel, ffill_time
from .panel import cap_at_risk

#: Grid of log-dispersions the NB2 likelihood is first evaluated on (1e-4 .. 50, step ~1).
_LOG_ALPHA_GRID = np.linspace(np.log(1e-4), np.log(50.0), 14)


def _nb_ll(log_a: np.ndarray, y: np.ndarray, mu: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """NB2 log-likelihood of each row (up to terms free of the dispersion) at ``exp(log_a)``:
    ``log_a`` of shape ``(k, n_rows)`` or ``(k, 1)``, ``y, mu, ok`` of shape ``(n_rows, n_obs)``;
    returns ``(k, n_rows)``."""
    r = np.exp(-np.asarray(log_a, float))[:, :, None]
    ll = special.gammaln(y + r) - special.gammaln(r) + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu))
    return np.where(ok, ll, 0.0).sum(axis=2)


def _nb_log_alpha_rows(y: np.ndarray, mu: np.ndarray, pooled: bool = True
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """MLE of the NB2 log-dispersion of each row of counts ``y`` around known means ``mu``.

    All rows at once: the log-likelihood is evaluated on :data:`_LOG_ALPHA_GRID`, then the best
    grid point is refined by 3 Newton steps on the log scale (central differences, step 0.05;
    kept within the grid's bounds and within a grid step of the start). The curvature at the
    end is the observed information.

    Parameters
    ----------
    y, mu
        Counts and means, shape ``(n_rows, n_obs)``; pairs with a non-finite value or
        ``mu <= 0`` are ignored.
    pooled
        Also estimate one ``log alpha`` for all rows together (as much work again as the rows').

    Returns
    -------
    log_alpha, var, n, pooled_log_alpha
        Per row ``(n_rows,)``: the MLE of ``log alpha`` (within ``[log 1e-4, log 50]``; 0 when
        fewer than 3 pairs), its variance (inverse observed information; ``inf`` when fewer than
        3 pairs or the curvature is not positive), the number of pairs; and the MLE of one
        ``log alpha`` for all rows together (0 when fewer than 3 pairs in all; NaN when not
        asked for).
    """
    y, mu = np.atleast_2d(np.asarray(y, float)), np.atleast_2d(np.asarray(mu, float))
    ok = np.isfinite(y) & np.isfinite(mu) & (mu > 0)
    y, mu = np.where(ok, y, 0.0), np.where(ok, mu, 1.0)
    lo, hi = _LOG_ALPHA_GRID[0], _LOG_ALPHA_GRID[-1]
    step, h = _LOG_ALPHA_GRID[1] - _LOG_ALPHA_GRID[0], 0.05
    grid = _nb_ll(np.broadcast_to(_LOG_ALPHA_GRID[:, None], (len(_LOG_ALPHA_GRID), 1)), y, mu, ok)

    def refine(gridll: np.ndarray, y, mu, ok) -> tuple[np.ndarray, np.ndarray]:
        """3 Newton steps from each row's best grid point: the end point and its variance."""
        def slope_curvature(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lm, l0, lp = _nb_ll(np.stack([t - h, t, t + h]), y, mu, ok)
            return (lp - lm) / (2 * h), (lp - 2 * l0 + lm) / h**2

        t0 = _LOG_ALPHA_GRID[gridll.argmax(axis=0)]
        t = t0.copy()
        for _ in range(3):
            d1, d2 = slope_curvature(t)
            new = np.where(d2 < 0, t - d1 / np.where(d2 < 0, d2, -1.0), t + np.sign(d1) * step / 2)
            t = np.clip(new, np.maximum(t0 - step, lo), np.minimum(t0 + step, hi))
        d2 = slope_curvature(t)[1]
        return t, np.where(d2 < -1e-8, -1.0 / np.where(d2 < -1e-8, d2, -1.0), np.inf)

    t, var = refine(grid, y, mu, ok)
    n = ok.sum(axis=1)
    tp = (float(refine(grid.sum(axis=1, keepdims=True), y.reshape(1, -1), mu.reshape(1, -1),
                       ok.reshape(1, -1))[0][0]) if pooled else np.nan)
    few = n < 3
    return np.where(few, 0.0, t), np.where(few, np.inf, var), n, tp if n.sum() >= 3 else 0.0


def shrink_to_common(theta: np.ndarray, var: np.ndarray, informs: np.ndarray | None = None
                     ) -> tuple[np.ndarray, float, float]:
    """Partially pool per-group estimates toward their common mean (random-effects meta-analysis).

    The normal-normal model ``theta_r ~ N(t_r, var_r)``, ``t_r ~ N(mu, tau2)``: ``mu`` and
    ``tau2`` by the DerSimonian-Laird method of moments (DerSimonian & Laird 1986, *Controlled
    Clinical Trials* 7:177-188), then each group's empirical-Bayes posterior mean
    ``(theta_r / var_r + mu / tau2) / (1 / var_r + 1 / tau2)``. A group with a precise estimate
    (many observations) keeps about its own value, one with few moves toward ``mu``, one with no
    estimate (``var = inf``) gets ``mu``; ``tau2 = 0`` (groups no more different than their
    noise) gives every group ``mu``.

    Parameters
    ----------
    theta, var
        Estimates and their sampling variances, shape ``(n_groups,)``; ``var`` may be ``inf``.
    informs
        Boolean ``(n_groups,)``: the groups ``mu`` and ``tau2`` are estimated from (default: all
        with a finite variance); the others are still shrunk toward them.

    Returns
    -------
    shrunk, mu, tau2
        Shrunk estimates ``(n_groups,)``, the common mean and the between-group variance.
        With no finite variance at all, ``theta`` is returned unchanged with ``mu`` its mean
        and ``tau2 = nan``.
    """
    theta, var = np.asarray(theta, float), np.asarray(var, float)
    ok = np.isfinite(var) & (var > 0) & np.isfinite(theta)
    if not ok.any():
        return theta.copy(), float(np.mean(theta)) if len(theta) else 0.0, float("nan")
    use = ok & np.asarray(informs, bool) if informs is not None else ok
    use = use if use.any() else ok
    w = 1.0 / var[use]
    fe = float(np.sum(w * theta[use]) / w.sum())
    q = float(np.sum(w * (theta[use] - fe) ** 2))
    denom = w.sum() - np.sum(w**2) / w.sum()
    tau2 = max(0.0, (q - (use.sum() - 1)) / denom) if denom > 0 else 0.0
    wre = 1.0 / (var[use] + tau2)
    mu = float(np.sum(wre * theta[use]) / wre.sum())
    if tau2 == 0.0:
        return np.full_like(theta, mu), mu, tau2
    prec = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)
    return (np.where(ok, theta, 0.0) * prec + mu / tau2) / (prec + 1.0 / tau2), mu, tau2


def nb_alpha_by_region(y: np.ndarray, mu: np.ndarray, shrink: bool = True, overlap: int = 1,
                       pooled: bool = True) -> tuple[np.ndarray, dict[str, float]]:
    """NB2 dispersion of each region (row) around known means, optionally partially pooled.

    Each row's dispersion is its own maximum-likelihood estimate (:func:`_nb_log_alpha_rows`);
    with ``shrink`` the log-dispersions are pooled toward their common mean by
    :func:`shrink_to_common`, weighted by each estimate's precision (which grows with the
    number of the region's observations), so a short or flat history borrows from the others
    while a long one keeps its own scale of volatility.

    Parameters
    ----------
    y, mu
        Counts and means, shape ``(n_regions, n_obs)``; NaN pairs are ignored.
    shrink
        Partially pool (True) or return each region's own MLE (regions with < 3 pairs: 1).
    overlap
        Periods each error shares with the next (``h`` for h-step errors from consecutive
        origins): the estimates' variances are multiplied by it, the effective number of
        independent errors being about ``n / h``. Measured on an NB chain (alpha 0.05, 120
        periods, 300 runs; 2026-11-30 review): the estimate's real standard deviation was 1.04 /
        1.77 / 2.51 / 3.34 times the one the independent-errors likelihood reports at h = 1 / 3 /
        6 / 12, about ``sqrt(h)``.
    pooled
        Also estimate one dispersion for all rows together (``info["alpha_pooled"]``; as much
        work again as the regions'). Without it, it is estimated only when it is needed: with
        ``shrink`` and no region's estimate of a finite variance, it is every region's value.

    Estimates at the bounds of the grid (``1e-4``, ``50``: an all-zero region, or one less
    dispersed than any NB) say only on which side the dispersion lies; they are shrunk like the
    others but do not inform the common mean and spread (letting them inform it, three all-zero
    regions moved the common value of ten NB regions of alpha 1.5 from 1.64 to 2.08: the panel of
    ``tests/test_last_value.py::test_all_zero_regions_do_not_pull_the_common_dispersion``,
    measured 2026-11-30 review).

    Returns
    -------
    alpha, info
        Dispersions ``(n_regions,)`` and ``{"alpha_common", "tau_log_alpha", "alpha_pooled"}``:
        ``exp(mu)``, ``sqrt(tau2)`` of the shrinkage and the single MLE over all rows (1 with
        fewer than 3 pairs in all; left out when not asked for and not needed).
    """
    theta, var, n, t_pooled = _nb_log_alpha_rows(y, mu, pooled=pooled)
    pool = {"alpha_pooled": float(np.exp(t_pooled))} if np.isfinite(t_pooled) else {}
    if not shrink:
        return np.where(n >= 3, np.exp(theta), 1.0), pool
    var = np.where(n >= 3, var * max(int(overlap), 1), np.inf)
    if not np.isfinite(var).any():  # no region's own estimate to shrink: the pooled one for all
        if not pool:
            t_pooled = _nb_log_alpha_rows(y, mu)[3]
            pool = {"alpha_pooled": float(np.exp(t_pooled))}
        log_pooled = np.log(pool["alpha_pooled"])
        m = np.mean(np.where(n >= 3, theta, log_pooled))
        return np.exp(np.full(len(theta), log_pooled)), {"alpha_common": float(np.exp(m)),
                                                         "tau_log_alpha": float("nan"), **pool}
    inside = (theta > _LOG_ALPHA_GRID[0] + 1e-9) & (theta < _LOG_ALPHA_GRID[-1] - 1e-9)
    # regions without an estimate (infinite variance) get the common value whatever theta they carry
    out, m, tau2 = shrink_to_common(theta, var, informs=inside)
    return np.exp(out), {"alpha_common": float(np.exp(m)), "tau_log_alpha": float(np.sqrt(tau2)), **pool}


class LastValue(ForecastModel):
    """Naive NB: the last observed count, with region- and horizon-specific dispersion.

    For every horizon h, each region's NB2 dispersion is estimated from that region's own h-step
    naive errors (``y[t+h]`` around ``max(y[t], 0.5)``) and partially pooled toward the
    regions' common value (:func:`nb_alpha_by_region`). One dispersion pooled over regions of
    very different sizes and volatilities (the model before) was so large on the Somalia panel
    that most forecasts had a median of 0 (72% of the cross-validation cells of
    ``experiments/real_world/cv_peers.py``, 500 paths, 2026-11-30; 26% now).

    Known limit of the NB2 family with its mean at the last count: a region whose counts swing
    by factors of ten from one period to the next gets a dispersion near the bound (50), i.e.
    gamma multipliers of shape ~0.02, so most of the mass sits at 0 and the 90% quantile far
    below the last count (on Somalia 7 regions have a median of 0 in 43-100% of their cells, and
    the 4 worst cover 13-27% at 80%). A log-normal multiplier (median = last count) fixed the
    medians there (4% zero) but had a higher WIS at 8 of the 9 dataset-horizons the harness
    shows (Somalia h1 +28%, Ukraine h14 +22%), so it was not adopted. (All figures: the origins
    of ``experiments/real_world/cv_peers.py``, 500 paths, 2026-11-30.)
    """

    name = "last-value"
    parameter_uncertainty = False  # the last count is taken as known

    def __init__(self, max_horizon: int = 52):
        self.max_horizon = max_horizon

    def get_config(self) -> dict[str, Any]:
        return {"max_horizon": self.max_horizon}

    def _fit(self, panel: Panel) -> None:
        y = panel.target()
        filled = ffill_time(y)
        R, T = y.shape
        self.last_ = np.nan_to_num(filled[:, -1], nan=0.0)
        alphas, info_h1 = [], {}
        for h in range(1, min(self.max_horizon, T - 1) + 1):
            if (np.isfinite(y[:, h:]) & np.isfinite(filled[:, :-h])).sum() < 3:
                # fewer than 3 naive errors in all: farther horizons use the last estimated one
                # (_simulate); a fit from fewer fell back to 1, narrower bands far out than at h = 1
                break
            # the single pooled estimate only at h = 1, for the diagnostics (farther: when needed)
            a, info = nb_alpha_by_region(y[:, h:], np.maximum(filled[:, :-h], 0.5), overlap=h, pooled=h == 1)
            alphas.append(a)
            info_h1 = info_h1 or info
        #: ``(n_regions, n_horizons_fitted)`` NB2 dispersion per region and horizon.
        self.alpha_ = np.stack(alphas, axis=1) if alphas else np.ones((R, 1))
        d = {"median_alpha_h1": round(float(np.median(self.alpha_[:, 0])), 4),
             "alpha_h1_range": [round(float(self.alpha_[:, 0].min()), 4),
                                round(float(self.alpha_[:, 0].max()), 4)]}
        if alphas:
            # no region with an estimate of its own: tau is undefined (nan), left out (model.json is strict JSON)
            d |= {f"{k}_h1": round(v, 4) for k, v in info_h1.items() if np.isfinite(v)}
            d[f"median_alpha_h{len(alphas)}"] = round(float(np.median(self.alpha_[:, -1])), 4)
        self.info_.diagnostics = d

    def _simulate(self, future, horizon, n_draws, rng):
        R = len(self.last_)
        # fits saved before the dispersion was per region hold one per horizon, for every region
        alpha = np.atleast_2d(self.alpha_)
        a = alpha[:, np.minimum(np.arange(horizon), alpha.shape[1] - 1)]
        mean = np.broadcast_to(np.maximum(self.last_, 0.5)[None, :, None], (n_draws, R, horizon))
        return cap_at_risk(draw_nb(rng, mean, np.broadcast_to(a[None], (n_draws, R, horizon))),
                           self.panel_.at_risk_end(), self.panel_.depletes())


class Climatology(ForecastModel):
    """Block bootstrap of the last ``window`` periods (all regions drawn together)."""

    name = "climatology"
    parameter_uncertainty = False
    process_uncertainty = "process (past periods resampled, all regions together)"

    def __init__(self, window: int = 52):
        self.window = window

    def get_config(self) -> dict[str, Any]:
        return {"window": self.window}

    def _fit(self, panel: Panel) -> None:
        y = panel.target()[:, -self.window :]
        keep = np.isfinite(y).all(axis=0)
        if not keep.any():
            keep = np.ones(y.shape[1], bool)
        self.pool_ = np.nan_to_num(y[:, keep])
        self.info_.diagnostics = {"periods_in_pool": int(keep.sum())}

    def _simulate(self, future, horizon, n_draws, rng):
        pick = rng.integers(0, self.pool_.shape[1], size=(n_draws, horizon))
        return cap_at_risk(np.transpose(self.pool_[:, pick], (1, 0, 2)), self.panel_.at_risk_end(),
                           self.panel_.depletes())



class HistoricAverage(ForecastModel):
    """NB around each region's mean of its whole history (statsforecast ``HistoricAverage`` analogue)."""

    name = "historic-average"

    def _fit(self, panel: Panel) -> None:
        y = panel.target()
        n = np.isfinite(y).sum(axis=1)
        self.mean_ = np.where(n > 0, np.nanmean(np.where(n[:, None] > 0, y, 0.0), axis=1), 0.0)
        sd = np.array([np.nanstd(r, ddof=1) if k > 1 else 0.0 for r, k in zip(y, n, strict=True)])
        self.se_ = sd / np.sqrt(np.maximum(n, 1))
        self.alpha_, _ = nb_alpha_by_region(y, np.broadcast_to(np.maximum(self.mean_, 0.5)[:, None], y.shape),
                                            shrink=False, pooled=False)
        self.info_.diagnostics = {"median_alpha": round(float(np.median(self.alpha_)), 4),
                                  "periods": int(y.shape[1])}

    def _simulate(self, future, horizon, n_draws, rng):
        R = len(self.mean_)
        m = np.maximum(self.mean_ + self.se_ * rng.standard_normal((n_draws, R)), 0.5)
        mean = np.broadcast_to(m[:, :, None], (n_draws, R, horizon))
        paths = draw_nb(rng, mean, np.broadcast_to(self.alpha_[None, :, None], (n_draws, R, horizon)))
        return cap_at_risk(paths, self.panel_.at_risk_end(), self.panel_.depletes())
