"""The forecast engine: one way to draw paths for forecasts and backtests (common random numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from displacement_forecast.data.simulate import simulate_nw_syria
from displacement_forecast.evaluate.backtest import ModelSpec, run_task, score_frame, task_paths
from displacement_forecast.forecast import engine
from displacement_forecast.forecast.run import run_forecast
from displacement_forecast.models import get_model
from displacement_forecast.models.base import TARGET, Panel
from displacement_forecast.scenarios import Scenario


@pytest.fixture(scope="module")
def small():
    sim = simulate_nw_syria(n_weeks=70, seed=11)
    return sim, Panel.from_observations(sim.observations, sim.regions)


def _split(panel: Panel, origin, horizon: int):
    idx = np.flatnonzero(panel.dates > origin)[:horizon]
    future = Panel(panel.dates[idx], panel.regions, panel.freq, {k: v[:, idx] for k, v in panel.series.items()})
    return panel.truncate(origin), future


@pytest.mark.parametrize("name", ["nb-dl", "last-value"])
def test_forecast_and_backtest_from_one_origin_draw_the_same_paths(small, name):
    """A backtest task and run_forecast from the same origin with the engine's origin seed give
    identical paths, and so identical scores; another seed gives other paths."""
    sim, panel = small
    origin, H, D, seed = panel.dates[-6], 4, 200, 3
    past, future = _split(panel, origin, H)
    _, _, bt = task_paths(ModelSpec(name), origin, past, future, H, D, seed, False)
    obs = sim.observations[sim.observations["date"] <= origin]
    run = run_forecast(obs, sim.regions, model=name, horizon=H, n_draws=D, seed=engine.origin_seed(seed, origin))
    np.testing.assert_array_equal(run.paths["baseline"].values, bt["baseline"].values)
    other = run_forecast(obs, sim.regions, model=name, horizon=H, n_draws=D, seed=seed)
    assert not np.array_equal(other.paths["baseline"].values, bt["baseline"].values)
    # the backtest's scores are the scores of the forecast's paths
    res = run_task(ModelSpec(name), origin, past, future, H, D, seed, False)
    assert res.error is None, res.error
    _, score_seed = engine.origin_streams(seed, origin)
    mine = score_frame(run.paths["baseline"].values, future.series[TARGET], model=name, drivers="forecast",
                       origin=origin, target_dates=past.future_dates(H), regions=past.regions.codes,
                       rng=np.random.default_rng(score_seed))
    np.testing.assert_allclose(res.scores["crps"].to_numpy(), mine["crps"].to_numpy())


def test_streams_keep_spawn_semantics():
    """The three streams are SeedSequence(seed).spawn(3); the first two equal spawn(2)."""
    s = engine.Streams.from_seed(5)
    two = np.random.SeedSequence(5).spawn(2)
    for got, want in zip((s.drivers, s.response), two, strict=True):
        assert np.array_equal(got.generate_state(4), want.generate_state(4))
    a, b = s.rng("response").random(3), s.rng("response").random(3)
    assert np.array_equal(a, b)  # every scenario starts the response stream at the same point
    with pytest.raises(ValueError, match="unknown stream"):
        s.rng("nope")


def test_scenarios_share_random_numbers_without_hidden_state(fitted_nbdl):
    """Same seed, same scenario, different company: identical paths (no per-call cache needed);
    a scenario that changes nothing gives the baseline's paths exactly."""
    base = Scenario.baseline()
    same = Scenario("same", "intensity x1", Scenario.intensify(["ALL"], 1.0).changes)
    alone = engine.sample(fitted_nbdl, 5, [base], n_draws=150, seed=9)["baseline"].values
    both = engine.sample(fitted_nbdl, 5, [Scenario.intensify(["ALL"], 2.0), base, same], n_draws=150, seed=9)
    np.testing.assert_array_equal(both["baseline"].values, alone)
    np.testing.assert_array_equal(both["same"].values, alone)
    assert both["intensify"].values.sum() > alone.sum()
    assert not hasattr(fitted_nbdl, "_call_cache")


def test_model_without_drivers_is_simulated_once_for_all_scenarios(small):
    """A model that ignores drivers: every scenario gets the same paths from one simulation."""
    sim, panel = small
    m = get_model("last-value").fit(panel)
    calls = []
    orig = m._simulate

    def counting(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    m._simulate = counting
    out = engine.sample(m, 3, [Scenario.baseline(), Scenario.intensify(["ALL"], 3.0)], n_draws=50, seed=1)
    assert len(calls) == 1
    np.testing.assert_array_equal(out["baseline"].values, out["intensify"].values)
    assert out["intensify"].attrs["scenario"] == "intensify"


def test_engine_fits_the_driver_forecaster_and_keeps_a_models_own(small):
    sim, panel = small
    m = get_model("nb-dl").fit(panel)
    assert m.driver_model_ is None  # fitting the model does not fit the driver forecaster
    dm = engine.driver_forecaster(m)
    assert dm is not None and engine.driver_forecaster(m) is dm
    own = object()
    m.driver_model_ = own
    assert engine.driver_forecaster(m) is own
    assert engine.driver_forecaster(get_model("last-value").fit(panel)) is None


def test_engine_refuses_bad_paths(small):
    sim, panel = small
    m = get_model("last-value").fit(panel)
    m._simulate = lambda f, h, n, rng: -np.ones((n, len(panel.regions), h))
    with pytest.raises(RuntimeError, match="NaN or negative"):
        engine.sample(m, 2, n_draws=5)
    m._simulate = lambda f, h, n, rng: np.ones((n, 1, h))
    with pytest.raises(RuntimeError, match="shape"):
        engine.sample(m, 2, n_draws=5)


def test_draws_are_made_once_per_call_and_equal_simulate(fitted_nbdl, monkeypatch):
    """nb-dl splits _simulate into _draw (parameters, noise) and _paths: the engine draws once per
    call for all scenarios, and the split gives exactly _simulate's paths."""
    m, H, D = fitted_nbdl, 4, 80
    fut = engine.driver_forecaster(m).sample(H, D, np.random.default_rng(0))
    np.testing.assert_array_equal(m._simulate(fut, H, D, np.random.default_rng(5)),
                                  m._paths(fut, H, D, m._draw(H, D, np.random.default_rng(5))))
    calls = []
    orig = type(m)._draw
    monkeypatch.setattr(type(m), "_draw", lambda self, *a, **k: calls.append(k) or orig(self, *a, **k))
    engine.sample(m, H, [Scenario.baseline(), Scenario.intensify(["ALL"], 2.0), Scenario.ceasefire()],
                  n_draws=D, seed=1)
    assert len(calls) == 1 and set(calls[0]["baseline"]) == set(m.drivers)  # the call's baseline driver paths
