"""Saving and loading fitted models: ``save_model(model, directory)``, ``load_model(directory)``.

A saved fit is a directory with ``model.json`` and the model's binary files. ``model.json``
holds the model id, the format version, the software version, the configuration, the region
table, the panel the model was fitted on (for lag history, people at risk and the driver
forecaster), the fitted driver forecaster, the diagnostics, the data vintage
(:func:`~displacement_forecast.conventions.data_vintage`), the SHA-256 of every binary file and a
SHA-256 of its own content. No pickle: arrays go to ``params.npz`` (read with
``allow_pickle=False``), everything else is JSON; ``bayes-hierarchical`` keeps its posterior in
ArviZ NetCDF (``posterior.nc``, its own :meth:`~.bayes.BayesHierarchical.save`).

What is saved of a model is every fitted attribute (a name ending in ``_``) except the panel,
the fit info and the driver forecaster, which are saved in their own way, and the names in the
class's ``unsaved_state``: arrays, dicts or lists of arrays, and plain JSON values (numbers,
strings, lists of them). A new model therefore saves without code of its own as long as its
fitted state is of those kinds; anything else is refused at save time with its name.

On load, the model id must be in the registry, the format version must be one this version reads
and the hashes must match; otherwise :class:`~displacement_forecast.data.schema.DataError` says
which, in one line.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..conventions import data_vintage
from ..data.io import atomic_path, file_sha256, write_text_atomic
from ..data.regions import RegionTable
from ..data.schema import DataError, Problem
from .base import FitInfo, ForecastModel
from .drivers import DriverForecaster, SeriesAR
from .panel import Panel

#: Version of the generic format (``model.json`` + ``params.npz``).
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
PARAMS_FILE = "params.npz"
#: Fitted attributes saved in their own way (or not at all).
_OWN = ("panel_", "info_", "driver_model_", "data_vintage_")


# -- public API --------------------------------------------------------------------------------
def save_model(model: ForecastModel, directory: str | Path) -> Path:
    """Save a fitted model into ``directory`` (created if needed); every file written atomically.

    Models with their own ``save`` method (``bayes-hierarchical``) use it.

    Raises
    ------
    RuntimeError
        The model is not fitted.
    TypeError
        A fitted attribute is of a kind that cannot be saved without pickle.
    """
    model._check_fitted()
    if callable(getattr(model, "save", None)):
        return model.save(directory)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays, state, files = _split_state(model, d)
    with atomic_path(d / PARAMS_FILE) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    meta = describe(model)
    meta["state"] = state
    meta["files"] = {PARAMS_FILE: _file_sha(d / PARAMS_FILE), **files}
    write_meta(d, meta)
    return d


def load_model(directory: str | Path) -> ForecastModel:
    """Load a model saved with :func:`save_model` (no refitting).

    Raises
    ------
    DataError
        No ``model.json``, an unknown model id, an unsupported format version, a missing file or
        a hash that does not match (a changed or damaged file).
    """
    d = Path(directory)
    meta = read_meta(d)
    cls = model_class(meta.get("model"), d / MODEL_FILE)
    if callable(getattr(cls, "load", None)):
        model = cls.load(d)
    else:
        check_meta(d, meta, meta["model"], FORMAT_VERSION)
        with np.load(d / PARAMS_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        model = cls(**_init_kwargs(cls, meta.get("config", {})))
        restore_common(model, meta)
        for name, spec in meta["state"].items():
            setattr(model, name, _from_state(name, spec, arrays, d))
    model._note_negative_effects()  # fits saved before a model reported its effects warn too
    return model


# -- shared by every saved format (bayes too) --------------------------------------------------
def describe(model: ForecastModel) -> dict[str, Any]:
    """The part of ``model.json`` every saved model has (panel, driver forecaster, provenance)."""
    panel = model.panel_
    return {
        "model": model.name,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "config": model.info_.config,
        # class facts a fit may settle from the data (drivers chosen by the default rule)
        "drivers": list(getattr(model, "drivers", ()) or ()),
        "uses_drivers": bool(model.uses_drivers),
        "regions": _frame_records(panel.regions.frame),
        "panel": {
            "freq": panel.freq,
            "dates": [str(x.date()) for x in panel.dates],
            "series": {k: _nan_to_none(v) for k, v in panel.series.items()},
        },
        "driver_model": driver_state(getattr(model, "driver_model_", None)),
        "diagnostics": model.info_.diagnostics,
        "reliable": model.info_.reliable,
        "warnings": model.info_.warnings,
        "data_vintage": data_vintage(panel),
    }


def restore_common(model: ForecastModel, meta: dict[str, Any]) -> None:
    """Set the panel, fit info, driver forecaster and data vintage of a loaded model."""
    regions = RegionTable(pd.DataFrame(meta["regions"]))
    p = meta["panel"]
    model.panel_ = Panel(pd.DatetimeIndex(pd.to_datetime(p["dates"])), regions, p["freq"],
                         {k: np.array(v, dtype=float) for k, v in p["series"].items()})
    model.info_ = FitInfo(model=meta["model"], config=meta.get("config", {}), diagnostics=meta["diagnostics"],
                          reliable=bool(meta["reliable"]), warnings=list(meta["warnings"]))
    model.driver_model_ = driver_from_state(meta.get("driver_model"))
    if "drivers" in meta:
        model.drivers = tuple(meta["drivers"])
        model.uses_drivers = bool(meta["uses_drivers"])
    model.data_vintage_ = meta.get("data_vintage")


def write_meta(d: Path, meta: dict[str, Any]) -> Path:
    """Write ``model.json`` with ``content_sha256``, the hash of everything else in it."""
    meta = json.loads(json.dumps(meta, default=_json_default))
    meta.pop("content_sha256", None)
    meta["content_sha256"] = _content_sha(meta)
    return write_text_atomic(json.dumps(meta, indent=1), d / MODEL_FILE)


def read_meta(d: Path) -> dict[str, Any]:
    """``model.json`` of a saved model directory, as a dict."""
    f = d / MODEL_FILE
    if not f.exists():
        raise DataError(Problem(str(f), None, None, "no model.json here: not a saved model directory"))
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(Problem(str(f), e.lineno, None, f"not valid JSON: {e.msg}")) from None
    if not isinstance(meta, dict):
        raise DataError(Problem(str(f), None, None, "not a model description (expected a JSON object)"))
    return meta


def check_meta(d: Path, meta: dict[str, Any], model_id: str, format_version: int, *,
               require_hash: bool = True) -> None:
    """Check the model id, format version, content hash and file hashes of a saved model.

    ``require_hash=False`` accepts a ``model.json`` written before hashes existed (bayes format 1).
    """
    f = str(d / MODEL_FILE)
    if meta.get("model") != model_id:
        raise DataError(Problem(f, None, "model", f"this directory holds a {meta.get('model')!r} fit, not {model_id!r}"))
    if meta.get("format_version") != format_version:
        raise DataError(Problem(f, None, "format_version",
                                f"format version {meta.get('format_version')!r} is not supported (this is "
                                f"displacement-forecast {__version__}, which reads version {format_version}); "
                                "refit the model"))
    if require_hash and "content_sha256" not in meta:
        raise DataError(Problem(f, None, "content_sha256",
                                "cannot load: model.json has no content hash (content_sha256), which every fit saves; "
                                "it was edited or not written by `displacement-forecast fit`: refit or restore the "
                                "saved copy"))
    if "content_sha256" in meta:
        want = meta.get("content_sha256")
        if want != _content_sha({k: v for k, v in meta.items() if k != "content_sha256"}):
            raise DataError(Problem(f, None, "content_sha256",
                                    "cannot load: the content hash does not match, model.json was changed after it was saved; refit or "
                                    "restore the saved copy"))
    for name, sha in (meta.get("files") or {}).items():
        path = d / name
        if not path.exists():
            raise DataError(Problem(str(path), None, None, f"{name} is missing from the saved model"))
        if _file_sha(path) != sha:
            raise DataError(Problem(str(path), None, None,
                                    f"cannot load: {name} does not match the hash in model.json, the file was changed or damaged"))


def model_class(model_id: Any, where: Path | str = MODEL_FILE) -> type:
    """The class of a registered model id (without instantiating it)."""
    from . import REGISTRY

    if model_id is None:  # 'cannot load a None fit' said nothing of what was wrong
        raise DataError(Problem(str(where), None, "model", "missing key; expected the model's name, as a "
                                "model.json written by `displacement-forecast fit` holds (refit the model)"))
    if model_id not in REGISTRY:
        raise DataError(Problem(str(where), None, "model",
                                f"cannot load a {model_id!r} fit; loadable models: {', '.join(sorted(REGISTRY))}"))
    mod, cls = REGISTRY[model_id].split(":")
    return getattr(importlib.import_module(f"displacement_forecast.models.{mod}"), cls)


# -- the driver forecaster as JSON -------------------------------------------------------------
_AR_ATTRS = ("active_", "history_", "n_regions_", "idx_", "zone_", "params_", "cov_", "cov_blocks_", "mean_",
             "common_sd_", "persistence_", "held_level_")


def driver_state(dm: Any) -> dict[str, Any] | None:
    """A :class:`DriverForecaster` as plain JSON values (None stays None)."""
    if dm is None:
        return None
    if not isinstance(dm, DriverForecaster):
        raise TypeError(f"cannot save a driver forecaster of type {type(dm).__name__}")
    out = {}
    for s, m in dm.models_.items():
        st = {}
        for a in _AR_ATTRS:
            if hasattr(m, a):
                v = getattr(m, a)
                if isinstance(v, dict):  # cov_blocks_: the block covariance of large fits
                    v = {k: x.tolist() for k, x in v.items()}
                st[a] = v.tolist() if isinstance(v, np.ndarray) else v
        out[s] = st
    return {"series": list(dm.series), "models": out}


def driver_from_state(state: dict[str, Any] | None) -> DriverForecaster | None:
    """The inverse of :func:`driver_state`."""
    if state is None:
        return None
    dm = DriverForecaster(series=tuple(state["series"]))
    dm.models_ = {}
    for s, st in state["models"].items():
        m = SeriesAR()
        for a, v in st.items():
            if a in ("n_regions_", "persistence_") or v is None:
                setattr(m, a, v)
            elif a == "cov_blocks_":
                setattr(m, a, {k: np.asarray(x, dtype=float) for k, x in v.items()})
            elif a == "active_":
                setattr(m, a, np.asarray(v, dtype=bool))
            elif a in ("idx_", "zone_"):
                setattr(m, a, np.asarray(v, dtype=np.int64))
            else:
                setattr(m, a, np.asarray(v, dtype=float))
        dm.models_[s] = m
    return dm


# -- fitted state <-> arrays + JSON ------------------------------------------------------------
def _split_state(model: ForecastModel, d: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, str]]:
    """Fitted attributes as arrays (for ``params.npz``) and JSON specs; nested fitted models
    (e.g. the members of ``auto``) are saved into ``d/<attribute>/<key>`` with their own
    ``model.json``, whose hashes are returned for the parent's ``files``."""
    skip = set(_OWN) | set(getattr(model, "unsaved_state", ()))
    arrays: dict[str, np.ndarray] = {}
    state: dict[str, Any] = {}
    files: dict[str, str] = {}

    def nested(name: str, key: str, m: ForecastModel) -> str:
        rel = f"{name}/{key}"
        save_model(m, d / rel)
        files[f"{rel}/{MODEL_FILE}"] = _file_sha(d / rel / MODEL_FILE)
        return rel

    for name, v in sorted(vars(model).items()):
        if not name.endswith("_") or name.startswith("_") or name in skip:
            continue
        if isinstance(v, np.ndarray):
            arrays[name] = _plain(name, v)
            state[name] = {"kind": "array"}
        elif isinstance(v, ForecastModel):
            state[name] = {"kind": "model", "path": nested(name, "model", v)}
        elif isinstance(v, dict) and v and all(isinstance(x, ForecastModel) for x in v.values()):
            state[name] = {"kind": "models", "paths": {k: nested(name, k, x) for k, x in v.items()}}
        elif isinstance(v, dict) and v and all(isinstance(x, np.ndarray) or _is_json(x) for x in v.values()):
            values = {}
            for k, x in v.items():
                if isinstance(x, np.ndarray):
                    arrays[f"{name}/{k}"] = _plain(name, x)
                else:
                    values[k] = x.item() if isinstance(x, np.generic) else x
            state[name] = {"kind": "arrays", "keys": list(v), "values": values}
        elif isinstance(v, list) and v and all(isinstance(x, np.ndarray) for x in v):
            for i, x in enumerate(v):
                arrays[f"{name}/{i}"] = _plain(name, x)
            state[name] = {"kind": "array_list", "n": len(v)}
        elif _is_json(v):
            state[name] = {"kind": "json", "value": v.item() if isinstance(v, np.generic) else v}
        else:
            raise TypeError(f"cannot save {type(model).__name__}.{name} of type {type(v).__name__} without pickle; "
                            "store arrays or plain values, or list it in the class's unsaved_state")
    return arrays, state, files


