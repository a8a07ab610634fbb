"""Peers for backtests: Nixtla statsforecast models behind the ForecastModel interface.

``statsforecast-autoets``, ``statsforecast-autoarima``
    Each region modelled on its own, on **log1p counts** (raw counts are strongly skewed and
    Gaussian intervals on them go below zero).
``statsforecast-naive``, ``statsforecast-historicaverage``
    statsforecast ``Naive`` (last value) and ``HistoricAverage`` (mean of the whole history), on
    the **raw counts** by default (``scale="raw"``), as statsforecast runs them and as issue 16's
    reference cross-validation scored them; ``scale="log1p"`` fits them on log1p counts instead.

Missing counts are filled (on the model's scale) by linear interpolation (edges: nearest value)
because statsforecast needs complete series. The models ignore strikes and flights, so
scenarios cannot move them.

From intervals to sample paths
------------------------------
statsforecast returns, per horizon ``h``, the point forecast ``mu_h`` and Gaussian prediction
intervals ``mu_h +- z sigma_h`` on the model's scale (log1p or raw). We ask for the 80% interval, recover
``sigma_h = (hi_80 - lo_80) / (2 z_0.9)`` and draw ``mu_h + sigma_h * eps`` with independent
standard-normal ``eps`` per draw, region and horizon. Every marginal (region, horizon)
distribution therefore has exactly statsforecast's quantiles (before rounding); joint
quantities such as the regional total treat regions and horizons as independent, which
understates the spread of the total when regions move together. Counts are
``round(expm1(.))`` (log1p scale) or ``round(.)`` (raw scale), at least 0 (a raw-scale Gaussian
draw below 0 becomes 0, i.e. the interval is clipped at 0) and at most the people still at risk.

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
from .panel import cap_at_risk

_Z80 = float(stats.norm.ppf(0.9))


def _fill_log(y: np.ndarray, log: bool = True) -> np.ndarray:
    """log1p (or raw, ``log=False``) counts with gaps interpolated (edges carried); all-missing rows become 0."""
    z = np.asarray(y, dtype=float)
    out = pd.DataFrame((np.log1p(z) if log else z).T).interpolate(limit_direction="both").to_numpy().T
    return np.nan_to_num(out, nan=0.0)


class _StatsForecastPeer(ForecastModel):
    """Shared code: one statsforecast model per region on log1p counts, Gaussian intervals."""

    uses_drivers = False
    parameter_uncertainty = False  # statsforecast's intervals take the fitted parameters as known
    process_uncertainty = "process (Gaussian noise on log1p counts, from statsforecast's intervals)"
    sf_name: ClassVar[str] = ""
    default_scale: ClassVar[str] = "log1p"

    def __init__(self, season_length: int = 1, scale: str | None = None):
        self.season_length = season_length
        self.scale = scale or self.default_scale
        if self.scale not in ("log1p", "raw"):
            raise ValueError(f"scale must be 'log1p' or 'raw', not {self.scale!r}")

    def get_config(self) -> dict[str, Any]:
        return {"season_length": self.season_length, "scale": self.scale}

    def _make(self):
        """The statsforecast model named ``sf_name`` (default arguments)."""
        import statsforecast.models as sfm

        return getattr(sfm, self.sf_name)()

    def _fit(self, panel: Panel) -> None:
        self.log_y_ = _fill_log(panel.target(), log=self.scale == "log1p")
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
        z = mu[None] + sigma[None] * rng.standard_normal((n_draws, *mu.shape))
        counts = np.round(np.expm1(np.clip(z, 0.0, 20.0)) if self.scale == "log1p" else np.clip(z, 0.0, None))
        return cap_at_risk(counts, self.at_risk_end_, self.panel_.depletes())  # cumulative displacement within the people at risk


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


class StatsForecastNaive(_StatsForecastPeer):
    """statsforecast ``Naive`` per region (last value; raw counts by default, Gaussian intervals)."""

    name = "statsforecast-naive"
    sf_name = "Naive"
    default_scale = "raw"


class StatsForecastHistoricAverage(_StatsForecastPeer):
    """statsforecast ``HistoricAverage`` per region (mean of the history; raw counts by default)."""

    name = "statsforecast-historicaverage"
    sf_name = "HistoricAverage"
    default_scale = "raw"
