"""The classical dynamic model (``dynamic``): recovery of known parameters, coverage, drivers, depletion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.models import get_model
from displacement_forecast.models.base import Panel
from displacement_forecast.models.sarimax import carry_over

PHI, BETA, SD = 0.6, 0.4, 0.3


def _simulate(R=12, T=60, seed=0, beta=BETA, population=1e9, H=0, n_future=1):
    """log1p(y) = m_r + PHI (z[t-1] - m_r) + beta (x[t] - xbar_r) + N(0, SD^2), x = carried-over log1p(strikes)."""
    rng = np.random.default_rng(seed)
    m = rng.normal(7.0, 1.0, R)
    strikes = rng.poisson(rng.uniform(1, 20, R)[:, None], size=(R, T + H)).astype(float)
    x = carry_over(np.log1p(strikes), 3)
    xc = x - x[:, :T].mean(axis=1, keepdims=True)
    z = np.zeros((R, T))
    z[:, 0] = m
    for t in range(1, T):
        z[:, t] = m + PHI * (z[:, t - 1] - m) + beta * xc[:, t] + SD * rng.standard_normal(R)
    fut = None
    if H:
        fut = np.zeros((n_future, R, H))
        zz = np.broadcast_to(z[:, -1], (n_future, R)).copy()
        for h in range(H):
            zz = m + PHI * (zz - m) + beta * xc[:, T + h] + SD * rng.standard_normal((n_future, R))
            fut[:, :, h] = np.round(np.expm1(zz))
    codes = [f"R{i}" for i in range(R)]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A",
                                               "population": population}))
    panel = Panel(pd.date_range("2015-01-01", periods=T, freq="MS"), regions, "M",
                  {"displaced": np.round(np.expm1(z)), "strikes": strikes[:, :T]})
    return panel, m, strikes, fut


def test_recovers_known_parameters():
    panel, m, _, _ = _simulate(R=15, T=80, seed=1)
    fit = get_model("dynamic", drivers=("strikes",), n_check=0).fit(panel)
    est = fit.est_
    assert abs(np.median(est["phi"]) - PHI) < 0.08
    assert abs(est["beta"][0] - BETA) < 0.12
    np.testing.assert_allclose(est["m"], m, atol=0.25)
    assert abs(np.sqrt(np.median(est["s2"])) - SD) < 0.05


def test_intervals_cover_the_true_future():
    """80% and 95% intervals hold about 80% / 95% of continuations drawn from the true process
    (future strikes known: an oracle scenario replays them)."""
    from displacement_forecast.scenarios import Scenario

    H, n = 3, 400
    cover80, cover95 = [], []
    for seed in range(3):
        panel, _, strikes, fut = _simulate(R=12, T=48, seed=10 + seed, H=H, n_future=n)
        fit = get_model("dynamic", drivers=("strikes",)).fit(panel)
        base = Scenario.baseline()
        paths = fit.sample_paths(H, base, n_draws=2000, seed=seed).values
        # marginal coverage of true continuations (the future strikes are forecast by the driver
        # model here, so the intervals may be a little wider than with the strikes known)
        for lv, cov in ((80, cover80), (95, cover95)):
            a = (1 - lv / 100) / 2
            lo, hi = np.quantile(paths, [a, 1 - a], axis=0)
            cov.append(((fut >= lo[None]) & (fut <= hi[None])).mean())
    assert 0.74 <= np.mean(cover80) <= 0.90, cover80
    assert 0.91 <= np.mean(cover95) <= 0.99, cover95


def test_scenarios_move_it_through_drivers():
    from displacement_forecast.scenarios import Scenario

    panel, *_ = _simulate(R=6, T=40, seed=3, beta=0.8)
    fit = get_model("dynamic", drivers=("strikes",)).fit(panel)
    res = fit.sample_scenarios(3, [Scenario.baseline(), Scenario.ceasefire()], n_draws=500, seed=0)
    assert res["ceasefire"].values.sum() < res["baseline"].values.sum()


def test_without_drivers_and_auto_rule():
    panel, *_ = _simulate(R=4, T=30, seed=4)
    auto = get_model("dynamic").fit(panel)
    assert auto.drivers == ("strikes",) and auto.info_.diagnostics["drivers"] == ["strikes"]
    only = Panel(panel.dates, panel.regions, panel.freq, {"displaced": panel.target()})
    free = get_model("dynamic").fit(only)
    assert free.drivers == () and free.driver_model_ is None
    assert free.sample_paths(4, n_draws=100).shape == (100, 4, 4)


def test_depletion_caps_cumulative_displacement():
    """A tiny population: paths never displace more people than are at risk."""
    panel, *_ = _simulate(R=3, T=30, seed=5, population=3e4)
    fit = get_model("dynamic", drivers=None).fit(panel)
    p = fit.sample_paths(12, n_draws=300, seed=0).values
    assert (p.sum(axis=2) <= fit.at_risk_end_[None] + 1e-9).all()


def test_counts_above_the_population_are_movements_and_not_depleted():
    """Known bookkeeping: region 0 displaced 40 of 100 people (depleted to 60); region 1 counts 150
    departures from 100 people - movements, so its 100 stay at risk in every period."""
    codes = ["A", "B"]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "P", "population": 100.0}))
    d = np.array([[10.0, 10, 10, 10], [50, 50, 0, 50]])
    p = Panel(pd.date_range("2020-01-01", periods=4, freq="MS"), regions, "M", {"displaced": d})
    np.testing.assert_array_equal(p.counts_movements(), [False, True])
    np.testing.assert_array_equal(p.at_risk(), [[100, 90, 80, 70], [100, 100, 100, 100]])
    np.testing.assert_array_equal(p.at_risk_end(), [60, 100])
    # the same region before its counts passed the population was depleted (no look-ahead)
    np.testing.assert_array_equal(p.truncate(p.dates[1]).at_risk_end(), [80, 1])  # floored at 1%


@pytest.mark.parametrize("trend", [-0.05, 0.0])
def test_follows_a_persistent_fall_and_reverts_where_stationary(trend):
    """Daily series falling 5% a day: the forecast keeps falling (below the last value);
    a stationary series: the 12-step median returns to the long-run level."""
    rng = np.random.default_rng(6)
    T = 70
    if trend:
        z = 11 + trend * np.arange(T) + 0.05 * rng.standard_normal(T)
    else:
        z = np.zeros(T)
        z[0] = 9
        for t in range(1, T):
            z[t] = 8 + 0.3 * (z[t - 1] - 8) + 0.3 * rng.standard_normal()
        z[-1] = 10  # a spike at the end
    regions = regions_from_frame(pd.DataFrame({"code": ["A"], "name": ["A"], "parent": [None],
                                               "population": [1e10]}))
    panel = Panel(pd.date_range("2022-01-01", periods=T, freq="D"), regions, "D",
                  {"displaced": np.round(np.expm1(z))[None]})
    med = np.median(get_model("dynamic").fit(panel).sample_paths(12, n_draws=1000).values[:, 0], axis=0)
    if trend:
        assert med[-1] < np.expm1(z[-1]) * 0.8
    else:
        assert abs(np.log(med[-1]) - 8) < 0.3


@pytest.mark.parametrize("T", [2, 3, 6])
def test_short_histories_give_finite_paths_without_warnings(T):
    """A fit on a few periods or constant counts (a backtest's earliest origins) must not divide by a
    zero residual variance."""
    import warnings

    codes = ["A", "B", "C", "D"]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "Z", "population": 1e6}))
    # two periods: one (previous, current) pair per region, which the pooled AR fits exactly
    y = np.array([[100.0, 140.0, 90.0, 120.0, 110.0, 95.0][:T], [50.0, 20.0, 60.0, 45.0, 30.0, 55.0][:T],
                  [10.0, 15.0, 12.0, 9.0, 14.0, 11.0][:T], [300.0, 200.0, 260.0, 310.0, 280.0, 240.0][:T]])
    panel = Panel(pd.date_range("2020-01-01", periods=T, freq="MS"), regions, "M", {"displaced": y})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = get_model("dynamic", drivers=None).fit(panel).sample_paths(3, n_draws=100, seed=1).values
    assert np.isfinite(p).all() and (p >= 0).all()


def test_nonnegative_effects_stop_less_conflict_raising_displacement():
    """Known truth with a negative strike effect: by default less conflict (a ceasefire) raises
    the forecast, as the fitted effect says; with ``nonnegative_effects`` (auto's response model)
    the drawn effects below 0 count as 0, so the ceasefire cannot raise any path."""
    from displacement_forecast.scenarios import Scenario

    panel, *_ = _simulate(R=6, T=40, seed=3, beta=-0.8)
    tot = {}
    for flag in (False, True):
        fit = get_model("dynamic", drivers=("strikes",), nonnegative_effects=flag).fit(panel)
        assert fit.est_["beta"][0] < 0
        res = fit.sample_scenarios(3, [Scenario.baseline(), Scenario.ceasefire()], n_draws=300, seed=0)
        tot[flag] = {k: v.values.sum(axis=(1, 2)) for k, v in res.items()}
    assert tot[False]["ceasefire"].sum() > 1.05 * tot[False]["baseline"].sum()
    assert (tot[True]["ceasefire"] <= tot[True]["baseline"]).all()