def _from_state(name: str, spec: dict[str, Any], arrays: dict[str, np.ndarray], d: Path) -> Any:
    kind = spec.get("kind")
    if kind == "array":
        return arrays[name]
    if kind == "arrays":
        values = spec.get("values", {})
        return {k: values[k] if k in values else arrays[f"{name}/{k}"] for k in spec["keys"]}
    if kind == "array_list":
        return [arrays[f"{name}/{i}"] for i in range(int(spec["n"]))]
    if kind == "json":
        return spec["value"]
    if kind == "model":
        return load_model(d / spec["path"])
    if kind == "models":
        return {k: load_model(d / p) for k, p in spec["paths"].items()}
    raise DataError(Problem(MODEL_FILE, None, f"state.{name}", f"unknown state kind {kind!r}"))


def _plain(name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype == object:
        raise TypeError(f"cannot save {name}: an object array needs pickle")
    return a


def _is_json(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str, np.generic)):
        return not isinstance(v, np.generic) or v.dtype.kind in "biuf"
    if isinstance(v, (list, tuple)):
        return all(_is_json(x) and not isinstance(x, (list, tuple)) for x in v)
    return False


def _init_kwargs(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    """The saved configuration keys the class's constructor accepts."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(config)
    return {k: v for k, v in config.items() if k in params and k != "self"}


def _content_sha(meta: dict[str, Any]) -> str:
    text = json.dumps(json.loads(json.dumps(meta, default=_json_default)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_sha(path: Path) -> str:
    return file_sha256(path)


def _nan_to_none(a: np.ndarray) -> list:
    a = np.asarray(a, dtype=float)
    return [[None if not np.isfinite(x) else float(x) for x in row] for row in a]


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    f = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in f.to_dict("records")]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


__all__ = ["FORMAT_VERSION", "check_meta", "describe", "driver_from_state", "driver_state", "load_model",
           "model_class", "read_meta", "restore_common", "save_model", "write_meta"]
