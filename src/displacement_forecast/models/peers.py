"""Peers for backtests: Nixtla statsforecast AutoETS and AutoARIMA behind the ForecastModel interface.

Each region is modelled on its own, on **log1p counts** (raw counts are strongly skewed and
Gaussian intervals on them go below zero). Missing counts are filled on the log scale by linear
interpolation (edges: nearest value) because statsforecast needs complete series. The models
ignore strikes and flights, so scenarios cannot move them.

From intervals to sample paths
------------------------------
statsforecast returns, per horizon ``h``, the point forecast ``mu_h`` and Gaussian prediction
intervals ``mu_h +- z sigma_h`` on the log1p scale. We ask for the 80% interval, recover
``sigma_h = (hi_80 - lo_80) / (2 z_0.9)`` and draw ``mu_h + sigma_h * eps`` with independent
standard-normal ``eps`` per draw, region and horizon. Every marginal (region, horizon)
distribution therefore has exactly statsforecast's quantiles (before rounding); joint
quantities such as the regional total treat regions and horizons as independent, which
understates the spread of the total when regions move together. Counts are
``round(expm1(.))``, at least 0 and at most the people still at risk.

statsforecast compiles its kernels with numba on first use (cached on disk afterwards), so the
first fit in a fresh environment can take much longer than the later ones.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .base import ForecastModel, Panel

_Z80 = float(stats.norm.ppf(0.9))


def _fill_log(y: np.ndarray) -> np.ndarray:
    """log1p of the counts with gaps interpolated (edges carried); all-missing rows become 0."""
    out = pd.DataFrame(np.log1p(np.asarray(y, dtype=float)).T).interpolate(limit_direction="both").to_numpy().T
    return np.nan_to_num(out, nan=0.0)


class _StatsForecastPeer(ForecastModel):
    """Shared code: one statsforecast model per region on log1p counts, Gaussian intervals."""

    uses_drivers = False
    parameter_uncertainty = False  # statsforecast's intervals take the fitted parameters as known
    process_uncertainty = "process (Gaussian noise on log1p counts, from statsforecast's intervals)"
    sf_name: ClassVar[str] = ""

    def __init__(self, season_length: int = 1):
        self.season_length = season_length

    def get_config(self) -> dict[str, Any]:
        return {"season_length": self.season_length, "scale": "log1p"}

    def _make(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _fit(self, panel: Panel) -> None:
        self.log_y_ = _fill_log(panel.target())
        self.at_risk_end_ = panel.at_risk_end()
        self.codes_ = list(panel.regions.codes)

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``mu, sigma`` (region x horizon, log1p scale) and the regions where the peer failed."""
        from statsforecast import StatsForecast

        R, T = self.log_y_.shape
        mu = np.zeros((R, horizon))
        sigma = np.zeros((R, horizon))
        failed = []
        for r in range(R):
            df = pd.DataFrame({"unique_id": "r", "ds": np.arange(T), "y": self.log_y_[r]})
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    f = StatsForecast(models=[self._make()], freq=1, n_jobs=1).forecast(df=df, h=horizon, level=[80])
                m = f[self.sf_name].to_numpy(float)
                s = (f[f"{self.sf_name}-hi-80"].to_numpy(float) - f[f"{self.sf_name}-lo-80"].to_numpy(float)) / (2 * _Z80)
                if not (np.isfinite(m).all() and np.isfinite(s).all()):
                    raise ValueError("non-finite forecast")
            except Exception:  # noqa: BLE001 - e.g. a constant series: fall back to a naive random walk
                failed.append(self.codes_[r])
                d = np.diff(self.log_y_[r])
                sd = float(np.std(d)) if len(d) > 1 else 1.0
                m = np.full(horizon, self.log_y_[r, -1])
                s = max(sd, 1e-3) * np.sqrt(np.arange(1, horizon + 1))
            mu[r], sigma[r] = m, np.maximum(s, 0.0)
        return mu, sigma, failed

    def _simulate(self, future, horizon, n_draws, rng):
        mu, sigma, failed = self._forecast(horizon)  # deterministic; the engine simulates once per call
        if failed:
            self.info_.diagnostics["regions_failed"] = failed
            msg = f"{self.sf_name} failed in {failed}; a naive random walk on log1p is used there"
            if msg not in self.info_.warnings:
                self.info_.warnings.append(msg)
        z = rng.standard_normal((n_draws, *mu.shape))
        counts = np.round(np.expm1(np.clip(mu[None] + sigma[None] * z, 0.0, 20.0)))
        # cap cumulative displacement by the people at risk, path by path
        at_risk = np.broadcast_to(self.at_risk_end_, (n_draws, mu.shape[0])).copy()
        for h in range(horizon):
            counts[:, :, h] = np.minimum(counts[:, :, h], at_risk)
            at_risk -= counts[:, :, h]
        return counts


class StatsForecastAutoETS(_StatsForecastPeer):
    """statsforecast ``AutoETS`` per region on log1p counts (Gaussian intervals -> sample paths)."""

    name = "statsforecast-autoets"
    sf_name = "AutoETS"

    def _make(self):
        from statsforecast.models import AutoETS

        return AutoETS(season_length=self.season_length)


class StatsForecastAutoARIMA(_StatsForecastPeer):
    """statsforecast ``AutoARIMA`` per region on log1p counts (Gaussian intervals -> sample paths)."""

    name = "statsforecast-autoarima"
    sf_name = "AutoARIMA"

    def _make(self):
        from statsforecast.models import AutoARIMA

        return AutoARIMA(season_length=self.season_length)
