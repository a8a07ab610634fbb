"""Strike/flight projections: future conflict is not known, so it is forecast and sampled.

Each driver series gets a pooled negative-binomial autoregression across regions::

    log E[y[r,t]] = a[r] + phi1 * log1p(y[r,t-1]) + phi2 * log1p(mean(y[r,t-2..t-4]))
                         + psi1 * log1p(z[r,t-1]) + psi2 * log1p(mean(z[r,t-2..t-4]))

where ``z[r,t]`` is the mean count over the regions of r's zone (its ``parent`` in the region
table). Offensives hit whole zones at once, and a zone mean is a far less noisy measure of the
current intensity than one region's count, so the zone terms let an escalation persist in the
forecast instead of being read as noise. Without zones of two or more regions the psi terms are
left out. Fitted by maximum likelihood (Newton's method with the region intercepts eliminated
block by block, :mod:`._nb_fit`: statsmodels' ``NegativeBinomial`` estimate with region dummies, in
time linear in the number of regions). Sample paths draw the
coefficients from their estimated covariance once per path, then NB noise period by period, so
uncertainty about the conflict itself reaches the displacement forecast. A share of the paths
(:data:`PERSISTENCE`, half) instead hold the current intensity, the mean count of the last
:data:`HELD_PERIODS` periods, each weighted by the chance that it is in the last period's regime
(:func:`regime_held_level`, :mod:`.regimes`), for the whole horizon (:meth:`SeriesAR.held_paths`):
escalation comes in regimes that the autoregression, fitted mostly on quieter periods, reads as
noise. Scenarios
modify these baseline paths (see :mod:`displacement_forecast.scenarios`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ..distributions import CommonNoiseNB
from ._drivers_fast import ar_paths
from ._nb_fit import DENSE_COV_MAX, cov_blocks, draw_params, fit_nb2_groups
from .panel import Panel, ffill_time
from .regimes import MIN_PERIODS, fit_two_state, same_regime_weights

N_AR = 4  # periods of history the autoregression looks at
#: Share of a driver's sample paths that hold its current intensity (:meth:`SeriesAR.held_paths`):
#: 0.5 since 2026-12-02 (0.3 before; see :meth:`SeriesAR.held_paths` for both measurements).
PERSISTENCE = 0.5
#: Periods whose mean count is the intensity a held path keeps.
HELD_PERIODS = 2


def _ar_features(y: np.ndarray, zone_mean: np.ndarray | None = None) -> np.ndarray:
    """Features from windows ``(..., region, N_AR)`` holding the last N_AR periods, newest last.

    Two per region (last period, mean of the earlier ones), plus the same two of the zone mean
    when ``zone_mean`` (a ``region x region`` averaging matrix) is given.
    """
    own = [np.log1p(y[..., -1]), np.log1p(y[..., :-1].mean(axis=-1))]
    if zone_mean is None:
        return np.stack(own, axis=-1)
    z = np.matmul(zone_mean, y)  # zone means, (..., region, N_AR)
    return np.stack(own + [np.log1p(z[..., -1]), np.log1p(z[..., :-1].mean(axis=-1))], axis=-1)


def zone_codes(parents: np.ndarray | list) -> np.ndarray | None:
    """Integer zone of each region from its parent (a region without one is its own zone).

    ``None`` when no zone holds two or more regions: then zone features would only repeat the
    region's own.
    """
    keys = [p if isinstance(p, str) and p else f"__own{i}" for i, p in enumerate(parents)]
    _, zone = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    return zone if np.bincount(zone).max() >= 2 else None


def zone_mean_matrix(zone: np.ndarray) -> np.ndarray:
    """``region x region`` matrix whose product with counts gives each region's zone mean."""
    same = (zone[:, None] == zone[None, :]).astype(float)
    return same / same.sum(axis=1, keepdims=True)


