"""SARIMAX on log1p counts, one per region: regression on lagged strikes with AR(1) errors.

For region r::

    log1p(displaced[t]) = b * x[t] + w[t],   w[t] = c + phi * w[t-1] + e[t],   e ~ N(0, s2)
    x[t] = sum_{l=0}^{L-1} 0.5**l * log1p(strikes[t-l])       (geometric carry-over)

fitted by statsmodels ``SARIMAX(order=(1, 0, 0), trend="c")`` (exact Kalman likelihood). In
statsmodels the trend constant ``c`` is the intercept *of the AR equation* (regression with
ARMA errors: ``phi(L) (y[t] - b x[t]) = c + e[t]``), so the long-run level of ``w`` is
``mu = c / (1 - phi)``, not ``c``. Sample paths therefore iterate the same recursion from the last
observed ``w`` (the state statsmodels' own ``get_forecast`` starts from); with parameter uncertainty
off, their mean on the log scale equals ``get_forecast().predicted_mean`` at every horizon (tested
on ``../shared/cases/ingest/14_*``). Parameter uncertainty draws ``(mu, b, phi, s2)`` once per path
from a normal with the delta-method covariance of ``mu = c / (1 - phi)`` (drawing ``c`` and ``phi``
and dividing would put mass on ``phi`` near 1 and explode the level); then the AR(1) noise (process),
with future strikes from the driver model as changed by the scenario (conflict).
Counts are ``expm1`` of the simulated log values, rounded, and capped at the people still at risk.
A path's log value is also capped at the region's largest past count times :data:`MAX_GROWTH`:
with short histories a parameter draw from a wide covariance can otherwise explode (seen in the
Somalia backtest with 9-23 months per fit), which no planner would read as a forecast; with the
level fixed the cap binds rarely (the share of capped values is in ``info_.diagnostics``).

``arima`` is the same model without the strike regressor: a pure time-series model for panels
that have no conflict drivers (e.g. the OCHA Syria governorate series). Scenarios cannot move it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from statsmodels.tsa.statespace.sarimax import SARIMAX

from .base import ForecastModel, Panel, ffill_time

CARRY_OVER = 0.5
#: Largest multiple of a region's biggest past count a simulated period may reach.
MAX_GROWTH = 10.0


def carry_over(log_x: np.ndarray, n_lags: int, decay: float = CARRY_OVER) -> np.ndarray:
    """Geometric distributed lag along the last axis: sum_l decay**l * log_x[..., t-l]."""
    out = np.zeros_like(log_x)
    for lag in range(n_lags):
        out[..., lag:] += decay**lag * log_x[..., : log_x.shape[-1] - lag]
    return out


def _level_parametrisation(p: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c, b, phi, s2)`` and its covariance -> ``(mu, b, phi, s2)`` with ``mu = c / (1 - phi)``.

    The covariance is carried by the delta method, ``J cov J'`` with the Jacobian of the map
    (``dmu/dc = 1/(1-phi)``, ``dmu/dphi = c/(1-phi)**2``). ``phi`` is kept below 0.999 for the map.
    """
    c, phi = p[0], min(p[2], 0.999)
    q = np.array([c / (1 - phi), p[1], p[2], p[3]])
    J = np.eye(4)
    J[0, 0], J[0, 2] = 1 / (1 - phi), c / (1 - phi) ** 2
    return q, J @ cov @ J.T


