"""Forecasts for thousands of regions in bounded memory: paths, summaries and file chunk by chunk.

``1,000 draws x 5,000 regions x 26 weeks`` of paths is 1 GB per scenario in float64, and the
driver paths and noise behind them several times that, so a large run cannot hold every scenario
(or even one) at once. :func:`stream_forecast` produces the long forecast table of
:func:`~displacement_forecast.forecast.summaries.hub_frame` (same columns, same summaries:
mean, quantiles made monotone, P(X <= threshold), for new and cumulative displacement, regions
and the total ``ALL``) **region chunk by region chunk**: for each chunk it draws the driver
paths, applies every scenario, simulates displacement, summarises and writes the rows, then drops
the paths. The all-region total is accumulated draw by draw (counts are whole numbers, so the
sum is exact whatever the chunks). Memory is ``O(draws x chunk x horizon)``.

Random numbers (for ``nb-dl``, the driver-model family this is built for):

* shared by all regions (one stream each, keyed by the seed): the shared coefficients of the
  displacement model and of each driver autoregression, and each driver's common shock;
* one stream per region and purpose (``SeedSequence(seed, spawn_key=(11, purpose, region))``):
  that region's intercepts given the shared coefficients (see :mod:`..models._nb_fit`), and every
  NB2 count's randomness as in :class:`~displacement_forecast.distributions.CommonNoiseNB`.

So a region's paths do not depend on which other regions share its chunk, and the output is the
same, byte for byte, for any chunk size (tested), and scenarios share random numbers (common
random numbers, as :meth:`~..models.base.ForecastModel.sample_scenarios`). Chunks hold whole
zones (the driver model pools a zone's counts). The numbers are **not** those of
:func:`~displacement_forecast.forecast.run.run_forecast` for the same seed (that draws all regions
from one stream); they are draws from the same model. Other models are run scenario by scenario
with :func:`~displacement_forecast.forecast.engine.iter_sample` (the same paths as
``run_forecast``; one scenario's paths held at a time) and summarised in region chunks.

Rows are in the order of an unchunked run's ``forecast.csv`` (:func:`~.summaries.hub_frame`):
scenario, target, output type and type id, region (regions chunk by chunk, ``ALL`` last), horizon.
Each chunk's rows go to a part file; at the end the parts are joined in that order into one CSV,
formatted by the function that writes every ``forecast.csv``
(:func:`~displacement_forecast.forecast.output.write_forecast_rows`), so for the same numbers
the file is byte for byte an unchunked run's; or into one Parquet file. Either atomically (temp
file and rename).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.io import atomic_path, escape_formula
from ..models._nb_fit import conditional_intercepts
from ..scenarios import Scenario
from . import engine
from .output import MARK_COLUMN
from .summaries import DEFAULT_THRESHOLDS, HUB_COLUMNS, QUANTILE_LEVELS, TARGETS, TOTAL

FORMATS = ("csv", "parquet")
_SHARED, _REGION = 10, 11  # first spawn-key element of the shared and the per-region streams
_GLM, _HOLD, _HELD = 50, 100, 150  # purposes (a driver series' purpose is its position in model.drivers)


@dataclass
class StreamResult:
    """What :func:`stream_forecast` did: the file, its rows, per scenario the all-region total
    paths ``(draw, horizon)``, the region chunks used, and whether the paths came from the
    region-chunked sampler (``nb-dl``: its own random streams) or from the engine (the paths of
    an unchunked run with the same seed)."""

    path: Path
    n_rows: int
    totals: dict[str, np.ndarray]
    chunks: list[np.ndarray] = field(repr=False)
    chunked_sampler: bool = False


# -- random streams ---------------------------------------------------------------------------
def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key)))


def _nb_cells(seed: int, purpose: int, regions: np.ndarray, shape_k: np.ndarray, horizon: int,
              intercepts: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Per region (own stream): a standard normal per draw for its intercept (if ``intercepts``),
    then the gamma multipliers (shape ``shape_k`` per draw, mean one) and normals of its counts.
    Returns ``(z_intercept (D, Rc) or None, mult (D, Rc, H), z (D, Rc, H))``."""
    D = len(shape_k)
    za = np.empty((D, len(regions))) if intercepts else None
    mult, z = np.empty((D, len(regions), horizon)), np.empty((D, len(regions), horizon))
    k = np.broadcast_to(shape_k[:, None], (D, horizon))
    for j, r in enumerate(regions):
        g = _rng(seed, _REGION, purpose, r)
        if intercepts:
            za[:, j] = g.standard_normal(D)
        mult[:, j] = g.standard_gamma(k) / k
        z[:, j] = g.standard_normal((D, horizon))
    return za, mult, z


