"""``displacement-forecast forecast``: data (or a saved fit) in, forecast CSV + sidecar + fan charts out."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..conventions import periods_text
from ..data.schema import DataError, Problem
from ..forecast.summaries import DEFAULT_THRESHOLDS
from ..models import DEFAULT_MODEL, REGISTRY
from .common import add_data_args, condition_on_data, load_data, load_saved_fit, regions_path
from .drivers_arg import add_drivers_arg, add_lags_arg, model_kwargs, parse_drivers, parse_lags


class _Given(argparse.Action):
    """Store the value and note that the option was on the command line (``model_given``), so an
    option that conflicts with another is told apart from its default."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="forecast new displacement under scenarios; write CSV, sidecar, plots",
                       description="Fit a model (or load a saved fit) and forecast every scenario with "
                                   "common random numbers. Writes forecast.csv, forecast.json (the sidecar), "
                                   "datapackage.json, fan_<scenario>.png, cumulative_<scenario>.png and "
                                   "exceedance.png into --out.")
    add_data_args(p)
    p.add_argument("--model", default=DEFAULT_MODEL, type=str.lower, choices=list(REGISTRY), action=_Given,
                   help=f"model to fit (default: {DEFAULT_MODEL}, a mixture of models weighted by a short backtest "
                        "on the data given); not with --model-dir, whose saved fit is its model")
    add_drivers_arg(p)
    add_lags_arg(p)
    p.add_argument("--model-dir", help="use a fit saved by `displacement-forecast fit` instead of fitting; "
                   "it is conditioned on DATA (forecasts start after DATA's last period, no refit; "
                   "recorded in the sidecar)")
    p.add_argument("--scenarios", help="scenario TOML file (default: baseline only); the baseline is always "
                   "forecast, added (with a note) when the file has no scenario 'baseline'")
    p.add_argument("--horizon", type=int, default=12,
                   help="periods ahead (default 12; at most the length of the history, see --max-horizon)")
    p.add_argument("--max-horizon", type=int, default=None, metavar="N",
                   help="raise the horizon cap (default: as many periods as the history holds; at most 520)")
    p.add_argument("--origin", metavar="DATE",
                   help="forecast as of the period holding DATE, using only rows up to it (a hindcast; "
                        "same rule as backtest); recorded in the sidecar")
    p.add_argument("--draws", type=int, default=1000, help="sample paths per scenario (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (recorded in the sidecar)")
    p.add_argument("--thresholds", default=None,
                   help="comma-separated people counts for the cdf rows (P(X <= x)); default "
                        + ",".join(f"{t:.0f}" for t in DEFAULT_THRESHOLDS) + " (monthly data, or when the last "
                        "HORIZON periods held more than the largest default: 0.5x, 1x and 2x the people newly "
                        "displaced in the last HORIZON periods)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--backtest", metavar="DIR",
                   help="folder written by `displacement-forecast backtest`: its coverage for this model goes "
                        "into the sidecar, with a warning when intervals did not cover as stated")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument("--hxl", action="store_true", help="also write forecast_hxl.csv with an HXL hashtag row")
    p.add_argument("--write-draws", action="store_true",
                   help="also write the raw sample paths, one row per draw (parquet if pyarrow is installed)")
    p.add_argument("--hub", help="also add the forecast to this hubverse hub folder: a new or empty folder, or an existing hub")
    p.add_argument("--team", default="dfcast", action=_Given, help="with --hub: team name used in the hub (default dfcast)")
    p.add_argument("--allow-unreliable", action="store_true",
                   help="exit 0 even when the fit fails its diagnostics gate (outputs are marked either way)")
    big = p.add_argument_group("large runs (thousands of regions)")
    big.add_argument("--chunk-regions", type=int, metavar="N",
                     help="forecast N regions at a time in bounded memory (forecast/streaming.py): writes "
                          "forecast.csv or .parquet, forecast.json and charts of the all-region total")
    big.add_argument("--format", type=str.lower, choices=["csv", "parquet"], default="csv", action=_Given,
                     help="with --chunk-regions (default csv)")
    big.add_argument("--dask", default=os.environ.get("DASK_SCHEDULER_ADDRESS"), metavar="ADDRESS", action=_Given,
                     help="with --chunk-regions: compute the chunks on this Dask scheduler "
                          "(default $DASK_SCHEDULER_ADDRESS); the same file as a local run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check everything, fit, forecast; write every output at once (see :mod:`..forecast.staging`).

    Exit codes: 0 done; 2 a user mistake (one line per problem, nothing written); 3 the fit failed
    its diagnostics gate (outputs written and marked) unless ``--allow-unreliable``.
    """
    from ..data.io import observation_lines
    from ..forecast.hub import HubError, HubWarning, check_hub_regions, check_hub_unit
    from ..forecast.marks import apply_marks
    from ..forecast.run import run_forecast, write_run
    from ..forecast.staging import as_final, claim_out_dir, final_paths, staged_folder
    from ..scenarios import Scenario, check_scenarios, with_baseline
    from .checks import (
        check_draws,
        check_horizon,
        check_horizon_option,
        check_iso_date,
        check_population,
        check_seed,
        check_thresholds,
        default_thresholds,
        fit_model,
        history_periods,
        parse_thresholds,
        prepare_data,
    )

    check_seed(args.seed)
    check_draws(args.draws)
    check_horizon_option(args.horizon, args.max_horizon)  # before any date is counted forward over it
    check_options(args)
    lags = parse_lags(args.lags)
    drivers = parse_drivers(args.drivers)  # before the data are read, as every option
    if args.origin is not None:
        check_iso_date(args.origin, "--origin")
    thresholds = parse_thresholds(args.thresholds) if args.thresholds is not None else None
    claim_out_dir(args.out, kind="forecast")  # checked and locked now: a second run into it is refused before fitting
    if args.hub is not None:
        claim_out_dir(args.hub, option="--hub", replace=False, kind="hub")
    obs, regions = load_data(args, check_population=False)
    from ..data.io import file_sha256, observations_sha256

    regions_file = str(regions_path(args))
    # provenance: what was read, by bytes and by rows (before any hindcast truncation)
    provenance = {"file_sha256": {str(args.data): file_sha256(args.data)},
                  "content_sha256": observations_sha256(obs),
                  "regions_file": {"path": regions_file, "sha256": file_sha256(regions_file)}}
    extra: dict = {}
    hindcast = None
    if args.origin:  # rows after the origin are not read as data at all, not even checked
        from ..data.hindcast import truncate_at_origin

        obs, origin, dropped = truncate_at_origin(obs, args.origin, file=str(args.data))
        hindcast = {"origin": str(origin.date()), "requested": args.origin, "rows_ignored": dropped,
                    "rule": "rows dated after the origin period are ignored before fitting (as in backtest)"}
    population_warnings = check_population(obs, regions, file=str(args.data), regions_file=regions_file,
                                           lines=functools.partial(observation_lines, args.data))
    check_thresholds(thresholds, regions)
    threshold_note = None
    if thresholds is None:
        thresholds, threshold_note = default_thresholds(obs, args.horizon, DEFAULT_THRESHOLDS)
    if args.model_dir:
        model = load_saved_fit(args.model_dir)
        obs, regions, notes = prepare_data(obs, regions, model, file=str(args.data), horizon=args.horizon,
                                               max_horizon=args.max_horizon)
        extra["model_dir"] = {"path": str(args.model_dir),
                              **condition_on_data(model, obs, regions, file=str(args.data),
                                                 regions_file=regions_file)}
        n_history = len(model.panel_.dates)
    else:
        from ..models import get_model

        model = get_model(args.model, **model_kwargs(args.model, drivers, obs, lags=lags))
        obs, regions, notes = prepare_data(obs, regions, model, file=str(args.data), horizon=args.horizon,
                                               max_horizon=args.max_horizon)
        n_history = history_periods(obs, file=str(args.data))
    scenarios = read_scenarios(args.scenarios, regions) if args.scenarios else [Scenario.baseline()]
    scenarios, added = with_baseline(scenarios)
    # the cap on the history, before the scenarios' dates are counted forward over the horizon
    check_horizon(args.horizon, args.draws, n_history, len(regions), len(scenarios), args.max_horizon)
    if added:  # the baseline is always forecast: the other scenarios are read against it
        print(f"note: {args.scenarios} has no 'baseline' scenario; it is forecast too (conflict continues as "
              "forecast), as every scenario is read against it", file=sys.stderr)
    scenarios = check_scenarios(scenarios, obs, args.horizon, regions=regions, file=str(args.scenarios))
    scenario_warnings = [w for s in scenarios for w in s.warnings]  # each names its file, line and key
    from ..data.schema import observation_frequency

    freq = observation_frequency(obs)  # the data were checked: one frequency
    if args.hub is not None:  # a hub of another panel's regions or period: refused before anything is fitted
        from ..conventions import period_unit

        try:
            hub_note = check_hub_regions(args.hub, regions.codes)
            scenario_warnings += filter(None, [hub_note])
            check_hub_unit(args.hub, period_unit(freq))
        except HubError as e:
            raise DataError(Problem(str(args.hub), None, "--hub", str(e))) from None
    else:
        hub_note = None
    record = None
    if args.backtest:
        from ..evaluate.backtest import backtest_record

        # a backtest of other data (another frequency, other regions) is refused; of another file, warned
        record = backtest_record(args.backtest, model.name, data_file=args.data, freq=freq,
                                 regions=list(regions.codes), data_content=provenance["content_sha256"],
                                 data_sha256=provenance["file_sha256"][str(args.data)])  # hashed once, above
        scored = max(record.get("horizons") or [0])
        if scored < args.horizon:  # its coverage says nothing of the horizons it never scored
            rest = (f"horizon {args.horizon} of this forecast was" if scored + 1 == args.horizon
                    else f"horizons {scored + 1}-{args.horizon} of this forecast were")
            record["warnings"].append(f"--backtest {args.backtest} scored horizons 1-{scored} only: {rest} never "
                                      "backtested")
    notes.warnings[:0] = population_warnings
    for w in notes.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    if args.model_dir:
        print(f"using the fit saved in {args.model_dir}, conditioned on {args.data} ...", file=sys.stderr)
    else:
        print(f"fitting {model.name} on {args.data} ...", file=sys.stderr)
    with warnings.catch_warnings():  # the Bayesian gate's "<model> fit is UNRELIABLE: ..." (for library users):
        # its problems are the fit's warnings, printed just below, and the banner says UNRELIABLE
        warnings.filterwarnings("ignore", message=r"\S+ fit is UNRELIABLE: ")
        model = fit_model(model, obs, regions, file=str(args.data))
    for w in model.info_.warnings:  # the fit's own findings (also in the sidecar)
        print(f"WARNING: {w}", file=sys.stderr)
    if not (model.uses_drivers and model.drivers) and any(s.changes for s in scenarios):
        from ..data.schema import CONFLICT_SERIES
        from ..models.driver_choice import available_drivers

        held = available_drivers(model.panel_.series)
        zero = [c for c in CONFLICT_SERIES if c in model.panel_.series and c not in held]
        fix = (f"use a model that does, e.g. --model nb-dl or the default auto, on the data's {', '.join(held)}"
               if held else f"the data's {', '.join(zero)} count nothing above 0: a conflict series with counts is "
               "needed" if zero else f"the data hold no conflict series ({', '.join(CONFLICT_SERIES)}): add one")
        scenario_warnings.append(f"model {model.name!r} uses no conflict series: every scenario gives the baseline "
                                 f"forecast (to answer 'what if', {fix})")
    marks = {"fit_reliable": bool(model.info_.reliable), "regions_left_out": notes.regions_left_out,
             "missing_last_periods": notes.missing_last_periods, "warnings": notes.warnings}
    # old counts are marked by build_sidecar from the fitted panel (one source of truth); the checks
    # above said them on screen before the fit

    def amend(sidecar: dict) -> None:
        """What this command knows beyond the run: --model-dir, --origin, scenario warnings."""
        sidecar.update(extra)
        sidecar["data"].update(provenance)
        if hindcast:
            sidecar["forecast"]["hindcast"] = hindcast
        sidecar["warnings"] += scenario_warnings

    report = (record or {}).get("warnings", []) + scenario_warnings
    if args.chunk_regions:
        return _streamed(args, model, scenarios, thresholds, record, threshold_note, marks, amend, report)
    run_ = run_forecast(obs, regions, model=model, scenarios=scenarios, horizon=args.horizon,
                        n_draws=args.draws, seed=args.seed, thresholds=thresholds,
                        data_files=[str(args.data)], backtest=record)
    for w in run_.warnings:  # found in the paths (upper tails at a bound): also in the sidecar
        print(f"WARNING: {w}", file=sys.stderr)
    apply_marks(run_.sidecar, **marks)
    amend(run_.sidecar)
    with staged_folder(args.out, kind="forecast") as stage, hub_stage(args.hub) as hub:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", HubWarning)
                written = write_run(run_, stage, plots=not args.no_plots, hxl=args.hxl, draws=args.write_draws,
                                    hub=hub, team=args.team)
        except HubError as e:  # named as the user knows the hub, not as its staging copy
            raise DataError(Problem(str(args.hub), None, "--hub", as_final(str(e), hub, args.hub))) from None
        for w in caught:  # the hub's notes are WARNING lines as every other (they were 'warning: ... (from ...)')
            if issubclass(w.category, HubWarning):
                report.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if (hub_note and "the hub has not had" not in hub_note
                and any(n.startswith("round ") and "ALL sums" in n for n in report)):
            report.remove(hub_note)  # the regions the hub lists and this forecast lacks: said once, with its ALL
        final = final_paths(written, stage, args.out)
        if hub is not None:
            final = final_paths(final, hub, args.hub)
    return _report(args, run_.sidecar, marks["fit_reliable"], lambda t: run_.prob_exceed(t, args.horizon),
                   thresholds, threshold_note, final, report, model.panel_.freq)


def preference_note(pref: dict) -> str:
    """Why a driver model alone is ``auto``'s forecast, from the sidecar's ``driver_preference``:
    the bound that held (``chosen_by``: the margin, 10% (4% in fits made before 2026-12-02), or
    one standard error of the difference; fits saved before 2026-12-01 record neither and were
    chosen by the margin); "" when not chosen."""
    if not pref.get("chosen"):
        return ""
    best = pref["best_mixture"]
    head = f" ({pref['candidate']} alone: backtest CRPS {pref['crps']:,.1f}, "
    if pref.get("chosen_by", "margin") == "margin":
        return head + f"within {pref['margin']:.0%} of the best mixture's {best:,.1f})"
    return head + (f"{pref['crps'] - best:,.1f} above the best mixture's, less than one standard error, "
                   f"{pref['se']:,.1f})")


def _report(args: argparse.Namespace, sc: dict, fit_ok: bool, prob_exceed, thresholds, threshold_note, final,
            warnings, freq: str, extra: str = "") -> int:
    """The screen after a forecast (both kinds of run): warnings (SYNTHETIC DATA among them when the
    data are flagged synthetic), the UNRELIABLE banner, the model line, P(total over ``horizon`` >
    threshold) per scenario, the files; exit 3 for an unreliable fit (``fit_ok`` false) without
    ``--allow-unreliable``.

    ``prob_exceed(t)`` is scenario -> probability; ``warnings`` are printed before the banner;
    ``extra`` ends the model line."""
    import pandas as pd

    from ..brief import fmt_date, fmt_prob
    from ..data.metadata import SYNTHETIC_MARK
    from ..data.schema import horizon_end
    from ..forecast.marks import mark_text, wrong_way_marks
    from .checks import people

    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    for w in sc["warnings"]:  # synthetic data: the screen says so, as the charts and files do
        if w.startswith(SYNTHETIC_MARK) and w not in warnings:
            print(f"WARNING: {w}", file=sys.stderr)
    for w in wrong_way_marks(sc):  # marks that leave the run reliable: the banner alone never said them
        print(f"WARNING: {w}", file=sys.stderr)
    if not sc["reliable"]:
        bar = "!" * 78
        print(f"{bar}\nWARNING: the forecast is marked UNRELIABLE: {mark_text(sc, scenario_rows=False)}\n"
              + "\n".join(f"  - {w}" for w in sc["warnings"]) + f"\n{bar}", file=sys.stderr)
    print(f"model {sc['model']['name']}; data to {sc['data']['last_period']}; {args.draws} paths; "
          f"seed {args.seed}{extra}")
    auto = (sc.get("diagnostics") or {}).get("auto")
    if isinstance(auto, dict) and auto.get("weights"):  # what the default model became on these data
        print("auto's weights: " + ", ".join(f"{n} {w:g}" for n, w in auto["weights"].items())
              + preference_note(auto.get("driver_preference") or {}))
    if threshold_note:
        print(f"thresholds {', '.join(people(t) for t in thresholds)} ({threshold_note})")
    # with the date the total runs to ("within 14 days, by 27 May 2022"): a planner asked "by when?"
    by = "by " + fmt_date(horizon_end(pd.Timestamp(sc["forecast"]["origin_date"]), args.horizon, freq))
    for t in thresholds:
        print(f"P(more than {people(t)} newly displaced within {periods_text(args.horizon, freq)}, {by}): "
              + ", ".join(f"{s} {fmt_prob(p, args.draws)}" for s, p in prob_exceed(t).items()))
    for w in final:
        print(f"wrote {w}")
    if not fit_ok and not args.allow_unreliable:
        print("error: the fit failed its diagnostics gate; outputs are written and marked UNRELIABLE "
              "(exit 3; give --allow-unreliable to accept such a fit)", file=sys.stderr)
        return 3
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Every option that can be checked without the data, all at once, before anything is read
    (so a mistake is never found after minutes of fitting). Raises :class:`DataError`."""
    from ..forecast.hub import HubError, check_abbreviation
    from .checks import apart_problem

    problems = []
    if args.hub is not None:
        try:
            check_abbreviation(args.team, "team")
        except HubError as e:
            problems.append(Problem("command line", None, "--team", str(e)))
        problems += filter(None, [apart_problem(args.out, "--out", args.hub, "--hub")])
    if args.horizon < 1:
        problems.append(Problem("command line", None, "--horizon", f"{args.horizon}: expected at least 1"))
    if args.chunk_regions is not None and args.chunk_regions < 1:
        problems.append(Problem("command line", None, "--chunk-regions", "must be at least 1"))
    # an option the run would not act on is an error, not ignored (--hub with --chunk-regions wrote no hub)
    if args.chunk_regions is not None:
        for option, given in (("--hub", args.hub is not None), ("--hxl", args.hxl), ("--write-draws", args.write_draws)):
            if given:
                problems.append(Problem("command line", None, option, "not with --chunk-regions, whose streamed run "
                                        "writes forecast.csv (or .parquet), forecast.json and the total's charts "
                                        "only; drop one of the two"))
    else:
        for option, given in (("--format", getattr(args, "format_given", False)),
                              ("--dask", getattr(args, "dask_given", False))):
            if given:
                problems.append(Problem("command line", None, option, "applies with --chunk-regions only; "
                                        "give --chunk-regions N or drop it"))
    if args.hub is None and getattr(args, "team_given", False):
        problems.append(Problem("command line", None, "--team", "applies with --hub only (the hub's team name); "
                                "give --hub DIR or drop it"))
    for option, path, want in (("--scenarios", args.scenarios, "a scenario TOML file"),
                               ("--backtest", args.backtest, "a folder written by `displacement-forecast backtest`"),
                               ("--model-dir", args.model_dir, "a folder written by `displacement-forecast fit`")):
        if path is not None and not (Path(path).is_file() if option == "--scenarios" else Path(path).is_dir()):
            problems.append(Problem(str(path), None, option, f"not found; expected {want}"))
        elif path is not None and option != "--scenarios":  # read here, then replaced by this run's outputs
            problems += filter(None, [apart_problem(args.out, "--out", path, option, nested=True)])
    for option, value, what, usage in (("--lags", args.lags, "lags", "N"),
                                       ("--drivers", args.drivers, "driver series", "A,B")):
        if args.model_dir is not None and value is not None:  # a fit option beside a saved fit: was ignored silently
            problems.append(Problem("command line", None, option, f"a saved fit (--model-dir) keeps the {what} it was "
                                    f"fitted with; refit with `displacement-forecast fit {option} {usage}` to change them"))
    if args.model_dir is not None and getattr(args, "model_given", False):  # was ignored: `--model nb-dl` gave the saved auto
        problems.append(Problem("command line", None, "--model", f"{args.model}: a saved fit (--model-dir) is the "
                                "model it was fitted as; drop --model, or refit with `displacement-forecast fit "
                                f"--model {args.model}`"))
    if problems:
        raise DataError(problems)


def read_scenarios(path: str, regions) -> list:
    """The scenario file's scenarios; a value of the wrong type anywhere is one clear error.

    :func:`~displacement_forecast.scenarios.load_scenarios` validates keys and values; this net
    turns what slips through it (a table where a number was expected...) into one line too.
    ``regions`` is the forecast's region table: a region it leaves out is named with why
    (:meth:`~displacement_forecast.data.regions.RegionTable.subset`), not as 'unknown'.
    """
    from ..scenarios import load_scenarios

    try:
        return load_scenarios(path, regions)
    except DataError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
        msg = " ".join(str(e).split())[:160]
        raise DataError(Problem(str(path), None, None, f"cannot read the scenarios ({type(e).__name__}: {msg}); "
                                "expected [[scenario]] tables as documented in `displacement-forecast forecast "
                                "--help` and docs")) from None


@contextmanager
def hub_stage(hub: str | None):
    """A staged copy of the hub folder (swapped in with the forecast folder), or None."""
    if hub is None:
        yield None
        return
    from ..forecast.staging import staged_folder

    with staged_folder(hub, copy_existing=True, option="--hub", kind="hub") as stage:
        yield stage


def _streamed(args, model, scenarios, thresholds, record, threshold_note, marks, amend, warnings) -> int:
    """``--chunk-regions``: forecast a fitted model region chunk by region chunk (bounded memory),
    written through a staging folder like every other run; the sidecar and the screen as there."""
    from ..forecast.staging import final_paths, staged_folder
    from ..forecast.streaming import write_streamed_run

    with staged_folder(args.out, kind="forecast") as stage:

        def charts(res, sc: dict) -> list:
            """The all-region total's charts (no regional paths are kept), listed in the data package."""
            import pandas as pd

            from ..plot.writer import write_totals

            panel = model.panel_
            observed = pd.DataFrame(panel.target().T, index=panel.dates).sum(axis=1, min_count=1)
            return write_totals(res.totals, observed, panel.future_dates(args.horizon), panel.freq, sc, stage)

        res, sc, written = write_streamed_run(model, scenarios, stage, horizon=args.horizon, n_draws=args.draws,
                                              seed=args.seed, file_format=args.format,
                                              chunk_regions=args.chunk_regions, dask=args.dask or None,
                                              thresholds=thresholds, data_files=[str(args.data)], backtest=record,
                                              marks=marks, amend=amend, charts=None if args.no_plots else charts)
        final = final_paths(written, stage, args.out)

    def prob_exceed(t: float) -> dict[str, float]:
        return {s: float((tot.sum(axis=1) > t).mean()) for s, tot in res.totals.items()}

    return _report(args, sc, marks["fit_reliable"], prob_exceed, thresholds, threshold_note, final, warnings,
                   model.panel_.freq, f"; {len(res.chunks)} region chunks")
