"""The panel models fit: observations on a complete ``region x period`` grid, one array per series.

Kept apart from :mod:`.base` (the model interface) so that helpers every model uses (the driver
forecaster in :mod:`.drivers`, the engine) can depend on the panel without depending on the
model base class: no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..conventions import AT_RISK_FLOOR
from ..data.regions import RegionTable
from ..data.schema import DataError, Problem, future_dates, observation_frequency, to_panel

#: The series every model forecasts.
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

    def counts_movements(self) -> np.ndarray:
        """Regions whose displacement counts are movements, not people, ``(region,)`` bool.

        A region's counts are movements when its region table says so (``counts = movements``,
        :data:`~displacement_forecast.data.regions.COUNTS`), or when they sum above its
        population: then they cannot be first displacements of distinct people. UNHCR's PRMN
        counts movements (repeated displacement, displacement after a return): Hiraan had 813,171
        departures in 2022-23 from 520,685 people, but only from 2023-05 on do its counts prove
        it, and a forecast from before then that depletes Hiraan cut its own upper tail below the
        260,212 departures of 2023-05. Depletion does not apply to movements: :meth:`at_risk`
        keeps the whole population at risk in every period, and so does every model's forecast
        (:meth:`depletes`).
        """
        return self.regions.declared_movements | (np.nansum(self.target(), axis=1) > self.regions.population)

    def depletes(self) -> np.ndarray:
        """Regions whose people at risk shrink by their displacement, ``(region,)`` bool: the regions
        whose counts are people, not movements (:meth:`counts_movements`)."""
        return ~self.counts_movements()

    def at_risk(self) -> np.ndarray:
        """People not yet displaced at the start of each period (population minus past displacement),
        ``(region, period)``.

        Missing displacement counts are taken as 0 for this bookkeeping only (they stay NaN in the
        likelihood). Floored at :data:`~displacement_forecast.conventions.AT_RISK_FLOOR` (1%) of
        the population so a log offset stays finite. Regions whose counts are movements
        (:meth:`counts_movements`) keep their whole population at risk in every period.
        """
        d = np.nan_to_num(self.target(), nan=0.0)
        pop = self.regions.population[:, None]
        past = np.where(self.depletes()[:, None], np.cumsum(d, axis=1) - d, 0.0)
        return np.maximum(pop - past, AT_RISK_FLOOR * pop)

    def at_risk_end(self) -> np.ndarray:
        """People not yet displaced after the last observed period, ``(region,)`` (as :meth:`at_risk`)."""
        d = np.where(self.depletes(), np.nan_to_num(self.target(), nan=0.0).sum(axis=1), 0.0)
        pop = self.regions.population
        return np.maximum(pop - d, AT_RISK_FLOOR * pop)

    def truncate(self, end: pd.Timestamp) -> Panel:
        """The panel up to and including ``end`` (no look-ahead)."""
        keep = self.dates <= pd.Timestamp(end)
        return Panel(self.dates[keep], self.regions, self.freq, {k: v[:, keep] for k, v in self.series.items()})

    def future_dates(self, horizon: int) -> pd.DatetimeIndex:
        return future_dates(self.origin, horizon, self.freq)



def cap_at_risk(paths: np.ndarray, at_risk_end: np.ndarray, depletes: np.ndarray | None = None) -> np.ndarray:
    """Paths ``(draw, region, horizon)`` whose cumulative count stays within the people at risk.

    Period by period each path's count is cut to the people its region still has at risk
    (``at_risk_end``, ``(region,)``, from :meth:`Panel.at_risk_end`), who then shrink by it: no
    region is emptied twice. Regions where ``depletes`` (``(region,)`` bool, from
    :meth:`Panel.depletes`; all when None) is False count movements: each period is cut to
    ``at_risk_end`` and nothing shrinks. Returns a new array; counts already within it are
    unchanged.
    """
    out = np.array(paths, dtype=float, copy=True)
    left = np.broadcast_to(np.asarray(at_risk_end, dtype=float), out.shape[:2]).copy()
    shrink = 1.0 if depletes is None else np.asarray(depletes, dtype=float)[None, :]
    for h in range(out.shape[2]):
        out[:, :, h] = np.minimum(out[:, :, h], left)
        left -= out[:, :, h] * shrink
    return out


def ffill_time(x: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Carry the last seen value forward along time (axis -1); leading gaps become ``fill``."""
    out = pd.DataFrame(np.asarray(x, dtype=float).T).ffill().to_numpy().T
    return np.where(np.isnan(out), fill, out)