class SarimaxLog(ForecastModel):
    """Per-region SARIMAX(1,0,0) on log1p counts with a carried-over strike regressor."""

    name = "sarimax"
    uses_drivers = True
    process_uncertainty = "process (AR(1) noise on log1p counts each period)"

    def __init__(self, driver: str | None = "auto", n_lags: int = 8, parameter_uncertainty: bool = True,
                 drivers: tuple[str, ...] | list[str] | None = None):
        if drivers is not None:  # --drivers: this model takes one
            if len(drivers) != 1:
                from ..data.schema import DataError, Problem

                raise DataError(Problem("command line", None, "--drivers",
                                        f"sarimax takes one driver series, got {', '.join(drivers)}"))
            driver = drivers[0]
        self.driver = driver
        self.drivers = (driver,) if driver and driver != "auto" else ()
        self.uses_drivers = bool(driver)
        self.n_lags = n_lags
        self.parameter_uncertainty = parameter_uncertainty

    def get_config(self) -> dict[str, Any]:
        return {"driver": self.driver, "n_lags": self.n_lags, "parameter_uncertainty": self.parameter_uncertainty}

    def _choose_drivers(self, series) -> tuple[str, ...]:
        """The series given, or the first of the default rule's; none: no exogenous regressor."""
        if not self.driver:
            return ()
        from .driver_choice import resolve_drivers

        # the default rule finding no conflict series: SARIMAX without an exogenous regressor
        # (statsmodels' SARIMAX with exog=None, i.e. the ARIMA); a series the user named must exist
        return resolve_drivers(None if self.driver == "auto" else (self.driver,), series,
                               self.name, max_n=1, required=self.driver != "auto")

    def _fit(self, panel: Panel) -> None:
        if self.driver:
            from .driver_choice import DEFAULT_RULE

            self.drivers = self._choose_drivers(panel.series)
            self.uses_drivers = bool(self.drivers)
            if self.drivers:
                self.info_.config.update(driver=self.drivers[0], driver_rule=(
                    "the first of: " + DEFAULT_RULE if self.driver == "auto" else "chosen by the user"))
            else:
                self.info_.config.update(driver=None, driver_rule="the data have no conflict series: "
                                         "fitted without a driver (an ARIMA(1,0,0) on log counts)")
                self.info_.warnings.append("sarimax: the data have no conflict series, so it is fitted without "
                                           "a driver (the same as --model arima); scenarios cannot move it")
        y = np.log1p(panel.target())
        R = y.shape[0]
        if self.drivers:
            s = ffill_time(panel.series[self.drivers[0]], fill=0.0)
            x = carry_over(np.log1p(s), self.n_lags)
        else:
            s = x = np.zeros_like(y)
        exog = (lambda r: x[r]) if self.drivers else (lambda r: None)
        self.params_, self.cov_, self.u_last_ = [], [], np.zeros(R)
        failed = []
        for r in range(R):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = SARIMAX(y[r], exog=exog(r), order=(1, 0, 0), trend="c").fit(disp=False, maxiter=200)
                    p, cov = np.asarray(res.params), np.asarray(res.cov_params())
                    if not self.drivers:  # same layout as with a driver: strike effect fixed at 0
                        p = np.insert(p, 1, 0.0)
                        cov = np.insert(np.insert(cov, 1, 0.0, axis=0), 1, 0.0, axis=1)
                    if not np.all(np.isfinite(cov)):
                        raise ValueError("singular covariance")
                except (ValueError, np.linalg.LinAlgError):
                    failed.append(panel.regions.codes[r])
                    mu = np.nanmean(y[r]) if np.isfinite(y[r]).any() else 0.0
                    sd = np.nanstd(y[r]) if np.isfinite(y[r]).sum() > 1 else 1.0
                    # constant-mean fallback: c = mu with phi = 0 is the level mu
                    p, cov = np.array([mu, 0.0, 0.0, max(sd, 0.1) ** 2]), np.diag([1e-6] * 4)
            p, cov = _level_parametrisation(p, (cov + cov.T) / 2)
            self.params_.append(p)
            self.cov_.append(cov)
            last = np.flatnonzero(np.isfinite(y[r]))
            # w[T] = y[T] - b x[T]: the AR state at the last observed period (its level mu when no
            # period is observed); the forecast starts there.
            self.u_last_[r] = y[r, last[-1]] - p[1] * x[r, last[-1]] if len(last) else p[0]
        self.params_ = np.asarray(self.params_)
        self.log_cap_ = np.log1p(np.nan_to_num(np.nanmax(np.expm1(y), axis=1, initial=0.0)) * MAX_GROWTH + 10.0)
        self.log_history_ = np.log1p(s[:, -(self.n_lags - 1):]) if self.n_lags > 1 else np.zeros((R, 0))
        self.at_risk_end_ = panel.at_risk_end()
        self.info_.diagnostics = {
            "median_ar1": round(float(np.median(self.params_[:, 2])), 3),
            "median_strike_effect": round(float(np.median(self.params_[:, 1])), 3),
            "regions_failed": failed,
        }
        if failed:
            self.info_.warnings.append(f"SARIMAX failed in {failed}; a constant-mean model is used there")

    effect_name = "median over regions of b"

    def driver_effects(self) -> dict[str, float]:
        """The strike coefficient ``b`` of the driver (effect of one unit of carried-over ``log1p``
        on ``log1p`` displacement), its median over the regions (``median_strike_effect``): below 0,
        a scenario that changes the driver everywhere moves most regions the wrong way."""
        return {self.drivers[0]: float(np.median(self.params_[:, 1]))} if self.drivers else {}

    def _simulate(self, future, horizon, n_draws, rng):
        R = self.params_.shape[0]
        if self.drivers:
            fut = np.log1p(future[self.drivers[0]])  # (D, R, H)
            hist = np.broadcast_to(self.log_history_, (n_draws, R, self.log_history_.shape[1]))
            x = carry_over(np.concatenate([hist, fut], axis=2), self.n_lags)[:, :, -horizon:]
        else:
            x = np.zeros((n_draws, R, horizon))
        theta = np.empty((n_draws, R, 4))
        for r in range(R):
            theta[:, r] = (rng.multivariate_normal(self.params_[r], self.cov_[r], size=n_draws, method="eigh")
                           if self.parameter_uncertainty else self.params_[r])
        mu, b = theta[..., 0], theta[..., 1]
        phi = np.clip(theta[..., 2], -0.999, 0.999)
        sd = np.sqrt(np.clip(theta[..., 3], 1e-8, None))
        w = np.broadcast_to(self.u_last_, (n_draws, R)).copy()
        at_risk = np.broadcast_to(self.at_risk_end_, (n_draws, R)).copy()
        shrink = self.panel_.depletes().astype(float)  # movements (0.0) leave the people at risk as they are
        out = np.zeros((n_draws, R, horizon))
        capped = 0
        for h in range(horizon):
            w = mu + phi * (w - mu) + sd * rng.standard_normal((n_draws, R))
            z = b * x[:, :, h] + w
            capped += int((z > self.log_cap_).sum())
            d = np.minimum(np.round(np.expm1(np.clip(z, 0, self.log_cap_))), at_risk)
            out[:, :, h] = d
            at_risk -= shrink * d
        self.info_.diagnostics["share_capped"] = round(capped / out.size, 5)
        return out


class ArimaLog(SarimaxLog):
    """Per-region AR(1) with a constant on log1p counts: no drivers, a pure time-series model."""

    name = "arima"
    uses_drivers = False  # a class fact (the CLI lists driver-free models from the classes), not only an instance's

    def __init__(self, n_lags: int = 8, parameter_uncertainty: bool = True):
        super().__init__(driver=None, n_lags=n_lags, parameter_uncertainty=parameter_uncertainty)

    def get_config(self) -> dict[str, Any]:
        return {"parameter_uncertainty": self.parameter_uncertainty}
