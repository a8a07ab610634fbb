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
#: Panel recipes (``displacement-forecast panel RECIPE``): the one place each test bed's panel is assembled.
RECIPES = ROOT / "data" / "recipes"
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


def recipe_observations(name: str, real: Path | None = None, regions=None):
    """Observations and region table of ``data/recipes/<name>.toml``, read from the real-data folder.

    The same panel ``displacement-forecast panel data/recipes/<name>.toml`` writes; loader
    warnings are silenced (the tests check them). ``regions`` overrides the recipe's table.
    """
    from displacement_forecast.data.recipe import build_panel

    obs, table, _ = quiet(build_panel, RECIPES / f"{name}.toml", data_dir=require_real(real), regions=regions)
    return obs, table


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


# ---------------------------------------------------------------------------------------------
# Running a backtest and saving its scores
# ---------------------------------------------------------------------------------------------


def backtest(panel, specs: list[Spec], origins: list[pd.Timestamp], horizon: int, n_draws: int,
             seed: int = 0, workers: int = 2) -> tuple[pd.DataFrame, list[str]]:
    """Scores of every spec at every origin, by :func:`displacement_forecast.evaluate.backtest.run_backtest`.

    Driver models are also scored with the conflict that really happened (``<label>+oracle``),
    which separates the error of forecasting conflict from that of the displacement response.

    Returns
    -------
    (scores, failures)
        ``scores``: one row per model x origin x region x horizon (the regional total ``ALL``
        included), with a ``kind`` column (``baseline``, ``peer``, ``project``, ``oracle``).
    """
    from functools import partial

    from displacement_forecast.evaluate.backtest import ModelSpec, of_target, run_backtest
    from displacement_forecast.models import REGISTRY, get_model

    failures = [f"{s.label}: model {s.name!r} is not in this installation's registry (not run)"
                for s in specs if s.name not in REGISTRY]
    specs = [s for s in specs if s.name in REGISTRY]
    ms = [ModelSpec(s.label, dict(s.kwargs), partial(get_model, s.name)) for s in specs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_backtest(panel, models=ms, origins=origins, horizon=horizon, n_draws=n_draws, seed=seed,
                           oracle_drivers=True, workers=workers, progress=False)
    kind = {s.label: s.kind for s in specs}
    scores = of_target(res.scores).copy()  # each period's scores: what the reports read
    scores["kind"] = scores["model"].map(lambda m: "oracle" if m.endswith("+oracle") else kind.get(m, "?"))
    failures += [f"{r.model} @ {pd.Timestamp(r.origin).date()}: {str(r.error)[:160]}"
                 for r in res.failures.itertuples()]
    for label, g in res.tasks.groupby("model", sort=False):
        print(f"  {label}: {g['seconds'].sum():.1f} s over {len(g)} fits", flush=True)
    return scores, failures


def run_and_save(name: str, panel, specs: list[Spec], origins: list[pd.Timestamp], horizon: int,
                 n_draws: int, out: Path, *, meta: dict[str, Any] | None = None, seed: int = 0) -> pd.DataFrame:
    """Backtest, then write ``<name>_scores.csv`` and ``<name>_meta.json`` into ``out``."""
    import json
    import time

    t0 = time.perf_counter()
    print(f"{name}: {len(specs)} models x {len(origins)} origins x {len(panel.regions)} regions, "
          f"horizons 1-{horizon}", flush=True)
    scores, failures = backtest(panel, specs, origins, horizon, n_draws, seed)
    out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out / f"{name}_scores.csv", index=False)
    info = {"dataset": name, "n_regions": len(panel.regions), "n_periods": len(panel.dates),
            "first": str(panel.dates[0].date()), "last": str(panel.dates[-1].date()), "freq": panel.freq,
            "origins": [str(o.date()) for o in origins], "n_origins": len(origins), "horizon": horizon,
            "n_draws": n_draws, "seed": seed, "models": [s.__dict__ for s in specs], "failures": failures,
            "seconds": round(time.perf_counter() - t0, 1), **(meta or {})}
    (out / f"{name}_meta.json").write_text(json.dumps(info, indent=1, default=str))
    for f in failures:
        print(f"  FAILED {f}", flush=True)
    return scores
