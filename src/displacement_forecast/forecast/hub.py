"""Write or update a hubverse hub from forecast runs, so hubverse tools read our forecasts.

Layout (https://docs.hubverse.io, hub schema :data:`HUB_SCHEMA_VERSION`)::

    hub-config/admin.json                    hub name, maintainer, accepted file formats
    hub-config/tasks.json                    one round per origin date: task ids, output types, targets
    hub-config/model-metadata-schema.json    what model-metadata files hold
    model-output/<team>-<model>/<origin_date>-<team>-<model>.csv    (or .parquet)
    model-metadata/<team>-<model>.yml

Each origin date is its own round (``round_id_from_variable``, round id ``origin_date``), so a
new origin adds a round and never changes what an older round declares; several models share
a round, and the task-id values they bring (scenarios, regions, horizons) are merged into that
round's ``optional`` lists, which keeps every earlier file valid. Quantile levels and cdf
thresholds are ``required`` output-type ids in hubverse schema v4+, so a model that brings
different ones to an existing round is refused with a clear message instead of silently making
the other models' files invalid. A hub counts people over one period (day, week or month, the
``time_unit`` of each round's target metadata): a forecast of another frequency is refused
(:func:`check_hub_unit`), so a target never means months in one round and weeks in another.

Every file is written atomically (temp file + rename) and ``tasks.json`` is updated under a lock
file, so two exports into one hub at the same time do not lose each other's rounds.
"""

from __future__ import annotations

import json
import re
import warnings as _warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..conventions import period_unit
from ..data.io import atomic_path, is_formula, write_text_atomic
from .marks import mark_text
from .summaries import HUB_COLUMNS, TARGETS

HUB_SCHEMA_VERSION = "v5.0.1"
SCHEMA_BASE = "https://raw.githubusercontent.com/hubverse-org/schemas/main"
#: Task-id columns, in file order (``output_type``, ``output_type_id``, ``value`` follow).
TASK_IDS: tuple[str, ...] = ("origin_date", "scenario", "region", "target", "horizon", "target_date")
#: Output types written to a hub (``sample`` only when sample paths are given).
OUTPUT_TYPES: tuple[str, ...] = ("mean", "quantile", "cdf", "sample")
TARGET_META: dict[str, dict[str, Any]] = {
    "new_displaced": {"target_name": "People newly displaced in the week",
                      "target_units": "people"},
    "cum_new_displaced": {"target_name": "People newly displaced from the first forecast week to this one",
                          "target_units": "people"},
}
_ABBR = re.compile(r"^[A-Za-z0-9_]+$")


class HubError(ValueError):
    """A forecast that cannot go into this hub as it stands (the message says why and what to do)."""


