"""Output formats as a registry: each format is one module that writes its files and reports them.

A writer module defines ``write(run, out_dir, **options) -> list[Output]``: the files it wrote,
each with the data-package resource that describes it (or None for files a data package does
not list, such as a hub outside the folder). :func:`write_outputs` runs the forecast
CSV + sidecar writer, then the formats asked for, and writes ``datapackage.json`` **last**, from
what the writers reported, so the package lists exactly the files written, with their hashes.

Add a format: a new module ``forecast/writers/<name>.py`` (or anywhere the import rules allow,
e.g. ``plot/writer.py`` for charts), one line in :data:`REGISTRY` and one in :data:`FILES` (the
names it may write). Writers are imported by name when used, so the forecast core never imports
the plotting code.

:data:`FILES` (with :data:`OTHER_FILES`, what the commands write outside a writer) is the one list
of names a run may write into its folder: :mod:`~displacement_forecast.forecast.staging` drops
an earlier run's files by it, so a file left by an earlier run never survives a new run into
the same folder. :func:`write_outputs` refuses a writer that writes a name it did not declare,
and the staging folder refuses to swap in any such file, so a new writer cannot be forgotten.
"""

from __future__ import annotations

import fnmatch
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


#: Format name -> the file names (``fnmatch`` patterns) its writer may write into the forecast
#: folder. A writer whose files all go elsewhere (the hub) declares none.
FILES: dict[str, tuple[str, ...]] = {
    "csv": ("forecast.csv", "forecast.json"),
    "draws": ("draws.parquet", "draws.csv"),
    "hxl": ("forecast_hxl.csv",),
    "hub": (),
    "plots": ("fan_*.png", "cumulative_*.png", "exceedance.png"),
}

#: What else a command writes into its output folder, by who writes it.
OTHER_FILES: dict[str, tuple[str, ...]] = {
    "datapackage": ("datapackage.json",),
    "streamed forecast (--chunk-regions)": ("forecast.csv", "forecast.parquet", "forecast.json"),
    # models/io.py: model.json + params.npz (or posterior.nc); nested fitted models (the members
    # of ``auto``) go into folders named after their attribute, which ends in ``_``
    "fit": ("model.json", "params.npz", "posterior.nc", "diagnostics.json", "*_"),
    "backtest": ("scores.csv", "summary.csv", "failures.csv", "backtest.json", "score_by_horizon.png",
                 "coverage.png", "pit.png"),
    "temporary files of an atomic write": (".*.tmp",),
}


def run_file_patterns() -> tuple[str, ...]:
    """Every name (``fnmatch`` pattern) a run may write into its output folder."""
    return tuple(dict.fromkeys(p for pats in (*FILES.values(), *OTHER_FILES.values()) for p in pats))


def is_run_file(name: str) -> bool:
    """Whether a run may write a file or folder called ``name`` into its output folder."""
    return any(fnmatch.fnmatchcase(name, p) for p in run_file_patterns())


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
        written = fn(run, out, **dict(options.get(name, {})))
        _check_declared(name, written, out)
        outputs += written
    package = write_datapackage(out, run.sidecar, resources=[o.resource for o in outputs if o.resource is not None])
    return [o.path for o in outputs] + [package]


def _check_declared(name: str, written: Sequence[Output], out: Path) -> None:
    """Refuse (a bug of the writer) a file in ``out`` that :data:`FILES` does not list for ``name``."""
    pats = FILES.get(name, ())
    for o in written:
        p = Path(o.path)
        if p.parent.resolve() == out.resolve() and not any(fnmatch.fnmatchcase(p.name, pat) for pat in pats):
            raise RuntimeError(f"writer {name!r} wrote {p.name}, which FILES[{name!r}] in "
                               "forecast/writers/__init__.py does not list; add it there")


__all__ = ["FILES", "OTHER_FILES", "REGISTRY", "Output", "get_writer", "is_run_file", "run_file_patterns",
           "write_outputs"]
