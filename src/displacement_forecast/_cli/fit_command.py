"""``displacement-forecast fit``: fit any model and save it for ``forecast --model-dir`` (model.json + its files, diagnostics.json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.schema import DataError, Problem
from ..models import DEFAULT_MODEL, REGISTRY
from .common import add_data_args, load_data
from .drivers_arg import add_drivers_arg, add_lags_arg, model_kwargs, parse_drivers, parse_lags

#: Models that can be fitted and saved by this command: every registered one (see models.io).
SAVABLE = tuple(REGISTRY)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit", help="fit a model and save the fit (model.json + its files, diagnostics.json)",
        description="Fit a model (by default `auto`, the default of `forecast`, so `forecast --model-dir "
                    "DIR` gives what `forecast` would) and save the fit so `forecast --model-dir DIR` can "
                    "project scenarios without refitting. The Bayesian models run their diagnostics gate "
                    "(R-hat, ESS, divergences, E-BFMI); a fit that fails its diagnostics is saved but marked "
                    "unreliable.")
    add_data_args(p)
    p.add_argument("--model", default=DEFAULT_MODEL, type=str.lower, choices=list(SAVABLE),
                   help=f"model to fit (default {DEFAULT_MODEL}, as for `forecast`)")
    add_drivers_arg(p)
    add_lags_arg(p)
    p.add_argument("--out", required=True, help="output folder for the saved fit")
    p.add_argument("--draws", type=int, default=None,
                   help="bayes-hierarchical: posterior draws per chain after tuning (default 1000)")
    p.add_argument("--tune", type=int, default=None, help="bayes-hierarchical: tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=None, help="bayes-hierarchical: chains (default 2)")
    p.add_argument("--seed", type=int, default=None,
                   help="bayes-hierarchical: random seed (default 0); an error with another model, whose fit "
                        "is the same whatever the seed (forecast's --seed chooses the paths)")
    p.add_argument("--sampler", choices=("nutpie", "pymc"), default=None,
                   help="bayes-hierarchical: NUTS implementation (default nutpie; PyMC's when nutpie is missing)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--allow-unreliable", action="store_true",
                   help="exit 0 even when the fit fails its diagnostics gate (it is saved and marked either way)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit, gate, save (all files at once). Exit 3 when the gate fails unless ``--allow-unreliable``."""
    from ..data.io import write_text_atomic
    from ..forecast.staging import claim_out_dir, final_paths, staged_folder
    from ..models import get_model
    from ..models.io import save_model
    from .checks import check_seed, fit_model, prepare_data

    lags = parse_lags(args.lags)
    drivers = parse_drivers(args.drivers)  # before the data are read, as every option
    bayes = args.model in ("bayes-hierarchical", "bayes-dynamic")
    if args.seed is not None:
        check_seed(args.seed)
        if not bayes:  # was ignored without a word: `fit --seed 7` then looked seeded
            raise DataError(Problem("command line", None, "--seed",
                                    f"applies to the Bayesian models only, not {args.model}: its fit is the same "
                                    "whatever the seed (forecast's --seed chooses the paths)"))
    cfg = {"seed": 0 if args.seed is None else args.seed}
    for k in ("draws", "tune", "chains", "sampler"):
        v = getattr(args, k)
        if v is not None:
            if not bayes:
                raise DataError(Problem("command line", None, f"--{k}", f"applies to the Bayesian models only, not {args.model}"))
            if k != "sampler" and v < 1:
                raise DataError(Problem("command line", None, f"--{k}", "must be at least 1"))
            cfg[k] = v
    if args.no_progress:
        cfg["progress"] = False
    claim_out_dir(args.out, kind="fit")  # checked and locked before the data are read
    obs, regions = load_data(args)
    kw = model_kwargs(args.model, drivers, obs, lags=lags)
    model = get_model(args.model, **cfg, **kw) if bayes else get_model(args.model, **kw)
    obs, regions, notes = prepare_data(obs, regions, model, file=str(args.data))
    for w in notes.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    print(f"fitting {args.model} on {args.data} ...", file=sys.stderr)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gate's verdict is printed below, loudly
        model = fit_model(model, obs, regions, file=str(args.data))  # with its driver forecaster: saved too
    diag = {"model": model.name, "reliable": model.info_.reliable, "warnings": model.info_.warnings,
            "diagnostics": model.info_.diagnostics, "data_notes": notes.to_dict()}
    if bayes:
        from ..models.bayes import GATE

        diag["thresholds"] = GATE
    with staged_folder(args.out, kind="fit") as stage:
        save_model(model, stage)
        write_text_atomic(json.dumps(diag, indent=1, default=str), stage / "diagnostics.json")
        written = [p for p in sorted(stage.rglob("*")) if p.is_file() and not p.name.startswith(".")]
        final = final_paths(written, stage, args.out)
    out = Path(args.out)
    print(model.summary())
    print(f"  (what each key means: docs/forecast-files.md, 'Keys of diagnostics'; saved in {out / 'diagnostics.json'})")
    if model.info_.reliable:  # findings of a fit that passed (nb-dl's shortened lags): on screen, as forecast does
        for w in model.info_.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
    else:
        bar = "!" * 78
        print(f"{bar}\nWARNING: this fit FAILED its diagnostics gate; forecasts from it are UNRELIABLE.\n"
              + "\n".join(f"  - {w}" for w in model.info_.warnings)
              + "\nSample longer (--draws/--tune) or check the data before using it.\n" + bar, file=sys.stderr)
    for f in final:
        print(f"wrote {f}")
    if not model.info_.reliable and not args.allow_unreliable:
        print(f"error: the fit failed its diagnostics gate; it is saved in {out} and marked unreliable "
              "(exit 3; give --allow-unreliable to accept it)", file=sys.stderr)
        return 3
    return 0