class HubWarning(UserWarning):
    """An export that went in but changes or weakens what the hub held (a replaced submission, an
    ``ALL`` over fewer regions than the hub lists); the message says which file and round."""


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def export_to_hub(
    frame: pd.DataFrame,
    sidecar: Mapping[str, Any],
    hub_dir: str | Path,
    *,
    team: str = "dfcast",
    model: str | None = None,
    file_format: str = "csv",
    samples: pd.DataFrame | None = None,
    warnings: Sequence[str] = (),
    hub_name: str = "Displacement forecast hub",
    maintainer: str = "displacement-forecast users",
    timezone: str = "Etc/UTC",
) -> Path:
    """Add one forecast (one origin date, one model, its scenarios) to a hubverse hub.

    Creates the hub when ``hub_dir`` holds none; otherwise adds or extends the round for this
    origin date and leaves every other round and every other model's files untouched. Writing
    the same model and origin again replaces that one file, said in a :class:`HubWarning`
    (``replaced earlier submission <file> (<time>)``). A forecast whose ``ALL`` sums fewer regions
    than the hub's ``tasks.json`` lists gets a :class:`HubWarning` naming the missing regions,
    also recorded in the model metadata's ``warnings``.

    Parameters
    ----------
    frame
        The long forecast table (:data:`~.summaries.HUB_COLUMNS`), e.g. ``ForecastRun.frame`` or
        ``forecast.csv`` read back. One origin date.
    sidecar
        The run's sidecar (``forecast.json``): model name, quantile levels, cdf thresholds,
        frequency, uncertainty included.
    hub_dir
        Hub root folder (created if missing).
    team, model
        Team and model abbreviations; the hub's ``model_id`` is ``<team>-<model>``. ``model``
        defaults to the sidecar's model name with ``-`` replaced by ``_`` (hubverse
        abbreviations allow letters, digits and ``_`` only, at most 16 characters).
    file_format
        ``"csv"`` (default) or ``"parquet"``.
    samples
        Optional long table of sample paths with the hub columns and ``output_type == "sample"``
        (see :func:`samples_frame`); declared in ``tasks.json`` as the ``sample`` output type.
    warnings
        Warnings about this export (``export-hub``'s partial-region warning of
        :func:`check_hub_regions`, as it printed it), recorded in the model metadata's
        ``warnings`` after the sidecar's, each once. ``forecast --hub`` puts that warning into the
        sidecar instead, so it reaches the metadata from there.
    hub_name, maintainer, timezone
        Written into ``admin.json`` when the hub is created.

    Returns
    -------
    Path
        The model-output file written.

    Raises
    ------
    HubError
        Regions none of which the hub declares (:func:`check_hub_regions`), a period unit other
        than the hub's (:func:`check_hub_unit`), bad abbreviation,
        several origin dates in ``frame``, a text cell a spreadsheet would run
        as a formula, or quantile levels / thresholds that differ from what the round declares.
    """
    if file_format not in ("csv", "parquet"):
        raise HubError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    missing = [c for c in HUB_COLUMNS if c not in frame.columns]
    if missing:
        raise HubError(f"forecast table lacks columns {missing}")
    team = check_abbreviation(team, "team")
    model = check_abbreviation(model or default_modelcheck_abbreviation(str(sidecar["model"]["name"])), "model")
    model_id = f"{team}-{model}"
    rows = _hub_rows(frame, samples)
    origins = sorted(rows["origin_date"].astype(str).unique())
    if len(origins) != 1:
        raise HubError(f"a hub file holds one origin date; the forecast table has {origins}")
    origin = origins[0]

    hub = Path(hub_dir)
    cfg = hub / "hub-config"
    cfg.mkdir(parents=True, exist_ok=True)
    with _locked(cfg / ".lock"):
        admin_path = cfg / "admin.json"
        admin = _read_json(admin_path) if admin_path.exists() else _admin(hub_name, maintainer, timezone)
        if file_format not in admin.setdefault("file_format", []):
            admin["file_format"].append(file_format)
        tasks_path = cfg / "tasks.json"
        check_hub_regions(hub, rows["region"].astype(str).unique())  # another panel's hub: refused
        tasks = _read_json(tasks_path) if tasks_path.exists() else _empty_tasks()
        check_hub_unit(hub, sidecar_unit(sidecar), tasks)  # a weekly forecast in a monthly hub: refused
        notes = _partial_total_note(tasks, rows, origin)
        _merge_round(tasks, rows, sidecar, origin)
        # parquet: typed with the schema hubdata will read with, from the *new* tasks.json
        schema = _arrow_schema(tasks) if file_format == "parquet" else None
        out = hub / admin.get("model_output_dir", "model-output") / model_id / f"{origin}-{model_id}.{file_format}"
        other = out.with_suffix(".parquet" if file_format == "csv" else ".csv")
        notes += [_replaced_note(p, hub) for p in (out, other) if p.is_file()]
        _write_model_output(rows, out, file_format, schema)
        other.unlink(missing_ok=True)  # one file per model and round
        meta_path = hub / "model-metadata" / f"{model_id}.yml"
        meta = _model_metadata(team, model, sidecar)
        meta["warnings"] += [str(w) for w in dict.fromkeys(warnings) if str(w) not in meta["warnings"]]
        meta["warnings"] += [n for n in notes if n.startswith("round") and n not in meta["warnings"]]
        _keep_round_marks(meta, _loads(meta_path) if meta_path.exists() else {}, origin, sidecar)
        write_text_atomic(_dumps(meta), meta_path)
        write_text_atomic(json.dumps(_MODEL_METADATA_SCHEMA, indent=2) + "\n", cfg / "model-metadata-schema.json")
        write_text_atomic(json.dumps(tasks, indent=2) + "\n", tasks_path)
        write_text_atomic(json.dumps(admin, indent=2) + "\n", admin_path)
    for note in notes:  # on screen (the CLI prints each as a 'warning:' line)
        _warnings.warn(note, HubWarning, stacklevel=2)
    return out


