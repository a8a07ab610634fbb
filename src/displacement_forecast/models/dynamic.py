"""A classical dynamic displacement model: an AR level on the log-rate scale with partial pooling.

For region r and period t, with ``P[r,t]`` the people not yet displaced and ``N[r]`` the population::

    z[r,t] = log1p(displaced[r,t]) - log(P[r,t] / N[r])                  (log rate; depletion offset)
    z[r,t] = m[r] + phi[r] * (z[r,t-1] - m[r]) + beta' (x[r,t] - xbar[r]) + e[r,t]
    displaced[r,t] = round(expm1(z[r,t] + log(P[r,t] / N[r])))          (paths; capped at P)
    x[r,t] = sum_{l=0}^{L-1} 0.5**l * log1p(driver[r,t-l])               (carry-over, per driver)

* **Evolving level.** ``phi`` near 1 lets the forecast follow a persistent rise or fall (as
  last-value and AutoETS do on the daily Ukraine series); a small ``phi`` reverts it to the
  region's long-run mean ``m`` (as HistoricAverage does on the monthly Somalia series). Both
  come from the data: ``m`` is the mean implied by the AR regression's intercept (not the sample
  mean, so a series decaying toward a lower level keeps falling).
* **Partial pooling** (empirical Bayes, James-Stein style): ``phi`` and ``beta`` are first
  estimated pooled across regions (within-region regression); each region's own ``phi`` estimate
  is shrunk toward the pooled one with weight ``tau^2 / (tau^2 + se_r^2)``, ``tau^2`` the
  between-region variance of the estimates net of their sampling variance. The region means
  ``m`` are shrunk toward their average the same way, and the residual variances toward the
  pooled one (5 pseudo-periods).
* **Drivers** enter as deviations from the region's own mean conflict level (so a driver effect
  is "more conflict than usual here", not a between-region contrast) with a small ridge penalty;
  their effect carries over through the lag window and through ``phi``. Scenarios move the
  forecast through the future driver paths.
* **Depletion**: the forecast is a log *rate*; each path removes the people it displaces from
  those at risk, which lowers the next periods' counts (``log(P/N)`` offset) and caps them.

Uncertainty in the paths: **parameters** (``m``, ``phi``, ``beta`` drawn once per path from
normals with their estimated standard errors), **process** (innovations resampled from the
pooled standardized one-step residuals: an empirical bootstrap on the log scale, so heavy tails
are kept) and **future conflict** (driver paths from :class:`~.drivers.DriverForecaster`).

Calibration: in-sample residuals understate out-of-sample errors (parameters estimated on the
same data, level shifts). ``_fit`` therefore runs a short rolling-origin check on its own data:
at each of the last ``n_check`` periods it refits the model on the data before it and records
the standardized h-step errors ``(z - forecast) / sd_h`` for h = 1..12. The innovation scale is
then set step by step so that the model's h-step variance equals ``c_h^2`` times the nominal one,
``c_h`` the root mean square of those standardized errors (bounded to [0.8, 4]; horizons beyond
those checked use the last factor). ``info_.diagnostics`` records the factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import ForecastModel, Panel, ffill_time
from .driver_choice import CONFLICT_SERIES, DEFAULT_RULE, resolve_drivers
from .sarimax import CARRY_OVER, carry_over

#: Largest multiple of a region's biggest past count a simulated period may reach.
MAX_GROWTH = 10.0
PHI_BOUNDS = (-0.5, 0.995)
N_CHECK_H = 12
DEFAULT_LAGS = {"D": 7, "W": 4, "M": 3}


def _ols(X: np.ndarray, y: np.ndarray, ridge: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares ``y ~ X`` (optional ridge diagonal): coefficients, their covariance, residual variance."""
    XtX = X.T @ X + (np.diag(ridge) if ridge is not None else 0)
    inv = np.linalg.pinv(XtX)
    b = inv @ X.T @ y
    res = y - X @ b
    dof = max(len(y) - X.shape[1], 1)
    s2 = float(res @ res / dof) if len(y) else 1.0
    return b, inv * s2, s2


