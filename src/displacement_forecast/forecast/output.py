"""The forecast CSV aid agencies consume, and its JSON sidecar of provenance.

Files (written atomically: a temp file, then rename, so a crash never leaves half a file)::

    forecast.csv        long, hubverse-style: origin_date, scenario, region, target, horizon,
                        target_date, output_type, output_type_id, value; then ``mark``
                        (:data:`MARK_COLUMN`) only when the run carries a mark (an unreliable
                        fit, regions left out, ...), so a reader of this file alone sees it
    forecast.json       sidecar: model and version, data vintage, seed, scenarios, diagnostics,
                        what the intervals include, backtest coverage when known

The schema is documented in docs/forecast-files.md ("Schema of forecast.csv") and in :data:`SCHEMA`.
"""

from __future__ import annotations

import csv
import io
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..conventions import TOTAL, series_vintage
from ..data.io import atomic_path, escape_formula, write_text_atomic
from .marks import apply_marks, counts_stopped, wrong_way
from .summaries import HUB_COLUMNS, TARGETS

FORMAT_VERSION = 1

SCHEMA: dict[str, str] = {
    "origin_date": "start date (YYYY-MM-DD) of the last observed period; forecasts start the period after",
    "scenario": "scenario id from the scenario file ('baseline' = conflict continues as forecast)",
    "region": f"region code from the region table; '{TOTAL}' = sum over all regions, draw by draw",
    "target": "; ".join(f"{k}: {v}" for k, v in TARGETS.items()),
    "horizon": "periods ahead of origin_date (1 = the next period)",
    "target_date": "start date (YYYY-MM-DD) of the period the value is for",
    "output_type": "mean | quantile | cdf",
    "output_type_id": "quantile: the level (0.5 = median); cdf: the threshold in people; mean: empty",
    "value": "people (mean, quantile) or probability P(target <= threshold) (cdf)",
    "mark": "only in a run that carries a mark: the same text on every row (e.g. 'UNRELIABLE FIT (failed its "
            "diagnostics)'), as in the sidecar's marks; read it before using the numbers. Not a hubverse column: "
            "select the columns above to drop it (the hub export does)",
}
#: Column added after :data:`~.summaries.HUB_COLUMNS` when a run carries a mark.
MARK_COLUMN = "mark"


#: Last period with an observed value, per series (the sidecar's ``data.vintage``).
data_vintage = series_vintage


