"""The forecast engine: the one place that turns a fitted model into sample paths.

A model knows how to fit a panel and how to turn given future driver paths and a random
generator into displacement paths (``model._simulate(future, horizon, n_draws, rng)``). Everything
around that call lives here, so a forecast (:func:`displacement_forecast.forecast.run.run_forecast`)
and a backtest (:mod:`displacement_forecast.evaluate.backtest`) draw in exactly the same way:

1. **Seed streams** (:class:`Streams`): one seed gives three independent streams - driver paths,
   the model's response, and the counts of ``hold`` scenarios (``SeedSequence(seed).spawn(3)``).
2. **Driver paths**: the driver forecaster (:class:`~displacement_forecast.models.drivers.DriverForecaster`)
   is fitted on the model's panel (:func:`fit`, or on first use) and draws the baseline strike
   and flight paths once per call.
3. **Scenarios** change those baseline paths (``Scenario.apply``); ``hold`` scenarios draw their
   counts from one shared noise source (:class:`~displacement_forecast.distributions.CommonNoiseNB`).
4. **The model** simulates each scenario from a fresh generator on the *same* response stream
   (common random numbers): a model draws its parameters and noise first, in a fixed amount, so
   every scenario sees the same random numbers and scenario differences are not noise. A model
   that splits ``_simulate`` into ``_draw`` (all its random draws) and ``_paths`` has its draws
   made once per call and given to every scenario - explicitly, no state kept on the model.
   A model that ignores drivers gives the same paths for every scenario; it is simulated once.

Backtests derive each origin's seed from the base seed and the origin date (:func:`origin_seed`),
so a forecast from that origin with ``seed=origin_seed(seed, origin)`` draws exactly the
backtest's paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..models.drivers import DriverForecaster

if TYPE_CHECKING:
    from ..models.base import ForecastModel, Panel
    from ..scenarios import Scenario

STREAMS = ("drivers", "response", "hold")


@dataclass(frozen=True)
class Streams:
    """The independent seed streams of one forecast call.

    ``SeedSequence(seed).spawn(3)``: driver paths, the model's response, ``hold`` counts. The
    first two equal ``spawn(2)``, so adding the third stream moved no earlier number.
    """

    drivers: np.random.SeedSequence
    response: np.random.SeedSequence
    hold: np.random.SeedSequence

    @classmethod
    def from_seed(cls, seed: int) -> Streams:
        return cls(*np.random.SeedSequence(seed).spawn(len(STREAMS)))

    def rng(self, stream: str) -> np.random.Generator:
        """A fresh generator on one stream (every call starts at the same point)."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; expected one of {STREAMS}")
        return np.random.default_rng(getattr(self, stream))


def origin_streams(seed: int, origin: Any) -> tuple[int, np.random.SeedSequence]:
    """The model seed and the scoring seed of a backtest task from ``origin`` with base ``seed``.

    They depend on ``(seed, origin date)`` only, so results do not depend on the origin range,
    the order of execution or the executor.
    """
    model, score = np.random.SeedSequence([int(seed), int(pd.Timestamp(origin).toordinal())]).spawn(2)
    return int(model.generate_state(1)[0]), score


def origin_seed(seed: int, origin: Any) -> int:
    """The seed a backtest with base ``seed`` forecasts from ``origin`` with (see :func:`origin_streams`)."""
    return origin_streams(seed, origin)[0]


# -- fitting -----------------------------------------------------------------------------------
def fit(model: ForecastModel, observations: Any, regions: Any = None, *, freq: str | None = None) -> ForecastModel:
    """Fit ``model`` to observations (frame + region table, or a Panel), then its driver forecaster.

    Returns
    -------
    ForecastModel
        ``model``, fitted.

    Raises
    ------
    DataError
        The data cannot be fitted (e.g. a driver series the model needs is missing).
    """
    model.fit(observations, regions, freq=freq)
    driver_forecaster(model)
    return model


def driver_forecaster(model: ForecastModel) -> Any:
    """The model's driver forecaster: the one it set itself, else a :class:`DriverForecaster`
    fitted on its panel (kept on ``model.driver_model_``); None for a model without drivers."""
    dm = getattr(model, "driver_model_", None)
    if dm is None and model.uses_drivers and model.drivers:
        dm = model.driver_model_ = DriverForecaster(series=tuple(model.drivers)).fit(model.panel_)
    return dm


# -- sampling ----------------------------------------------------------------------------------
class HoldNoise:
    """Counts for ``hold`` scenarios, drawn from one noise source shared by every scenario.

    ``make()`` returns the noise (driver series -> an object with ``draw(h, mean)``, as
    ``DriverForecaster.count_noise``); it is called the first time a scenario needs it, so a
    model's own driver forecaster without ``count_noise`` works as long as no scenario holds.
    :func:`sample` draws it from the ``hold`` stream; the region-chunked sampler
    (:mod:`.streaming`) from per-region streams.
    """

    def __init__(self, make: Callable[[], Mapping[str, Any]]):
        self._make = make
        self._noise: dict[str, Any] = {}

    def counts(self, series: str, means: np.ndarray) -> np.ndarray:
        """``(draw, region, horizon)`` counts of ``series`` around ``means``."""
        if not self._noise:
            self._noise.update(self._make())
        return self._noise[series].draw(slice(None), means)


