"""Writer ``hxl``: ``forecast_hxl.csv``, the people-valued rows with an HXL hashtag row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..datapackage import hxl_resource
from ..formats import write_hxl_csv
from ..marks import mark_text
from . import Output


def write(run: Any, out_dir: Path, *, name: str = "forecast") -> list[Output]:
    """Write ``<name>_hxl.csv`` (see :func:`~displacement_forecast.forecast.formats.write_hxl_csv`)."""
    # a consumer reading this file alone still sees an unreliable fit or a region forecast from no data
    path = write_hxl_csv(run.frame, Path(out_dir) / f"{name}_hxl.csv", note=mark_text(run.sidecar))
    return [Output(path, hxl_resource(run.sidecar, name))]