def regime_held_level(filled: np.ndarray, zone: np.ndarray | None, active: np.ndarray, k: int) -> np.ndarray:
    """``(region,)``: the current regime's intensity, what a held path keeps.

    The mean of each region's last ``k`` counts (``filled``: ``region x period``, missing ones
    carried forward), each weighted by the probability that its period was in the same regime as
    the last one (:func:`.regimes.same_regime_weights`, from a two-state model of the zones'
    intensities fitted to this series, :func:`.regimes.fit_two_state`; a region without a zone of
    its own is its own zone). The plain mean where the series is shorter than
    :data:`.regimes.MIN_PERIODS` or the zone never had an event.
    """
    R, T = filled.shape
    k = min(int(k), T)
    plain = filled[:, -k:].mean(axis=1) if T else np.zeros(R)
    zz = np.arange(R) if zone is None else np.asarray(zone)
    keys = np.unique(zz[np.asarray(active, bool)])
    if T < MIN_PERIODS or len(keys) == 0:
        return plain
    x = np.stack([np.log1p(filled[zz == q].mean(axis=0)) for q in keys])
    x -= np.median(x, axis=1, keepdims=True)
    w = same_regime_weights(x, fit_two_state(x), k)  # (zone, k)
    out = plain.copy()
    for i, q in enumerate(keys):
        rows = zz == q
        out[rows] = (filled[rows, -k:] * w[i]).sum(axis=1) / w[i].sum()
    return out


def _common_shock_sd(y: np.ndarray, mu: np.ndarray, t: np.ndarray) -> float:
    """Standard deviation of a log-scale shock shared by all regions in a period.

    Conflict escalates across whole zones at once, so regions' surprises move together. From the
    fitted rows' log residuals ``log((y+1)/(mu+1))``: the variance of each period's cross-region
    mean, minus what independent residuals would give it (``var / n``), is the common part.
    """
    res = np.log1p(y) - np.log1p(mu)
    df = pd.DataFrame({"t": t, "r": res})
    g = df.groupby("t")["r"].agg(["mean", "count"])
    g = g[g["count"] >= 2]
    if len(g) < 5:
        return 0.0
    within = float(df["r"].var())
    common = float(g["mean"].var()) - float((within / g["count"]).mean())
    return float(np.sqrt(max(common, 0.0)))


