"""Writer ``csv``: ``forecast.csv`` (long, hubverse-style) and its JSON sidecar ``forecast.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..datapackage import forecast_resource, sidecar_resource
from ..output import write_forecast
from . import Output


def write(run: Any, out_dir: Path, *, name: str = "forecast") -> list[Output]:
    """Write ``<name>.csv`` and ``<name>.json`` (its provenance), both listed in the data package."""
    csv_path, json_path = write_forecast(run.frame, run.sidecar, out_dir, name=name)
    return [Output(csv_path, forecast_resource(run.sidecar, name)), Output(json_path, sidecar_resource(name))]