def _shrink(est: np.ndarray, se2: np.ndarray, ok: np.ndarray, centre: float | None = None) -> tuple[np.ndarray, float]:
    """Empirical-Bayes shrinkage of per-region estimates toward ``centre`` (default their precision-weighted mean).

    Returns the shrunk estimates (regions without an estimate get the centre) and ``tau^2``.
    """
    e, v = est[ok], np.maximum(se2[ok], 1e-8)
    if centre is None:
        centre = float(np.sum(e / v) / np.sum(1 / v)) if ok.any() else 0.0
    tau2 = float(max(np.var(e) - np.mean(v), 1e-4)) if ok.sum() > 1 else 1e6
    w = tau2 / (tau2 + np.maximum(se2, 1e-8))
    return np.where(ok, w * est + (1 - w) * centre, centre), tau2


class DynamicLog(ForecastModel):
    """AR level on the log-rate scale, partial pooling across regions, optional lagged drivers.

    Parameters
    ----------
    drivers
        ``"auto"`` (default): the default rule of :mod:`.driver_choice` (every conflict series
        the panel has with a positive count), none -> a pure time-series model;
        ``None`` or ``()``: no drivers (a pure time-series model); or a tuple of series names.
    n_lags
        Periods of the carry-over window (default by frequency: 7 days, 4 weeks, 3 months).
    n_check
        Rolling origins of the calibration check inside the fit (0 switches calibration off).
    parameter_uncertainty
        Draw ``m``, ``phi``, ``beta`` once per path.
    depletion
        Use the population at risk (offset and cap). Switch it off when the region table's
        populations are not populations (e.g. placeholders for arrival counts).
    nonnegative_effects
        Take driver effects drawn below 0 as 0 in the paths, so more conflict never lowers
        displacement (used by ``auto``'s scenario response; off by default).
    """

    name = "dynamic"
    uses_drivers = True

    def __init__(self, drivers: str | tuple[str, ...] | list[str] | None = "auto", n_lags: int | None = None,
                 n_check: int = 8, parameter_uncertainty: bool = True, depletion: bool = True,
                 nonnegative_effects: bool = False):
        self.depletion = depletion
        self.nonnegative_effects = nonnegative_effects
        self.drivers_arg = drivers
        self.drivers = () if drivers in (None, "auto") else tuple(drivers)
        self.uses_drivers = bool(self.drivers) or drivers == "auto"
        self.n_lags = n_lags
        self.n_check = n_check
        self.parameter_uncertainty = parameter_uncertainty

    def get_config(self) -> dict[str, Any]:
        d = self.drivers_arg
        return {"drivers": d if isinstance(d, str) or d is None else list(d), "n_lags": self.n_lags,
                "n_check": self.n_check, "parameter_uncertainty": self.parameter_uncertainty,
                "depletion": self.depletion, "nonnegative_effects": self.nonnegative_effects}

    # -- estimation ---------------------------------------------------------------------------
    @staticmethod
    def _estimate(z: np.ndarray, X: np.ndarray) -> dict[str, np.ndarray]:
        """Point estimates and standard errors from log rates ``z`` (R, T) and centred drivers ``X`` (R, T, K)."""
        R, T = z.shape
        K = X.shape[2]
        prev, cur = z[:, :-1], z[:, 1:]
        Xc = X[:, 1:]
        ok = np.isfinite(prev) & np.isfinite(cur) & np.isfinite(Xc).all(axis=2)
        n = ok.sum(axis=1)
        # pooled within-region regression: demean the pairs per region
        def dm(a):
            s = np.where(ok, a, 0.0).sum(axis=1, keepdims=True) / np.maximum(n, 1)[:, None]
            return np.where(ok, a - s, 0.0)
        rows = ok.ravel()
        Xp = np.column_stack([dm(prev).ravel()] + [dm(Xc[..., k]).ravel() for k in range(K)])[rows]
        yp = dm(cur).ravel()[rows]
        if len(yp) >= K + 3:
            bp, covp, s2p = _ols(Xp, yp, ridge=np.r_[0.0, np.full(K, 1.0)])
        else:
            bp, covp, s2p = np.r_[0.5, np.zeros(K)], np.diag(np.r_[0.1, np.full(K, 0.01)]), 1.0
        phi_pool, beta = float(np.clip(bp[0], *PHI_BOUNDS)), bp[1:]
        beta_cov = covp[1:, 1:]
        # per-region phi (given the pooled beta), shrunk toward the pooled phi
        phi_r, phi_se2 = np.full(R, phi_pool), np.full(R, 1e6)
        resid_cur = cur - np.einsum("rtk,k->rt", np.nan_to_num(Xc), beta)
        for r in range(R):
            if n[r] >= 4:
                xr = prev[r, ok[r]] - prev[r, ok[r]].mean()
                yr = resid_cur[r, ok[r]] - resid_cur[r, ok[r]].mean()
                sxx = float(xr @ xr)
                if sxx > 1e-8:
                    b = float(xr @ yr / sxx)
                    e = yr - b * xr
                    phi_r[r], phi_se2[r] = b, max(float(e @ e) / max(n[r] - 2, 1), 1e-6) / sxx
        has = phi_se2 < 1e6
        phi, tau_phi = _shrink(phi_r, phi_se2, has, centre=phi_pool)
        phi = np.clip(phi, *PHI_BOUNDS)
        phi_post_var = np.where(has, 1 / (1 / tau_phi + 1 / np.maximum(phi_se2, 1e-8)), tau_phi)
        # levels m given phi: mean of (cur - phi prev - beta x) / (1 - phi)
        a = np.full(R, np.nan)
        s2 = np.full(R, s2p)
        for r in range(R):
            if n[r] >= 1:
                e = resid_cur[r, ok[r]] - phi[r] * prev[r, ok[r]]
                a[r] = e.mean()
                if n[r] >= 3:
                    s2[r] = (float(((e - e.mean()) ** 2).sum()) + 5 * s2p) / (n[r] - 1 + 5)
        s2 = np.maximum(s2, 1e-6)  # a perfect fit on a few points has no residual variance
        obs_mean = np.array([np.nanmean(zr) if np.isfinite(zr).any() else 0.0 for zr in z])
        m_raw = np.where(np.isfinite(a), a / (1 - phi), obs_mean)
        m_se2 = np.where(n >= 1, s2 / np.maximum(n, 1) / (1 - phi) ** 2, 1e6)
        m, tau_m = _shrink(m_raw, m_se2, n >= 1)
        m_post_var = np.where(n >= 1, 1 / (1 / tau_m + 1 / np.maximum(m_se2, 1e-8)), tau_m)
        # standardized one-step residuals (pooled) for the bootstrap
        fitted = m[:, None] + phi[:, None] * (prev - m[:, None])
        std = ((resid_cur - fitted) / np.sqrt(s2)[:, None])[ok]
        std = std - std.mean() if len(std) else std
        return {"m": m, "m_var": m_post_var, "phi": phi, "phi_var": phi_post_var, "beta": beta,
                "beta_cov": beta_cov, "s2": s2, "std_resid": std, "phi_pool": phi_pool, "n": n}

    def _features(self, panel: Panel) -> tuple[np.ndarray, np.ndarray]:
        """Carry-over driver features ``(R, T, K)`` (log1p, missing = last seen, leading = 0) and their region means."""
        R, T = panel.target().shape
        if not self.drivers:
            return np.zeros((R, T, 0)), np.zeros((R, 0))
        feats = [carry_over(np.log1p(ffill_time(panel.series[s], fill=0.0)), self.n_lags_) for s in self.drivers]
        X = np.stack(feats, axis=-1)
        xbar = X.mean(axis=1)
        return X - xbar[:, None, :], xbar

    def _log_rate(self, panel: Panel) -> tuple[np.ndarray, np.ndarray]:
        """``z = log1p(y) - log(P/N)`` and the offset ``log(P/N)`` (R, T; 0 without depletion)."""
        off = np.log(panel.at_risk() / panel.regions.population[:, None]) * float(self.depletion)
        return np.log1p(panel.target()) - off, off

    def _nominal_var(self, est: dict, h: int, dev: np.ndarray) -> np.ndarray:
        """h-step predictive variance of z (noise + parameters, ignoring the drivers' future), per region."""
        phi, s2 = est["phi"], est["s2"]
        noise = s2 * sum(phi ** (2 * j) for j in range(h))
        par = (1 - phi**h) ** 2 * est["m_var"] + (h * phi ** (h - 1) * dev) ** 2 * est["phi_var"]
        return noise + par * float(self.parameter_uncertainty)

    def _choose_drivers(self, series) -> tuple[str, ...]:
        """The given series, or the default rule's (none available: a pure time-series model)."""
        if self.drivers_arg in (None, ()):
            return ()
        return resolve_drivers(self.drivers_arg, series, self.name, required=False)

    def _fit(self, panel: Panel) -> None:
        self.drivers = self._choose_drivers(panel.series)
        self.uses_drivers = bool(self.drivers)
        self.info_.config.update(drivers=list(self.drivers), driver_rule=(
            DEFAULT_RULE + " (none: a pure time-series model)" if self.drivers_arg == "auto"
            else "chosen by the user"))
        self.n_lags_ = self.n_lags or DEFAULT_LAGS.get(panel.freq, 3)
        z, _ = self._log_rate(panel)
        X, self.xbar_ = self._features(panel)
        est = self._estimate(z, X)
        # rolling-origin calibration of the h-step spread on the model's own data
        R, T = z.shape
        errs: list[list[float]] = [[] for _ in range(N_CHECK_H)]
        first = max(T - self.n_check, 6)
        for o in range(first, T - 1):
            e_o = self._estimate(z[:, : o + 1], X[:, : o + 1])
            dev = z[:, o] - e_o["m"]
            centre = z[:, o]
            for h in range(1, min(N_CHECK_H, T - 1 - o) + 1):
                centre = e_o["m"] + e_o["phi"] * (centre - e_o["m"]) + X[:, o + h] @ e_o["beta"]
                u = (z[:, o + h] - centre) / np.sqrt(self._nominal_var(e_o, h, np.nan_to_num(dev)))
                errs[h - 1] += [float(v) for v in u[np.isfinite(u)]]
        c = []
        for h in range(N_CHECK_H):
            if len(errs[h]) >= 5:
                c.append(float(np.clip(np.sqrt(np.mean(np.square(errs[h]))), 0.8, 4.0)))
            else:
                c.append(c[-1] if c else 1.0)
        self.calibration_ = np.asarray(c)
        self.est_ = est
        last_idx = [np.flatnonzero(np.isfinite(zr)) for zr in z]
        self.z_last_ = np.array([zr[i[-1]] if len(i) else m for zr, i, m in zip(z, last_idx, est["m"], strict=True)])
        self.X_hist_ = X[:, -(self.n_lags_ - 1):] + self.xbar_[:, None, :] if self.n_lags_ > 1 else X[:, :0]
        if self.drivers:
            self.log_hist_ = {s: np.log1p(ffill_time(panel.series[s], fill=0.0))[:, -(self.n_lags_ - 1):]
                              for s in self.drivers}
        y = panel.target()
        self.log_cap_ = np.log1p(np.nan_to_num(np.nanmax(y, axis=1, initial=0.0)) * MAX_GROWTH + 10.0)
        self.at_risk_end_ = panel.at_risk_end() if self.depletion else np.full(len(z), np.inf)
        self.population_ = panel.regions.population.astype(float)
        self.info_.diagnostics = {
            "drivers": list(self.drivers), "phi_pooled": round(est["phi_pool"], 3),
            "phi_median": round(float(np.median(est["phi"])), 3),
            "beta": [round(float(b), 3) for b in est["beta"]],
            "calibration_h1": round(float(c[0]), 3), f"calibration_h{N_CHECK_H}": round(float(c[-1]), 3),
            "n_check_errors_h1": len(errs[0]),
        }

    effect_name = "beta"

    def driver_effects(self) -> dict[str, float]:
        """Each driver's pooled effect ``beta`` (taken as 0 when below 0 with ``nonnegative_effects``:
        the paths do so, draw by draw)."""
        beta = (float(b) for b in self.est_["beta"])
        return {s: max(b, 0.0) if self.nonnegative_effects else b for s, b in zip(self.drivers, beta, strict=True)}

    # -- simulation ---------------------------------------------------------------------------
    def _simulate(self, future, horizon, n_draws, rng):
        est = self.est_
        R = len(est["m"])
        K = len(self.drivers)
        # parameters first (same draws for every scenario), then the noise of a fixed shape
        if self.parameter_uncertainty:
            m = est["m"] + np.sqrt(est["m_var"]) * rng.standard_normal((n_draws, R))
            phi = np.clip(est["phi"] + np.sqrt(est["phi_var"]) * rng.standard_normal((n_draws, R)), *PHI_BOUNDS)
            beta = (rng.multivariate_normal(est["beta"], est["beta_cov"], size=n_draws, method="eigh")
                    if K else np.zeros((n_draws, 0)))
        else:
            m = np.broadcast_to(est["m"], (n_draws, R))
            phi = np.broadcast_to(est["phi"], (n_draws, R))
            beta = np.broadcast_to(est["beta"], (n_draws, K))
        if self.nonnegative_effects:
            # more conflict never lowers displacement: a negative effect (noise or confounding in
            # short real panels) is read as none, draw by draw
            beta = np.maximum(beta, 0.0)
        pool = est["std_resid"]
        eps = (pool[rng.integers(0, len(pool), size=(n_draws, R, horizon))] if len(pool) >= 10
               else rng.standard_normal((n_draws, R, horizon)))
        # innovation sd per step so that the h-step variance is calibration[h]^2 x nominal
        c = self.calibration_[np.minimum(np.arange(horizon), len(self.calibration_) - 1)]
        phi0, s2 = est["phi"], est["s2"]
        nominal = np.stack([s2 * sum(phi0 ** (2 * j) for j in range(h)) for h in range(1, horizon + 1)], axis=1)
        target = c[None, :] ** 2 * nominal
        prev = np.concatenate([np.zeros((R, 1)), target[:, :-1]], axis=1)
        step_sd = np.sqrt(np.maximum(target - phi0[:, None] ** 2 * prev, 0.05 * s2[:, None]))
        if K:
            fut = np.stack([np.log1p(future[s]) for s in self.drivers], axis=-1)  # (D, R, H, K)
            hist = np.broadcast_to(np.stack([self.log_hist_[s] for s in self.drivers], axis=-1)[None],
                                   (n_draws, R, self.n_lags_ - 1, K))
            full = np.concatenate([hist, fut], axis=2)
            xs = np.stack([carry_over(full[..., k], self.n_lags_) for k in range(K)], axis=-1)[:, :, -horizon:]
            xeff = np.einsum("drhk,dk->drh", xs - self.xbar_[None, :, None, :], beta)
        else:
            xeff = np.zeros((n_draws, R, horizon))
        z = np.broadcast_to(self.z_last_, (n_draws, R)).copy()
        at_risk = np.broadcast_to(self.at_risk_end_, (n_draws, R)).copy()
        shrink = self.panel_.depletes().astype(float)  # movements (0.0) leave the people at risk as they are
        out = np.zeros((n_draws, R, horizon))
        for h in range(horizon):
            z = m + phi * (z - m) + xeff[:, :, h] + step_sd[None, :, h] * eps[:, :, h]
            zz = z + (np.log(np.maximum(at_risk, 1.0) / self.population_) if self.depletion else 0.0)
            d = np.minimum(np.round(np.expm1(np.clip(zz, 0, self.log_cap_))), at_risk)
            out[:, :, h] = d
            at_risk = at_risk - shrink * d
        return out


__all__ = ["CARRY_OVER", "CONFLICT_SERIES", "DynamicLog"]
