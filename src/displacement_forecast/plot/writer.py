"""Writer ``plots``: per scenario a fan chart of new displacement per period (``fan_<scenario>.png``)
and one of cumulative new displacement with the exceedance thresholds (``cumulative_<scenario>.png``);
``exceedance.png`` for all scenarios. :func:`write_totals` draws the same files from the
all-region totals alone (runs in region chunks keep no regional paths).

Registered in :data:`displacement_forecast.forecast.writers.REGISTRY`; lives with the plots so
the forecast core never imports matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..forecast.datapackage import chart_resource
from ..forecast.run import caption
from ..forecast.writers import Output
from .fan import exceedance_curve, fan_chart, save_figure


def write(run: Any, out_dir: Path) -> list[Output]:
    """Charts with the run's caption (source, vintage, model, what the bands include)."""
    regions = run.model.panel_.regions
    names = dict(zip(regions.codes, regions.frame["name"], strict=True))
    return _charts(run.paths, run.history(), run.sidecar, Path(out_dir), region_names=names)


def write_totals(totals: Mapping[str, np.ndarray], history: pd.Series, target_dates: pd.DatetimeIndex, freq: str,
                 sidecar: dict[str, Any], out_dir: Path) -> list[Output]:
    """The charts of :func:`write` for the all-region total only.

    Parameters
    ----------
    totals
        Scenario id -> ``(draw, horizon)`` paths of new displacement summed over all regions
        (people per period), as accumulated by a run in region chunks.
    history
        Observed new displacement summed over regions, one value per period (NaN where no region
        reported).
    target_dates, freq
        The forecast periods' start dates and the data's frequency (``"W"``, ``"M"``, ``"D"``).
    sidecar, out_dir
        The run's sidecar (for the caption and thresholds) and the folder to write into.

    Returns
    -------
    list of Output
        The files written (``fan_<scenario>.png``, ``cumulative_<scenario>.png``, ``exceedance.png``).
    """
    paths = {sid: xr.DataArray(np.asarray(t, float)[:, None, :], dims=("draw", "region", "horizon"),
                               coords={"region": ["all regions"], "horizon": np.arange(1, t.shape[1] + 1),
                                       "target_date": ("horizon", target_dates[: t.shape[1]])},
                               attrs={"freq": freq})
             for sid, t in totals.items()}
    return _charts(paths, history.rename("all regions").to_frame(), sidecar, Path(out_dir), regions=[],
                   note=" Run in region chunks: the all-region total only.")


def _charts(paths: Mapping[str, xr.DataArray], history: pd.DataFrame, sidecar: dict[str, Any], out: Path, *,
            region_names: dict[str, str] | None = None, regions: list[str] | None = None,
            note: str = "") -> list[Output]:
    """Fan and cumulative charts per scenario, then the exceedance curves (see the module)."""
    cap = caption(sidecar) + note
    fixed = {s["id"]: s.get("conflict_uncertainty") for s in sidecar["scenarios"]}
    marks = sidecar["forecast"]["cdf_thresholds"]
    written = []
    for sid, p in paths.items():
        c = cap + (" This scenario fixes the drivers: its bands leave out conflict uncertainty." if fixed.get(sid) else "")
        for kind, cum in (("fan", False), ("cumulative", True)):
            fig = fan_chart(p, history, regions=regions, region_names=region_names, title=f"Scenario '{sid}'",
                            caption=c, cumulative=cum, marks=marks if cum else ())
            path = out / f"{kind}_{_safe(sid)}.png"
            save_figure(fig, path)
            written.append(Output(path, chart_resource(path.name)))
    fig = exceedance_curve(paths, marks=marks, title="Probability that new displacement exceeds x",
                           caption=caption(sidecar, bands=False) + note)
    path = out / "exceedance.png"
    save_figure(fig, path)
    written.append(Output(path, chart_resource(path.name)))
    return written


def _safe(s: str) -> str:
    # Scenario ids follow scenarios.ID_PATTERN (letters, digits, '.', '-', '_'), so ids map to distinct files.
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in s)