def _replaced_note(path: Path, hub: Path) -> str:
    """``"replaced earlier submission model-output/.../<file> (2026-12-02 12:30 UTC)"``: the file
    this export overwrites (the same model and round), named inside the hub, with its write time."""
    when = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    return f"replaced earlier submission {path.relative_to(hub).as_posix()} ({when})"


def _partial_total_note(tasks: Mapping[str, Any], rows: pd.DataFrame, origin: str) -> list[str]:
    """A note when this forecast's ``ALL`` sums fewer regions than the hub's ``tasks.json`` lists
    (a region left out of the forecast): that ``ALL`` is not the total other models' ``ALL`` is.
    Empty for a new hub, a forecast with no ``ALL`` row, or one covering every listed region."""
    have = hub_regions(tasks)
    ours = set(rows["region"].astype(str))
    lack = sorted(set(have) - ours)
    if not have or not lack or "ALL" not in ours:
        return []
    return [f"round {origin}: ALL sums {len(ours - {'ALL'})} regions, but the hub's tasks.json lists "
            f"{len(have)}; missing: {_some(lack)} (this ALL is not comparable with an ALL over all of them)"]


#: Task ids a hub may name its regions by (ours is ``region``; many hubs say ``location``).
REGION_TASK_IDS = ("region", "location")
#: Regions named in a message about a hub's regions before ``...``.
SHOWN_REGIONS = 5


def hub_regions(tasks: Mapping[str, Any]) -> list[str]:
    """Every region a hub's ``tasks.json`` declares, over all rounds (``ALL``, our total, left out).

    Parameters
    ----------
    tasks : mapping
        The parsed ``hub-config/tasks.json``; its rounds' ``region`` (or ``location``) task ids,
        required and optional values.

    Returns
    -------
    list of str
        Sorted region codes; empty for a hub that declares none (a new hub).
    """
    out: set[str] = set()
    for rnd in tasks.get("rounds") or []:
        for mt in rnd.get("model_tasks") or []:
            for key in REGION_TASK_IDS:
                tid = (mt.get("task_ids") or {}).get(key) or {}
                out.update(str(v) for part in ("required", "optional") for v in tid.get(part) or [])
    out.discard("ALL")
    return sorted(out)


def _some(codes: Sequence[str]) -> str:
    return ", ".join(codes[:SHOWN_REGIONS]) + (", ..." if len(codes) > SHOWN_REGIONS else "")


