"""Full-history mean baseline (``historic-average``) and the statsforecast Naive / HistoricAverage peers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.models import REGISTRY, get_model
from displacement_forecast.models.base import Panel


def _nb_panel(means, alpha, T, seed=0) -> Panel:
    rng = np.random.default_rng(seed)
    R = len(means)
    r = 1 / alpha
    y = rng.negative_binomial(r, r / (r + np.asarray(means, float)[:, None]), size=(R, T)).astype(float)
    codes = [f"R{i}" for i in range(R)]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A",
                                               "population": 10**9}))
    return Panel(pd.date_range("2020-01-01", periods=T, freq="MS"), regions, "M", {"displaced": y})


def test_historic_average_recovers_mean_dispersion_and_covers():
    """NB(mean m_r, alpha 0.5) history: the fit recovers m_r and alpha; new draws from the same
    law fall in the 80% / 95% intervals at about those rates."""
    means = np.array([50.0, 800.0, 5000.0, 20000.0])
    p = _nb_panel(means, 0.5, 400, seed=1)
    m = get_model("historic-average").fit(p)
    np.testing.assert_allclose(m.mean_, means, rtol=0.12)
    np.testing.assert_allclose(m.alpha_, 0.5, rtol=0.25)
    paths = m.sample_paths(2, n_draws=4000, seed=2).values
    future = _nb_panel(means, 0.5, 2000, seed=3).target()
    for lv, lo_q, hi_q in ((80, 0.1, 0.9), (95, 0.025, 0.975)):
        lo, hi = np.quantile(paths[:, :, 0], [lo_q, hi_q], axis=0)
        cover = ((future >= lo[:, None]) & (future <= hi[:, None])).mean()
        assert abs(cover - lv / 100) < 0.04, (lv, cover)


def test_historic_average_ignores_missing_and_is_flat():
    p = _nb_panel([100.0, 100.0], 0.2, 30, seed=4)
    p.series["displaced"][0, :10] = np.nan
    m = get_model("historic-average").fit(p)
    assert np.isfinite(m.mean_).all()
    x = m.sample_paths(3, n_draws=3000, seed=0).values
    np.testing.assert_allclose(x.mean(axis=0), 100, rtol=0.15)


@pytest.mark.parametrize("name,sf", [("statsforecast-naive", "Naive"),
                                     ("statsforecast-historicaverage", "HistoricAverage")])
def test_statsforecast_naive_and_historic_average_peers(name, sf):
    """The wrapped peers reproduce statsforecast's own point forecast and 80% interval (raw scale)."""
    import statsforecast.models as sfm
    from statsforecast import StatsForecast

    assert name in REGISTRY
    p = _nb_panel([300.0, 2000.0], 0.3, 24, seed=5)
    paths = get_model(name).fit(p).sample_paths(3, n_draws=20000, seed=1).values
    for r in range(2):
        df = pd.DataFrame({"unique_id": "r", "ds": np.arange(24), "y": p.target()[r]})
        f = StatsForecast(models=[getattr(sfm, sf)()], freq=1).forecast(df=df, h=3, level=[80])
        lo, hi = f[f"{sf}-lo-80"].to_numpy(), f[f"{sf}-hi-80"].to_numpy()
        q = np.quantile(paths[:, r], [0.1, 0.9], axis=0)
        scale = hi - lo
        np.testing.assert_allclose(q[1], hi, atol=0.03 * scale.max())
        np.testing.assert_allclose(q[0], np.maximum(lo, 0), atol=0.03 * scale.max())


@pytest.mark.parametrize("name", ["last-value", "historic-average", "climatology"])
def test_baselines_never_displace_more_people_than_are_at_risk(name):
    """A region with 2,000 people of whom 1,400 already left: 600 remain at risk (a sum
    the counts' movements rule leaves depleting: 1,400 < 2,000). Every baseline path's cumulative
    count stays within those 600, although the history's counts (~200 a month) would take most
    paths past it within the 6 months; a region with people to spare keeps its uncut paths."""
    y = np.vstack([np.full(7, 200.0), np.full(7, 200.0)])
    codes = ["SMALL", "BIG"]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A",
                                               "population": [2000, 10**9]}))
    p = Panel(pd.date_range("2020-01-01", periods=7, freq="MS"), regions, "M", {"displaced": y})
    m = get_model(name).fit(p)
    assert p.at_risk_end()[0] == 600
    x = m.sample_paths(6, n_draws=2000, seed=1).values
    cum = x.cumsum(axis=2)
    assert (cum[:, 0, -1] <= 600).all() and (cum[:, 0, -1] == 600).mean() > 0.5
    assert cum[:, 1, -1].max() >= 1200  # the big region is not cut
