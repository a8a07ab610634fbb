"""Rolling-origin backtests: fit on the past only, forecast 1..H periods ahead, score what happened.

For each origin ``t`` and model, one **task**:

1. the panel is truncated to periods ``<= t`` *before* it is sent to the task
   (:meth:`Panel.truncate`), so the model, its driver (strike/flight) forecaster, its at-risk
   bookkeeping and any scaling it does can only see the past. The region table holds only
   static facts (codes, names, parents, populations);
2. the model is fitted and draws sample paths for horizons ``1..H`` under the baseline scenario
   (future strikes/flights forecast by the model's own driver model);
3. with ``oracle_drivers=True`` driver models also draw, with the same random numbers, under a
   scenario whose strike/flight paths are the ones that really happened (``Change(values=...)``),
   labelled ``<model>+oracle``: the gap between the two runs is the part of the error that comes
   from not knowing the future conflict;
4. the paths are scored against the observed counts (``evaluate.scores``), per region and for the
   regional total ``ALL`` (paths summed over regions draw by draw), each period on its own (target
   ``new_displaced``) and summed from the first period (``cum_new_displaced``, paths summed over
   periods draw by draw), the two targets of the forecast CSV (:func:`score_frame`).

Everything that reads scores or a summary (:func:`summarise`'s skill, :func:`winners`,
:func:`coverage_summary`, :func:`pit_values`, :func:`common_cells`, the CLI's tables) reads the
per-period rows unless told otherwise (:func:`of_target`); frames written before the cumulative
rows existed have no ``target`` column and are all per-period.

Tasks are independent (embarrassingly parallel): they run in-process (``workers=1``), through
joblib (``workers > 1``) or on a Dask distributed cluster (``dask="tcp://host:port"`` or a
``distributed.Client``). A task that raises is recorded (model, origin, error) and the others
still finish. Random seeds depend on ``(seed, origin date)`` only, so results do not depend on
the origin range, the order of execution or the executor.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..conventions import CUMULATIVE, FREQ_WORD, MIN_HISTORY, PER_PERIOD, TOTAL
from ..data.regions import RegionTable
from ..data.schema import DataError, Problem
from ..forecast import engine
from ..models.base import TARGET, ForecastModel, Panel
from .scores import COVERAGE_LEVELS, score_paths, skill

REFERENCE = "last-value"
ORACLE_SUFFIX = "+oracle"

#: Score columns of the tidy frame, after the keys.
SCORE_COLUMNS = ("observed", "median", "mean", "crps", "wis", "ignorance", "ae", "ape", "pit",
                 *(f"cover_{lv}" for lv in COVERAGE_LEVELS),
                 *(f"{e}_{lv}" for lv in COVERAGE_LEVELS for e in ("lo", "hi")))
KEY_COLUMNS = ("model", "drivers", "origin", "target_date", "region", "target", "horizon")
#: The targets scored, in the order of the rows (the forecast CSV's ``target`` names).
TARGETS = (PER_PERIOD, CUMULATIVE)
#: Per-task column after the scores: the fit passed the model's own diagnostics (``info_.reliable``).
TASK_COLUMNS = ("reliable",)


@dataclass(frozen=True)
class ModelSpec:
    """A model to backtest: a registry name with its configuration, or a factory.

    Parameters
    ----------
    name
        Registry name (see :data:`displacement_forecast.models.REGISTRY`) or, with ``factory``,
        any label.
    config
        Keyword arguments for the model.
    factory
        Callable returning an unfitted :class:`ForecastModel` (``factory(**config)``); must be
        picklable for process-based executors.
    """

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    factory: Callable[..., ForecastModel] | None = None

    def build(self) -> ForecastModel:
        if self.factory is not None:
            return self.factory(**self.config)
        from ..models import get_model

        return get_model(self.name, **self.config)


@dataclass
class TaskResult:
    """What one (model, origin) task returns: scores or a failure, and how long it took."""

    model: str
    origin: pd.Timestamp
    scores: pd.DataFrame | None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    reliable: bool | None = None
    #: The fit's warnings (``info_.warnings``), e.g. nb-dl's shortened lags.
    warnings: tuple[str, ...] = ()


@dataclass
class BacktestResult:
    """Scores of every task, the failed tasks and the settings used."""

    scores: pd.DataFrame
    failures: pd.DataFrame
    tasks: pd.DataFrame
    settings: dict[str, Any]

    def summary(self, reference: str = REFERENCE) -> pd.DataFrame:
        """Per target x model x horizon x scope means (each period's rows first); see :func:`summarise`."""
        return summarise(self.scores, reference=reference)


# -- origins ---------------------------------------------------------------------------------
def _origin_point(tok: str, dates: pd.DatetimeIndex) -> int:
    tok = tok.strip()
    try:
        i = int(tok)
    except ValueError:
        try:
            ts = pd.Timestamp(tok)
        except ValueError:
            raise DataError(Problem("--origins", None, None,
                                    f"{tok!r} is neither a date nor a period number")) from None
        pos = int(dates.searchsorted(ts, side="right")) - 1  # last period on or before the date
        if pos < 0:
            raise DataError(Problem("--origins", None, None,
                                    f"{tok} is before the first period {dates[0].date()}")) from None
        return pos
    if not -len(dates) <= i < len(dates):
        raise DataError(Problem("--origins", None, None,
                                f"period number {i} is outside 0..{len(dates) - 1} (negative: from the end)"))
    return i % len(dates)


def parse_origins(spec: str, dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Origins from ``START:END[:STEP]`` (END included), or a comma-separated list of them.

    START and END are dates (the last period on or before each is used) or period numbers into
    ``dates`` (0 = first period, negative = counted from the end, as in Python); STEP is a
    number of periods (default 1). Examples: ``2019-01-07:2019-12-30``, ``-64:-13:4``. A list
    ``2023-06-01,2023-07-01`` (or one date) gives those origins, in time order, as statsforecast's
    cutoffs do.

    Origins are parsed here, judged by :func:`check_origin_history` (history before them, none at
    the data's last period), which :func:`run_backtest` applies to every form of origins.

    Raises
    ------
    DataError
        On a malformed spec, a date before the first period, a period number out of range, or an
        origin given twice (two dates within one period).
    """
    if ":" not in spec:
        return _origin_list(spec, dates)
    if "," in spec:
        raise DataError(Problem("--origins", None, None,
                                f"{spec!r}: expected START:END[:STEP] or a list of dates D1,D2,..., not both"))
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
        raise DataError(Problem("--origins", None, None, f"{spec!r}: expected START:END[:STEP]"))
    a, b = _origin_point(parts[0], dates), _origin_point(parts[1], dates)
    try:
        step = int(parts[2]) if len(parts) == 3 and parts[2].strip() else 1
    except ValueError:
        raise DataError(Problem("--origins", None, None, f"step {parts[2]!r} is not a whole number")) from None
    if step < 1:
        raise DataError(Problem("--origins", None, None, "step must be at least 1"))
    if b < a:
        raise DataError(Problem("--origins", None, None, f"{spec!r}: END is before START"))
    return dates[a : b + 1 : step]


def _origin_list(spec: str, dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Origins from a comma-separated list of dates or period numbers (see :func:`parse_origins`)."""
    items = [t.strip() for t in spec.split(",")]
    if not all(items):
        raise DataError(Problem("--origins", None, None,
                                f"{spec!r}: expected START:END[:STEP] or a list of dates D1,D2,... without empty items"))
    seen: dict[int, str] = {}
    for tok in items:
        pos = _origin_point(tok, dates)
        if pos in seen:
            raise DataError(Problem("--origins", None, None, f"{seen[pos]} and {tok} are the same period "
                                    f"({dates[pos].date()}): each origin once"))
        seen[pos] = tok
    return dates[sorted(seen)]


def default_origins(dates: pd.DatetimeIndex, horizon: int, n: int = 52, step: int = 1,
                    min_history: int = MIN_HISTORY, model: str | None = None) -> pd.DatetimeIndex:
    """The ``n`` latest origins (every ``step`` periods) with a full horizon of observations after
    them and at least ``min_history`` periods up to and including them (the history ``forecast``
    requires, of ``model`` when named: earlier origins would only score fits that ``forecast``
    refuses).

    Raises
    ------
    DataError
        Fewer than ``min_history + horizon`` periods.
    """
    last = len(dates) - 1 - horizon
    first = min_history - 1
    if last < first:
        whose = f" for model {model!r}" if model else ""
        raise DataError(Problem("<observations>", None, None,
                                f"{len(dates)} periods: a backtest needs at least {min_history + horizon} "
                                f"({min_history} of history{whose} before the first origin and {horizon} after it)"))
    idx = np.arange(last, first - 1, -step)[:n][::-1]
    return dates[idx]


def check_origin_history(origins: pd.DatetimeIndex, dates: pd.DatetimeIndex, min_history: int = MIN_HISTORY,
                         model: str | None = None) -> None:
    """The rules every origin of a backtest meets, whatever form it was given in (a range, a list,
    dates in Python), each broken one a one-line error:

    * at least ``min_history`` periods of ``dates`` up to and including it: the history ``forecast``
      requires (:data:`~displacement_forecast.conventions.MIN_HISTORY`, or more for ``model``, the
      model that needs the most, :func:`~displacement_forecast.models.history.min_history`); the
      error names the first origin too early, its periods, the minimum and the earliest origin allowed;
    * not the data's last period, after which nothing is observed to score.

    ``backtest --origins=0:2`` fitted ``last-value`` from the first period, which ``forecast``
    refuses (``needs at least 8``), and scored those fits without a word; ``--models nb-dl --lags 8``
    recorded a failed fit at every origin before its 12 periods.

    Raises
    ------
    DataError
        One problem (option ``--origins``).
    """
    pos = dates.get_indexer(origins)
    early = [(o, int(p) + 1) for o, p in zip(origins, pos, strict=True) if 0 <= p < min_history - 1]
    if early:
        raise DataError(Problem("--origins", None, None, _early_message(early, len(origins), dates, min_history, model)))
    if len(dates) and (pos == len(dates) - 1).any():  # was: exit 0 with empty scores, not a word said
        which = f"the last origin, {dates[-1].date()}," if len(origins) > 1 else f"origin {dates[-1].date()}"
        before = f" (the latest allowed is {dates[-2].date()}, period -2)" if len(dates) > 1 else ""
        raise DataError(Problem("--origins", None, None, f"{which} is the data's last period, after which nothing "
                                f"is observed to score; expected origins before it{before}"))


def check_scoreable(origins: pd.DatetimeIndex, dates: pd.DatetimeIndex, horizon: int) -> None:
    """A horizon some origin can score: at most the periods observed after the earliest origin.

    ``backtest --horizon 600`` on 24 months was accepted without a word (every horizon past the
    data scored nothing) and ``--horizon 3000`` failed every task on a date past the year 2262.

    Raises
    ------
    DataError
        One problem (option ``--horizon``) naming the earliest origin and the periods after it.
    """
    if not len(origins) or not len(dates):
        return
    first = origins.min()
    after = int((dates > first).sum())
    if horizon > after:
        which = f"the first origin ({first.date()})" if len(origins) > 1 else f"origin {first.date()}"
        beyond = f"horizon {horizon} has" if horizon == after + 1 else f"horizons {after + 1}-{horizon} have"
        raise DataError(Problem("--horizon", None, None,
                                f"{horizon}: the data hold {after} period{'s' if after != 1 else ''} after {which}, "
                                f"so {beyond} nothing observed to score against from any origin; expected at most "
                                f"{after}"))


def _early_message(early: list[tuple[pd.Timestamp, int]], n_origins: int, dates: pd.DatetimeIndex,
                   min_history: int, model: str | None) -> str:
    """:func:`check_origin_history`'s line for the ``early`` origins (origin, periods up to it)."""
    def periods(n: int) -> str:
        return f"{n} period{'s' if n != 1 else ''}"

    who = f"model {model!r}" if model else "`forecast`"
    allowed = (f"the earliest allowed origin is {dates[min_history - 1].date()} (period {min_history - 1})"
               if len(dates) > min_history else
               f"the data hold only {periods(len(dates))}, too few to score any origin with that history")
    if len(early) < n_origins:  # some: say which
        which = ", ".join(f"{o.date()} ({periods(n)})" for o, n in early[:5]) + (", ..." if len(early) > 5 else "")
        least = f"the least {who} needs" if model else "the least `forecast` accepts"
        return (f"{len(early)} of the {n_origins} origins {'has' if len(early) == 1 else 'have'} fewer than "
                f"{min_history} periods of history, {least}: {which}; {allowed}")
    (first, n) = early[0]
    which = f"the first origin, {first.date()}," if n_origins > 1 else f"origin {first.date()}"
    return f"{which} has {periods(n)} of history; {who} needs at least {min_history}; {allowed}"


def history_need(models: Iterable[ModelSpec], panel: Panel, min_history: int = MIN_HISTORY) -> tuple[int, str | None]:
    """The most history any of ``models`` is fitted on (``forecast``'s rule,
    :func:`~displacement_forecast.models.history.min_history` with ``min_history`` for its
    :data:`~displacement_forecast.conventions.MIN_HISTORY`, on ``panel``'s frequency, regions and
    series) and the model that needs it (None: no model needs more than ``min_history``).

    A model that cannot be built or find its drivers in the panel (no conflict series) adds
    nothing: its tasks fail on their own, each recorded with the model and origin.
    """
    from ..models.history import min_history as model_min_history
    from ..models.history import model_needs

    need, who = min_history, None
    for spec in models:
        try:
            model = spec.build()
            _, drivers, lags = model_needs(model, panel.series)
        except Exception:  # noqa: BLE001 - it fails at every origin, each failure recorded (run_task)
            continue
        m = model_min_history(model.name, drivers, lags, panel.freq, len(panel.regions), floor=min_history)
        if m > need:
            need, who = m, spec.name
    return need, who


# -- one task --------------------------------------------------------------------------------
def oracle_scenario(truth: Panel, origin: pd.Timestamp, horizon: int, drivers: Sequence[str]):
    """A scenario whose driver paths are the strikes/flights observed after ``origin``.

    Missing observed values are carried forward from the last observed value (0 if none).
    """
    from ..models.base import ffill_time
    from ..scenarios import Change, Scenario

    after = np.flatnonzero(truth.dates > origin)[:horizon]
    changes = []
    for s in drivers:
        if s not in truth.series or not len(after):
            continue
        filled = ffill_time(truth.series[s], fill=0.0)[:, after]
        for r, code in enumerate(truth.regions.codes):
            changes.append(Change((code,), (s,), 1, len(after), None, tuple(float(v) for v in filled[r])))
    return Scenario("oracle-drivers", "strikes and flights as they were observed", tuple(changes))


def score_frame(paths: np.ndarray, observed: np.ndarray, *, model: str, drivers: str,
                origin: pd.Timestamp, target_dates: Sequence, regions: Sequence[str],
                rng: np.random.Generator) -> pd.DataFrame:
    """Tidy scores of paths ``draw x region x horizon`` against ``observed`` (``region x horizon``).

    One row per target x region x horizon (:data:`KEY_COLUMNS`, :data:`SCORE_COLUMNS`), the
    regions followed by the total ``ALL`` (paths summed over regions draw by draw; its observation
    is NaN when any region is missing), both targets scored by :func:`score_paths`:

    * ``target`` ``new_displaced``: each period on its own; first, with ``rng`` as it comes, so
      these rows are what they were before the cumulative rows were added;
    * ``target`` ``cum_new_displaced``: the running sum from the first forecast period, the paths
      summed over horizons ``1..h`` draw by draw against the observed sum of periods ``1..h``
      (NaN when any of those periods is missing, for ``ALL`` in any region): sums over periods can
      cover far less than each period does when the paths' periods do not hang together as the
      outcomes' do. Horizon 1 is scored too (the sum of one period is the period: same
      observation, interval and coverage; only the randomised PIT is drawn anew), so the
      cumulative rows are the forecast CSV's ``cum_new_displaced`` at every horizon.

    Rows whose observation is missing are dropped.
    """
    x = np.concatenate([paths, paths.sum(axis=1, keepdims=True)], axis=1)  # draw x (R + 1) x H
    y = np.concatenate([observed, observed.sum(axis=0, keepdims=True)], axis=0)  # (R + 1) x H
    R, H = y.shape
    keys = {"model": model, "drivers": drivers, "origin": pd.Timestamp(origin),
            "target_date": np.tile(pd.DatetimeIndex(target_dates[:H]), R),
            "region": np.repeat(list(regions) + [TOTAL], H)}
    frames = []
    for target, (xt, yt) in zip(TARGETS, ((x, y), (np.cumsum(x, axis=2), np.cumsum(y, axis=1))), strict=True):
        sc = score_paths(xt, yt, rng)
        frames.append(pd.DataFrame({**keys, "target": target, "horizon": np.tile(np.arange(1, H + 1), R),
                                    **{k: sc[k].reshape(-1) for k in SCORE_COLUMNS}}))
    frame = pd.concat(frames, ignore_index=True)
    return frame[frame["observed"].notna()].reset_index(drop=True)


def task_paths(spec: ModelSpec, origin: pd.Timestamp, past: Panel, future: Panel, horizon: int,
               n_draws: int, seed: int, oracle_drivers: bool) -> tuple[ForecastModel, list, dict]:
    """Fit ``spec`` on ``past`` and draw the task's paths through the forecast engine.

    The engine's seed is :func:`~displacement_forecast.forecast.engine.origin_seed` of ``(seed,
    origin)``, so ``run_forecast`` from the same origin with that seed draws the same paths.

    Returns
    -------
    tuple
        The fitted model, its scenarios (baseline, and the oracle when asked for and possible) and
        scenario id -> paths ``draw x region x horizon``.
    """
    from ..scenarios import Scenario

    if past.origin != pd.Timestamp(origin):
        raise RuntimeError(f"panel ends {past.origin.date()}, not at the origin {pd.Timestamp(origin).date()}")
    model = engine.fit(spec.build(), past)
    scenarios = [Scenario.baseline()]
    oracle = oracle_drivers and model.uses_drivers and bool(model.drivers) and len(future.dates) > 0
    if oracle:
        scenarios.append(oracle_scenario(future, origin, horizon, model.drivers))
    paths = engine.sample(model, horizon, scenarios, n_draws=n_draws, seed=engine.origin_seed(seed, origin))
    return model, scenarios, paths


def run_task(spec: ModelSpec, origin: pd.Timestamp, past: Panel, future: Panel, horizon: int,
             n_draws: int, seed: int, oracle_drivers: bool) -> TaskResult:
    """Fit ``spec`` on ``past`` (data up to ``origin``), forecast, score against ``future``.

    ``future`` holds the observed periods after the origin only (at most ``horizon``); the
    model never receives it. Exceptions are caught and returned as a failed :class:`TaskResult`.
    """
    t0 = time.perf_counter()
    origin = pd.Timestamp(origin)
    try:
        model, scenarios, paths = task_paths(spec, origin, past, future, horizon, n_draws, seed, oracle_drivers)
        score_rng = np.random.default_rng(engine.origin_streams(seed, origin)[1])  # the model's: task_paths
        dates = past.future_dates(horizon)
        obs = np.full((len(past.regions), horizon), np.nan)
        pos = dates.get_indexer(future.dates)
        ok = pos >= 0
        obs[:, pos[ok]] = future.series[TARGET][:, ok]
        reliable = bool(model.info_.reliable)
        frames = []
        for sc in scenarios:
            label = spec.name if sc.id == "baseline" else spec.name + ORACLE_SUFFIX
            frames.append(score_frame(paths[sc.id].values, obs, model=label,
                                      drivers="forecast" if sc.id == "baseline" else "observed",
                                      origin=origin, target_dates=dates, regions=past.regions.codes,
                                      rng=np.random.default_rng(score_rng.bit_generator.seed_seq)))
        return TaskResult(spec.name, origin, pd.concat(frames, ignore_index=True).assign(reliable=reliable),
                          seconds=time.perf_counter() - t0, reliable=reliable,
                          warnings=tuple(dict.fromkeys(model.info_.warnings)))
    except Exception as e:  # noqa: BLE001 - reported with its model and origin, others continue
        return TaskResult(spec.name, origin, None, error=f"{type(e).__name__}: {e}",
                          traceback=traceback.format_exc(), seconds=time.perf_counter() - t0)


# -- executors -------------------------------------------------------------------------------
def _progress(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="task", disable=not progress if progress is not None else None,
                leave=False)


def _run_local(tasks: list[tuple], workers: int, progress: bool | None) -> list[TaskResult]:
    bar = _progress(len(tasks), progress, f"backtest ({workers} worker{'s' if workers > 1 else ''})")
    out = []
    try:
        if workers == 1:
            for t in tasks:
                out.append(run_task(*t))
                bar.update()
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=workers, return_as="generator_unordered")
            for res in par(delayed(run_task)(*t) for t in tasks):
                out.append(res)
                bar.update()
    finally:
        bar.close()
    return out


def _run_dask(tasks: list[tuple], dask: Any, progress: bool | None) -> list[TaskResult]:
    from distributed import Client, as_completed

    own = isinstance(dask, str)
    client = Client(dask) if own else dask
    bar = _progress(len(tasks), progress, "backtest (dask)")
    out = []
    try:
        futures = {client.submit(run_task, *t, pure=False): t for t in tasks}
        for fut in as_completed(futures):
            spec, origin = futures[fut][0], futures[fut][1]
            try:
                out.append(fut.result())
            except Exception as e:  # noqa: BLE001 - e.g. a worker died: report, keep the rest
                out.append(TaskResult(spec.name, pd.Timestamp(origin), None,
                                      error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()))
            bar.update()
    finally:
        bar.close()
        if own:
            client.close()
    return out


# -- the backtest ----------------------------------------------------------------------------
def _as_specs(models: Iterable[str | ModelSpec | tuple]) -> list[ModelSpec]:
    specs = []
    for m in models:
        if isinstance(m, ModelSpec):
            specs.append(m)
        elif isinstance(m, str):
            specs.append(ModelSpec(m))
        else:
            specs.append(ModelSpec(*m))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique: {names}")
    return specs


def backtest_origins(panel: Panel, models: Any, origins: Any, horizon: int,
                     min_history: int = MIN_HISTORY) -> pd.DatetimeIndex:
    """The origins a backtest of ``models`` on ``panel`` runs (``origins``: None for the default
    ones, a ``--origins`` spec or dates), checked as :func:`run_backtest` documents; the command line
    calls it before it prints its progress line (``--horizon 159`` printed "backtest of last-value
    on ... (1 worker(s)) ..." and then the error)."""
    min_history, needs_most = history_need(_as_specs(models), panel, min_history)
    if origins is None:
        origins = default_origins(panel.dates, horizon, min_history=min_history, model=needs_most)
    elif isinstance(origins, str):
        origins = parse_origins(origins, panel.dates)
    origins = pd.DatetimeIndex(origins)
    bad = origins.difference(panel.dates)
    if len(bad):
        raise DataError(Problem("origins", None, None,
                                f"not periods of the data: {', '.join(str(d.date()) for d in bad[:5])}"))
    check_origin_history(origins, panel.dates, min_history, needs_most)
    check_scoreable(origins, panel.dates, horizon)
    return origins


def run_backtest(
    data: pd.DataFrame | Panel,
    regions: RegionTable | None = None,
    *,
    models: Iterable[str | ModelSpec | tuple] = (REFERENCE, "nb-dl"),
    origins: Sequence | str | None = None,
    horizon: int = 4,
    n_draws: int = 500,
    seed: int = 0,
    oracle_drivers: bool = False,
    workers: int = 1,
    dask: Any = None,
    progress: bool | None = None,
    truth: Panel | None = None,
    min_history: int = MIN_HISTORY,
) -> BacktestResult:
    """Rolling-origin backtest of several models.

    Parameters
    ----------
    data
        Clean observation frame (with ``regions``) or a :class:`Panel`.
    regions
        Region table, when ``data`` is a frame.
    models
        Registry names, ``(name, config)`` pairs or :class:`ModelSpec`.
    origins
        Origin dates, a ``START:END[:STEP]`` string (see :func:`parse_origins`) or None for the
        52 latest origins with a full horizon after them.
    horizon
        Periods ahead (1..H) forecast from each origin.
    n_draws
        Sample paths per forecast.
    seed
        Base seed; each origin's seed is derived from it and the origin date.
    oracle_drivers
        Also score driver models under the observed strike/flight paths (``<model>+oracle``).
    workers
        Local processes (joblib); 1 runs in this process.
    dask
        Scheduler address (``tcp://...``) or a ``distributed.Client``: run the tasks there.
    progress
        Show a tqdm progress bar (None: only on a terminal).
    truth
        Panel to score against (default: ``data``). The leakage test passes corrupted ``data``
        and the clean ``truth``.
    min_history
        Fewest periods up to and including each origin (:func:`check_origin_history`), raised to
        what the models need (:func:`history_need`): as ``forecast`` requires, so a backtest never
        scores fits it would refuse. The default origins start after it too.

    Returns
    -------
    BacktestResult
        ``scores`` (one row per target x model x origin x region x horizon, region ``ALL``
        included, the per-period target ``new_displaced`` first (see :func:`score_frame`), with
        ``reliable``: whether that task's fit passed the model's own diagnostics, ``info_.reliable``),
        ``failures`` (model, origin, error), ``tasks`` (seconds, ok, reliable and the fit's warnings
        per task) and ``settings`` (``model_config``: the arguments each model was built with,
        when it was given any).

    Raises
    ------
    DataError
        Origins malformed (:func:`parse_origins`), not periods of the data, or breaking
        :func:`check_origin_history` (too little history for a model, the data's last period); too
        few periods for the default origins.
    """
    panel = data if isinstance(data, Panel) else Panel.from_observations(data, regions)
    truth = truth if truth is not None else panel
    if list(truth.dates) != list(panel.dates) or truth.regions.codes != panel.regions.codes:
        raise ValueError("truth must have the same periods and regions as the data")
    if horizon < 1 or n_draws < 2:
        raise ValueError("horizon must be >= 1 and n_draws >= 2")
    specs = _as_specs(models)
    origins = backtest_origins(panel, specs, origins, horizon, min_history)
    tasks = []
    for o in origins:
        past = panel.truncate(o)
        after = truth.dates > o
        idx = np.flatnonzero(after)[:horizon]
        future = Panel(truth.dates[idx], truth.regions, truth.freq,
                       {k: v[:, idx] for k, v in truth.series.items()})
        for spec in specs:
            tasks.append((spec, o, past, future, horizon, n_draws, seed, oracle_drivers))
    t0 = time.perf_counter()
    if dask is not None:
        results = _run_dask(tasks, dask, progress)
    else:
        results = _run_local(tasks, max(1, int(workers)), progress)
    wall = time.perf_counter() - t0
    order = {s.name: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: (r.origin, order.get(r.model, 0)))
    frames = [r.scores for r in results if r.scores is not None and len(r.scores)]
    scores = (pd.concat(frames, ignore_index=True) if frames
              else pd.DataFrame(columns=[*KEY_COLUMNS, *SCORE_COLUMNS, *TASK_COLUMNS]))
    if len(scores):
        scores["_m"] = scores["model"].map(lambda m: order.get(m.removesuffix(ORACLE_SUFFIX), 0))
        scores["_o"] = scores["model"].str.endswith(ORACLE_SUFFIX)
        scores["_r"] = scores["region"].map({c: i for i, c in enumerate([*panel.regions.codes, TOTAL])})
        scores["_t"] = scores["target"].map({t: i for i, t in enumerate(TARGETS)})
        # the per-period rows first, in the order they had before the cumulative rows were added
        scores = (scores.sort_values(["_t", "_m", "_o", "origin", "_r", "horizon"], kind="stable")
                  .drop(columns=["_t", "_m", "_o", "_r"]).reset_index(drop=True))
    failures = pd.DataFrame([{"model": r.model, "origin": r.origin, "error": r.error, "traceback": r.traceback}
                             for r in results if r.error is not None],
                            columns=["model", "origin", "error", "traceback"])
    task_frame = pd.DataFrame([{"model": r.model, "origin": r.origin, "seconds": r.seconds,
                                "ok": r.error is None, "reliable": r.reliable, "warnings": list(r.warnings)}
                               for r in results])
    settings = {"models": [s.name for s in specs],
                "model_config": {s.name: dict(s.config) for s in specs if s.config},  # --drivers, --lags
                "horizon": horizon, "n_draws": n_draws, "seed": seed,
                "oracle_drivers": oracle_drivers, "n_origins": len(origins),
                "first_origin": str(origins[0].date()) if len(origins) else None,
                "last_origin": str(origins[-1].date()) if len(origins) else None,
                "origins": [str(o.date()) for o in origins],
                # what the data were: forecast --backtest refuses a backtest of another frequency or regions
                "freq": panel.freq, "regions": list(panel.regions.codes),
                "executor": "dask" if dask is not None else f"joblib x{workers}" if workers > 1 else "in-process",
                "wall_seconds": round(wall, 2), "crps_estimator": "fair"}
    return BacktestResult(scores, failures, task_frame, settings)


def backtest(data: pd.DataFrame | Panel, regions: RegionTable | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`run_backtest`, returning only the tidy scores frame.

    Failed tasks are listed in ``frame.attrs["failures"]`` (and a warning is issued).
    """
    import warnings

    res = run_backtest(data, regions, **kwargs)
    scores = res.scores
    scores.attrs["failures"] = res.failures.drop(columns="traceback").to_dict("records")
    if len(res.failures):
        warnings.warn(f"{len(res.failures)} backtest task(s) failed: "
                      + "; ".join(f"{r.model} @ {pd.Timestamp(r.origin).date()}: {r.error}"
                                  for r in res.failures.itertuples()), stacklevel=2)
    return scores


# -- summaries -------------------------------------------------------------------------------
def of_target(frame: pd.DataFrame, target: str = PER_PERIOD) -> pd.DataFrame:
    """The rows of ``frame`` (tidy scores or a :func:`summarise` table) for ``target``.

    A frame without a ``target`` column (a ``scores.csv`` or ``summary.csv`` written before the
    cumulative target was scored, or one built by hand) holds ``new_displaced`` rows only: it is
    returned whole for that target and empty for ``cum_new_displaced``. Raises ``ValueError`` for
    a target that is neither.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if "target" not in frame.columns:
        return frame if target == PER_PERIOD else frame.iloc[:0]
    return frame[frame["target"] == target]


def summarise(scores: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Mean scores per target x model x horizon x scope, with CRPS skill against ``reference``.

    ``target`` is ``new_displaced`` (each period; these rows come first, as they were before the
    cumulative target was scored) or ``cum_new_displaced`` (sums from the first forecast period,
    :func:`score_frame`); scores without a ``target`` column are all ``new_displaced``.
    ``scope`` is ``regions`` (every region-period counted once) or ``ALL`` (the regional total).
    Skill ``1 - CRPS_model / CRPS_reference`` uses only the (origin, region, horizon) cells of the
    target that both models scored, so a failed task cannot flatter a model. It is NaN when the
    reference was not run. ``mape`` averages over observations above zero only.
    """
    if not len(scores):
        return pd.DataFrame()
    s = scores if "target" in scores.columns else scores.assign(target=PER_PERIOD)
    s = s.assign(scope=np.where(s["region"] == TOTAL, TOTAL, "regions"))
    cover = [f"cover_{lv}" for lv in COVERAGE_LEVELS]
    g = s.groupby(["target", "model", "scope", "horizon"], sort=False)
    out = g.agg(crps=("crps", "mean"), wis=("wis", "mean"), ignorance=("ignorance", "mean"),
                **{c: (c, "mean") for c in cover}, mae=("ae", "mean"), mape=("ape", "mean"),
                n=("crps", "size"), n_origins=("origin", "nunique"),
                first_origin=("origin", "min"), last_origin=("origin", "max")).reset_index()
    keys = ["target", "origin", "region", "horizon"]
    ref = s[s["model"] == reference][keys + ["crps"]].rename(columns={"crps": "crps_ref"})
    sk = []
    for row in out.itertuples():
        if not len(ref):
            sk.append(np.nan)
            continue
        m = s[(s["target"] == row.target) & (s["model"] == row.model) & (s["scope"] == row.scope)
              & (s["horizon"] == row.horizon)]
        j = m[keys + ["crps"]].merge(ref, on=keys)
        sk.append(skill(j["crps"].mean(), j["crps_ref"].mean()) if len(j) else np.nan)
    out["skill"] = sk
    cols = ["model", "scope", "target", "horizon", "crps", "wis", *cover, "mae", "mape", "ignorance", "skill",
            "n", "n_origins", "first_origin", "last_origin"]
    order = {m: i for i, m in enumerate(dict.fromkeys(scores["model"]))}
    out = out.assign(_t=out["target"].map({t: i for i, t in enumerate(TARGETS)}),
                     _s=(out["scope"] == TOTAL).astype(int), _m=out["model"].map(order))
    return (out.sort_values(["_t", "_s", "horizon", "_m"], kind="stable")[cols].reset_index(drop=True))


def common_cells(scores: pd.DataFrame, target: str = PER_PERIOD) -> pd.DataFrame:
    """The scores of ``target`` (default each period, :func:`of_target`) in the (origin, region,
    horizon) cells that every model scored (oracle runs aside).

    Rank models on these: a model whose early origins failed would otherwise be compared on
    other (later, often easier or harder) periods than the rest.
    """
    scores = of_target(scores, target)
    if not len(scores):
        return scores
    keys = ["origin", "region", "horizon"]
    fc = scores[~scores["model"].str.endswith(ORACLE_SUFFIX)]
    n = fc.groupby(keys)["model"].nunique()
    keep = n[n == fc["model"].nunique()].index
    return scores.set_index(keys).loc[lambda d: d.index.isin(keep)].reset_index()


def winners(summary: pd.DataFrame, score: str = "crps", include_oracle: bool = False,
            target: str = PER_PERIOD) -> pd.DataFrame:
    """The model with the lowest mean ``score`` per scope and horizon of ``target`` (default each
    period, :func:`of_target`), with the runner-up.

    Oracle runs (which use the observed future conflict) are left out unless asked for: they are
    not forecasts anyone could have made.
    """
    s = of_target(summary, target)
    s = s if include_oracle else s[~s["model"].str.endswith(ORACLE_SUFFIX)]
    rows = []
    for (scope, h), g in s.groupby(["scope", "horizon"], sort=False):
        g = g.sort_values(score)
        best = g.iloc[0]
        second = g.iloc[1] if len(g) > 1 else None
        rows.append({"scope": scope, "horizon": h, "best": best["model"], score: best[score],
                     "skill": best["skill"], "cover_80": best["cover_80"],
                     "runner_up": None if second is None else second["model"],
                     f"runner_up_{score}": np.nan if second is None else second[score]})
    return pd.DataFrame(rows)


def coverage_summary(summary: pd.DataFrame, model: str, scope: str = "regions",
                     scores: pd.DataFrame | None = None, target: str = PER_PERIOD) -> dict[str, Any]:
    """Latest backtest coverage of one model, for the forecast sidecar (JSON-ready).

    ``target``: ``new_displaced`` (default: each period) or ``cum_new_displaced`` (sums from the
    first forecast period), the rows of ``summary`` and ``scores`` read (:func:`of_target`).

    ``scores`` (the backtest's tidy scores, optional) adds ``interval_90``: for each level, a 90%
    interval of the pooled coverage rate (:func:`coverage_interval` over the origins' coverage,
    in blocks of origins spanning twice the longest horizon: origins closer than the horizon
    share target periods; empty with too few origins), ``interval_origins`` (origins scored at
    any horizon: the interval resamples them all; ``origins.n`` counts those scored at the horizon
    with the most, so it can be smaller when the last origins have no outcome at long horizons)
    and ``interval_note`` (how, or why there is none).

    Returns
    -------
    dict
        ``{"model", "scope", "target", "horizons", "origins": {"n", "first", "last"},
        "nominal_vs_observed": {"50%": 0.47, ...}`` (all horizons pooled, weighted by the number
        of scored cells) ``, "by_horizon": {"1": {"50%": ..., ...}, ...}, "crps_skill_vs_last_value":
        {"1": ..., ...}, "n"}``, and with ``scores`` ``"interval_90": {"50%": [0.38, 0.55], ...},
        "interval_origins", "interval_note"``.
    """
    s = of_target(summary, target)
    s = s[(s["model"] == model) & (s["scope"] == scope)]
    if not len(s):
        raise ValueError(f"no backtest summary rows for model {model!r} (scope {scope!r}"
                         + (f", target {target}" if target != PER_PERIOD else "") + ")")
    cover = [f"cover_{lv}" for lv in COVERAGE_LEVELS]
    w = s["n"].to_numpy(float)

    def pct(row) -> dict[str, float]:
        return {f"{lv}%": round(float(row[f"cover_{lv}"]), 4) for lv in COVERAGE_LEVELS}

    pooled = {f"{lv}%": round(float(np.average(s[c], weights=w)), 4) for lv, c in zip(COVERAGE_LEVELS, cover, strict=True)}
    return {
        "model": model, "scope": scope, "target": target,
        "horizons": [int(h) for h in s["horizon"]],
        "origins": {"n": int(s["n_origins"].max()), "first": str(pd.Timestamp(s["first_origin"].min()).date()),
                    "last": str(pd.Timestamp(s["last_origin"].max()).date())},
        "nominal_vs_observed": pooled,
        "by_horizon": {str(int(r["horizon"])): pct(r) for _, r in s.iterrows()},
        "crps_skill_vs_last_value": {str(int(r["horizon"])): (None if pd.isna(r["skill"]) else round(float(r["skill"]), 4))
                                     for _, r in s.iterrows()},
        "n": int(w.sum()),
        **(_pooled_intervals(of_target(scores, target), model, scope, int(s["horizon"].max()))
           if scores is not None else {}),
    }


def _scored(scores: pd.DataFrame, model: str, scope: str) -> pd.DataFrame:
    """One model's scored cells in ``scope`` (the total ``ALL`` or the regions)."""
    s = scores[(scores["model"] == model) & ((scores["region"] == TOTAL) == (scope == TOTAL))]
    return s[np.isfinite(pd.to_numeric(s["observed"], errors="coerce"))]


def _same_rates(scores: pd.DataFrame, model: str, scope: str, rates: Mapping[str, float]) -> bool:
    """Whether ``scores`` give the pooled coverage rates of the summary (to 0.5 points): the same run."""
    s = _scored(scores, model, scope)
    return all(abs(float(pd.to_numeric(s[f"cover_{lv}"], errors="coerce").mean()) - rates[f"{lv}%"]) <= 0.005
               for lv in COVERAGE_LEVELS if f"{lv}%" in rates)


def _pooled_intervals(scores: pd.DataFrame, model: str, scope: str, horizon: int) -> dict[str, Any]:
    """``interval_90`` (per level, :func:`coverage_interval` of one model's coverage in ``scope``,
    all horizons pooled, each origin weighted by its scored cells), ``interval_origins`` and
    ``interval_note``: how it was made, or why there is none."""
    s = _scored(scores, model, scope)
    cols = [f"cover_{lv}" for lv in COVERAGE_LEVELS]
    if not len(s):
        return {"interval_90": {}, "interval_origins": 0, "interval_note": "no scored cells"}
    g = s.assign(_n=1.0).groupby("origin")
    by_origin = g[cols].mean().sort_index()
    cells = g["_n"].sum().reindex(by_origin.index).to_numpy()
    # blocks spanning twice the horizon in periods: origins a step of k periods apart -> 2 H / k origins
    origins = pd.to_datetime(pd.Series(by_origin.index))
    h1 = s[s["horizon"] == 1]
    period = (pd.to_datetime(h1["target_date"]) - pd.to_datetime(h1["origin"])).median() if len(h1) else pd.NaT
    gap = origins.diff().median()
    step = max(int(round(gap / period)), 1) if pd.notna(gap) and pd.notna(period) and period > pd.Timedelta(0) else 1
    block = max(-(-2 * horizon // step), 1)
    n = len(by_origin)
    ci = {f"{lv}%": coverage_interval(by_origin[c].to_numpy(), block=block, weights=cells)
          for lv, c in zip(COVERAGE_LEVELS, cols, strict=True)}
    if any(np.isnan(lo) for lo, _ in ci.values()):
        return {"interval_90": {}, "interval_origins": n,
                "interval_note": f"too few origins ({n}) for an interval of the rates: at least {MIN_BLOCKS} blocks of "
                                 f"{block} consecutive origins are needed"}
    return {"interval_90": {k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in ci.items()}, "interval_origins": n,
            "interval_note": f"90% intervals of the rates, blocks of {block} consecutive origins resampled; "
                             "approximate and if anything too narrow (in simulation they held the true rate 76% "
                             "of the time)"}


def backtest_record(backtest_dir: str | Path, model: str, *, scope: str = TOTAL,
                    tolerance: float = 0.05, data_file: str | Path | None = None, freq: str | None = None,
                    regions: Sequence[str] | None = None, data_content: str | None = None,
                    data_sha256: str | None = None) -> dict[str, Any]:
    """What a forecast sidecar says about the model's past intervals, from a backtest folder.

    Reads ``summary.csv`` written by ``displacement-forecast backtest`` and returns
    :func:`coverage_summary` for ``model`` plus a verdict: ``intervals_ok`` is False, and
    ``warnings`` says which, when a pooled coverage is more than ``tolerance`` from its nominal
    level (an 80% interval that covered 63% of outcomes does not mean what it says); with the
    backtest's ``scores.csv`` beside it (or, where only ``summary.csv`` is kept, the intervals
    its ``backtest.json`` recorded for the same rates), each such rate carries its 90% interval
    (``interval_90``), so a reader sees how much of the gap a few origins can explain.
    The default scope is ``ALL`` (the regional total), what planners read first.

    The verdict is of the per-period rows (``new_displaced``). ``cumulative`` holds the same for
    the sums from the first forecast period (``cum_new_displaced``: "more than 250,000 within 12
    weeks"), of the same model and scope, with its own ``intervals_ok`` and ``warnings`` (also
    added to ``warnings``), by the same tolerance rule; a backtest written before the cumulative
    target was scored gives ``{"status": ...}`` there instead. Sums over periods can cover far
    less than each period does, so the two verdicts are kept apart.

    With ``data_file`` (and the forecast's ``freq`` and ``regions``) the backtest must be of such
    data (:func:`backtest_data_check`): another frequency or no region in common is an error, a
    backtest of another data file (by content: ``data_content``, the forecast's
    :func:`~..data.io.observations_sha256`) a warning; ``data_check`` records what was compared.
    ``data_sha256``: the :func:`~..data.io.file_sha256` of ``data_file`` when the caller has it
    already (the file is not hashed again); None hashes it here.
    A backtest that did not score ``model`` is an error naming the models it did score.
    """
    path = Path(backtest_dir) / "summary.csv"
    if not path.exists():
        raise DataError(Problem(str(path), None, None, "no backtest summary here; run `displacement-forecast backtest` first"))
    summary = pd.read_csv(path)
    problems: list[Problem] = []
    check: dict[str, Any] = {}
    if data_file is not None:
        try:
            check = backtest_data_check(backtest_dir, data_file=data_file, freq=freq, regions=regions,
                                        data_content=data_content, data_sha256=data_sha256)
        except DataError as e:
            problems += e.problems
    try:
        rec = coverage_summary(summary, model, scope)
    except ValueError as e:
        scored = list(dict.fromkeys(summary["model"])) if "model" in summary else []
        problems.append(Problem(str(Path(backtest_dir)), None, "--backtest", (
            f"the backtest did not score model {model!r} (it scored {', '.join(map(str, scored)) or 'none'}); "
            f"expected a backtest of the forecast's model: run `displacement-forecast backtest --models {model}` "
            "on the data, or forecast with a model it scored") if model not in scored else str(e)))
    if problems:
        raise DataError(problems)
    rec.update(_rate_intervals(Path(backtest_dir), model, scope, rec))
    rec["verdict"] = coverage_verdict(rec, tolerance)
    warns = _coverage_warnings(rec, scope, tolerance)
    cum: dict[str, Any]
    try:
        cum = coverage_summary(summary, model, scope, target=CUMULATIVE)
    except ValueError:
        cum = {"status": f"no {CUMULATIVE} rows for {model} in {path} (written before backtests scored the "
                         "cumulative target): rerun `displacement-forecast backtest` to check the sums over periods"}
    else:
        cum.update(_rate_intervals(Path(backtest_dir), model, scope, cum, CUMULATIVE))
        cum["verdict"] = coverage_verdict(cum, tolerance)
        cum_warns = _coverage_warnings(cum, scope, tolerance)
        cum.update(intervals_ok=not cum_warns, warnings=cum_warns)
        warns += cum_warns
    return {**rec, "source": str(path), "tolerance": tolerance, "intervals_ok": not _coverage_off(rec, tolerance),
            "warnings": check.pop("warnings", []) + warns, "cumulative": cum,
            **({"data_check": check} if check else {})}


def _coverage_off(rec: Mapping[str, Any], tolerance: float) -> dict[str, float]:
    """The pooled rates of ``rec`` (:func:`coverage_summary`) more than ``tolerance`` from their level."""
    return {lv: obs for lv, obs in rec["nominal_vs_observed"].items()
            if abs(obs - float(lv.rstrip("%")) / 100) > tolerance}


def coverage_verdict(rec: Mapping[str, Any], tolerance: float) -> dict[str, Any]:
    """Which pooled rates of ``rec`` (:func:`coverage_summary`) are off their level by more than
    ``tolerance``, in which direction, and band by band what their 90% interval says of it.

    ``too_narrow``: bands that covered less than stated (the real uncertainty was larger than they
    show); ``too_wide``: more than stated (smaller). Of those bands, ``within_chance``: the interval
    of the rate holds the stated level; ``no_interval``: there is none (``too_few_origins`` when
    that is why, as :func:`_pooled_intervals` notes); the rest are clearly off. ``may_be_chance``:
    no band off is clearly so (every one within chance). One verdict for the screen, the sidecar's
    warning and the ``mark`` column (:func:`~displacement_forecast.forecast.marks.mark_text` reads
    these keys from the sidecar). No interval is not evidence of chance: a 95% band that covered
    62% of 7 origins was said to be "cannot be told from chance" only because 7 origins make no
    interval."""
    off = _coverage_off(rec, tolerance)
    ci = rec.get("interval_90") or {}
    none = [lv for lv in off if lv not in ci]
    chance = [lv for lv in off if lv in ci and ci[lv][0] <= _level(lv) <= ci[lv][1]]
    return {"too_narrow": [lv for lv, obs in off.items() if obs < _level(lv)],
            "too_wide": [lv for lv, obs in off.items() if obs > _level(lv)],
            "within_chance": chance, "no_interval": none,
            "too_few_origins": bool(none) and "too few origins" in str(rec.get("interval_note", "")),
            "may_be_chance": bool(off) and len(chance) == len(off)}


def _level(lv: str) -> float:
    """``"95%"`` -> 0.95."""
    return float(lv.rstrip("%")) / 100


def _interval_text(lo: float, hi: float, level: float) -> str:
    """``75%-95%``: the interval of a rate in whole percents, or with as many decimals as it takes
    for the shown ends to hold ``level`` exactly when the true ends do (0.75-0.9471 showed as
    ``75%-95%``, seeming to hold the 95% it does not: now ``75.0%-94.7%``)."""
    holds = lo <= level <= hi
    for d in range(4):
        slo, shi = round(lo * 100, d), round(hi * 100, d)
        if (slo <= level * 100 <= shi) == holds:
            return f"{slo:.{d}f}%-{shi:.{d}f}%"
    return f"{lo:.2%}-{hi:.2%}"


def _too_few(rec: Mapping[str, Any], n: int) -> str:
    """Why ``n`` origins make no interval of the rates, from ``rec``'s ``interval_note``: ": at least
    4 blocks of 14 consecutive origins are needed, and 52 origins make 3". "52 origins are too few
    for an interval" read oddly of 52 origins (trial 19, Ukraine): the blocks are the reason."""
    m = re.search(r"at least (\d+) blocks of (\d+) consecutive origins are needed", str(rec.get("interval_note", "")))
    if not m:
        return f": {n} origin{'s are' if n != 1 else ' is'} too few"
    block = int(m.group(2))
    return f": {m.group(0)}, and {n} origin{'s make' if n != 1 else ' makes'} {n // block}"


def _bands(levels: Sequence[str]) -> str:
    """``the 90% and 95% bands``, ``the 50% band``."""
    names = levels[0] if len(levels) == 1 else ", ".join(levels[:-1]) + f" and {levels[-1]}"
    return f"the {names} band{'s' if len(levels) > 1 else ''}"


def _coverage_warnings(rec: Mapping[str, Any], scope: str, tolerance: float) -> list[str]:
    """:func:`backtest_record`'s line for the rates of ``rec`` off their levels (none: ``[]``), naming
    the cumulative target when ``rec`` is of it. The direction is said band by band
    (:func:`coverage_verdict`): a 50% band that covered 59% was too wide, not evidence that "the
    real uncertainty was larger", as every band off was once called when most of them fell short.
    So is the doubt, from the same verdict as the ``mark``: "within chance" only of bands whose
    interval holds the stated level; bands without an interval are said to have none, not to be
    chance."""
    off = _coverage_off(rec, tolerance)
    if not off:
        return []
    verdict = rec.get("verdict") or coverage_verdict(rec, tolerance)  # backtest_record's, made just before
    narrow, wide = verdict["too_narrow"], verdict["too_wide"]
    chance, none = verdict["within_chance"], verdict["no_interval"]
    where = "the all-region total" if scope == TOTAL else "each region"
    what = (f"cumulative intervals ({CUMULATIVE}: sums from the first forecast period)"
            if rec.get("target") == CUMULATIVE else "intervals")
    ci = rec.get("interval_90", {})
    n = rec.get("interval_origins") or rec["origins"]["n"]

    if narrow and wide:
        direction = (f"{_bands(narrow)} {'was' if len(narrow) == 1 else 'were'} too narrow (the real uncertainty was "
                     f"larger than {'it shows' if len(narrow) == 1 else 'they show'}) and {_bands(wide)} too wide "
                     f"(smaller than {'it shows' if len(wide) == 1 else 'they show'})")
    else:
        direction = (f"the real uncertainty was {'larger' if narrow else 'smaller'} than the bands show "
                     f"(too {'narrow' if narrow else 'wide'})")
    doubts = []
    if verdict["may_be_chance"]:
        doubts.append(f"{n} origins cannot tell this gap from chance")
    elif chance:
        doubts.append(f"{_bands(chance)} {'is' if len(chance) == 1 else 'are'} within chance")
    if none:
        which = "" if len(none) == len(off) else f" ({', '.join(none)})"
        doubts.append(f"there is no interval of these rates{which}" + (_too_few(rec, n) if verdict["too_few_origins"]
                                                                     else ""))
    doubt = f", though {' and '.join(doubts)}" if doubts else ""
    return [f"in backtests ({n} origin{'s' if n != 1 else ''}, {where}) {what} did not cover as stated: "
            + ", ".join(f"{lv} interval covered {obs:.0%}"
                        + (f" (90% interval of that rate {_interval_text(*ci[lv], _level(lv))}"
                           + (": within chance" if lv in chance else "") + ")" if lv in ci else "")
                        for lv, obs in off.items())
            + f"; {direction}{doubt}"]


def _first(codes: Sequence[str], n: int = 4) -> str:
    """The first ``n`` region codes, and how many there are when more."""
    return ", ".join(map(str, list(codes)[:n])) + (f" ... ({len(codes)})" if len(codes) > n else "")


def backtest_data_check(backtest_dir: str | Path, *, data_file: str | Path, freq: str | None = None,
                        regions: Sequence[str] | None = None, data_content: str | None = None,
                        data_sha256: str | None = None) -> dict[str, Any]:
    """Whether a backtest folder was run on the data a forecast reads, from its ``backtest.json``.

    ``forecast --backtest`` copied any backtest's coverage into the sidecar: a backtest of the
    Somalia panel marked every row of a Syria forecast. Now

    * another frequency (``settings.freq``) than ``freq``, or no region in common with ``regions``
      (``settings.regions``; ``scores.csv``'s regions for a backtest written before they were
      recorded) is an error, one line each;
    * another data file is a warning (a backtest of an earlier vintage of the same data is
      legitimate): compared by the rows, ``data_content_sha256``
      (:func:`~..data.io.observations_sha256`, the same rows in any order or layout) against
      ``data_content`` when both are known; else by the bytes, ``data_sha256``
      (:func:`~..data.io.file_sha256`) against the hash of ``data_file``; by path when the
      backtest recorded no hash but a file of that name exists; unknown, a warning too, otherwise
      (no ``backtest.json``, or no hash and no such file).

    ``data_sha256``: the hash of ``data_file`` when the caller has it already (``forecast`` records
    it in its provenance), so the file is read once; None hashes it here.

    Returns ``{"backtest_data", "backtest_data_sha256", "forecast_data", "forecast_data_sha256",
    "same_data" (True, False or None: not known), "compared_by" ("rows", "sha256", "path" or None),
    "warnings"}``. Raises :class:`DataError` (``--backtest`` named) for the errors above.
    """
    from ..data.io import file_sha256

    d = Path(backtest_dir)
    mine = data_sha256 if data_sha256 is not None else file_sha256(data_file)
    out: dict[str, Any] = {"backtest_data": None, "backtest_data_sha256": None, "forecast_data": str(data_file),
                           "forecast_data_sha256": mine, "same_data": None, "compared_by": None, "warnings": []}
    try:
        meta = json.loads((d / "backtest.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        out["warnings"].append(f"--backtest {d}: no backtest.json, so which data the backtest was run on is not "
                               f"known; its coverage is copied as if it were of {data_file}")
        return out
    except (OSError, ValueError) as e:
        raise DataError(Problem(str(d / "backtest.json"), None, None,
                                f"not readable ({type(e).__name__}); expected the backtest.json that "
                                "`displacement-forecast backtest` writes")) from None
    settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    theirs = meta.get("data")
    problems = []
    bt_freq = str(settings.get("freq") or "")[:1]
    if freq and bt_freq in FREQ_WORD and bt_freq != str(freq)[:1]:
        problems.append(Problem(str(d), None, "--backtest",
                                f"a backtest of {FREQ_WORD[bt_freq]} data ({theirs}); {data_file} is "
                                f"{FREQ_WORD.get(str(freq)[:1], freq)}: expected a backtest of data of the "
                                f"forecast's frequency (`displacement-forecast backtest {data_file} ...`)"))
    bt_regions = settings.get("regions")
    if not isinstance(bt_regions, list):  # written before the regions were recorded: those it scored
        try:
            bt_regions = [r for r in pd.read_csv(d / "scores.csv", usecols=["region"])["region"].astype(str).unique()
                          if r != TOTAL]
        except (OSError, ValueError, KeyError):
            bt_regions = None
    if regions is not None and bt_regions and not set(map(str, bt_regions)) & set(regions):
        problems.append(Problem(str(d), None, "--backtest",
                                f"a backtest of regions {_first(bt_regions)} ({theirs}), none of which {data_file} "
                                f"holds ({_first(list(regions))}): expected a backtest of the forecast's data "
                                f"(`displacement-forecast backtest {data_file} ...`)"))
    if problems:
        raise DataError(problems)
    recorded = meta.get("data_sha256")
    out.update(backtest_data=theirs, backtest_data_sha256=recorded)
    rows = meta.get("data_content_sha256")
    if isinstance(rows, str) and rows and data_content:
        out.update(same_data=rows == data_content, compared_by="rows")
        how = f"the rows of its data file {theirs} are not those of {data_file}"
    elif isinstance(recorded, str) and recorded:
        out.update(same_data=recorded == mine, compared_by="sha256")
        how = f"its data file {theirs} (SHA-256 {recorded[:12]}...) is not {data_file} (SHA-256 {mine[:12]}...)"
    elif theirs and Path(str(theirs)).is_file():  # written before the hash was recorded: by path
        out.update(same_data=Path(str(theirs)).resolve() == Path(data_file).resolve(), compared_by="path")
        how = f"it was run on {theirs}, not {data_file} (its backtest.json records no hash of the data)"
    else:  # no hash and no file of that name here (a label, or moved): cannot tell
        out["warnings"].append(f"--backtest {d}: its backtest.json records no hash of its data "
                               f"({theirs or 'nor names them'}), so whether it was run on {data_file} is not known")
        return out
    if out["same_data"] is False:
        out["warnings"].append(f"--backtest {d} was run on other data: {how}; its coverage describes that data "
                               "(fine for an earlier vintage of the same panel, misleading for another)")
    return out


#: Where ``backtest.json`` keeps :func:`coverage_summary` per (target, scope), model by model.
_KEPT = {(PER_PERIOD, "regions"): "coverage", (PER_PERIOD, TOTAL): "coverage_total",
         (CUMULATIVE, "regions"): "coverage_cumulative", (CUMULATIVE, TOTAL): "coverage_cumulative_total"}


def _rate_intervals(backtest_dir: Path, model: str, scope: str, rec: Mapping[str, Any],
                    target: str = PER_PERIOD) -> dict[str, Any]:
    """``interval_90`` / ``interval_origins`` / ``interval_note`` for the rates of ``rec`` (a
    :func:`coverage_summary` of ``target``): from the folder's ``scores.csv`` when it gives the same
    rates, else those ``backtest.json`` recorded for the same rates, else none and a note saying why.
    A ``scores.csv`` without a ``target`` column is all ``new_displaced`` (:func:`of_target`)."""
    scores = backtest_dir / "scores.csv"
    try:
        header = pd.read_csv(scores, nrows=0).columns
        table = pd.read_csv(scores, usecols=["model", "origin", "target_date", "region", "horizon", "observed",
                                             *(f"cover_{lv}" for lv in COVERAGE_LEVELS),
                                             *(["target"] if "target" in header else [])])
        table = of_target(table, target)
        found = _pooled_intervals(table, model, scope, max(rec["horizons"]))
        if found["interval_90"] and not _same_rates(table, model, scope, rec["nominal_vs_observed"]):
            return {"interval_90": {}, "interval_note": f"{scores}: its rates differ from the summary's (another "
                                                        "or a cut run?); no interval given"}
        return found
    except FileNotFoundError:  # a folder that keeps only summary.csv: backtest.json may hold the intervals
        pass
    except (OSError, ValueError, TypeError, KeyError) as e:  # another writer's file, or a damaged one
        return {"interval_90": {}, "interval_note": f"{scores}: not readable for the intervals of the rates "
                                                    f"({type(e).__name__}); none given"}
    try:
        kept = json.loads((backtest_dir / "backtest.json").read_text())[_KEPT[target, scope]][model]
        if kept.get("interval_90") and kept.get("nominal_vs_observed") == rec["nominal_vs_observed"]:
            return {k: kept[k] for k in ("interval_90", "interval_origins", "interval_note") if k in kept}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return {"interval_90": {}, "interval_note": f"no {scores.name} beside the summary, and no intervals for these "
                                                "rates in backtest.json: no interval of the rates"}


#: Fewest blocks of origins :func:`coverage_interval` gives an interval from (with fewer, every
#: resample is nearly the whole series and the interval collapses toward the rate itself).
MIN_BLOCKS = 4


def coverage_interval(covered: Sequence[float] | np.ndarray | list[np.ndarray], block: int, level: float = 0.9,
                      n_boot: int = 4000, seed: int = 0,
                      weights: Sequence[float] | np.ndarray | list[np.ndarray] | None = None) -> tuple[float, float]:
    """Interval for a coverage rate measured over consecutive rolling origins (moving-block bootstrap).

    ``covered``: one 0/1 value (or rate) per origin, in origin order (whether the interval held the
    outcome at one horizon and scope); or a list of such series from independent histories, each
    resampled on its own and pooled. ``weights`` (same shape, optional): the cells behind each
    value, so the resampled rate is a ratio of covered cells to cells, as the point rate is.
    Forecasts from origins less than ``h`` periods apart share target periods, so misses come
    in runs: an escalation no model foresaw is missed from every origin whose window reaches it.
    Resampling blocks of ``block`` consecutive origins (use at least the horizon; twice it is
    safer) keeps those runs together (Künsch 1989, *Ann. Statist.* 17:1217), where a binomial
    interval would treat them as independent and come out too narrow. Still approximate: with
    52 origins whose 4-period windows overlap, 90% intervals from blocks of 8 held the true rate
    76% of the time in simulation, blocks of 1 (independent origins) 63%
    (``tests/test_backtest.py``). Read them as a lower bound on the uncertainty.

    Returns the ``(lower, upper)`` quantiles ``(1 - level) / 2`` and ``(1 + level) / 2`` of the
    bootstrap distribution of the rate, widened where needed to the Jeffreys interval of the
    rate with each origin counted once (so a rate of 100% is not given a 100%-100% interval),
    or ``(nan, nan)`` when the series hold fewer than
    :data:`MIN_BLOCKS` blocks (too few origins to say). NaN values (cells without an observation)
    are dropped first. Raises ``ValueError`` for no values at all or ``block < 1``.
    """
    nested = isinstance(covered, list) and len(covered) > 0 and np.ndim(covered[0]) == 1
    xs = [np.asarray(c, dtype=float) for c in (covered if nested else [covered])]
    ws = ([np.ones_like(x) for x in xs] if weights is None
          else [np.asarray(w, dtype=float) for w in (weights if nested else [weights])])
    pairs = [(x[np.isfinite(x)], w[np.isfinite(x)]) for x, w in zip(xs, ws, strict=True)]
    pairs = [(x, w) for x, w in pairs if len(x)]
    if not pairs or block < 1:
        raise ValueError(f"coverage_interval needs at least one value and block >= 1 (got "
                         f"{sum(len(x) for x, _ in pairs)} values, block {block})")
    if sum(len(x) / block for x, _ in pairs) < MIN_BLOCKS:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    held, cells = np.zeros(n_boot), np.zeros(n_boot)
    for x, w in pairs:
        b = min(int(block), len(x))
        k = -(-len(x) // b)  # blocks per resample, cut back to the series' length
        starts = rng.integers(0, len(x) - b + 1, size=(n_boot, k))
        idx = (starts[:, :, None] + np.arange(b)).reshape(n_boot, -1)[:, : len(x)]
        held += (x * w)[idx].sum(axis=1)
        cells += w[idx].sum(axis=1)
    rate = held / cells
    lo, hi = float(np.quantile(rate, (1 - level) / 2)), float(np.quantile(rate, (1 + level) / 2))
    # never narrower than a Jeffreys interval that counts each origin once: where every resample
    # is all covered (36 of 36 cells), the bootstrap alone gave 100%-100%
    from scipy.stats import beta

    n = sum(len(x) for x, _ in pairs)
    k = n * sum(float((x * w).sum()) for x, w in pairs) / sum(float(w.sum()) for _, w in pairs)  # the point rate
    jlo = float(beta.ppf((1 - level) / 2, k + 0.5, n - k + 0.5)) if k > 0 else 0.0
    jhi = float(beta.ppf((1 + level) / 2, k + 0.5, n - k + 0.5)) if k < n else 1.0
    return min(lo, jlo), max(hi, jhi)


def pit_values(scores: pd.DataFrame, model: str, scope: str = "regions", target: str = PER_PERIOD) -> np.ndarray:
    """The randomised PIT values of one model (regions or the total) for ``target`` (default each period)."""
    s = of_target(scores, target)
    s = s[s["model"] == model]
    s = s[s["region"] == TOTAL] if scope == TOTAL else s[s["region"] != TOTAL]
    return s["pit"].to_numpy(float)


__all__ = ["BacktestResult", "ModelSpec", "TaskResult", "backtest", "check_origin_history", "common_cells",
           "coverage_interval",
           "coverage_summary", "default_origins", "history_need", "of_target", "oracle_scenario", "parse_origins",
           "pit_values",
           "run_backtest", "run_task", "score_frame", "summarise", "winners"]