def check_hub_regions(hub_dir: str | Path, regions: Sequence[str]) -> str | None:
    """Whether a forecast of ``regions`` belongs in the hub at ``hub_dir``.

    A hub collects forecasts of one set of regions: a forecast sharing none of the regions its
    ``hub-config/tasks.json`` already declares (another country's panel, another region table)
    is refused; one that shares some but lacks some of the hub's regions or brings new ones is
    accepted (a model may forecast part of a hub) with a warning. A new hub takes any regions.

    Parameters
    ----------
    hub_dir : str or Path
        Hub root folder (may not exist yet).
    regions : sequence of str
        Region codes of the forecast (``ALL``, the total, is ignored).

    Returns
    -------
    str or None
        The warning for a partial match (naming ``tasks.json`` and the first regions of each
        side that the other lacks), None when the regions match or the hub is new.

    Raises
    ------
    HubError
        No region in common, naming ``tasks.json``, the hub's first regions and the forecast's.
    """
    path = Path(hub_dir) / "hub-config" / "tasks.json"
    if not path.is_file():
        return None
    have = hub_regions(_read_json(path))
    ours = sorted({str(r) for r in regions} - {"ALL"})
    if not have or not ours:
        return None
    if not set(have) & set(ours):
        raise HubError(f"{path} lists regions {_some(have)}; this forecast's regions ({_some(ours)}) are none of "
                       "them: is it the right hub? (a hub collects forecasts of one set of regions; give another --hub)")
    lack = sorted(set(have) - set(ours))
    new = sorted(set(ours) - set(have))
    if not lack and not new:
        return None
    parts = []
    if lack:
        parts.append(f"lists {len(lack)} region{'s' if len(lack) > 1 else ''} this forecast does not cover ({_some(lack)})")
    if new:
        parts.append(f"{'and this forecast has' if lack else 'lacks'} {len(new)} region{'s' if len(new) > 1 else ''} "
                     f"{'the hub has not had' if lack else 'of this forecast'} ({_some(new)})")
    return f"{path} {' '.join(parts)}: check that --hub and the region table belong together"


def sidecar_unit(sidecar: Mapping[str, Any]) -> str:
    """The period a forecast counts people over (``day``, ``week``, ``month``), from its sidecar's
    ``data.frequency`` (``week`` when it records none, as before frequencies were recorded)."""
    return period_unit(sidecar.get("data", {}).get("frequency", "W"), default="week")


def hub_units(tasks: Mapping[str, Any]) -> dict[str, str]:
    """The period units a hub's ``tasks.json`` records, each with the first round that records it.

    Parameters
    ----------
    tasks : mapping
        The parsed ``hub-config/tasks.json``; the ``time_unit`` of its rounds' target metadata
        (written by :func:`export_to_hub` since hubs were made; a round without one says nothing).

    Returns
    -------
    dict
        Unit (``day``, ``week``, ``month``) -> origin of the first round declaring it; empty for a
        new hub. More than one unit only in a hub written before :func:`check_hub_unit`.
    """
    out: dict[str, str] = {}
    for rnd in tasks.get("rounds") or []:
        for mt in rnd.get("model_tasks") or []:
            for t in mt.get("target_metadata") or []:
                if t.get("time_unit"):
                    out.setdefault(str(t["time_unit"]), _round_origin(rnd))
    return out


def check_hub_unit(hub_dir: str | Path, unit: str, tasks: Mapping[str, Any] | None = None) -> None:
    """Refuse a forecast per ``unit`` for a hub whose ``tasks.json`` records another period.

    ``new_displaced`` is people per period: in one hub it must mean the same period in every round
    and for every model, or a weekly round beside a monthly one reads as a drop to a quarter.

    Parameters
    ----------
    hub_dir : str or Path
        Hub root folder (may not exist yet: a new hub takes any unit).
    unit : str
        ``day``, ``week`` or ``month``: the forecast's period (:func:`sidecar_unit`).
    tasks : mapping, optional
        The hub's ``tasks.json`` already parsed (by :func:`export_to_hub`, under its lock); read
        from ``hub_dir`` when not given.

    Raises
    ------
    HubError
        One line naming ``tasks.json``, the hub's unit and a round declaring it, and this forecast's.
    """
    path = Path(hub_dir) / "hub-config" / "tasks.json"
    if tasks is None:
        if not path.is_file():
            return
        tasks = _read_json(path)
    other = {u: r for u, r in hub_units(tasks).items() if u != unit}
    if other:
        old, rnd = next(iter(other.items()))
        raise HubError(f"{path} declares forecasts per {old} (time_unit of round {rnd}); this forecast is per "
                       f"{unit}: a hub's targets must count people over one period in every round, or new_displaced "
                       f"would mean {old}s in one round and {unit}s in another; give another --hub")