def sample(model: ForecastModel, horizon: int, scenarios: Sequence[Scenario] | None = None, *,
           n_draws: int = 1000, seed: int = 0) -> dict[str, xr.DataArray]:
    """Sample paths ``draw x region x horizon`` for each scenario, with common random numbers.

    All scenarios at once; :func:`iter_sample` gives the same paths one scenario at a time.

    Parameters
    ----------
    model
        A fitted model.
    horizon
        Periods ahead (>= 1).
    scenarios
        Scenarios (default: the baseline only). Each has an ``id`` and an ``apply`` method.
    n_draws
        Sample paths per scenario (>= 1).
    seed
        Seed of the call (see :class:`Streams`).

    Returns
    -------
    dict
        Scenario id -> ``xr.DataArray`` of new displacement (people), dims ``draw, region,
        horizon``, coordinate ``target_date``, attrs ``scenario, model, origin_date, freq``.

    Raises
    ------
    RuntimeError
        The model is not fitted, or produced NaN or negative paths.
    ValueError
        ``horizon`` or ``n_draws`` below 1.
    """
    return dict(iter_sample(model, horizon, scenarios, n_draws=n_draws, seed=seed))


def iter_sample(model: ForecastModel, horizon: int, scenarios: Sequence[Scenario] | None = None, *,
                n_draws: int = 1000, seed: int = 0) -> Iterator[tuple[str, xr.DataArray]]:
    """``(scenario id, paths)`` per scenario, in order: the paths of :func:`sample`, yielded one
    scenario at a time so a caller that summarises and drops each holds one scenario's paths.

    The driver paths, hold noise and the model's draws are made once for all scenarios. Errors
    as :func:`sample` (raised when the generator is first advanced).
    """
    model._check_fitted()
    if horizon < 1 or n_draws < 1:
        raise ValueError("horizon and n_draws must be >= 1")
    if not scenarios:
        from ..scenarios import Scenario

        scenarios = [Scenario.baseline()]
    streams = Streams.from_seed(seed)
    panel = model.panel_
    dates = panel.future_dates(horizon)
    dm = driver_forecaster(model)
    base = None if dm is None else dm.sample(horizon, n_draws, streams.rng("drivers"))
    shape = (n_draws, len(panel.regions), horizon)
    hold = HoldNoise(lambda: dm.count_noise(np.random.default_rng(streams.hold), shape))
    shared = None
    draws = None if base is None else model._draw(horizon, n_draws, streams.rng("response"), baseline=base)
    for sc in scenarios:
        if base is None:
            # No driver paths: no scenario can change the paths, and each would get the same
            # stream, so the model is simulated once.
            if shared is None:
                shared = _checked(model, model._simulate(None, horizon, n_draws, streams.rng("response")), horizon, n_draws)
            paths = shared.copy()
        else:
            fut = sc.apply(base, panel.regions, dates, panel.series, hold.counts)
            paths = (model._simulate(fut, horizon, n_draws, streams.rng("response")) if draws is None
                     else model._paths(fut, horizon, n_draws, draws))  # the model's draws, made once
            paths = _checked(model, paths, horizon, n_draws)
        yield sc.id, wrap(paths, panel, dates, sc.id, model.name)


def sample_one(model: ForecastModel, horizon: int, scenario: Scenario | None = None, *,
               n_draws: int = 1000, seed: int = 0) -> xr.DataArray:
    """Sample paths under one scenario (default: the baseline); see :func:`sample`."""
    if scenario is None:
        from ..scenarios import Scenario

        scenario = Scenario.baseline()
    return sample(model, horizon, [scenario], n_draws=n_draws, seed=seed)[scenario.id]


def _checked(model: ForecastModel, paths: np.ndarray, horizon: int, n_draws: int) -> np.ndarray:
    paths = np.asarray(paths, dtype=float)
    if paths.shape != (n_draws, len(model.panel_.regions), horizon):
        raise RuntimeError(f"model {model.name} returned paths of shape {paths.shape}, expected "
                           f"{(n_draws, len(model.panel_.regions), horizon)}")
    return check_paths(paths, model.name)


def check_paths(paths: np.ndarray, model: str) -> np.ndarray:
    """``paths`` unchanged, or RuntimeError when any count is NaN or negative (one pass)."""
    if not (paths >= 0).all():  # False for NaN and for negative values
        raise RuntimeError(f"model {model} produced NaN or negative paths")
    return paths


def wrap(paths: np.ndarray, panel: Panel, dates: pd.DatetimeIndex, scenario: str, model: str) -> xr.DataArray:
    """Label ``(draw, region, horizon)`` paths with regions, horizons, dates and provenance."""
    return xr.DataArray(
        paths,
        dims=("draw", "region", "horizon"),
        coords={
            "region": panel.regions.codes,
            "horizon": np.arange(1, paths.shape[2] + 1),
            "target_date": ("horizon", dates),
        },
        attrs={"scenario": scenario, "model": model,
               "origin_date": str(panel.origin.date()), "freq": panel.freq},
    )


__all__ = ["STREAMS", "HoldNoise", "Streams", "driver_forecaster", "fit", "origin_seed", "origin_streams",
           "iter_sample", "sample", "sample_one", "wrap"]
