"""A Frictionless data package (``datapackage.json``) beside the forecast CSV.

It tells any Frictionless tool (``frictionless validate datapackage.json``, Open Data Editor,
CKAN/HDX data explorers) what each column is: its type, its allowed values (the scenarios and
regions of this run, the targets and output types we write), that people and probabilities are
never negative, what it means and in what unit. It also carries the run's provenance (model,
software version, data files and vintage, seed, what the uncertainty bands include) and the
licence, and a SHA-256 hash and byte count per file, so a changed file no longer validates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..conventions import TOTAL, period_unit
from ..data.io import file_sha256, write_text_atomic
from .marks import mark_text
from .output import MARK_COLUMN, SCHEMA
from .summaries import HUB_COLUMNS, TARGETS

#: Licence of the forecast files (the code is MIT; the data are meant to be re-shared with credit).
DEFAULT_LICENSE: dict[str, str] = {
    "name": "CC-BY-4.0",
    "title": "Creative Commons Attribution 4.0 International",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}
OUTPUT_TYPES = ("mean", "quantile", "cdf")
#: Resources described when present in the folder (file name -> resource name).
DRAWS_FILES = ("draws.csv", "draws.parquet")


def target_date_range(sidecar: Mapping[str, Any]) -> dict[str, str]:
    """``minimum``/``maximum`` of ``target_date``: the period after the origin and the last forecast
    period (``horizon`` periods after it), at the data's frequency."""
    import pandas as pd

    from ..data.schema import period_offset

    fc = sidecar.get("forecast", {})
    origin = pd.Timestamp(str(fc.get("origin_date")))
    step = period_offset((str(sidecar.get("data", {}).get("frequency") or "W"))[:1])  # W-MON, MS, D...
    horizon = int(fc.get("horizon", 1))
    return {"minimum": str((origin + step).date()), "maximum": str((origin + horizon * step).date())}


def forecast_schema(sidecar: Mapping[str, Any]) -> dict[str, Any]:
    """Frictionless Table Schema of ``forecast.csv`` for the run described by ``sidecar``.

    Enumerations (scenarios, regions) and ranges (horizon, dates) come from the sidecar, not
    from the file, so a file changed after the run fails validation even if the package is
    regenerated from it.
    """
    fc = sidecar.get("forecast", {})
    origin = str(fc.get("origin_date"))
    horizon = int(fc.get("horizon", 1))
    scenarios = [s["id"] for s in sidecar.get("scenarios", [])]
    regions = list(sidecar.get("data", {}).get("regions", [])) + [TOTAL]
    unit_period = period_unit(sidecar.get("data", {}).get("frequency", "W"))

    def field(name: str, type_: str, unit: str | None = None, **constraints: Any) -> dict[str, Any]:
        f: dict[str, Any] = {"name": name, "type": type_, "description": SCHEMA[name]}
        if type_ == "date":
            f["format"] = "%Y-%m-%d"
        if unit:
            f["unit"] = unit
        if constraints:
            f["constraints"] = constraints
        return f

    fields = [
        field("origin_date", "date", required=True, minimum=origin, maximum=origin),
        field("scenario", "string", required=True, **({"enum": scenarios} if scenarios else {})),
        field("region", "string", required=True, **({"enum": regions} if len(regions) > 1 else {})),
        field("target", "string", required=True, enum=list(TARGETS)),
        field("horizon", "integer", unit_period, required=True, minimum=1, maximum=horizon),
        field("target_date", "date", required=True, **target_date_range(sidecar)),
        field("output_type", "string", required=True, enum=list(OUTPUT_TYPES)),
        field("output_type_id", "number", "quantile level (0-1) or people (cdf threshold)", minimum=0),
        field("value", "number", "people (mean, quantile); probability 0-1 (cdf)", required=True, minimum=0),
    ]
    assert [f["name"] for f in fields] == list(HUB_COLUMNS)
    mark = mark_text(sidecar)
    if mark:  # the file carries the mark on every row (see output.write_forecast)
        fields.append(field(MARK_COLUMN, "string", required=True, enum=[mark]))
    return {
        "fields": fields,
        "missingValues": [""],
        "primaryKey": ["scenario", "region", "target", "horizon", "output_type", "output_type_id"],
    }