def samples_frame(paths_by_scenario: Mapping[str, Any], targets: Sequence[str] = ("new_displaced",)) -> pd.DataFrame:
    """Sample paths as hub rows: ``output_type = "sample"``, ``output_type_id`` = draw index.

    One row per draw, scenario, region (with ``ALL``, the sum draw by draw), target and horizon.
    Draw ``i`` is the same random stream in every scenario, region and horizon (common random
    numbers), so the sample index is shared across them (``compound_taskid_set = [origin_date]``).
    """
    from .summaries import cumulative, with_total

    frames = []
    for scen, paths in paths_by_scenario.items():
        p = with_total(paths)
        for target in targets:
            if target not in TARGETS:
                raise HubError(f"unknown target {target!r}; expected one of {list(TARGETS)}")
            x = (p if target == "new_displaced" else cumulative(p)).transpose("draw", "region", "horizon")
            D, R, H = x.shape
            dates = pd.DatetimeIndex(x["target_date"].values).strftime("%Y-%m-%d")
            frames.append(pd.DataFrame({
                "origin_date": paths.attrs.get("origin_date"),
                "scenario": scen,
                "region": np.tile(np.repeat(x["region"].values, H), D),
                "target": target,
                "horizon": np.tile(x["horizon"].values, D * R),
                "target_date": np.tile(np.asarray(dates), D * R),
                "output_type": "sample",
                "output_type_id": np.repeat(np.arange(D), R * H).astype(str),
                "value": np.round(x.values.reshape(-1), 1),
            }))
    return pd.concat(frames, ignore_index=True)[list(HUB_COLUMNS)]