def _nb_shape(ar: Any) -> float:
    """The gamma shape (1 / NB2 dispersion) of a driver series' counts, as ``CommonNoiseNB`` takes it."""
    return 1.0 / max(ar.nb_alpha(), 1e-8)


class _Noise:
    """The ``cells()`` interface of :class:`~displacement_forecast.distributions.CommonNoiseNB`."""

    def __init__(self, mult: np.ndarray, z: np.ndarray):
        self._cells = (mult, z)

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        return self._cells

    def draw(self, h: int | slice, mean: np.ndarray) -> np.ndarray:
        from .._poisson import poisson_ppf_z

        mult, z = self._cells
        return poisson_ppf_z(z[:, :, h], np.asarray(mean, dtype=float) * mult[:, :, h])


# -- the nb-dl family, region chunk by region chunk -------------------------------------------
class _ChunkedNBDL:
    """Sample paths of an ``nb-dl`` fit for any subset of whole zones, chunk-independent."""

    def __init__(self, model: Any, horizon: int, n_draws: int, seed: int):
        self.m, self.H, self.D, self.seed = model, horizon, n_draws, seed
        self.dm = model.driver_model_
        g = _rng(seed, _SHARED, _GLM)
        s_hat = model.params_[model.n_active_:]
        if model.parameter_uncertainty:
            self.shared = g.multivariate_normal(s_hat, model.cov_blocks_["shared"], size=n_draws, method="eigh")
        else:
            self.shared = np.broadcast_to(s_hat, (n_draws, len(s_hat))).copy()
        self.pos = np.cumsum(model.active_) - 1  # region -> fitted intercept
        self.drivers = {}
        for i, s in enumerate(model.drivers):
            ar = self.dm.models_[s]
            if ar.params_ is None:
                self.drivers[s] = None
                continue
            g = _rng(seed, _SHARED, i)
            G = len(ar.idx_)
            sh = g.multivariate_normal(ar.params_[G:], ar.cov_blocks_["shared"], size=n_draws, method="eigh")
            c = float(getattr(ar, "common_sd_", 0.0))
            shock = g.normal(-c * c / 2, c, (n_draws, horizon)) if c > 0 else np.zeros((n_draws, horizon))
            pos = np.full(ar.n_regions_, -1)
            pos[ar.idx_] = np.arange(G)
            self.drivers[s] = (sh, shock, pos)

    def zones(self) -> np.ndarray:
        """Zone of every region (regions of one zone must share a chunk)."""
        zones = [getattr(self.dm.models_[s], "zone_", None) for s in self.m.drivers]
        z = next((x for x in zones if x is not None), None)
        return np.arange(len(self.m.active_)) if z is None else np.asarray(z)

    def baseline(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Baseline driver paths ``(D, len(idx), H)`` for the regions ``idx`` (whole zones)."""
        from ..models._drivers_fast import ar_paths_given

        out = {}
        for i, s in enumerate(self.m.drivers):
            ar = self.dm.models_[s]
            if self.drivers[s] is None:  # no fit: Poisson around the region's mean
                _, mult, z = _nb_cells(self.seed, i, idx, np.full(self.D, 1e8), self.H, False)
                out[s] = _Noise(np.ones_like(mult), z).draw(slice(None), ar.mean_[idx][None, :, None])
                continue
            sh, shock, pos = self.drivers[s]
            alpha = np.clip(sh[:, -1], 1e-3, None)
            za, mult, z = _nb_cells(self.seed, i, idx, 1.0 / alpha, self.H, True)
            a = np.zeros((self.D, len(idx)))
            act = pos[idx] >= 0
            a[:, act] = conditional_intercepts(ar.params_, ar.cov_blocks_, sh, za[:, act], pos[idx][act])
            zone = getattr(ar, "zone_", None)
            zone = None if zone is None else np.unique(zone[idx], return_inverse=True)[1]
            out[s] = ar_paths_given(a, sh[:, :-1], shock, ar.history_[idx], zone, ar.active_[idx], mult, z)
            if ar.held_share() > 0:  # paths that hold the current intensity (SeriesAR.held_paths)
                _, hm, hz = _nb_cells(self.seed, _HELD + i, idx, np.full(self.D, _nb_shape(ar)), self.H, False)
                held = _Noise(hm, hz).draw(slice(None), ar.held_mean()[idx][None, :, None])
                out[s] = ar.held_paths(out[s], held, _rng(self.seed, _SHARED, _HELD + i).random(self.D))
        return out

    def hold_noise(self, idx: np.ndarray) -> dict[str, _Noise]:
        """Count randomness for ``hold`` scenarios (as ``DriverForecaster.count_noise``)."""
        out = {}
        for i, s in enumerate(self.m.drivers):
            _, mult, z = _nb_cells(self.seed, _HOLD + i, idx, np.full(self.D, _nb_shape(self.dm.models_[s])), self.H,
                                   False)
            out[s] = _Noise(mult, z)
        return out

    def randomness(self, idx: np.ndarray):
        """Intercepts ``(D, len(idx))`` and the count noise of the displacement model."""
        m = self.m
        alpha = np.clip(self.shared[:, -1], 1e-4, None)
        za, mult, z = _nb_cells(self.seed, _GLM, idx, 1.0 / alpha, self.H, True)
        a = np.full((self.D, len(idx)), -50.0)
        act = m.active_[idx]
        if m.parameter_uncertainty:
            a[:, act] = conditional_intercepts(m.params_, m.cov_blocks_, self.shared, za[:, act], self.pos[idx][act])
        else:
            a[:, act] = m.params_[self.pos[idx][act]][None, :]
        return a, _Noise(mult, z)

    def displacement(self, idx: np.ndarray, future: dict[str, np.ndarray], a: np.ndarray, noise: _Noise) -> np.ndarray:
        from ..models._glm_fast import displacement_paths

        m = self.m
        L, S, k = m.n_lags_, len(m.drivers), m.n_active_
        b = self.shared[:, : S * L].reshape(self.D, S, L)
        assert self.shared.shape[1] == len(m.params_) - k
        return displacement_paths(a, b, [m.history_[s][idx] for s in m.drivers], [future[s] for s in m.drivers],
                                  m.at_risk_end_[idx], noise, m.panel_.depletes()[idx])


def region_chunks(zones: np.ndarray, chunk_regions: int) -> list[np.ndarray]:
    """Consecutive runs of regions, each made of whole zones, of about ``chunk_regions`` regions.

    Regions are taken in the order of their zone's first appearance (then table order), so the
    output order does not depend on ``chunk_regions``.
    """
    zones = np.asarray(zones)
    first = {}
    for i, z in enumerate(zones.tolist()):
        first.setdefault(z, i)
    order = sorted(range(len(zones)), key=lambda i: (first[zones[i]], i))
    chunks, cur = [], []
    for j, i in enumerate(order):
        cur.append(i)
        last_of_zone = j + 1 == len(order) or zones[order[j + 1]] != zones[i]
        if last_of_zone and len(cur) >= chunk_regions:
            chunks.append(np.asarray(cur))
            cur = []
    if cur:
        chunks.append(np.asarray(cur))
    return chunks


def _chunk_scenario(sc: Scenario, resolved: list[set[str]], keep: set[str]) -> Scenario:
    """``sc`` with each change restricted to the regions in ``keep`` (changes left empty dropped)."""
    changes = []
    for ch, codes in zip(sc.changes, resolved, strict=True):
        inside = tuple(sorted(codes & keep))
        if inside:
            changes.append(replace(ch, regions=inside))
    return replace(sc, changes=tuple(changes))


# -- summaries and rows -----------------------------------------------------------------------
class _Rows:
    """Builds the long rows of one chunk (regions x targets x output types x horizons) as Arrow."""

    def __init__(self, origin: str, dates, quantile_levels: Sequence[float], thresholds: Sequence[float],
                 targets: Sequence[str]):
        self.origin = origin
        self.H = len(dates)
        self.dates = np.asarray(dates.strftime("%Y-%m-%d"), dtype=object)
        self.levels = sorted(float(q) for q in quantile_levels)
        self.thresholds = sorted(float(t) for t in thresholds)
        for t in targets:
            if t not in TARGETS:
                raise ValueError(f"unknown target {t!r}; expected one of {list(TARGETS)}")
        self.targets = list(targets)
        self.types = (["mean"] + ["quantile"] * len(self.levels) + ["cdf"] * len(self.thresholds))
        self.type_ids = [""] + [f"{q:g}" for q in self.levels] + [f"{t:.0f}" for t in self.thresholds]
        self.is_cdf = np.array([t == "cdf" for t in self.types])

    def values(self, paths: np.ndarray) -> np.ndarray:
        """``(regions, targets, output rows, horizon)`` values from paths ``(draw, region, horizon)``.

        The numbers of :func:`~.summaries.quantiles` and :func:`~.summaries.exceedance` (tested
        equal to :func:`~.summaries.hub_frame`'s), computed from each cell's draws sorted once and
        laid out contiguously, which is faster than NumPy's quantile along the draw axis.
        """
        D, R, H = paths.shape
        out = []
        for t in self.targets:
            x = paths if t == "new_displaced" else np.cumsum(paths, axis=2)
            cells = np.ascontiguousarray(x.reshape(D, R * H).T)  # (cells, draws)
            cells.sort(axis=1)
            parts = [x.mean(axis=0).reshape(1, -1)]
            parts.append(np.maximum.accumulate(self._quantiles(cells), axis=0))
            for th in self.thresholds:  # P(X <= th) = 1 - P(X > th), as hub_frame computes it
                parts.append(1.0 - (cells > th).mean(axis=1)[None])
            v = np.concatenate(parts, axis=0).reshape(-1, R, H)  # (M, R, H)
            v = np.where(self.is_cdf[:, None, None], np.round(v, 4), np.round(v, 1))
            out.append(v)
        return np.stack(out, axis=0).transpose(2, 0, 1, 3)  # (R, targets, M, H)

    def _quantiles(self, cells: np.ndarray) -> np.ndarray:
        """``(Q, cells)`` quantiles of rows already sorted: NumPy's ``method="linear"`` arithmetic
        (virtual index ``(n-1) q``, the two neighbours, NumPy's ``_lerp``), without its partition."""
        n = cells.shape[1]
        vi = (n - 1) * np.asarray(self.levels, dtype=float)
        lo = np.floor(vi)
        gamma = (vi - lo)[:, None]
        lo = np.clip(lo, 0, n - 1).astype(np.intp)
        hi = np.clip(lo + 1, 0, n - 1)
        a, b = cells[:, lo].T, cells[:, hi].T
        diff = b - a
        out = a + diff * gamma
        return np.where(gamma >= 0.5, b - diff * (1 - gamma), out)

    @property
    def groups(self) -> int:
        """Row groups of a table (:meth:`table`): one per target and output row."""
        return len(self.targets) * len(self.types)

    def table(self, scenario: str, regions: list[str], values: np.ndarray):
        """The rows of ``values`` ``(regions, targets, output rows, horizon)`` as Arrow, ordered
        target, output row, region, horizon."""
        import pyarrow as pa

        R, T, M, H = values.shape
        n = R * T * M * H

        def cat(labels: list[str], idx: np.ndarray):
            """Dictionary column of ``labels[idx]``, each distinct (escaped) text once."""
            escaped = [escape_formula(x) for x in labels]
            where = {e: i for i, e in enumerate(dict.fromkeys(escaped))}
            pos = np.array([where[e] for e in escaped], dtype=np.int32)
            return pa.DictionaryArray.from_arrays(pa.array(pos[np.asarray(idx, dtype=np.intp)]),
                                                  pa.array(list(where)))

        # ordered target, output row, region, horizon: each (target, output row) group is one
        # run of R * H rows, which _Writer.close puts where an unchunked run's file has it
        tidx = np.repeat(np.arange(T), M * R * H)
        midx = np.tile(np.repeat(np.arange(M), R * H), T)
        ridx = np.tile(np.repeat(np.arange(R), H), T * M)
        hidx = np.tile(np.arange(H), T * M * R)
        cols = {
            "origin_date": cat([self.origin], np.zeros(n, dtype=np.int32)),
            "scenario": cat([scenario], np.zeros(n, dtype=np.int32)),
            "region": cat(list(regions), ridx),
            "target": cat(self.targets, tidx),
            "horizon": pa.array(hidx + 1, type=pa.int64()),
            "target_date": cat(list(self.dates), hidx),
            "output_type": cat(self.types, midx),
            "output_type_id": cat(self.type_ids, midx),
            "value": pa.array(values.transpose(1, 2, 0, 3).reshape(-1)),
        }
        assert tuple(cols) == HUB_COLUMNS
        return pa.table(cols)


#: Rows per Parquet row group of a streamed forecast (about 1 million, as pyarrow's default).
ROW_GROUP = 1 << 20


class _Writer:
    """Each chunk's rows go to a part file (Arrow IPC, one per scenario and chunk); at the end the
    parts are joined, group by group (target and output row, see :meth:`_Rows.table`), into one
    CSV or Parquet file in an unchunked run's row order, atomically."""

    def __init__(self, path: Path, file_format: str, scenarios: list[str], groups: int, mark: str = ""):
        if file_format not in FORMATS:
            raise ValueError(f"unknown format {file_format!r}; expected one of {', '.join(FORMATS)}")
        self.path, self.format, self.groups = Path(path), file_format, groups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.parts: dict[str, list[Path]] = {s: [] for s in scenarios}
        self.n_rows = 0
        self.mark = mark

    def write(self, scenario: str, table) -> None:
        import pyarrow as pa

        if self.mark:
            table = table.append_column(MARK_COLUMN, pa.array([self.mark] * table.num_rows, pa.string()))
        files = self.parts[scenario]
        part = self.tmp / f"s{list(self.parts).index(scenario)}-{len(files):07d}.arrow"
        with pa.OSFile(str(part), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        files.append(part)
        self.n_rows += table.num_rows

    def _slices(self):
        """The rows in the file's order: per scenario, per group, each chunk's run of that group."""
        import pyarrow as pa

        for files in self.parts.values():
            for g in range(self.groups):
                for part in files:
                    with pa.memory_map(str(part)) as src:  # written out before the next is mapped
                        table = pa.ipc.open_file(src).read_all()
                        n = table.num_rows // self.groups
                        yield table.slice(g * n, n)

    def close(self) -> Path:
        import pyarrow.parquet as pq

        from .output import open_forecast_csv, write_forecast_rows

        try:
            with atomic_path(self.path) as out:
                if self.format == "csv":
                    with open_forecast_csv(out) as f:
                        header = True
                        for table in self._slices():
                            write_forecast_rows(table.to_pandas(), f, header=header)
                            header = False
                else:  # slices gathered into row groups of about ROW_GROUP rows (one per slice: thousands)
                    import pyarrow as pa

                    writer, held, n = None, [], 0
                    for table in self._slices():
                        writer = writer or pq.ParquetWriter(str(out), table.schema)
                        held.append(table)
                        n += table.num_rows
                        if n >= ROW_GROUP:
                            writer.write_table(pa.concat_tables(held), row_group_size=n)
                            held, n = [], 0
                    if held:
                        writer.write_table(pa.concat_tables(held), row_group_size=n)
                    if writer is not None:
                        writer.close()
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- the driver -------------------------------------------------------------------------------
def stream_forecast(model: Any, scenarios: Sequence[Scenario] | None, out: str | Path, *, horizon: int,
                    n_draws: int = 1000, seed: int = 0, chunk_regions: int = 250, file_format: str = "csv",
                    quantile_levels: Sequence[float] = QUANTILE_LEVELS,
                    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                    targets: Sequence[str] = ("new_displaced", "cum_new_displaced"),
                    chunks: Sequence[np.ndarray] | None = None, workers: int = 1,
                    dask: Any = None, mark: str = "") -> StreamResult:
    """Forecast every scenario of a fitted ``model`` into one long table file, chunk by chunk.

    Parameters
    ----------
    model
        A fitted :class:`~displacement_forecast.models.base.ForecastModel`. ``nb-dl`` fits are
        simulated chunk by chunk (see the module); other models scenario by scenario.
    scenarios
        Scenarios (default: baseline). Their regions are resolved against the whole table first,
        so a mistake is reported before any work.
    out
        The file to write (``.csv`` or ``.parquet``), atomically.
    horizon, n_draws, seed
        Periods ahead, sample paths, seed (recorded by the caller).
    chunk_regions
        About this many regions per chunk (chunks hold whole zones). Memory grows with it.
    file_format
        ``"csv"`` (pyarrow's writer) or ``"parquet"``.
    quantile_levels, thresholds, targets
        As :func:`~displacement_forecast.forecast.summaries.hub_frame`.
    chunks
        Explicit region chunks (arrays of region indices, whole zones each); overrides
        ``chunk_regions``. For tests and distributed runs.
    workers
        Chunks computed at a time in this process (threads; each holds one chunk's paths).
    dask
        A Dask scheduler address (``tcp://host:port``) or a ``distributed.Client``: the region
        chunks are computed on the cluster (the fitted model is sent to every worker once, at most
        two chunks per worker thread in flight) and written here in order, so the file is the one
        a local run writes. ``None`` (default): in this process. Models without a chunked sampler
        always run here.
    mark
        The run's mark (:func:`~displacement_forecast.forecast.marks.mark_text`); when not empty,
        every row carries it in a trailing ``mark`` column, as in ``forecast.csv`` of an
        unchunked run (:func:`~displacement_forecast.forecast.output.write_forecast`).

    Returns
    -------
    StreamResult

    Raises
    ------
    ValueError
        Bad horizon, draws, format or target; :class:`~displacement_forecast.data.schema.DataError`
        for scenarios that name unknown regions or series.
    """
    if horizon < 1 or n_draws < 1:
        raise ValueError("horizon and n_draws must be >= 1")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("region-chunked forecasts write with pyarrow: pip install 'displacement-forecast[hub]'") from None
    model._check_fitted()
    engine.driver_forecaster(model)  # fitted on first use, as in engine.sample
    scenarios = list(scenarios or [Scenario.baseline()])
    panel = model.panel_
    regions, codes = panel.regions, panel.regions.codes
    dates = panel.future_dates(horizon)
    rows = _Rows(str(panel.origin.date()), dates, quantile_levels, thresholds, targets)
    chunked = getattr(model, "name", "") == "nb-dl" and model.driver_model_ is not None and hasattr(model, "cov_blocks_")
    sim = _ChunkedNBDL(model, horizon, n_draws, seed) if chunked else None
    if chunks is None:
        zones = sim.zones() if sim is not None else np.arange(len(codes))
        chunks = region_chunks(zones, max(1, int(chunk_regions)))
    resolved = {sc.id: [set(regions.resolve(ch.regions, context=f"scenario '{sc.id}'.change[{n}]"))
                        for n, ch in enumerate(sc.changes)] for sc in scenarios}
    if sim is not None:  # every scenario applied once to one draw of all regions: errors before any work
        one = {s: np.zeros((1, len(codes), horizon)) for s in model.drivers}
        for sc in scenarios:
            sc.apply(one, regions, dates, panel.series)
    writer = _Writer(Path(out), file_format, [sc.id for sc in scenarios], rows.groups, mark=mark)
    totals = {sc.id: np.zeros((n_draws, horizon)) for sc in scenarios}
    try:
        if sim is not None and dask is not None:
            _run_dask(dask, model, scenarios, resolved, chunks, rows, writer, totals, (horizon, n_draws, seed))
        elif sim is not None:
            _run_chunked(sim, scenarios, resolved, chunks, rows, writer, totals, workers)
        else:
            _run_whole(model, scenarios, chunks, rows, writer, totals, horizon, n_draws, seed)
        for sc in scenarios:
            v = rows.values(totals[sc.id][:, None, :])
            writer.write(sc.id, rows.table(sc.id, [TOTAL], v))
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    return StreamResult(path=path, n_rows=writer.n_rows, totals=totals, chunks=list(chunks),
                        chunked_sampler=sim is not None)


def _chunk_tables(sim: _ChunkedNBDL, scenarios, resolved, idx: np.ndarray, rows: _Rows):
    """One chunk's rows: ``(scenario id, Arrow table, total paths (draw, horizon))`` per scenario.

    Driver paths and randomness are drawn once for the chunk, then every scenario is applied. A
    region no change of a scenario names has that scenario's driver paths equal to the baseline's
    and so, with common random numbers, the baseline's displacement paths: those are computed
    (and summarised) once per chunk and reused; only the regions a scenario changes are simulated
    again.
    """
    panel = sim.m.panel_
    codes, dates = panel.regions.codes, panel.future_dates(sim.H)
    idx = np.asarray(idx)
    sub = panel.regions.subset([codes[i] for i in idx])
    keep = set(sub.codes)
    history = {s: v[idx] for s, v in panel.series.items()}
    base = sim.baseline(idx)
    a, noise = sim.randomness(idx)
    hold = engine.HoldNoise(lambda: sim.hold_noise(idx))
    unchanged: dict[str, Any] = {}  # the baseline's paths, values and total for this chunk
    for sc in scenarios:
        named = set().union(*resolved[sc.id])
        changed = np.flatnonzero([c in named for c in sub.codes])
        if len(changed) < len(idx) and not unchanged:
            p = sim.displacement(idx, base, a, noise)
            engine.check_paths(p, sim.m.name)
            unchanged.update(paths=p, values=rows.values(p), total=p.sum(axis=1))
        if len(changed) == 0:
            values, total = unchanged["values"], unchanged["total"]
        else:
            fut = _chunk_scenario(sc, resolved[sc.id], keep).apply(base, sub, dates, history, hold.counts)
            if len(changed) == len(idx):
                paths = sim.displacement(idx, fut, a, noise)
                engine.check_paths(paths, sim.m.name)
                values, total = rows.values(paths), paths.sum(axis=1)
            else:
                mult, z = noise.cells()
                paths = sim.displacement(idx[changed], {s: v[:, changed] for s, v in fut.items()},
                                         a[:, changed], _Noise(mult[:, changed], z[:, changed]))
                engine.check_paths(paths, sim.m.name)
                values = unchanged["values"].copy()
                values[changed] = rows.values(paths)
                # exact: the paths are whole numbers
                total = unchanged["total"] - unchanged["paths"][:, changed].sum(axis=1) + paths.sum(axis=1)
            del fut, paths
        yield sc.id, rows.table(sc.id, sub.codes, values), total


def _run_chunked(sim: _ChunkedNBDL, scenarios, resolved, chunks, rows: _Rows, writer: _Writer, totals,
                 workers: int = 1) -> None:
    """Chunks in this process; with ``workers > 1`` that many chunks at a time in threads (the
    kernels and NumPy's sorts release the GIL), written in chunk order."""
    if workers <= 1:
        for idx in chunks:
            for sid, table, total in _chunk_tables(sim, scenarios, resolved, idx, rows):
                totals[sid] += total
                writer.write(sid, table)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        todo, pending = list(chunks), []
        while todo or pending:
            while todo and len(pending) < workers:
                pending.append(pool.submit(lambda i: list(_chunk_tables(sim, scenarios, resolved, i, rows)),
                                           todo.pop(0)))
            for sid, table, total in pending.pop(0).result():
                totals[sid] += total
                writer.write(sid, table)


def _dask_chunk(model, scenarios, resolved, idx, rows: _Rows, setting: tuple[int, int, int]) -> list:
    return list(_chunk_tables(_ChunkedNBDL(model, *setting), scenarios, resolved, idx, rows))


def _run_dask(dask: Any, model, scenarios, resolved, chunks, rows: _Rows, writer: _Writer, totals,
              setting: tuple[int, int, int]) -> None:
    """Chunks on a Dask cluster; results taken in chunk order (the file does not depend on which
    worker finishes first) with a bounded number of chunks in flight (bounded memory)."""
    from distributed import Client

    own = isinstance(dask, str)
    client = Client(dask) if own else dask
    try:
        threads = sum(client.nthreads().values()) or 1
        remote = client.scatter(model, broadcast=True)
        todo = list(chunks)
        pending = []
        while todo or pending:
            while todo and len(pending) < 2 * threads:
                pending.append(client.submit(_dask_chunk, remote, scenarios, resolved, todo.pop(0), rows, setting,
                                             pure=False))
            fut = pending.pop(0)
            for sid, table, total in fut.result():
                totals[sid] += total
                writer.write(sid, table)
            fut.release()
    finally:
        if own:
            client.close()


def _run_whole(model, scenarios, chunks, rows: _Rows, writer: _Writer, totals, horizon, n_draws, seed) -> None:
    """Models without a chunked sampler: the engine's paths (driver paths and model draws made
    once for all scenarios), one scenario at a time, summarised region chunk by region chunk."""
    codes = model.panel_.regions.codes
    for sid, paths in engine.iter_sample(model, horizon, scenarios, n_draws=n_draws, seed=seed):
        paths = paths.values  # checked by the engine
        for idx in chunks:
            idx = np.asarray(idx)
            _emit(sid, [codes[i] for i in idx], paths[:, idx], rows, writer, totals)
        del paths


def _emit(sid: str, codes: list[str], paths: np.ndarray, rows: _Rows, writer: _Writer, totals) -> None:
    totals[sid] += paths.sum(axis=1)
    writer.write(sid, rows.table(sid, codes, rows.values(paths)))


def write_streamed_run(model: Any, scenarios: Sequence[Scenario] | None, out_dir: str | Path, *, horizon: int,
                       n_draws: int = 1000, seed: int = 0, file_format: str = "csv", chunk_regions: int = 250,
                       workers: int = 1, dask: Any = None, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                       quantile_levels: Sequence[float] = QUANTILE_LEVELS, data_files: Sequence[str] = (),
                       backtest: dict[str, Any] | None = None, marks: dict[str, Any] | None = None,
                       amend: Callable[[dict[str, Any]], None] | None = None,
                       charts: Callable[[StreamResult, dict[str, Any]], Sequence[Any]] | None = None,
                       ) -> tuple[StreamResult, dict[str, Any], list[Path]]:
    """A forecast folder for a large run: ``forecast.csv`` (or ``forecast.parquet``) from
    :func:`stream_forecast`, the usual ``forecast.json`` sidecar, which also records how the
    file was made (chunks, format, where the random numbers come from), and ``datapackage.json``,
    written last, as in every forecast folder.

    ``marks``: keyword arguments of :func:`~displacement_forecast.forecast.marks.apply_marks`
    (default: the fit's own verdict); the file's rows carry the resulting mark. ``amend``: called
    with the sidecar before it is written (the CLI adds what it knows beyond the run). ``charts``:
    called with the stream result and the sidecar once both files are written; it writes more files
    into ``out_dir`` and returns them as :class:`~displacement_forecast.forecast.writers.Output`
    (the CLI draws the all-region total's charts, :func:`displacement_forecast.plot.writer.write_totals`),
    listed in the data package.

    Returns the stream result, the sidecar and the files written (``datapackage.json`` last).
    """
    from .datapackage import forecast_resource, sidecar_resource, write_datapackage
    from .marks import apply_marks, mark_text
    from .output import build_sidecar, write_sidecar
    from .writers import Output

    scenarios = list(scenarios or [Scenario.baseline()])
    out = Path(out_dir)
    sidecar = build_sidecar(model, scenarios, seed=seed, n_draws=n_draws, horizon=horizon,
                            quantile_levels=quantile_levels, thresholds=thresholds, data_files=data_files,
                            backtest=backtest)
    apply_marks(sidecar, **(marks or {"fit_reliable": bool(model.info_.reliable)}))
    res = stream_forecast(model, scenarios, out / f"forecast.{file_format}", horizon=horizon, n_draws=n_draws,
                          seed=seed, chunk_regions=chunk_regions, file_format=file_format, workers=workers,
                          dask=dask, thresholds=thresholds, quantile_levels=quantile_levels,
                          mark=mark_text(sidecar))
    sidecar["forecast"]["streamed"] = {
        "module": "displacement_forecast.forecast.streaming", "format": file_format, "rows": res.n_rows,
        "region_chunks": len(res.chunks), "executor": "dask" if dask is not None else f"in-process x{workers}",
        "random_numbers": ("one stream per region (the same for any chunking); not those of an unchunked run"
                           if res.chunked_sampler else "those of an unchunked run with the same seed (this model "
                           "has no region-chunked sampler: all regions' paths drawn at once, one scenario at a "
                           "time), so forecast.csv is an unchunked run's, byte for byte")}
    if amend is not None:
        amend(sidecar)
    side = write_sidecar(sidecar, out)
    outputs = [Output(res.path, forecast_resource(sidecar, file_format=file_format)), Output(side, sidecar_resource())]
    if charts is not None:
        outputs += list(charts(res, sidecar))
    package = write_datapackage(out, sidecar, resources=[o.resource for o in outputs if o.resource is not None])
    return res, sidecar, [o.path for o in outputs] + [package]