def build_sidecar(
    model,
    scenarios: Sequence,
    *,
    seed: int,
    n_draws: int,
    horizon: int,
    quantile_levels: Sequence[float],
    thresholds: Sequence[float],
    data_files: Sequence[str] = (),
    backtest: dict[str, Any] | None = None,
    totals: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Provenance and diagnostics for one forecast run.

    ``totals`` (scenario id -> the all-region total over the horizon of each path) feeds the check
    of scenarios that ran the wrong way (:func:`.marks.wrong_way`); None (a run whose paths are not
    held at once, ``--chunk-regions``): ``scenarios_ran_the_wrong_way`` is null, not checked."""
    from ..data.metadata import SYNTHETIC_MARK, synthetic_files

    info = model.info_
    panel = model.panel_
    synthetic = synthetic_files(data_files)
    uncert = model.uncertainty_included()
    sidecar = {
        "format_version": FORMAT_VERSION,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "software": {"package": "displacement-forecast", "version": __version__,
                     "python": platform.python_version()},
        "model": {"name": model.name, "config": info.config, "uses_drivers": model.uses_drivers,
                  # False: no scenario can move this fit (no conflict series in it), every region alike
                  "answers_scenarios": bool(model.uses_drivers and model.drivers)},
        "reliable": bool(info.reliable),
        # Fit diagnostics, then what past backtests say about the intervals (if one was given).
        "warnings": list(info.warnings) + list((backtest or {}).get("warnings", []))
        + ([f"{SYNTHETIC_MARK}: {', '.join(synthetic)} is flagged synthetic in its README; "
            "this is not a forecast of the real world"] if synthetic else []),
        # regions whose paths pile at a bound (forecast.summaries.tail_warnings): set by run_forecast;
        # None where nobody checked (--chunk-regions)
        "tails": None,
        # each period's intervals (new_displaced rows); the sums from the first period apart (cum_new_displaced)
        "intervals_calibrated_in_backtest": (backtest or {}).get("intervals_ok"),
        "cumulative_intervals_calibrated_in_backtest": ((backtest or {}).get("cumulative") or {}).get("intervals_ok"),
        "diagnostics": _jsonable(info.diagnostics),
        "data": {"files": list(data_files), "synthetic": bool(synthetic),
                 "vintage": data_vintage(panel), "frequency": panel.freq,
                 "first_period": str(panel.dates[0].date()), "last_period": str(panel.origin.date()),
                 "regions": panel.regions.codes,
                 # counts read as movements, not depleted: code -> why (the region table, or the data)
                 "regions_counting_movements": {
                     c: "region table" if t else "counts above the population"
                     for c, m, t in zip(panel.regions.codes, panel.counts_movements(), panel.regions.declared_movements,
                                        strict=True) if m}},
        "forecast": {"origin_date": str(panel.origin.date()), "horizon": horizon, "n_draws": n_draws,
                     "seed": seed, "quantile_levels": list(quantile_levels),
                     "cdf_thresholds": list(thresholds),
                     "common_random_numbers": "all scenarios share the same random streams"},
        "uncertainty_included": uncert,
        "scenario_blind_regions": model.scenario_blind_regions(),
        "negative_effects": list(model.negative_effects()),
        "scenarios": [s.to_dict() for s in scenarios],
        "scenarios_ran_the_wrong_way": None if totals is None else wrong_way(totals, [s.to_dict() for s in scenarios]),
        "backtest": backtest or {"status": "not run for this forecast; see `displacement-forecast backtest`"},
        "schema": SCHEMA,
    }
    # every sidecar holds `marks`, old counts among them (the command line adds what only it knows:
    # regions left out...)
    return apply_marks(sidecar, fit_reliable=bool(info.reliable), **counts_stopped(model))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_forecast(frame: pd.DataFrame, sidecar: dict[str, Any], out_dir: str | Path,
                   name: str = "forecast") -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.json`` atomically; text cells escaped against formulas.

    The CSV holds :data:`~.summaries.HUB_COLUMNS`, then :data:`MARK_COLUMN` when the sidecar
    carries a mark (:func:`.marks.mark_text`): the mark travels with the numbers.
    """
    from .marks import mark_text

    missing = [c for c in HUB_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"forecast frame lacks columns {missing}")
    out = Path(out_dir)
    table = frame[list(HUB_COLUMNS)]
    mark = mark_text(sidecar)
    if mark:
        table = table.assign(**{MARK_COLUMN: mark})
    csv_path = out / f"{name}.csv"
    with atomic_path(csv_path) as tmp, open_forecast_csv(tmp) as fh:
        write_forecast_rows(table, fh, header=True)
    return csv_path, write_sidecar(sidecar, out, name)


def open_forecast_csv(path: str | Path):
    """``path`` opened for writing forecast CSV text (UTF-8; line ends as :func:`write_forecast_rows` writes them)."""
    return open(path, "w", encoding="utf-8", newline="")


#: Rows formatted at a time by :func:`write_forecast_rows` (bounds the text held in memory).
ROWS_PER_BATCH = 100_000


def write_forecast_rows(table: pd.DataFrame, fh, *, header: bool) -> None:
    """Write ``table``'s rows (and its header, with ``header``) to a forecast CSV open as ``fh``.

    The one formatting of every ``forecast.csv``, unchunked (:func:`write_forecast`) or streamed
    region chunk by region chunk (:mod:`.streaming`), so the two are the same bytes for the same
    numbers. It is what ``escape_text_columns(table).to_csv(index=False)`` writes (tested equal),
    about twice as fast (a streamed run of millions of rows spends its time here): text cells
    escaped against spreadsheet formulas (``=``, ``+``, ``-``, ``@``: a quote first, as
    :func:`~displacement_forecast.data.io.escape_formula`), categorical ones too, quoted only where
    the CSV needs it; missing cells (a ``mean`` row's ``output_type_id``) empty; floats as Python
    writes them (``40114.0``, ``0.265``); lines end with ``\n``.
    """
    if header:
        fh.write(",".join(_csv_field(str(c)) for c in table.columns) + "\n")
    for start in range(0, len(table), ROWS_PER_BATCH):
        part = table.iloc[start:start + ROWS_PER_BATCH]
        cells = [_csv_cells(part[c]) for c in part.columns]
        fh.write("".join(f"{line}\n" for line in map(",".join, zip(*cells, strict=True))))


def _csv_field(text: str) -> str:
    """``text`` as one CSV field, quoted as the ``csv`` module (and so pandas) quotes it."""
    if text == "":
        return ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text])
    return buf.getvalue()[:-1]


def _csv_cells(col: pd.Series) -> np.ndarray:
    """The CSV text of every cell of ``col`` (see :func:`write_forecast_rows`)."""
    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        codes, uniq = pd.factorize(col, use_na_sentinel=True)  # each distinct text escaped once
        labels = np.array([_csv_field(str(escape_formula(u))) for u in uniq] + [""], dtype=object)
        return labels[codes]  # code -1 (missing): the last, empty
    v = col.to_numpy()
    if v.dtype == np.float64:
        out = np.array(list(map(repr, v.tolist())), dtype=object)
        out[np.isnan(v)] = ""
        return out
    if v.dtype.kind in "iu":
        return np.array(list(map(str, v.tolist())), dtype=object)
    # anything else (no forecast column is): as pandas writes it, one line per cell
    return np.array(col.to_frame().to_csv(index=False, header=False, lineterminator="\n").split("\n")[:-1],
                    dtype=object)


def write_sidecar(sidecar: dict[str, Any], out_dir: str | Path, name: str = "forecast") -> Path:
    """Write ``<name>.json`` atomically (numpy values as plain JSON, non-finite numbers as null)."""
    return write_text_atomic(json.dumps(_jsonable(sidecar), indent=2) + "\n", Path(out_dir) / f"{name}.json")
