"""``displacement-forecast backtest``: rolling-origin backtest -> scores.csv, summary.csv, failures, plots."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..conventions import MIN_HISTORY
from ..data.schema import DataError, Problem
from ..models import REGISTRY
from .common import add_data_args, load_data
from .drivers_arg import (
    add_drivers_arg,
    add_lags_arg,
    check_lags_apply,
    model_kwargs,
    parse_drivers,
    parse_lags,
)

DEFAULT_MODELS = "last-value,climatology,historic-average,nb-dl,sarimax,arima,dynamic,auto"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest", help="rolling-origin backtest: scores, coverage, PIT by model and horizon",
        description="From every origin, fit each model on the data up to the origin only, forecast 1..H "
                    "periods ahead under the baseline scenario and score the forecasts against what "
                    "happened (CRPS, WIS, coverage, PIT, ignorance, MAE/MAPE, skill vs last-value). "
                    "Writes scores.csv, summary.csv, failures.csv (if any), backtest.json and PNG plots "
                    "into --out.")
    add_data_args(p)
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help=f"comma-separated model names (default {DEFAULT_MODELS}; known: {', '.join(REGISTRY)}); "
                        "last-value is always added as the skill reference")
    add_drivers_arg(p)
    add_lags_arg(p)
    p.add_argument("--origins", default=None,
                   help="START:END[:STEP], END included, or a list D1,D2,...; dates (the last period on or before) or period numbers "
                        "(0 = first, negative = from the end; write --origins=-60:-5 then); each before the last "
                        "period, with the history forecast needs for every model up to it (at least "
                        f"{MIN_HISTORY} periods; a driver model's lags plus 4, nb-dl's 5 rows per coefficient). "
                        "Default: the 52 latest such origins with a full horizon")
    p.add_argument("--horizon", type=int, default=4, help="periods ahead scored from each origin (default 4)")
    p.add_argument("--draws", type=int, default=500, help="sample paths per forecast (default 500)")
    p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes via joblib (default 1)")
    p.add_argument("--dask", default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
                   help="Dask scheduler address (tcp://host:port); default: $DASK_SCHEDULER_ADDRESS if set")
    p.add_argument("--oracle-drivers", action="store_true",
                   help="also run driver models with the strikes/flights that really happened (<model>+oracle)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def fit_warnings(tasks: pd.DataFrame) -> list[dict[str, Any]]:
    """``[{model, origin, warnings}]`` for the fits that warned (e.g. nb-dl's shortened lags)."""
    if "warnings" not in tasks:
        return []
    warned = tasks[tasks["warnings"].map(len) > 0]
    return [{"model": r.model, "origin": str(pd.Timestamp(r.origin).date()), "warnings": list(r.warnings)}
            for r in warned.itertuples()]


def write_outputs(result, out: str | Path, *, source: str, plots: bool = True,
                  warned: list[dict[str, Any]] | None = None, data_sha256: str | None = None,
                  data_content_sha256: str | None = None) -> list[Path]:
    """Write scores.csv, summary.csv, failures.csv (when any task failed), backtest.json and plots.

    ``warned`` is :func:`fit_warnings` of ``result.tasks`` when the caller has it already (the CLI
    prints it too); ``None`` computes it here. ``data_sha256`` (:func:`~..data.io.file_sha256` of
    the data file ``source``) goes into backtest.json beside its path, and ``data_content_sha256``
    (:func:`~..data.io.observations_sha256` of its rows, in any order): ``forecast --backtest``
    compares them with the forecast's data.
    """
    from ..conventions import CUMULATIVE, TOTAL
    from ..data.io import write_csv_atomic, write_text_atomic
    from ..evaluate.backtest import coverage_summary, of_target, winners

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    written = [write_csv_atomic(_dates(result.scores), out / "scores.csv"),
               write_csv_atomic(_dates(summary), out / "summary.csv")]
    if len(result.failures):
        written.append(write_csv_atomic(_dates(result.failures), out / "failures.csv"))
    meta: dict[str, Any] = {"settings": result.settings, "data": source,
                            **({"data_sha256": data_sha256} if data_sha256 else {}),
                            **({"data_content_sha256": data_content_sha256} if data_content_sha256 else {}),
                            "failures": _dates(result.failures.drop(columns="traceback")).to_dict("records"),
                            "fit_warnings": fit_warnings(result.tasks) if warned is None else warned}
    if len(summary):
        meta["winners"] = winners(summary).to_dict("records")
        models = list(dict.fromkeys(summary["model"]))
        meta["coverage"] = {m: coverage_summary(summary, m, scores=result.scores) for m in models}
        # the all-region total's too, with its intervals: what forecast --backtest reads when scores.csv is not kept
        meta["coverage_total"] = {m: coverage_summary(summary, m, TOTAL, result.scores) for m in models
                                  if ((summary["model"] == m) & (summary["scope"] == TOTAL)).any()}
        # the same of the sums from the first forecast period (cum_new_displaced)
        cum = of_target(summary, CUMULATIVE)
        for key, scope in (("coverage_cumulative", "regions"), ("coverage_cumulative_total", TOTAL)):
            meta[key] = {m: coverage_summary(summary, m, scope, result.scores, CUMULATIVE) for m in models
                         if ((cum["model"] == m) & (cum["scope"] == scope)).any()}
    written.append(write_text_atomic(json.dumps(meta, indent=2, default=str), out / "backtest.json"))
    if plots and len(summary):
        from ..conventions import period_unit
        from ..plot.diagnostics import coverage_vs_nominal, pit_histograms, score_by_horizon
        from ..plot.fan import save_figure

        st = result.settings
        cap = (f"Source: {source}. Rolling-origin backtest, {st['n_origins']} origins "
               f"{st['first_origin']} .. {st['last_origin']}, {st['n_draws']} sample paths per forecast, "
               f"horizons 1..{st['horizon']}; scores per region and period.")
        unit = period_unit(st.get("freq", "W")) + "s"  # weeks, days, months (periods: unknown)
        for name, fig in (("score_by_horizon.png", score_by_horizon(summary, caption=cap, unit=unit)),
                          ("coverage.png", coverage_vs_nominal(summary, caption=cap, unit=unit)),
                          ("pit.png", pit_histograms(result.scores, caption=cap))):
            save_figure(fig, out / name)
            written.append(out / name)
    return written


def _dates(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return out


def format_summary(summary: pd.DataFrame, scope: str = "regions") -> str:
    """The summary table of each period's scores (``new_displaced``) as text, one row per model and horizon."""
    from ..evaluate.backtest import of_target

    s = of_target(summary)
    s = s[s["scope"] == scope]
    cols = ["model", "horizon", "crps", "wis", "cover_50", "cover_80", "cover_90", "cover_95", "mae", "skill", "n"]
    fmt = {"crps": "{:,.1f}".format, "wis": "{:,.1f}".format, "mae": "{:,.1f}".format,
           "skill": lambda v: "" if pd.isna(v) else f"{v:+.1%}",
           **{c: "{:.0%}".format for c in cols if c.startswith("cover")}}
    return s[cols].to_string(index=False, formatters=fmt)


def format_cumulative(summary: pd.DataFrame) -> str:
    """Lines on the all-region total's cumulative coverage (``cum_new_displaced``: the sum from the
    first forecast period to each horizon), one per model: the coverage of the two widest intervals
    drawn (80% and 95%) pooled over horizons and at the longest one ('' when the summary holds no
    such rows). Sums over periods can cover far less than each period does."""
    from ..conventions import CUMULATIVE, INTERVAL_LEVELS, TOTAL
    from ..evaluate.backtest import ORACLE_SUFFIX, coverage_summary, of_target

    s = of_target(summary, CUMULATIVE)
    s = s[(s["scope"] == TOTAL) & ~s["model"].str.endswith(ORACLE_SUFFIX)]
    if not len(s):
        return ""
    levels = [f"{lv}%" for lv in INTERVAL_LEVELS[-2:]]
    lines = [f"All-region total summed from the first period ({CUMULATIVE}), coverage of the "
             f"{' / '.join(levels)} intervals (all horizons pooled; at the longest):"]
    for model in dict.fromkeys(s["model"]):
        rec = coverage_summary(summary, model, TOTAL, target=CUMULATIVE)  # the sidecar's figures
        h = str(max(rec["horizons"]))
        pooled = " / ".join(f"{rec['nominal_vs_observed'][lv]:.0%}" for lv in levels)
        longest = " / ".join(f"{rec['by_horizon'][h][lv]:.0%}" for lv in levels)
        # the origins scored at that horizon (the last ones have no outcome there), not at any horizon
        n = int(s.loc[(s["model"] == model) & (s["horizon"] == int(h)), "n_origins"].max())
        lines.append(f"  {model:18s} {pooled}; at horizon {h}: {longest} ({n} origin{'s' if n != 1 else ''})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..data.io import file_sha256, observations_sha256
    from ..evaluate.backtest import (
        REFERENCE,
        backtest_origins,
        common_cells,
        run_backtest,
        summarise,
        winners,
    )
    from ..forecast.staging import claim_out_dir, final_paths, staged_folder
    from .checks import check_draws, check_origins_spec, check_seed, horizon_problems

    check_seed(args.seed)
    check_origins_spec(args.origins)
    check_draws(args.draws)  # coverage and quantiles are counted on the paths, as in forecast
    # the caps forecast applies, before any date is counted forward (--horizon 3000 failed every task)
    wrong = horizon_problems(args.horizon, raisable=False)
    if args.workers < 1:  # named: was one line for both
        wrong.append(Problem("command line", None, "--workers", f"{args.workers}: expected at least 1"))
    if wrong:
        raise DataError(wrong)
    models = [m.strip().lower() for m in args.models.split(",") if m.strip()]  # in any case, as format names
    unknown = [m for m in models if m not in REGISTRY]
    if unknown:
        raise DataError(Problem("command line", None, "--models",
                                f"unknown model(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}"))
    lags = parse_lags(args.lags)
    drivers = parse_drivers(args.drivers)  # before the data are read, as every option
    check_lags_apply(models, lags)
    if REFERENCE not in models:
        models.insert(0, REFERENCE)
        print(f"note: {REFERENCE} added as the reference for skill scores", file=sys.stderr)
    models = list(dict.fromkeys(models))
    claim_out_dir(args.out, kind="backtest")  # checked and locked before the data are read
    obs, regions = load_data(args)
    data_sha256 = file_sha256(args.data)  # the bytes just read: forecast --backtest compares them
    content_sha256 = observations_sha256(obs)  # and the rows, in any order
    from ..models.base import Panel

    panel = Panel.from_observations(obs, regions)
    models = [(m, model_kwargs(m, drivers, obs, lags=lags, strict=False)) for m in models]
    origins = backtest_origins(panel, models, args.origins, args.horizon)  # its one-line errors before progress
    where = f"Dask at {args.dask}" if args.dask else f"{args.workers} worker(s)"
    print(f"backtest of {', '.join(m for m, _ in models)} on {args.data} ({where}) ...", file=sys.stderr)
    # problems found on the panel name the data file (cli.main: DataError.naming)
    res = run_backtest(panel, models=models, origins=origins, horizon=args.horizon, n_draws=args.draws,
                       seed=args.seed, oracle_drivers=args.oracle_drivers, workers=args.workers,
                       dask=args.dask or None, progress=False if args.no_progress else None)
    st = res.settings
    print(f"{st['n_origins']} origins {st['first_origin']} .. {st['last_origin']}, horizons 1..{args.horizon}, "
          f"{args.draws} paths; {st['wall_seconds']:.1f} s ({st['executor']})")
    warned = fit_warnings(res.tasks)  # one list for backtest.json and the screen lines below
    with staged_folder(args.out, kind="backtest") as stage:  # all files at once (see forecast/staging.py)
        written = final_paths(write_outputs(res, stage, source=str(args.data), plots=not args.no_plots,
                                            warned=warned, data_sha256=data_sha256,
                                            data_content_sha256=content_sha256), stage, args.out)
    summary = res.summary()
    if len(summary):
        print("\nMean scores per region and period (CRPS, WIS, MAE in people; skill = 1 - CRPS/CRPS of last-value):")
        print(format_summary(summary))
        common = common_cells(res.scores)

        def cells(d: pd.DataFrame) -> int:
            return len(d.loc[d["region"] != "ALL", ["origin", "region", "horizon"]].drop_duplicates())

        n_all, n_common = cells(res.scores), cells(common)
        print("\nBest model by CRPS per horizon (oracle runs left out; skill is vs last-value), on the "
              + (f"{n_common} of {n_all} region-periods every model scored:" if n_common < n_all
                 else "same region-periods for every model:"))
        w = winners(summarise(common)) if len(common) else winners(summary)
        for scope, label in (("regions", "per region"), ("ALL", "regional total")):
            for r in w[w["scope"] == scope].itertuples():
                second = f"; runner-up {r.runner_up}" if isinstance(r.runner_up, str) else ""  # one model: none
                print(f"  {label:14s} h={r.horizon}: {r.best} (CRPS {r.crps:,.1f}, skill {r.skill:+.1%}, "
                      f"80% coverage {r.cover_80:.0%}){second}")
        cumulative = format_cumulative(summary)
        if cumulative:
            print("\n" + cumulative)
    for model in dict.fromkeys(w["model"] for w in warned):
        mine = [w for w in warned if w["model"] == model]
        fitted = int((res.tasks["model"] == model).sum())
        print(f"warning: {model}: {len(mine)} of {fitted} fits warned (all in backtest.json 'fit_warnings'); "
              f"first, at origin {mine[0]['origin']}: {mine[0]['warnings'][0]}", file=sys.stderr)
    if len(res.failures):
        print(f"\n{len(res.failures)} task(s) FAILED (the others finished; see failures.csv):", file=sys.stderr)
        for r in res.failures.itertuples():
            print(f"  {r.model} @ origin {pd.Timestamp(r.origin).date()}: {r.error}", file=sys.stderr)
    for w in written:
        print(f"wrote {w}")
    return 1 if len(res.failures) and not len(res.scores) else 0
