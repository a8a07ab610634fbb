"""One small model interface: ``fit(observations, regions)`` then ``sample_paths(...)``.

Every model turns a panel of past counts into **sample paths** of future new displacement,
an array ``draw x region x horizon``. Every summary (quantiles, intervals, cumulative totals,
exceedance probabilities, the regional total ``ALL``) is computed from these paths, so sums over
regions and periods stay coherent draw by draw.

Models that respond to conflict drivers (strikes, flights) get future driver paths from a
:class:`~.drivers.DriverForecaster`; scenarios modify those paths. Several scenarios are run with
the *same* random streams (common random numbers) so their differences are not noise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from ..data.regions import RegionTable
from ..data.schema import DataError, Problem, future_dates, observation_frequency, to_panel
from ..distributions import draw_nb  # noqa: F401  (re-exported for model modules)

TARGET = "displaced"


@dataclass
class Panel:
    """Observations arranged for models: one ``region x period`` array per series (NaN = missing)."""

    dates: pd.DatetimeIndex
    regions: RegionTable
    freq: str
    series: dict[str, np.ndarray]

    @classmethod
    def from_observations(
        cls,
        obs: pd.DataFrame,
        regions: RegionTable,
        *,
        freq: str | None = None,
        series: tuple[str, ...] | None = None,
    ) -> Panel:
        """Arrange a clean observation frame on a complete period grid (gaps become NaN)."""
        freq = freq or observation_frequency(obs)
        unknown = sorted(set(obs["region"]) - set(regions.codes))
        if unknown:
            raise DataError(Problem("<observations>", None, "region",
                                    f"regions not in the region table: {', '.join(unknown[:10])}"))
        names = series or tuple(sorted(obs["series"].unique()))
        arrays, dates = {}, None
        for s in names:
            wide = to_panel(obs, s, regions.codes, freq)
            dates = wide.index if dates is None else dates
            arrays[s] = wide.reindex(dates).to_numpy(dtype=float).T
        return cls(dates=pd.DatetimeIndex(dates), regions=regions, freq=freq, series=arrays)

    @property
    def origin(self) -> pd.Timestamp:
        """Last observed period: forecasts start the period after it."""
        return self.dates[-1]

    def target(self) -> np.ndarray:
        if TARGET not in self.series:
            raise DataError(Problem("<observations>", None, "series", f"no '{TARGET}' series to forecast"))
        return self.series[TARGET]

    def at_risk(self) -> np.ndarray:
        """People not yet displaced at the start of each period (population minus past displacement).

        Missing displacement counts are taken as 0 for this bookkeeping only (they stay NaN in the
        likelihood). Floored at 1% of the population so a log offset stays finite.
        """
        d = np.nan_to_num(self.target(), nan=0.0)
        pop = self.regions.population[:, None]
        past = np.cumsum(d, axis=1) - d
        return np.maximum(pop - past, 0.01 * pop)

    def at_risk_end(self) -> np.ndarray:
        """People not yet displaced after the last observed period."""
        d = np.nan_to_num(self.target(), nan=0.0).sum(axis=1)
        pop = self.regions.population
        return np.maximum(pop - d, 0.01 * pop)

    def truncate(self, end: pd.Timestamp) -> Panel:
        """The panel up to and including ``end`` (no look-ahead)."""
        keep = self.dates <= pd.Timestamp(end)
        return Panel(self.dates[keep], self.regions, self.freq, {k: v[:, keep] for k, v in self.series.items()})

    def future_dates(self, horizon: int) -> pd.DatetimeIndex:
        return future_dates(self.origin, horizon, self.freq)


@dataclass
class FitInfo:
    """What a fit records about itself: shown by ``summary()``, written to the sidecar."""

    model: str
    config: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    reliable: bool = True
    warnings: list[str] = field(default_factory=list)


class ForecastModel(ABC):
    """Base class: fit one panel, draw sample paths of future new displacement for any scenario.

    Subclasses implement :meth:`_fit` and :meth:`_simulate`; fitted state lives in attributes
    ending with ``_`` (``panel_``, ``info_``), as in statsmodels/sktime.
    """

    name: ClassVar[str] = "base"
    #: Whether future driver paths (strikes, flights) change the forecast; if not, scenarios
    #: cannot change it and the sidecar says so.
    uses_drivers: ClassVar[bool] = False
    drivers: tuple[str, ...] = ()

    panel_: Panel
    info_: FitInfo
    driver_model_: Any = None

    # -- fitting --------------------------------------------------------------------------
    def fit(self, observations: pd.DataFrame | Panel, regions: RegionTable | None = None, *,
            freq: str | None = None) -> ForecastModel:
        """Fit to observations (a clean observation frame plus its region table, or a Panel)."""
        panel = observations if isinstance(observations, Panel) else Panel.from_observations(
            observations, regions, freq=freq)
        panel.target()
        self.panel_ = panel
        self.info_ = FitInfo(model=self.name, config=self.get_config())
        self._fit(panel)
        if self.uses_drivers and self.drivers:
            from .drivers import DriverForecaster

            missing = [s for s in self.drivers if s not in panel.series]
            if missing:
                raise DataError(Problem("<observations>", None, "series",
                                        f"model {self.name!r} needs driver series {missing}; use a model without drivers"))
            self.driver_model_ = DriverForecaster(series=self.drivers).fit(panel)
        return self

    @abstractmethod
    def _fit(self, panel: Panel) -> None: ...

    @abstractmethod
    def _simulate(self, future: dict[str, np.ndarray] | None, horizon: int, n_draws: int,
                  rng: np.random.Generator) -> np.ndarray:
        """Draw ``(n_draws, n_regions, horizon)`` future new displacement given driver paths."""

    def get_config(self) -> dict[str, Any]:
        return {}

    # -- forecasting ----------------------------------------------------------------------
    def sample_paths(self, horizon: int, scenario: Any = None, n_draws: int = 1000,
                     seed: int = 0) -> xr.DataArray:
        """Sample paths ``draw x region x horizon`` of new displacement under one scenario.

        Intervals from these paths include parameter uncertainty (where the model has it),
        process noise and, for driver models, uncertainty about future strikes and flights.
        """
        from ..scenarios import Scenario

        scenario = scenario or Scenario.baseline()
        return self.sample_scenarios(horizon, [scenario], n_draws=n_draws, seed=seed)[scenario.id]

    def sample_scenarios(self, horizon: int, scenarios: list, n_draws: int = 1000,
                         seed: int = 0) -> dict[str, xr.DataArray]:
        """Sample paths for several scenarios with common random numbers.

        The baseline driver paths are drawn once; each scenario modifies them; the displacement
        response for every scenario uses the same random stream.
        """
        self._check_fitted()
        if horizon < 1 or n_draws < 1:
            raise ValueError("horizon and n_draws must be >= 1")
        # Randomness that does not depend on the scenario (parameter draws, noise) may be kept here
        # by _simulate for the next scenario; it must come only from the rng _simulate is given.
        self._call_cache: dict[str, Any] = {}
        # A third stream for the counts of `hold` scenarios (spawn(3)[:2] equals spawn(2)).
        driver_seed, response_seed, hold_seed = np.random.SeedSequence(seed).spawn(3)
        dates = self.panel_.future_dates(horizon)
        base = None
        if self.driver_model_ is not None:
            base = self.driver_model_.sample(horizon, n_draws, np.random.default_rng(driver_seed))
        self._call_cache["baseline_future"] = base  # hook: `auto` scales driver-free paths by scenario/baseline
        hold_noise: dict[str, Any] = {}  # drawn when a scenario first needs it, shared by all

        def counts(series: str, means: np.ndarray) -> np.ndarray:
            if not hold_noise:
                shape = (n_draws, len(self.panel_.regions), horizon)
                hold_noise.update(self.driver_model_.count_noise(np.random.default_rng(hold_seed), shape))
            return hold_noise[series].draw(slice(None), means)

        out = {}
        for sc in scenarios:
            fut = None if base is None else sc.apply(base, self.panel_.regions, dates, self.panel_.series, counts)
            paths = self._simulate(fut, horizon, n_draws, np.random.default_rng(response_seed))
            out[sc.id] = self._wrap(paths, dates, sc.id)
        return out

    def _wrap(self, paths: np.ndarray, dates: pd.DatetimeIndex, scenario: str) -> xr.DataArray:
        paths = np.asarray(paths, dtype=float)
        if not (paths >= 0).all():  # one pass: False for NaN and for negative values
            raise RuntimeError(f"model {self.name} produced NaN or negative paths")
        return xr.DataArray(
            paths,
            dims=("draw", "region", "horizon"),
            coords={
                "region": self.panel_.regions.codes,
                "horizon": np.arange(1, paths.shape[2] + 1),
                "target_date": ("horizon", dates),
            },
            attrs={"scenario": scenario, "model": self.name,
                   "origin_date": str(self.panel_.origin.date()), "freq": self.panel_.freq},
        )

    # -- reporting ------------------------------------------------------------------------
    def summary(self) -> str:
        self._check_fitted()
        p = self.panel_
        lines = [f"{self.name}: fitted on {len(p.regions)} regions x {len(p.dates)} periods "
                 f"({p.dates[0].date()} .. {p.origin.date()}, freq {p.freq})"]
        for k, v in self.info_.diagnostics.items():
            lines.append(f"  {k}: {v}")
        if not self.info_.reliable:
            lines.append("  UNRELIABLE: " + "; ".join(self.info_.warnings))
        return "\n".join(lines)

    def _check_fitted(self) -> None:
        if not hasattr(self, "panel_"):
            raise RuntimeError(f"model {self.name!r} is not fitted; call fit() first")


def ffill_time(x: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Carry the last seen value forward along time (axis -1); leading gaps become ``fill``."""
    out = pd.DataFrame(np.asarray(x, dtype=float).T).ffill().to_numpy().T
    return np.where(np.isnan(out), fill, out)
