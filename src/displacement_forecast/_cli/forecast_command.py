"""``displacement-forecast forecast``: data (or a saved fit) in, forecast CSV + sidecar + fan charts out."""

from __future__ import annotations

import argparse
import sys

from ..data.schema import DataError, Problem
from ..forecast.summaries import DEFAULT_THRESHOLDS
from ..models import DEFAULT_MODEL, REGISTRY
from .common import add_data_args, load_data
from .drivers_arg import add_drivers_arg, model_kwargs, parse_drivers


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="forecast new displacement under scenarios; write CSV, sidecar, plots",
                       description="Fit a model (or load a saved fit) and forecast every scenario with "
                                   "common random numbers. Writes forecast.csv, forecast.json, fan_<scenario>.png "
                                   "and exceedance.png into --out.")
    add_data_args(p)
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(REGISTRY),
                   help=f"model to fit (default: {DEFAULT_MODEL}, a mixture of models weighted by a short backtest "
                        "on the data given)")
    add_drivers_arg(p)
    p.add_argument("--model-dir", help="use a fit saved by `displacement-forecast fit` instead of fitting")
    p.add_argument("--scenarios", help="scenario TOML file (default: baseline only)")
    p.add_argument("--horizon", type=int, default=12, help="periods ahead (default 12)")
    p.add_argument("--draws", type=int, default=1000, help="sample paths per scenario (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (recorded in the sidecar)")
    p.add_argument("--thresholds", default=",".join(f"{t:.0f}" for t in DEFAULT_THRESHOLDS),
                   help="comma-separated people counts for the cdf rows (P(X <= x))")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--backtest", metavar="DIR",
                   help="folder written by `displacement-forecast backtest`: its coverage for this model goes "
                        "into the sidecar, with a warning when intervals did not cover as stated")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument("--hxl", action="store_true", help="also write forecast_hxl.csv with an HXL hashtag row")
    p.add_argument("--write-draws", action="store_true",
                   help="also write the raw sample paths, one row per draw (parquet if pyarrow is installed)")
    p.add_argument("--hub", help="also add the forecast to this hubverse hub folder (created if needed)")
    p.add_argument("--team", default="dfcast", help="team name used in the hub (default dfcast)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..brief import fmt_prob
    from ..forecast.run import run_forecast, write_run
    from ..scenarios import Scenario, load_scenarios

    if args.horizon < 1 or args.draws < 1:
        raise DataError(Problem("command line", None, None, "--horizon and --draws must be at least 1"))
    try:
        thresholds = [float(x) for x in args.thresholds.split(",") if x.strip()]
    except ValueError:
        raise DataError(Problem("command line", None, "--thresholds", f"{args.thresholds!r} is not a comma-separated list of numbers")) from None
    obs, regions = load_data(args)
    if args.model_dir:
        from ..models.io import load_model

        model = load_model(args.model_dir)
    else:
        from ..models import get_model

        model = get_model(args.model, **model_kwargs(args.model, parse_drivers(args.drivers), obs))
    scenarios = load_scenarios(args.scenarios, regions) if args.scenarios else [Scenario.baseline()]
    record = None
    if args.backtest:
        from ..evaluate.backtest import backtest_record

        record = backtest_record(args.backtest, model.name)
    print(f"fitting {model.name} on {args.data} ...", file=sys.stderr)
    run_ = run_forecast(obs, regions, model=model, scenarios=scenarios, horizon=args.horizon,
                        n_draws=args.draws, seed=args.seed, thresholds=thresholds,
                        data_files=[str(args.data)], backtest=record)
    written = write_run(run_, args.out, plots=not args.no_plots, hxl=args.hxl, draws=args.write_draws,
                        hub=args.hub, team=args.team)
    sc = run_.sidecar
    for w in (record or {}).get("warnings", []):
        print(f"WARNING: {w}", file=sys.stderr)
    if not sc["reliable"]:
        bar = "!" * 78
        print(f"{bar}\nWARNING: the fit failed its diagnostics; the forecast is marked UNRELIABLE.\n"
              + "\n".join(f"  - {w}" for w in sc["warnings"]) + f"\n{bar}", file=sys.stderr)
    h = args.horizon
    print(f"model {sc['model']['name']}; data to {sc['data']['last_period']}; {args.draws} paths; seed {args.seed}")
    for t in thresholds:
        probs = run_.prob_exceed(t, h)
        print(f"P(more than {t:,.0f} newly displaced within {h} periods): "
              + ", ".join(f"{s} {fmt_prob(p, args.draws)}" for s, p in probs.items()))
    for w in written:
        print(f"wrote {w}")
    return 0
