"""Writer ``plots``: per scenario a fan chart of new displacement per period (``fan_<scenario>.png``)
and one of cumulative new displacement with the exceedance thresholds (``cumulative_<scenario>.png``);
``exceedance.png`` for all scenarios.

Registered in :data:`displacement_forecast.forecast.writers.REGISTRY`; lives with the plots so
the forecast core never imports matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..forecast.datapackage import chart_resource
from ..forecast.run import caption
from ..forecast.writers import Output
from .fan import exceedance_curve, fan_chart, save_figure


def write(run: Any, out_dir: Path) -> list[Output]:
    """Charts with the run's caption (source, vintage, model, what the bands include)."""
    out = Path(out_dir)
    regions = run.model.panel_.regions
    names = dict(zip(regions.codes, regions.frame["name"], strict=True))
    hist = run.history()
    cap = caption(run.sidecar)
    fixed = {s["id"]: s.get("conflict_uncertainty") for s in run.sidecar["scenarios"]}
    marks = run.sidecar["forecast"]["cdf_thresholds"]
    written = []
    for sid, p in run.paths.items():
        c = cap + (" This scenario fixes the drivers: its bands leave out conflict uncertainty." if fixed.get(sid) else "")
        for kind, cum in (("fan", False), ("cumulative", True)):
            fig = fan_chart(p, hist, region_names=names, title=f"Scenario '{sid}'", caption=c,
                            cumulative=cum, marks=marks if cum else ())
            path = out / f"{kind}_{_safe(sid)}.png"
            save_figure(fig, path)
            written.append(Output(path, chart_resource(path.name)))
    fig = exceedance_curve(run.paths, marks=marks, title="Probability that new displacement exceeds x", caption=cap)
    path = out / "exceedance.png"
    save_figure(fig, path)
    written.append(Output(path, chart_resource(path.name)))
    return written


def _safe(s: str) -> str:
    # Scenario ids follow scenarios.ID_PATTERN (letters, digits, '.', '-', '_'), so ids map to distinct files.
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in s)
