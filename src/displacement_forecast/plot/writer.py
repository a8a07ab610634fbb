"""Writer ``plots``: one fan chart per scenario (``fan_<scenario>.png``) and ``exceedance.png``.

Registered in :data:`displacement_forecast.forecast.writers.REGISTRY`; lives with the plots so
the forecast core never imports matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    written = []
    for sid, p in run.paths.items():
        fig = fan_chart(p, hist, region_names=names, title=f"Scenario '{sid}'", caption=cap)
        path = out / f"fan_{_safe(sid)}.png"
        save_figure(fig, path)
        written.append(Output(path))
    fig = exceedance_curve(run.paths, title="Probability that new displacement exceeds x", caption=cap)
    path = out / "exceedance.png"
    save_figure(fig, path)
    written.append(Output(path))
    return written


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s)
