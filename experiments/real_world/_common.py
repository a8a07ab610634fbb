"""Shared pieces of the real-world test bed: where the real files are, quiet loading, model specs.

The real files live beside the project in ``../shared/data/real`` and are read there, unmodified;
nothing here copies them. Scoring and the rolling-origin loop are the library's
(:mod:`displacement_forecast.evaluate`); this module only names the models each dataset runs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "data" / "configs"
#: The real-data folder; ``DF_REAL_DIR`` overrides it (e.g. in CI with the data elsewhere).
REAL = Path(os.environ.get("DF_REAL_DIR", ROOT.parent / "shared" / "data" / "real"))

#: Interval levels reported on the results page (percent).
LEVELS = (80, 95)


def require_real(real: Path | None = None) -> Path:
    """Return the real-data folder or exit with a clear reason when it is absent."""
    real = Path(real) if real is not None else REAL
    if not real.exists():
        raise SystemExit(f"real data folder {real} is absent: it sits beside the project in ../shared "
                         f"(or set DF_REAL_DIR)")
    return real


def quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a loader with its :class:`DataWarning` s silenced (the tests check them instead)."""
    from displacement_forecast.data.loaders import DataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*args, **kwargs)


def as_target(obs: pd.DataFrame, series: str) -> pd.DataFrame:
    """Rename one series of a tidy observation frame to ``displaced``, the series models forecast."""
    out = obs.copy()
    out.loc[out["series"] == series, "series"] = "displaced"
    return out


@dataclass(frozen=True)
class Spec:
    """One model of a backtest: the label shown in tables, the registry name and its arguments.

    Attributes
    ----------
    label
        Name in the results tables (e.g. ``nb-dl (events, fatalities)``).
    name
        Registry name for :func:`displacement_forecast.models.get_model`.
    kwargs
        Constructor arguments.
    kind
        ``baseline``, ``project`` (the toolkit's own models) or ``peer`` (statsforecast).
    """

    label: str
    name: str
    kwargs: dict[str, Any]
    kind: str

    def build(self):
        """A fresh, unfitted model."""
        from displacement_forecast.models import get_model

        return get_model(self.name, **self.kwargs)


def baselines() -> list[Spec]:
    """The naive references every model must beat."""
    return [Spec("last-value", "last-value", {}, "baseline"),
            Spec("climatology", "climatology", {}, "baseline")]


def peers(season_length: int = 1) -> list[Spec]:
    """Nixtla statsforecast AutoETS and AutoARIMA, wrapped as toolkit models by :mod:`models.peers`."""
    kw = {"season_length": season_length} if season_length > 1 else {}
    return [Spec("statsforecast AutoETS", "statsforecast-autoets", kw, "peer"),
            Spec("statsforecast AutoARIMA", "statsforecast-autoarima", kw, "peer")]