def draws_schema(sidecar: Mapping[str, Any]) -> dict[str, Any]:
    """Table Schema of ``draws.csv`` (one row per draw, see :func:`.formats.write_draws`)."""
    fc = sidecar.get("forecast", {})
    origin = str(fc.get("origin_date"))
    n = int(fc.get("n_draws", 1))
    scenarios = [s["id"] for s in sidecar.get("scenarios", [])]
    regions = list(sidecar.get("data", {}).get("regions", []))
    return {
        "fields": [
            {"name": "origin_date", "type": "date", "format": "%Y-%m-%d", "description": SCHEMA["origin_date"],
             "constraints": {"required": True, "minimum": origin, "maximum": origin}},
            {"name": "scenario", "type": "string", "description": SCHEMA["scenario"],
             "constraints": {"required": True, **({"enum": scenarios} if scenarios else {})}},
            {"name": "region", "type": "string", "description": "region code (no ALL: sum the regions per draw)",
             "constraints": {"required": True, **({"enum": regions} if regions else {})}},
            {"name": "horizon", "type": "integer", "description": SCHEMA["horizon"],
             "constraints": {"required": True, "minimum": 1, "maximum": int(fc.get("horizon", 1))}},
            {"name": "target_date", "type": "date", "format": "%Y-%m-%d", "description": SCHEMA["target_date"],
             "constraints": {"required": True, **target_date_range(sidecar)}},
            {"name": "draw", "type": "integer", "description": "sample path index; the same index is the same random stream in every scenario, region and horizon",
             "constraints": {"required": True, "minimum": 0, "maximum": n - 1}},
            {"name": "value", "type": "number", "unit": "people",
             "description": "people newly displaced in the period along this sample path",
             "constraints": {"required": True, "minimum": 0}},
        ],
        "missingValues": [],
        "primaryKey": ["scenario", "region", "horizon", "draw"],
    }


def forecast_resource(sidecar: Mapping[str, Any], name: str = "forecast", file_format: str = "csv") -> dict[str, Any]:
    """Data-package resource of ``<name>.csv`` (without its hash: added when the package is written),
    or of ``<name>.parquet`` (``file_format="parquet"``, a streamed run's: described and hashed, not
    parsed, as ``draws.parquet``)."""
    title = "Forecast of people newly displaced, by scenario, region and period"
    description = ("Long, hubverse-style table: one row per scenario, region, target, horizon and output type "
                   "(mean, quantile, cdf).")
    if file_format == "parquet":
        return {"name": "forecast", "path": f"{name}.parquet", "profile": "data-resource", "type": "file",
                "format": "parquet", "mediatype": "application/vnd.apache.parquet", "title": title + ", Parquet",
                "description": description, "schema_of_columns": forecast_schema(sidecar)}
    if file_format != "csv":
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    return _resource(f"{name}.csv", "forecast", forecast_schema(sidecar), title=title, description=description)


def hxl_resource(sidecar: Mapping[str, Any], name: str = "forecast") -> dict[str, Any]:
    """Data-package resource of ``<name>_hxl.csv`` (row 2 holds the HXL hashtags)."""
    r = _resource(f"{name}_hxl.csv", "forecast-hxl", _hxl_schema(sidecar), title="The forecast with an HXL hashtag row",
                  description="Rows in people only (mean, quantile); row 2 holds HXL hashtags.")
    r["dialect"] = {"commentRows": [2]}
    return r


