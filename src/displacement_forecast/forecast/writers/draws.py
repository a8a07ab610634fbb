"""Writer ``draws``: the raw sample paths, one row per draw (``draws.parquet``, or ``draws.csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..datapackage import draws_resource
from ..formats import write_draws
from . import Output


def write(run: Any, out_dir: Path, *, file_format: str | None = None) -> list[Output]:
    """Write the draws file (see :func:`~displacement_forecast.forecast.formats.write_draws`)."""
    path = write_draws(run.paths, out_dir, run.sidecar["forecast"]["origin_date"], file_format=file_format)
    return [Output(path, draws_resource(run.sidecar, path.name))]
