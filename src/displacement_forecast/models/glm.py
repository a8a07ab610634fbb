"""Negative-binomial distributed-lag regression of new displacement on lagged strikes and flights.

For region r and period t, with ``P[r,t]`` the people not yet displaced::

    log E[displaced[r,t]] = log P[r,t] + a[r] + sum_s sum_{l=0}^{L-1} b[s,l] * log1p(driver_s[r,t-l])

with variance ``mean + alpha * mean^2`` (NB2), fitted by maximum likelihood (region intercepts,
free lag coefficients, one dispersion) by Newton's method with the region intercepts eliminated
block by block (:mod:`._nb_fit`): the estimate statsmodels' ``NegativeBinomial`` with one dummy
column per region gives, in time linear in the number of regions. Periods with a missing count
are left out of the likelihood, not filled.

Sample paths carry three uncertainties: **parameters** (coefficients and dispersion drawn from
their estimated covariance once per path), **process** (NB noise each period) and **conflict**
(future strikes/flights from the driver model, modified by the scenario). Each path removes the
people it displaces from those at risk, so a region cannot empty twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..conventions import FREQ_WORD, period_unit
from ..distributions import CommonNoiseNB
from ._nb_fit import DENSE_COV_MAX, cov_blocks, draw_params, fit_nb2_groups
from .base import ForecastModel, Panel, ffill_time

DEFAULT_LAGS = {"D": 14, "W": 8, "M": 3}
#: Fewest rows of data per shared coefficient (lag coefficients + dispersion) before the default
#: lags are shortened: 5 per coefficient (Vittinghoff & McCulloch 2007, *Am. J. Epidemiol.*
#: 165:710, for regression models). With fewer the free lag coefficients are not identified: on
#: the daily Ukraine panel (4 conflict series x 14 lags, 16 rows at the first origin) the fit
#: did not converge and its median forecast for the next day was 18 million people.
MIN_ROWS_PER_COEFFICIENT = 5


def rows_needed(n_series: int, lags: int) -> int:
    """Fewest regression rows for ``n_series`` x ``lags`` lag coefficients and the dispersion
    (:data:`MIN_ROWS_PER_COEFFICIENT` each)."""
    return MIN_ROWS_PER_COEFFICIENT * (n_series * lags + 1)


def too_few_rows(rows: int, n_series: int, lags: int) -> bool:
    """Whether ``rows`` regression rows are fewer than :func:`rows_needed`; the CLI's history
    check (:func:`~displacement_forecast.models.history.min_history`) uses it too."""
    return rows < rows_needed(n_series, lags)


def lag_windows(x: np.ndarray, n_lags: int) -> np.ndarray:
    """``(..., T) -> (..., T-n_lags+1, n_lags)`` windows of log1p values, newest last."""
    return sliding_window_view(np.log1p(x), n_lags, axis=-1)


class NBDistributedLag(ForecastModel):
    """NB GLM on distributed lags of log strikes/flights, region effects, at-risk offset."""

    name = "nb-dl"
    uses_drivers = True
    #: Cannot run without a driver series (the CLI checks the data for one before fitting).
    requires_drivers = True
    unsaved_state = ("result_",)  # statsmodels results: not needed to forecast, not saved

    def __init__(self, drivers: str | tuple[str, ...] | list[str] = "auto", n_lags: int | None = None,
                 parameter_uncertainty: bool = True):
        self.drivers_arg = drivers
        self.drivers = () if drivers == "auto" else tuple(drivers)
        self.n_lags = n_lags
        self.parameter_uncertainty = parameter_uncertainty

    def get_config(self) -> dict[str, Any]:
        return {"drivers": self.drivers_arg if isinstance(self.drivers_arg, str) else list(self.drivers_arg),
                "n_lags": self.n_lags, "parameter_uncertainty": self.parameter_uncertainty}

    def _choose_drivers(self, series) -> tuple[str, ...]:
        """The given series, or the default rule's (none available: an error, this model needs one)."""
        from .driver_choice import resolve_drivers

        return resolve_drivers(self.drivers_arg, series, self.name)

    def _fit(self, panel: Panel) -> None:
        from .driver_choice import DEFAULT_RULE

        self.drivers = self._choose_drivers(panel.series)
        self.info_.config.update(drivers=list(self.drivers),
                                 driver_rule=DEFAULT_RULE if self.drivers_arg == "auto" else "chosen by the user")
        y = panel.target()
        R, T = y.shape
        # default lags: at most what the history holds (the rows rule below may cut them further)
        L = self.n_lags or min(DEFAULT_LAGS[panel.freq], max(T - 4, 1))
        if T < L + 4:
            raise ValueError(f"{self.name} needs at least {L + 4} periods of history, got {T}")
        self.active_ = np.nansum(y, axis=1) > 0
        act = np.flatnonzero(self.active_)
        Yv, Xv, gv, off = self._design(panel, L, act)
        S, default_L = len(self.drivers), self.n_lags or DEFAULT_LAGS[panel.freq]
        while self.n_lags is None and L > 1 and too_few_rows(len(Yv), S, L):
            L -= 1
            Yv, Xv, gv, off = self._design(panel, L, act)
        self.n_lags_ = L
        if too_few_rows(len(Yv), S, L):
            # a candidate of auto (member_of, set by the ensemble) is left out of its mixture of the
            # driver-free models: naming them, auto first, told an auto user to use auto
            other = "" if getattr(self, "member_of", None) else ", or use a driver-free model (auto, dynamic, last-value)"
            raise ValueError(
                f"{self.name}: {len(Yv)} rows of data for {S} driver series x {L} lag(s) ({S * L + 1} shared "
                f"coefficients; at least {MIN_ROWS_PER_COEFFICIENT} rows each are needed): give fewer series with "
                f"--drivers{', fewer lags with --lags' if self.n_lags else ''}{',' if other else ' or'} a longer "
                f"history{other}")
        if L < default_L:  # only the default is shortened (lags given are kept, or an error): say it is the default
            unit = period_unit(panel.freq)
            why = (f"only {T} periods of history (the lags need 4 more)" if L == T - 4 else
                   f"only {len(Yv)} rows of data for {S} driver series, and {MIN_ROWS_PER_COEFFICIENT} rows per "
                   "coefficient are needed")
            self.info_.warnings.append(f"lags shortened from the default for {FREQ_WORD[panel.freq]} data, {default_L} "
                                       f"{unit}s, to {L}: {why} (--lags sets them)")
        no_rows = np.bincount(gv, minlength=len(act)) == 0
        if no_rows.any():
            # Displacement but never with complete driver lags (e.g. no strike rows at all): no
            # intercept can be estimated. Forecast 0 there, and say so: the fit is marked.
            lost = [panel.regions.codes[r] for r in act[no_rows]]
            self.active_[act[no_rows]] = False
            act = act[~no_rows]
            Yv, Xv, gv, off = self._design(panel, L, act)
            self.info_.reliable = False
            self.info_.warnings.append(f"no rows with complete driver lags for {', '.join(lost)}: forecast as 0 "
                                       "there; use a driver-free model for such regions")
        fit = fit_nb2_groups(Yv, Xv, gv, len(act), off, alpha0=0.3)
        self.params_ = fit.params
        self.cov_blocks_ = cov_blocks(fit)
        # The dense covariance only while it is small (O(regions^2) memory); draws use the blocks otherwise.
        self.cov_ = fit.cov_dense() if fit.n_params <= DENSE_COV_MAX else None
        self.n_active_ = len(act)
        # Keep only the history the forecast needs.
        self.history_ = {s: ffill_time(panel.series[s], fill=0.0)[:, -(L - 1):] if L > 1 else np.zeros((R, 0))
                         for s in self.drivers}
        self.at_risk_end_ = panel.at_risk_end()
        self.info_.diagnostics = {
            "n_obs": len(Yv),
            "n_lags": L,
            "converged": fit.converged,
            "loglik": round(fit.loglik, 2),
            "aic": round(fit.aic, 2),
            "alpha": round(float(self.params_[-1]), 4),
            "lag_sums": {s: round(float(self.params_[self.n_active_ + i * L : self.n_active_ + (i + 1) * L].sum()), 4)
                         for i, s in enumerate(self.drivers)},
            "inactive_regions": [c for c, a in zip(panel.regions.codes, self.active_, strict=True) if not a],
        }
        if not self.info_.diagnostics["converged"]:
            self.info_.reliable = False
            self.info_.warnings.append("maximum likelihood did not converge")

    def _design(self, panel: Panel, L: int, act: np.ndarray):
        """Regression rows, one per active region and period from the ``L``-th with an observed
        count and complete lags: ``(counts (n,), lag features (n, S*L), active-region index (n,),
        log at-risk offset (n,))``."""
        offset = np.log(panel.at_risk())[:, L - 1 :]
        feats = [lag_windows(panel.series[s], L) for s in self.drivers]  # (R, T-L+1, L)
        Xd = np.concatenate(feats, axis=-1)[act]  # (R', T', L*S)
        Y = panel.target()[act, L - 1 :]
        Xv = Xd.reshape(-1, Xd.shape[-1])
        gv = np.repeat(np.arange(len(act)), Y.shape[1])  # active region of each row
        Yv, off = Y.reshape(-1), offset[act].reshape(-1)
        ok = np.isfinite(Yv) & np.isfinite(Xv).all(axis=1)
        return Yv[ok], Xv[ok], gv[ok], off[ok]

    def coefficients(self) -> dict[str, np.ndarray]:
        """Point estimates: region effects, lag coefficients per driver (lag 0 first), dispersion."""
        L, k = self.n_lags_, self.n_active_
        return {"region": self.params_[:k],
                **{s: self.params_[k + i * L : k + (i + 1) * L][::-1] for i, s in enumerate(self.drivers)},
                "alpha": self.params_[-1]}

    effect_name = "lag sum"

    def driver_effects(self) -> dict[str, float]:
        """Each driver's fitted lag coefficients summed (the effect of a sustained change on log
        expected displacement, per unit of ``log1p``; rounded as in the diagnostics)."""
        return dict(self.info_.diagnostics.get("lag_sums", {}))

    def _draw_params(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not self.parameter_uncertainty:
            return np.broadcast_to(self.params_, (n, len(self.params_))).copy()
        return draw_params(self, n, rng)

    def _draw(self, horizon: int, n_draws: int, rng: np.random.Generator, baseline=None):
        """Parameter draws, then NB noise of a fixed shape: all the randomness of a call, which
        the engine draws once and gives to every scenario (common random numbers)."""
        theta = self._draw_params(n_draws, rng)
        noise = CommonNoiseNB(rng, np.clip(theta[:, -1], 1e-4, None)[:, None],
                              (n_draws, len(self.active_), horizon))
        return theta, noise

    def _simulate(self, future, horizon, n_draws, rng):
        return self._paths(future, horizon, n_draws, self._draw(horizon, n_draws, rng))

    def _paths(self, future, horizon, n_draws, draws):
        from ._glm_fast import displacement_paths

        L, k = self.n_lags_, self.n_active_
        R = len(self.active_)
        theta, noise = draws
        a = np.full((n_draws, R), -50.0)  # regions that never had displacement stay at ~0
        a[:, self.active_] = theta[:, :k]
        S = len(self.drivers)
        b = theta[:, k : k + S * L].reshape(n_draws, S, L)  # per driver, window order: oldest .. newest (lag 0)
        return displacement_paths(a, b, [self.history_[s] for s in self.drivers], [future[s] for s in self.drivers],
                                  self.at_risk_end_, noise, self.panel_.depletes())