def draws_resource(sidecar: Mapping[str, Any], filename: str) -> dict[str, Any]:
    """Data-package resource of the draws file (``draws.csv`` or ``draws.parquet``)."""
    if filename.endswith(".csv"):
        return _resource(filename, "draws", draws_schema(sidecar), title="Sample paths (one row per draw)")
    # parquet: described and hashed, not parsed (frictionless needs fastparquet for that); as a
    # `file` resource frictionless checks its hash and bytes without reading it
    return {"name": "draws", "path": filename, "profile": "data-resource", "type": "file", "format": "parquet",
            "mediatype": "application/vnd.apache.parquet",
            "title": "Sample paths (one row per draw), Parquet",
            "schema_of_columns": draws_schema(sidecar)}


def sidecar_resource(name: str = "forecast") -> dict[str, Any]:
    """Data-package resource of the JSON sidecar ``<name>.json`` (the run's provenance)."""
    return {"name": f"{name}-sidecar" if name != "forecast" else "sidecar", "path": f"{name}.json",
            "profile": "data-resource", "type": "json", "format": "json", "mediatype": "application/json", "encoding": "utf-8",
            "title": "Provenance of the forecast (sidecar)",
            "description": "Model, data files and vintage, seed, scenarios, thresholds, what the uncertainty "
                           "bands include, warnings and marks of this run (JSON)."}


def chart_resource(filename: str) -> dict[str, Any]:
    """Data-package resource of a chart (PNG) written beside the forecast."""
    return {"name": re.sub(r"[^a-z0-9._-]", "-", Path(filename).stem.lower()) + "-chart", "path": filename,
            "profile": "data-resource", "type": "file", "format": "png", "mediatype": "image/png", "title": f"Chart {filename}"}


def present_resources(out_dir: str | Path, sidecar: Mapping[str, Any], name: str = "forecast") -> list[dict[str, Any]]:
    """Resources of the known files found in a forecast folder (for a package rebuilt after the fact).

    ``write_run`` does not use this: its writers report what they wrote.
    """
    out = Path(out_dir)
    resources = [forecast_resource(sidecar, name)]
    if (out / f"{name}.json").exists():
        resources.append(sidecar_resource(name))
    if (out / f"{name}_hxl.csv").exists():
        resources.append(hxl_resource(sidecar, name))
    resources += [draws_resource(sidecar, f) for f in DRAWS_FILES if (out / f).exists()]
    resources += [chart_resource(p.name) for p in sorted(out.glob("*.png"))]
    return resources


