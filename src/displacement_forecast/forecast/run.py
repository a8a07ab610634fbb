"""One call from data to forecast files: fit, sample scenarios, summarise, write CSV + sidecar + plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from ..data.regions import RegionTable
from ..models import DEFAULT_MODEL, ForecastModel, get_model
from ..scenarios import Scenario
from .datapackage import write_datapackage
from .marks import mark_text
from .output import build_sidecar, write_forecast
from .summaries import DEFAULT_THRESHOLDS, QUANTILE_LEVELS, hub_frame, prob_exceed_total


@dataclass
class ForecastRun:
    """A fitted model, its sample paths per scenario, the long forecast table and its sidecar."""

    model: ForecastModel
    paths: dict[str, xr.DataArray]
    frame: pd.DataFrame
    sidecar: dict[str, Any]

    def prob_exceed(self, threshold: float, within: int | None = None) -> dict[str, float]:
        """P(total new displacement over all regions in the first ``within`` periods > threshold)."""
        return {s: prob_exceed_total(p, threshold, within) for s, p in self.paths.items()}

    def history(self, series: str = "displaced") -> pd.DataFrame:
        """Observed ``date x region`` frame the model was fitted on."""
        p = self.model.panel_
        return pd.DataFrame(p.series[series].T, index=p.dates, columns=p.regions.codes)


def run_forecast(
    observations: pd.DataFrame | None = None,
    regions: RegionTable | None = None,
    *,
    model: str | ForecastModel = DEFAULT_MODEL,
    scenarios: Sequence[Scenario] | None = None,
    horizon: int = 12,
    n_draws: int = 1000,
    seed: int = 0,
    quantile_levels: Sequence[float] = QUANTILE_LEVELS,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    data_files: Sequence[str] = (),
    backtest: dict[str, Any] | None = None,
) -> ForecastRun:
    """Fit ``model`` (unless already fitted) and forecast every scenario with common random numbers."""
    m = get_model(model) if isinstance(model, str) else model
    if not hasattr(m, "panel_"):
        if observations is None or regions is None:
            raise ValueError("observations and regions are needed to fit an unfitted model")
        m.fit(observations, regions)
    scenarios = list(scenarios or [Scenario.baseline()])
    paths = m.sample_scenarios(horizon, scenarios, n_draws=n_draws, seed=seed)
    frame = hub_frame(paths, quantile_levels=quantile_levels, thresholds=thresholds)
    sidecar = build_sidecar(m, scenarios, seed=seed, n_draws=n_draws, horizon=horizon,
                            quantile_levels=quantile_levels, thresholds=thresholds,
                            data_files=data_files, backtest=backtest)
    return ForecastRun(m, paths, frame, sidecar)


def write_run(run: ForecastRun, out_dir: str | Path, *, plots: bool = True, hxl: bool = False,
              draws: bool = False, hub: str | Path | None = None, team: str = "dfcast") -> list[Path]:
    """Write a forecast folder; each file is written atomically.

    Always ``forecast.csv``, ``forecast.json`` and ``datapackage.json`` (Frictionless); with
    ``plots`` one fan chart per scenario and ``exceedance.png``; with ``hxl`` a copy of the CSV
    with an HXL hashtag row (``forecast_hxl.csv``); with ``draws`` the raw sample paths (one row
    per draw, parquet when pyarrow is installed); with ``hub`` the forecast is also added to a
    hubverse hub folder (created if needed, earlier origins kept).
    """
    out = Path(out_dir)
    written = list(write_forecast(run.frame, run.sidecar, out))
    if draws:
        from .formats import write_draws

        written.append(write_draws(run.paths, out, run.sidecar["forecast"]["origin_date"]))
    written.append(write_datapackage(out, run.sidecar))
    if hxl:
        from .formats import write_hxl_csv

        written.append(write_hxl_csv(run.frame, out / "forecast_hxl.csv", note=mark_text(run.sidecar)))
    if hub is not None:
        from .hub import export_to_hub

        written.append(export_to_hub(run.frame, run.sidecar, hub, team=team))
    if plots:
        from ..plot.fan import exceedance_curve, fan_chart, save_figure

        names = dict(zip(run.model.panel_.regions.codes, run.model.panel_.regions.frame["name"], strict=True))
        hist = run.history()
        cap = caption(run.sidecar)
        for sid, p in run.paths.items():
            fig = fan_chart(p, hist, region_names=names, title=f"Scenario '{sid}'", caption=cap)
            path = out / f"fan_{_safe(sid)}.png"
            save_figure(fig, path)
            written.append(path)
        fig = exceedance_curve(run.paths, title="Probability that new displacement exceeds x", caption=cap)
        path = out / "exceedance.png"
        save_figure(fig, path)
        written.append(path)
    return written


def caption(sidecar: dict[str, Any]) -> str:
    """Source, vintage, model and what the bands include, for the foot of every figure."""
    d = sidecar["data"]
    files = ", ".join(Path(f).name for f in d["files"]) or "in-memory data"
    bt = sidecar.get("backtest") or {}
    fit_warnings = [w for w in sidecar["warnings"] if w not in bt.get("warnings", [])]
    flag = "" if sidecar["reliable"] else "  UNRELIABLE: " + "; ".join(fit_warnings)
    if sidecar.get("intervals_calibrated_in_backtest") is False and "nominal_vs_observed" in bt:
        cov = bt["nominal_vs_observed"]
        flag += (f"  CAUTION: in backtests the 80% band covered {cov.get('80%', float('nan')):.0%} and the 95% band "
                 f"{cov.get('95%', float('nan')):.0%} of outcomes.")
    return (f"Source: {files}; data to {d['last_period']} (vintage {d['vintage'].get('displaced')}). "
            f"Model {sidecar['model']['name']} v{sidecar['software']['version']}, "
            f"{sidecar['forecast']['n_draws']} paths, seed {sidecar['forecast']['seed']}. "
            f"Bands: 50/80/95% intervals including {'; '.join(u.split(' (')[0] for u in sidecar['uncertainty_included'])}.{flag}")


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s)
