"""Writer ``hub``: add the forecast to a hubverse hub folder (outside the forecast folder, so the
data package does not list it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hub import export_to_hub
from . import Output


def write(run: Any, out_dir: Path, *, hub_dir: str | Path, team: str = "dfcast") -> list[Output]:
    """Write ``model-output/<team>-<model>/<origin>-<team>-<model>.csv`` into ``hub_dir`` (see
    :func:`~displacement_forecast.forecast.hub.export_to_hub`)."""
    return [Output(export_to_hub(run.frame, run.sidecar, hub_dir, team=team))]