def read_forecast_dir(forecast_dir: str | Path, name: str = "forecast") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``<name>.csv`` and ``<name>.json`` from a forecast folder, exactly as written.

    Every column is read as text (``output_type_id`` stays ``"0.5"``, not ``0.5``), the formula
    escape quote our writer adds to risky text cells is removed, and ``value`` becomes a float.
    """
    d = Path(forecast_dir)
    csv_path, json_path = d / f"{name}.csv", d / f"{name}.json"
    for p in (csv_path, json_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} not found; expected a folder written by `displacement-forecast forecast`")
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    for c in frame.columns:
        if c != "value":
            frame[c] = frame[c].map(lambda s: s[1:] if s[:2] in ("'=", "'+", "'-", "'@") else s)
    frame["value"] = frame["value"].astype(float)
    frame["horizon"] = frame["horizon"].astype(int)
    return frame, _read_json(json_path)


# --------------------------------------------------------------------------------------------
# tasks.json
# --------------------------------------------------------------------------------------------


def _empty_tasks() -> dict[str, Any]:
    return {
        "schema_version": f"{SCHEMA_BASE}/{HUB_SCHEMA_VERSION}/tasks-schema.json",
        # quantile levels and cdf thresholds are numbers; sample indices integers -> double
        "output_type_id_datatype": "double",
        "derived_task_ids": ["target_date"],
        "rounds": [],
    }


def _admin(name: str, maintainer: str, timezone: str) -> dict[str, Any]:
    return {
        "schema_version": f"{SCHEMA_BASE}/{HUB_SCHEMA_VERSION}/admin-schema.json",
        "name": name,
        "maintainer": maintainer,
        "contact": {"name": maintainer, "email": "noreply@example.org"},
        "repository": {"host": "github", "owner": "displacement-forecast", "name": "displacement-hub"},
        "file_format": [],
        "timezone": timezone,
        "model_output_dir": "model-output",
    }


def _merge_round(tasks: dict[str, Any], rows: pd.DataFrame, sidecar: Mapping[str, Any], origin: str) -> None:
    """Add the round for ``origin`` or extend it with this forecast's task-id values."""
    point = rows[rows["output_type"] != "sample"]
    levels = sorted({float(x) for x in point.loc[point["output_type"] == "quantile", "output_type_id"]})
    thresholds = sorted({float(x) for x in point.loc[point["output_type"] == "cdf", "output_type_id"]})
    values = {
        "origin_date": [origin],
        "scenario": list(dict.fromkeys(rows["scenario"].astype(str))),
        "region": list(dict.fromkeys(rows["region"].astype(str))),
        "target": list(dict.fromkeys(rows["target"].astype(str))),
        "horizon": sorted({int(h) for h in rows["horizon"]}),
        "target_date": sorted(set(rows["target_date"].astype(str))),
    }
    rnd = next((r for r in tasks["rounds"] if _round_origin(r) == origin), None)
    if rnd is None:
        rnd = {
            "round_id_from_variable": True,
            "round_id": "origin_date",
            "round_name": origin,
            "model_tasks": [{"task_ids": {k: {"required": None, "optional": []} for k in TASK_IDS},
                             "output_type": {}, "target_metadata": []}],
            "submissions_due": {"relative_to": "origin_date", "start": -3650, "end": 3650},
            "last_data_date": origin,
        }
        tasks["rounds"].append(rnd)
    mt = rnd["model_tasks"][0]
    for k in TASK_IDS:
        opt = mt["task_ids"][k]["optional"]
        for v in values[k]:
            if v not in opt:
                opt.append(v)
        if k in ("horizon", "target_date"):
            opt.sort()
    tasks["rounds"].sort(key=_round_origin)  # rounds in origin order
    ot = mt["output_type"]
    _check_same(ot, "quantile", levels, origin, "quantile levels")
    _check_same(ot, "cdf", thresholds, origin, "cdf thresholds")
    ot["mean"] = {"output_type_id": {"required": None}, "value": {"type": "double", "minimum": 0},
                  "is_required": False}
    if levels:
        ot["quantile"] = {"output_type_id": {"required": levels}, "value": {"type": "double", "minimum": 0},
                          "is_required": True}
    if thresholds:
        ot["cdf"] = {"output_type_id": {"required": thresholds},
                     "value": {"type": "double", "minimum": 0, "maximum": 1}, "is_required": False}
    samp = rows[rows["output_type"] == "sample"]
    if len(samp):
        n = int(samp.groupby(list(TASK_IDS)).size().max())
        old = ot.get("sample", {}).get("output_type_id_params", {})
        ot["sample"] = {
            "output_type_id_params": {
                "type": "integer",
                "min_samples_per_task": min(n, old.get("min_samples_per_task", n)),
                "max_samples_per_task": max(n, old.get("max_samples_per_task", n)),
                "compound_taskid_set": ["origin_date"],
            },
            "value": {"type": "double", "minimum": 0},
            "is_required": False,
        }
    unit = sidecar_unit(sidecar)
    known = {t["target_id"] for t in mt["target_metadata"]}
    for t in values["target"]:
        if t in known:
            continue
        meta = TARGET_META.get(t, {"target_name": t, "target_units": "people"})
        mt["target_metadata"].append({
            "target_id": t, "target_name": meta["target_name"].replace("week", unit), "target_units": meta["target_units"],
            "target_keys": {"target": t}, "target_type": "continuous",
            "description": TARGETS.get(t, t), "is_step_ahead": True, "time_unit": unit,
        })


def _check_same(ot: dict[str, Any], kind: str, new: list[float], origin: str, what: str) -> None:
    if kind not in ot or not new:
        return
    old = [float(x) for x in ot[kind]["output_type_id"]["required"]]
    if old != new:
        raise HubError(
            f"round {origin} of this hub requires {what} {old}; this forecast has {new}. Hubverse "
            f"treats them as required ids, so mixing would make the other models' files invalid: "
            f"rerun with the same {what}, or export into another hub")


def _round_origin(rnd: Mapping[str, Any]) -> str:
    opt = rnd["model_tasks"][0]["task_ids"]["origin_date"]
    vals = (opt.get("required") or []) + (opt.get("optional") or [])
    return str(vals[0]) if vals else ""


# --------------------------------------------------------------------------------------------
# model output, metadata
# --------------------------------------------------------------------------------------------