def write_datapackage(
    out_dir: str | Path,
    sidecar: Mapping[str, Any],
    *,
    name: str = "forecast",
    license: Mapping[str, str] | None = None,
    resources: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``datapackage.json`` describing the forecast files, each with its SHA-256 and size.

    Parameters
    ----------
    out_dir
        Forecast folder holding ``<name>.csv`` (written by :func:`.output.write_forecast`).
    sidecar
        The run's sidecar (its scenarios, regions, horizon, origin and provenance).
    name
        Base name of the forecast files.
    license
        Licence of the data (default :data:`DEFAULT_LICENSE`, CC-BY-4.0).
    resources
        The resources to describe, as the writers reported them (``path`` relative to
        ``out_dir``); default: the known files present in the folder (:func:`present_resources`).
        Hashes are computed here, from the files as they are now: write the package last.

    Returns
    -------
    Path
        The ``datapackage.json`` written (atomically).

    Raises
    ------
    FileNotFoundError
        ``<name>.csv`` (or, for a streamed run, ``<name>.parquet``) or a listed resource file is missing.
    """
    out = Path(out_dir)
    csv_path = out / f"{name}.csv"
    if not csv_path.exists() and not (out / f"{name}.parquet").exists():
        raise FileNotFoundError(f"{csv_path} not found; write the forecast before its data package")
    fc = sidecar.get("forecast", {})
    origin = str(fc.get("origin_date"))
    listed = present_resources(out, sidecar, name) if resources is None else resources
    resources = [_hashed(out, r) for r in listed]
    sw = sidecar.get("software", {})
    data = sidecar.get("data", {})
    model = sidecar.get("model", {})
    pkg = {
        # A Parquet resource is described but not tabular-parsed, so the package is then a plain one.
        "profile": ("tabular-data-package" if all(r["profile"] == "tabular-data-resource" for r in resources)
                    else "data-package"),
        "name": f"displacement-forecast-{origin}",
        "title": f"Forecast of new displacement from {origin} ({model.get('name', '?')}, "
                 f"{len(sidecar.get('scenarios', []))} scenarios)",
        "description": "People newly displaced per region and period under scenarios, from "
                       f"{fc.get('n_draws', '?')} sample paths per scenario. Uncertainty bands include: "
                       + "; ".join(sidecar.get("uncertainty_included", [])) + "."
                       + ("" if sidecar.get("reliable", True) and not mark_text(sidecar) else
                          f" WARNING: {mark_text(sidecar) or 'the forecast is marked unreliable'}."),
        "version": str(sw.get("version", "")),
        "created": sidecar.get("created_utc"),
        "keywords": ["displacement", "IDP", "forecast", "scenarios", "hubverse", "humanitarian"],
        "licenses": [dict(license or DEFAULT_LICENSE)],
        "sources": [{"title": Path(f).name} for f in data.get("files", [])] or [{"title": "in-memory data"}],
        "contributors": [{"title": f"{sw.get('package', 'displacement-forecast')} {sw.get('version', '')}".strip(),
                          "role": "author"}],
        "provenance": {
            "sidecar": f"{name}.json",
            "model": model,
            "reliable": sidecar.get("reliable"),
            "warnings": sidecar.get("warnings", []),
            "marks": sidecar.get("marks", {}),
            "software": sw,
            "data": {k: data.get(k) for k in ("files", "vintage", "frequency", "first_period", "last_period")},
            "forecast": fc,
            "uncertainty_included": sidecar.get("uncertainty_included", []),
            "scenarios": sidecar.get("scenarios", []),
            "backtest": sidecar.get("backtest"),
        },
        "resources": resources,
    }
    return write_text_atomic(json.dumps(pkg, indent=2, default=str) + "\n", out / "datapackage.json")


def _resource(filename: str, name: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "path": filename, "profile": "tabular-data-resource", "format": "csv",
            "mediatype": "text/csv", "encoding": "utf-8", **extra, "schema": schema}


def _hashed(out: Path, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The resource with the SHA-256 and size of its file (before its schema, for readability)."""
    path = out / resource["path"]
    if not path.exists():
        raise FileNotFoundError(f"{path} is listed in the data package but was not written")
    h = _hash(path)
    described = ("schema", "schema_of_columns")  # long: after the hash
    r = {k: v for k, v in resource.items() if k not in described}
    return {**r, **h, **{k: resource[k] for k in described if k in resource}}


def _hash(path: Path) -> dict[str, Any]:
    return {"hash": "sha256:" + file_sha256(path), "bytes": path.stat().st_size}


def _hxl_schema(sidecar: Mapping[str, Any]) -> dict[str, Any]:
    s = forecast_schema(sidecar)
    # the HXL file carries the marks in a last column of its own, `note`, not forecast.csv's `mark`
    s["fields"] = [f for f in s["fields"] if f["name"] != MARK_COLUMN]
    if mark_text(sidecar):
        s["fields"].append({"name": "note", "type": "string", "description": "marks of this forecast "
                            "(unreliable fit, regions not forecast, intervals that did not cover in backtests, "
                            "regions scenarios cannot move, scenarios that may run the wrong way)"})
    for f in s["fields"]:
        if f["name"] == "output_type":
            f["constraints"]["enum"] = ["mean", "quantile"]
        if f["name"] == "value":
            f["unit"] = "people"
    return s
