"""Output formats as a registry: each format is one module that writes its files and reports them.

A writer module defines ``write(run, out_dir, **options) -> list[Output]``: the files it wrote,
each with the data-package resource that describes it (or None for files a data package does
not list, such as a hub outside the folder). :func:`write_outputs` runs the forecast
CSV + sidecar writer, then the formats asked for, and writes ``datapackage.json`` **last**, from
what the writers reported, so the package lists exactly the files written, with their hashes.

Add a format: a new module ``forecast/writers/<name>.py`` (or anywhere the import rules allow,
e.g. ``plot/writer.py`` for charts) and one line in :data:`REGISTRY`. Writers are imported by name
when used, so the forecast core never imports the plotting code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datapackage import write_datapackage


@dataclass(frozen=True)
class Output:
    """One file a writer wrote, and its data-package resource (``None``: not listed)."""

    path: Path
    resource: Mapping[str, Any] | None = None


#: Format name -> "module:function" (module imported when the format is used). ``csv`` (the
#: forecast CSV and its JSON sidecar) is always written, first.
REGISTRY: dict[str, str] = {
    "csv": "displacement_forecast.forecast.writers.forecast_csv:write",
    "draws": "displacement_forecast.forecast.writers.draws:write",
    "hxl": "displacement_forecast.forecast.writers.hxl:write",
    "hub": "displacement_forecast.forecast.writers.hubverse:write",
    "plots": "displacement_forecast.plot.writer:write",
}


def get_writer(name: str):
    """The ``write`` function of a registered format; unknown names list the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown output format {name!r}; expected one of {', '.join(REGISTRY)}")
    mod, fn = REGISTRY[name].split(":")
    return getattr(importlib.import_module(mod), fn)


def write_outputs(run: Any, out_dir: str | Path, formats: Sequence[str] = (),
                  options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """Write the forecast CSV + sidecar, each format in ``formats``, then ``datapackage.json``.

    Parameters
    ----------
    run
        A :class:`~displacement_forecast.forecast.run.ForecastRun`.
    out_dir
        Forecast folder (created if needed). Every file is written atomically.
    formats
        Registered format names (see :data:`REGISTRY`), in the order to write them.
    options
        Per format, keyword arguments for its writer (e.g. ``{"hub": {"hub_dir": ..., "team": ...}}``).

    Returns
    -------
    list of Path
        Every file written, ``datapackage.json`` last.
    """
    out = Path(out_dir)
    options = options or {}
    names = ["csv", *[f for f in formats if f != "csv"]]
    fns = [get_writer(name) for name in names]  # an unknown name fails before anything is written
    outputs: list[Output] = []
    for name, fn in zip(names, fns, strict=True):
        outputs += fn(run, out, **dict(options.get(name, {})))
    package = write_datapackage(out, run.sidecar, resources=[o.resource for o in outputs if o.resource is not None])
    return [o.path for o in outputs] + [package]


__all__ = ["REGISTRY", "Output", "get_writer", "write_outputs"]