def _hub_rows(frame: pd.DataFrame, samples: pd.DataFrame | None) -> pd.DataFrame:
    rows = frame[list(HUB_COLUMNS)].copy()
    if samples is not None and len(samples):
        rows = pd.concat([rows, samples[list(HUB_COLUMNS)]], ignore_index=True)
    for c in ("origin_date", "scenario", "region", "target", "target_date", "output_type"):
        rows[c] = rows[c].astype(str)
    rows["horizon"] = rows["horizon"].astype(int)
    ids = rows["output_type_id"]
    rows["output_type_id"] = ids.where(ids.notna(), "").astype(str).replace({"nan": "", "None": ""})
    rows["value"] = rows["value"].astype(float)
    bad = [(c, v) for c in ("scenario", "region", "target") for v in rows[c].unique() if is_formula(v)]
    if bad:
        c, v = bad[0]
        raise HubError(f"{c} {v!r} starts with a spreadsheet formula character; hub files are written "
                       f"verbatim, so rename it (e.g. without a leading '=', '+', '-' or '@')")
    if not np.isfinite(rows["value"]).all() or (rows["value"] < 0).any():
        raise HubError("forecast values must be finite and non-negative")
    return rows


def _arrow_schema(tasks: dict[str, Any]):
    hubdata = _require("hubdata")
    return hubdata.create_hub_schema(tasks, partitions=None)


def _write_model_output(rows: pd.DataFrame, path: Path, file_format: str, schema) -> None:
    if file_format == "csv":
        # verbatim: hub values must equal the task-id values in tasks.json (checked formula-safe above)
        with atomic_path(path) as tmp:
            rows.to_csv(tmp, index=False)
        return
    pa = _require("pyarrow")
    import pyarrow.parquet as pq

    typed = rows.copy()
    typed["origin_date"] = pd.to_datetime(typed["origin_date"]).dt.date
    typed["target_date"] = pd.to_datetime(typed["target_date"]).dt.date
    typed["output_type_id"] = pd.to_numeric(typed["output_type_id"].replace("", None))
    # hubverse column order (task ids, output_type, output_type_id, value), hub types
    ordered = pa.schema([schema.field(c) for c in HUB_COLUMNS])
    table = pa.Table.from_pandas(typed[list(HUB_COLUMNS)], preserve_index=False).cast(ordered)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


_MODEL_METADATA_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Model metadata for a displacement-forecast hub",
    "type": "object",
    "properties": {
        "team_name": {"type": "string"},
        "team_abbr": {"type": "string", "pattern": "^[a-zA-Z0-9_]+$", "maxLength": 16},
        "model_name": {"type": "string"},
        "model_abbr": {"type": "string", "pattern": "^[a-zA-Z0-9_]+$", "maxLength": 16},
        "model_version": {"type": "string"},
        "designated_model": {"type": "boolean"},
        "license": {"type": "string"},
        "methods": {"type": "string", "maxLength": 200},
        "methods_long": {"type": "string"},
        "data_inputs": {"type": "string"},
        "uncertainty_included": {"type": "array", "items": {"type": "string"}},
        "software": {"type": "string"},
        "reliable": {"type": "boolean", "description": "false: read 'warnings' before using this model's forecasts"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "unreliable_rounds": {"type": "array", "items": {"type": "string"},
                              "description": "'<origin date>: <mark>' of every round in the hub whose forecast was "
                                             "marked; 'reliable' is false while any is listed"},
    },
    "required": ["team_abbr", "model_abbr", "designated_model", "license", "methods"],
}


def _model_metadata(team: str, model: str, sidecar: Mapping[str, Any]) -> dict[str, Any]:
    m = sidecar.get("model", {})
    sw = sidecar.get("software", {})
    data = sidecar.get("data", {})
    name = str(m.get("name", model))
    return {
        "team_name": team,
        "team_abbr": team,
        "model_name": name,
        "model_abbr": model,
        "model_version": str(sw.get("version", "")),
        "designated_model": True,
        "license": "CC-BY-4.0",
        "methods": f"displacement-forecast model '{name}': sample paths per scenario, summarised to mean, quantiles and cdf"[:200],
        "methods_long": (f"{mark_text(sidecar)}. " if mark_text(sidecar) else "")
        + "Config: " + json.dumps(m.get("config", {}), sort_keys=True),
        "reliable": bool(sidecar.get("reliable", True)),
        "warnings": [str(w) for w in sidecar.get("warnings", [])],
        "data_inputs": ", ".join(Path(f).name for f in data.get("files", [])) or "not recorded",
        "uncertainty_included": list(sidecar.get("uncertainty_included", [])),
        "software": f"{sw.get('package', 'displacement-forecast')} {sw.get('version', '')}".strip(),
    }


