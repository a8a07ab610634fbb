"""Baselines: the bar every other model must beat. They ignore strikes, so scenarios cannot move them.

``last-value``
    Next periods ~ NB(mean = last observed count). The dispersion is estimated separately for each
    horizon h from the history's own h-step naive errors (y[t+h] given y[t]), so intervals widen
    with the horizon as much as the past says they should.
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
from scipy import optimize, special

from ..distributions import draw_nb
from .base import ForecastModel, Panel, ffill_time
from .panel import cap_at_risk


def _nb_alpha_mle(y: np.ndarray, mu: np.ndarray) -> float:
    """MLE of the NB2 dispersion for counts ``y`` with known means ``mu`` (pooled)."""
    ok = np.isfinite(y) & np.isfinite(mu) & (mu > 0)
    y, mu = y[ok], mu[ok]
    if len(y) < 3:
        return 1.0

    def nll(log_a: float) -> float:
        a = np.exp(log_a)
        r = 1.0 / a
        ll = (special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1)
              + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu)))
        return -ll.sum()

    res = optimize.minimize_scalar(nll, bounds=(np.log(1e-4), np.log(50.0)), method="bounded")
    return float(np.exp(res.x))


class LastValue(ForecastModel):
    """Naive NB: the last observed count, with horizon-specific dispersion from naive errors."""

    name = "last-value"
    parameter_uncertainty = False  # the last count is taken as known

    def __init__(self, max_horizon: int = 52):
        self.max_horizon = max_horizon

    def get_config(self) -> dict[str, Any]:
        return {"max_horizon": self.max_horizon}

    def _fit(self, panel: Panel) -> None:
        y = panel.target()
        filled = ffill_time(y)
        self.last_ = np.nan_to_num(filled[:, -1], nan=0.0)
        T = y.shape[1]
        self.alpha_ = []
        for h in range(1, min(self.max_horizon, T - 1) + 1):
            self.alpha_.append(_nb_alpha_mle(y[:, h:].ravel(), np.maximum(filled[:, :-h], 0.5).ravel()))
        self.alpha_ = np.asarray(self.alpha_ or [1.0])
        self.info_.diagnostics = {"alpha_h1": round(float(self.alpha_[0]), 4),
                                  f"alpha_h{len(self.alpha_)}": round(float(self.alpha_[-1]), 4)}

    def _simulate(self, future, horizon, n_draws, rng):
        R = len(self.last_)
        a = self.alpha_[np.minimum(np.arange(horizon), len(self.alpha_) - 1)]
        mean = np.broadcast_to(np.maximum(self.last_, 0.5)[None, :, None], (n_draws, R, horizon))
        return cap_at_risk(draw_nb(rng, mean, np.broadcast_to(a, (n_draws, R, horizon))), self.panel_.at_risk_end())


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
        return cap_at_risk(np.transpose(self.pool_[:, pick], (1, 0, 2)), self.panel_.at_risk_end())



class HistoricAverage(ForecastModel):
    """NB around each region's mean of its whole history (statsforecast ``HistoricAverage`` analogue)."""

    name = "historic-average"

    def _fit(self, panel: Panel) -> None:
        y = panel.target()
        n = np.isfinite(y).sum(axis=1)
        self.mean_ = np.where(n > 0, np.nanmean(np.where(n[:, None] > 0, y, 0.0), axis=1), 0.0)
        sd = np.array([np.nanstd(r, ddof=1) if k > 1 else 0.0 for r, k in zip(y, n, strict=True)])
        self.se_ = sd / np.sqrt(np.maximum(n, 1))
        self.alpha_ = np.array([_nb_alpha_mle(r, np.full_like(r, max(m, 0.5)))
                                for r, m in zip(y, self.mean_, strict=True)])
        self.info_.diagnostics = {"median_alpha": round(float(np.median(self.alpha_)), 4),
                                  "periods": int(y.shape[1])}

    def _simulate(self, future, horizon, n_draws, rng):
        R = len(self.mean_)
        m = np.maximum(self.mean_ + self.se_ * rng.standard_normal((n_draws, R)), 0.5)
        mean = np.broadcast_to(m[:, :, None], (n_draws, R, horizon))
        paths = draw_nb(rng, mean, np.broadcast_to(self.alpha_[None, :, None], (n_draws, R, horizon)))
        return cap_at_risk(paths, self.panel_.at_risk_end())