class SeriesAR:
    """NB autoregression for one driver series, pooled across regions with region intercepts.

    ``persistence``: the share of sample paths that hold the current intensity instead
    (:meth:`held_paths`; default :data:`PERSISTENCE`, 0 = the autoregression alone).
    """

    def __init__(self, persistence: float = PERSISTENCE):
        if not 0.0 <= float(persistence) <= 1.0:
            raise ValueError(f"persistence must be between 0 and 1, not {persistence!r}")
        self.persistence = float(persistence)

    def fit(self, y: np.ndarray, zone: np.ndarray | None = None) -> SeriesAR:
        """Fit to counts ``region x period`` (NaN = missing); ``zone`` from :func:`zone_codes`."""
        R, T = y.shape
        self.persistence_ = self.persistence
        self.zone_ = None if zone is None else np.asarray(zone, dtype=np.int64)
        self.active_ = np.nansum(y, axis=1) > 0  # regions that ever had an event
        filled = ffill_time(y, fill=0.0)
        self.history_ = filled[:, -N_AR:]
        self.held_level_ = regime_held_level(filled, self.zone_, self.active_, HELD_PERIODS)
        idx = np.flatnonzero(self.active_)
        self.n_regions_ = R
        self.idx_ = idx
        # Each active region's intercept needs its own rows, the shared coefficients the pooled ones:
        # a few periods beyond the window are enough whatever the number of regions.
        Y, X, region_k, rows = self._design(y, filled, idx) if T > N_AR + 3 else (np.zeros(0),) * 4
        if len(Y) < len(idx) + 3:
            # Too little history to fit: fall back to a region-mean Poisson with no dynamics.
            self.params_ = None
            self.mean_ = np.nan_to_num(np.nanmean(y, axis=1)) if T else np.zeros(R)
            return self
        fit = fit_nb2_groups(Y, X, region_k, len(idx), alpha0=0.5)
        self.params_ = fit.params
        self.cov_blocks_ = cov_blocks(fit)
        cov = fit.cov_dense() if fit.n_params <= DENSE_COV_MAX else None
        if cov is not None and not np.all(np.isfinite(cov)):
            cov = np.diag(np.full(len(self.params_), 1e-6))
        if not all(np.all(np.isfinite(v)) for v in self.cov_blocks_.values()):
            self.cov_blocks_ = {"shared": np.diag(np.full(fit.n_params - len(idx), 1e-6)),
                                "cond_var": np.full(len(idx), 1e-6), "cond_slope": np.zeros_like(fit.cond_slope)}
        self.cov_ = cov
        self.common_sd_ = _common_shock_sd(Y, fit.mu, np.asarray(rows))
        return self

    def _design(self, y: np.ndarray, filled: np.ndarray, idx: np.ndarray):
        """Regression rows: one per (active region, period t >= N_AR) with a complete window and an
        observed count. ``(counts (n,), features (n, k), active-region index (n,), period (n,))``."""
        win = sliding_window_view(y, N_AR, axis=1)[:, :-1]  # (R, T-N_AR, N_AR): periods t-N_AR..t-1
        target = y[idx, N_AR:]
        ok = np.isfinite(win[idx]).all(axis=2) & np.isfinite(target)
        # Zone means use every region of the zone, a missing count carried forward (0 before any).
        zwin = sliding_window_view(filled, N_AR, axis=1)[:, :-1]
        feats = np.swapaxes(_ar_features(np.where(np.isfinite(win), win, zwin).swapaxes(0, 1),
                                         self._zone_mean()), 0, 1)[idx]  # (R', T-N_AR, k)
        region_k, t_k = np.nonzero(ok)
        return target[region_k, t_k], feats[region_k, t_k], region_k, t_k + N_AR

    def _zone_mean(self) -> np.ndarray | None:
        # Fits saved before zones existed have no zone_: they keep their two own-lag features.
        zone = getattr(self, "zone_", None)
        return None if zone is None else zone_mean_matrix(zone)

    def sample(self, horizon: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """``(draw, region, horizon)`` count paths: coefficients drawn once per path, one shared
        shock per period, then the recursion with NB noise (compiled: :mod:`._drivers_fast`)."""
        R = self.n_regions_
        if self.params_ is None:
            return rng.poisson(np.broadcast_to(self.mean_[None, :, None], (n_draws, R, horizon))).astype(float)
        theta = self.draw_params(n_draws, rng)
        a = np.zeros((n_draws, R))
        a[:, self.idx_] = theta[:, : len(self.idx_)]
        phi = theta[:, len(self.idx_) : -1]
        alpha = np.clip(theta[:, -1], 1e-3, None)
        # Shared by all regions, mean one on the exp scale. Fits saved before this existed have no
        # common_sd_: they draw no shock.
        c = float(getattr(self, "common_sd_", 0.0))
        shock = rng.normal(-c * c / 2, c, (n_draws, horizon)) if c > 0 else np.zeros((n_draws, horizon))
        paths = ar_paths(rng, a, phi, alpha, shock, self.history_, getattr(self, "zone_", None), self.active_)
        if self.held_share() <= 0:  # fits saved before 2026-12-01 hold nothing and draw no more numbers
            return paths
        held = CommonNoiseNB(rng, self.nb_alpha(), paths.shape).draw(slice(None), self.held_mean()[None, :, None])
        return self.held_paths(paths, held, rng.random(n_draws))

    def held_share(self) -> float:
        """The share of paths that hold the current intensity (0 without a fitted autoregression,
        and for fits saved before the share existed)."""
        return 0.0 if self.params_ is None else float(getattr(self, "persistence_", 0.0))

    def held_mean(self) -> np.ndarray:
        """``(region,)``: the intensity a held path keeps: the mean count of the last
        :data:`HELD_PERIODS` periods (missing ones carried forward; 0 where no event ever was),
        each weighted by the chance that it is in the last period's regime
        (:func:`regime_held_level`, since 2026-12-02). Fits saved before have no ``held_level_``
        and keep the plain mean.

        Why the weights: a plain mean of an offensive's last week and the quiet week after it holds
        half the offensive. With them (52 weekly origins, 300 paths, base seed 2020, ``nb-dl``
        alone, per-region CRPS skill vs last-value at 1 / 2 / 3 / 4 weeks) seed 11 went from +9.5 /
        -1.0 / +1.0 / +4.9% to +10.4 / +1.2 / +2.9 / +6.3%, seed 15 from +2.8 / +7.8 / +6.3 / +8.0%
        to +3.3 / +8.6 / +7.3 / +9.0%, the shipped history from +7.5 / +12.3 / +9.5 / +4.7% to +11.9
        / +13.3 / +10.4 / +4.6%; over all 17 histories (shipped, seeds 1-16) the skill was positive
        at every horizon on every history (lowest +1.2%), higher in 58 of 68 history-horizons (2
        equal), +1.2 points on average. Three or four weighted periods instead of two: seed 16 at
        1-2 weeks fell to -3.4 / -2.1% with four. On real data (``experiments/real_world/cv_peers.py``,
        500 paths, the Ukraine panel before its 19-20 April fix) ``nb-dl``'s WIS on Somalia went
        7,351 / 11,526 / 10,553 -> 7,342 / 11,522 / 10,537 and on Ukraine 14,684 / 13,378 / 12,777
        -> 15,011 / 13,697 / 13,123; the default ``auto``'s did not move on Somalia and on Ukraine
        went 5,023 / 7,691 / 9,058 -> 5,051 / 7,734 / 9,078 (0.99 / 0.93 / 0.93x the best peer, as
        before).
        """
        level = getattr(self, "held_level_", None)
        if level is not None:
            return np.asarray(level, float)
        return np.asarray(self.history_, float)[:, -HELD_PERIODS:].mean(axis=1)

    def held_paths(self, paths: np.ndarray, held: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The autoregression's ``paths`` ``(draw, region, horizon)`` with the draws ``u < share``
        (``u``: one uniform per draw) replaced by ``held``: NB2 counts, with the series' own
        dispersion, around :meth:`held_mean` at every horizon. Whole draws are replaced, so a
        held draw holds every region (an offensive hits a zone, and its regions' totals keep it).

        Why: conflict escalates in regimes (an offensive lasts weeks), while an autoregression on
        log counts, fitted mostly on quieter periods, reads a regime's start as noise and forecasts
        a return to the usual level within weeks (coefficients summing to about 0.8). In the
        simulated NW Syria histories the strike forecast at the final offensive fell from 241
        strikes to a 4-week median of 88 where 300 came (seed 3, origin 2019-12-16). With the
        current intensity held in 30% of the paths (``experiments/backtest_synthetic.py``, 52
        weekly origins, 500 paths, ``docs/backtest-results.md``, 2026-12-01), ``nb-dl``'s
        per-region displacement CRPS skill vs last-value at 1 / 2 / 3 / 4 weeks went from +11 / +7
        / +4 / -4.2% to +11.4 / +11.8 / +9.2 / +2.0% on the shipped history (80% coverage at 4 weeks
        74% -> 75%), and on the other simulator seeds from +14.1 / +19.5 / +17.9 / +6.2% to +8.9 /
        +17.8 / +21.4 / +12.9% (seed 1: worse at 1 week), +10.3 / +7.1 / +5.5 / +3.3% to +13.4 /
        +12.8 / +10.8 / +7.2% (seed 2), -13.3 / -5.9 / -3.6 / -0.9% to +2.6 / +8.0 / +7.4 / +7.3%
        (seed 3) and +4.8 / -2.1 / -0.1 / +0.9% to +7.7 / +3.8 / +4.5 / +5.1% (seed 4). The strike
        forecast's own CRPS (zone totals, 3-4 weeks ahead, a prototype of this rule) fell by 1-12%
        on four histories at shares 0.2-0.4, and its 1-week regional CRPS before the offensives
        rose by at most 3%. On real data (``experiments/real_world/cv_peers.py``) ``nb-dl``'s WIS on
        Somalia (ACLED drivers) moved by less than 1% and fell by 13-23% on Ukraine (still
        1.6-3.2x the best peer); the default ``auto`` moved by at most 0.01x the best peer on both.

        Half the paths since 2026-12-02 (30% before). The gap to the truth is the strike forecast:
        ``nb-dl`` fitted on the data but given strike paths drawn from the simulator's own process
        (its latent intensity and ongoing escalations at the origin known, their ends not) gets
        per-region CRPS skill vs last-value at 1 / 2 / 3 / 4 weeks of +11.6 / +15.6 / +12.9 / +7.8%
        on seed 15 against -0.6 / +1.7 / +1.8 / +3.7% with its own strike forecast; without the
        ongoing escalations it falls to -72 / -39 / -24 / -16%: knowing that an escalation goes on
        is most of it. Holding it in half the paths (52 weekly origins, 300 paths, seed 2020),
        ``nb-dl``'s skill at 1-4 weeks went from (0.3 ->) 0.5: seed 15 -0.6 / +1.7 / +1.8 / +3.7%
        -> +4.3 / +6.9 / +6.3 / +7.9%, seed 4 +9.0 / +3.2 / +5.1 / +4.9% -> +10.0 / +5.5 / +6.3 /
        +6.3%, seed 11 +11.3 / +1.1 / +1.9 / +4.5% -> +14.0 / -0.7 / +1.9 / +6.1%, the shipped
        history +12.1 / +13.0 / +10.5 / +2.9% -> +10.9 / +14.6 / +11.8 / +5.0%; on 12 other seeds
        (1-3, 5-10, 12-14) it was higher in 35 of 48 history-horizons, by +1.2 points on average, and
        positive in all (lowest +5.7%, seed 1 at 1 week, where 0.3 gave +10.6%). Shares of 0.7 and
        1.0 and holding only the last period were measured too: better on some histories, worse on
        others (1.0: seed 11 at 2 weeks -13.8%). On real data (``cv_peers.py``, 500 paths) the
        default ``auto``'s WIS on Somalia did not move, and on Ukraine went 5,010 / 7,862 / 9,176 ->
        5,023 / 7,691 / 9,058 (1, 7, 14 days).
        """
        share = self.held_share()
        if share <= 0:
            return paths
        return np.where((np.asarray(u) < share)[:, None, None], held, paths)

    def draw_params(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, n_params)`` coefficient draws (:func:`._nb_fit.draw_params`: the dense covariance
        when the fit kept it, else its blocks)."""
        return draw_params(self, n, rng)

    def nb_alpha(self) -> float:
        """NB2 dispersion of the counts around their mean (0, i.e. Poisson, without a fit)."""
        return 0.0 if self.params_ is None else max(float(self.params_[-1]), 0.0)


class DriverForecaster:
    """Forecasts each driver series with its own :class:`SeriesAR` and samples joint paths."""

    def __init__(self, series: tuple[str, ...] = ("strikes", "flights")):
        self.series = tuple(series)

    def fit(self, panel: Panel) -> DriverForecaster:
        zone = zone_codes(panel.regions.frame["parent"].tolist())
        self.models_ = {s: SeriesAR().fit(panel.series[s], zone) for s in self.series}
        return self

    def sample(self, horizon: int, n_draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``series -> (draw, region, horizon)`` baseline driver paths."""
        return {s: m.sample(horizon, n_draws, rng) for s, m in self.models_.items()}

    def count_noise(self, rng: np.random.Generator, shape: tuple[int, int, int]) -> dict[str, CommonNoiseNB]:
        """Per series, the randomness of ``shape`` counts around means given later, with the
        series' NB2 dispersion (for ``hold`` scenarios; common random numbers, see
        :class:`~displacement_forecast.distributions.CommonNoiseNB`)."""
        return {s: CommonNoiseNB(rng, m.nb_alpha(), shape) for s, m in self.models_.items()}