def _keep_round_marks(meta: dict[str, Any], old: Mapping[str, Any], origin: str, sidecar: Mapping[str, Any]) -> None:
    """One metadata file serves every round of a model: a marked round stays marked.

    ``unreliable_rounds`` keeps ``'<origin>: <mark>'`` for each round whose forecast was not
    reliable (a new export of the same origin replaces its entry); ``reliable`` is false while
    any round is listed, so a later reliable round cannot hide an earlier unreliable one.
    """
    kept = [r for r in old.get("unreliable_rounds", []) if not str(r).startswith(f"{origin}:")]
    if not sidecar.get("reliable", True):
        kept.append(f"{origin}: {mark_text(sidecar) or 'marked unreliable'}")
    meta["unreliable_rounds"] = sorted(kept)
    meta["reliable"] = bool(meta["reliable"]) and not kept


def _loads(path: Path) -> dict[str, Any]:
    """Read back a metadata file written by :func:`_dumps` (keys with JSON scalars or lists)."""
    out: dict[str, Any] = {}
    key = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if line.startswith("  - ") and key is not None:
                out[key].append(json.loads(line[4:]))
            elif ":" in line:
                key, _, rest = line.partition(":")
                rest = rest.strip()
                out[key] = [] if rest in ("", "[]") else json.loads(rest)
        except json.JSONDecodeError:
            continue  # a hand-edited line: the new export rewrites it
    return out


def _dumps(meta: Mapping[str, Any]) -> str:
    """YAML via JSON scalars (every JSON value is valid YAML), no YAML library needed."""
    lines = []
    for k, v in meta.items():
        if isinstance(v, list):
            lines.append(f"{k}:" + ("" if v else " []"))
            lines += [f"  - {json.dumps(x)}" for x in v]
        else:
            lines.append(f"{k}: {json.dumps(v)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


#: Hub abbreviations of model names longer than hubverse's 16 characters.
LONG_MODEL_ABBR = {"bayes-hierarchical": "bayes_hier", "statsforecast-autoets": "sf_autoets",
                   "statsforecast-autoarima": "sf_autoarima"}


def default_modelcheck_abbreviation(name: str) -> str:
    """Hub model abbreviation of a model name: '-' as '_', at most 16 characters."""
    return LONG_MODEL_ABBR.get(name, re.sub(r"[^A-Za-z0-9_]", "_", name)[:16])


def check_abbreviation(s: str, what: str) -> str:
    """``s`` if it is a valid hub team or model abbreviation (1-16 letters, digits or ``_``).

    Raises
    ------
    HubError
        Anything else (``../evil``, ``my-team``, 17 characters...).
    """
    s = str(s)
    if not _ABBR.match(s) or len(s) > 16:
        raise HubError(f"{what} abbreviation {s!r} must be 1-16 letters, digits or '_' (hubverse model ids are <team>-<model>)")
    return s


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HubError(f"{path} is not valid JSON ({e}); fix or remove it") from None


@contextmanager
def _locked(path: Path):
    """Exclusive lock on ``path`` for the read-modify-write of the hub config (POSIX; no-op
    elsewhere). The lock file is deleted while still held when the block ends, so no lock file is
    left in the hub; a writer that locked a file deleted meanwhile locks the new one."""
    from .staging import acquire_lock, release_lock

    fd = acquire_lock(path, wait=True)
    try:
        yield
    finally:
        release_lock(path, fd)


def _require(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"{name} is needed for hub export; install it with `pip install 'displacement-forecast[hub]'`"
        ) from None
