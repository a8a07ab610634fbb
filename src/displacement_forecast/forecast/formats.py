"""Optional agency formats beside ``forecast.csv``: an HXL-tagged copy and the raw sample paths.

* :func:`write_hxl_csv` - the forecast with a second header row of HXL hashtags
  (https://hxlstandard.org), so HDX tools and HXL-aware scripts find columns by tag. Only rows in
  people (``mean``, ``quantile``) go in: the ``value`` column is tagged ``#affected+idps+new``,
  and a probability (the ``cdf`` rows) under that tag would be summed as people by those tools.
* :func:`write_draws` - one row per draw, region, scenario and period (the VIEWS prediction
  challenge convention: 1,000 draws per unit, no missing values, no negative values), for
  consumers who compute their own summaries. Parquet when pyarrow is installed, else CSV.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..data.io import atomic_path, escape_text_columns, write_csv_atomic
from .summaries import HUB_COLUMNS

#: HXL hashtag per forecast column. ``+forecast`` keeps projections apart from observations,
#: while HXL tag patterns such as ``#affected+idps+new`` still match the value column.
HXL_TAGS: dict[str, str] = {
    "origin_date": "#date+origin",
    "scenario": "#indicator+scenario",
    "region": "#adm1+code",
    "target": "#indicator+target",
    "horizon": "#meta+horizon",
    "target_date": "#date+forecast",
    "output_type": "#meta+output_type",
    "output_type_id": "#meta+quantile",
    "value": "#affected+idps+new+forecast",
}
#: HXL hashtag of the column that carries a forecast's marks (written only when there are some).
HXL_NOTE_TAG = "#meta+note"
#: Draws per unit expected by the VIEWS prediction challenge.
VIEWS_DRAWS = 1000
DRAWS_COLUMNS = ("origin_date", "scenario", "region", "horizon", "target_date", "draw", "value")


def write_hxl_csv(frame: pd.DataFrame, path: str | Path, note: str = "") -> Path:
    """Write the forecast's people-valued rows with an HXL hashtag row under the header.

    Parameters
    ----------
    frame
        The long forecast table (:data:`~.summaries.HUB_COLUMNS`).
    path
        Output CSV (written atomically; text cells escaped against spreadsheet formulas).
    note
        A mark every row must carry (:func:`.marks.mark_text`, e.g. an unreliable fit): when not
        empty, a last column ``note`` tagged :data:`HXL_NOTE_TAG` repeats it on every row, so the
        file read alone says it.

    Returns
    -------
    Path
        ``path``.
    """
    missing = [c for c in HUB_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"forecast frame lacks columns {missing}")
    rows = frame.loc[frame["output_type"].isin(["mean", "quantile"]), list(HUB_COLUMNS)]
    tags = pd.DataFrame([[HXL_TAGS[c] for c in HUB_COLUMNS]], columns=list(HUB_COLUMNS))
    body = escape_text_columns(rows.astype({"output_type_id": str}).replace({"output_type_id": {"nan": "", "None": ""}}))
    if note:
        tags["note"] = HXL_NOTE_TAG
        body = body.assign(note=" ".join(str(note).split()))
    with atomic_path(path) as tmp:
        # the tag row starts with '#', which no spreadsheet runs as a formula
        pd.concat([tags, body], ignore_index=True).to_csv(tmp, index=False)
    return Path(path)


def draws_frame(paths_by_scenario: Mapping[str, xr.DataArray], origin_date: str | None = None) -> pd.DataFrame:
    """Sample paths as a long table, one row per scenario, region, horizon and draw.

    Raises
    ------
    ValueError
        A path holds NaN, infinity or a negative value (consumers are promised none).
    """
    frames = []
    for scen, paths in paths_by_scenario.items():
        x = paths.transpose("draw", "region", "horizon")
        D, R, H = x.shape
        vals = np.asarray(x.values, dtype=float)
        if not np.isfinite(vals).all():
            raise ValueError(f"scenario {scen!r}: sample paths hold NaN or infinite values")
        if (vals < 0).any():
            raise ValueError(f"scenario {scen!r}: sample paths hold negative values")
        origin = origin_date or paths.attrs.get("origin_date")
        dates = np.asarray(pd.DatetimeIndex(x["target_date"].values).strftime("%Y-%m-%d"))
        # region-major, then horizon, then draw: the rows of one unit are contiguous
        frames.append(pd.DataFrame({
            "origin_date": str(origin),
            "scenario": scen,
            "region": np.repeat(x["region"].values, H * D),
            "horizon": np.tile(np.repeat(x["horizon"].values, D), R),
            "target_date": np.tile(np.repeat(dates, D), R),
            "draw": np.tile(np.arange(D), R * H),
            "value": vals.transpose(1, 2, 0).reshape(-1),
        }))
    df = pd.concat(frames, ignore_index=True)
    if np.allclose(df["value"], np.round(df["value"])):
        df["value"] = np.round(df["value"]).astype(np.int64)
    return df[list(DRAWS_COLUMNS)]


def write_draws(
    paths_by_scenario: Mapping[str, xr.DataArray],
    out_dir: str | Path,
    origin_date: str | None = None,
    *,
    file_format: str | None = None,
) -> Path:
    """Write the raw sample paths, one row per draw (``draws.parquet``, or ``draws.csv``).

    Parameters
    ----------
    paths_by_scenario
        ``ForecastRun.paths``: scenario -> ``draw x region x horizon`` (regions only; the total
        ``ALL`` is not written, sum the regions draw by draw).
    out_dir
        Forecast folder.
    origin_date
        Origin date (``YYYY-MM-DD``); default: the paths' ``origin_date`` attribute.
    file_format
        ``"parquet"`` or ``"csv"``; default parquet when pyarrow is installed, CSV otherwise.

    Returns
    -------
    Path
        The file written (atomically).
    """
    if file_format is None:
        try:
            import pyarrow  # noqa: F401

            file_format = "parquet"
        except ModuleNotFoundError:
            file_format = "csv"
    df = draws_frame(paths_by_scenario, origin_date)
    out = Path(out_dir)
    if file_format == "csv":
        return write_csv_atomic(df, out / "draws.csv")
    if file_format != "parquet":
        raise ValueError(f"file_format must be 'parquet' or 'csv', got {file_format!r}")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise ModuleNotFoundError("pyarrow is needed for draws.parquet; install it with "
                                  "`pip install 'displacement-forecast[hub]'` or use file_format='csv'") from None
    path = out / "draws.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    return path
