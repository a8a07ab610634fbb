"""``displacement-forecast fit``: fit a Bayesian model and save it (posterior.nc, model.json, diagnostics.json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.schema import DataError, Problem
from .common import add_data_args, load_data

#: Models that can be fitted and saved by this command.
SAVABLE = ("bayes-hierarchical",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit", help="fit a Bayesian model and save the fit (posterior.nc, model.json, diagnostics.json)",
        description="Fit the Bayesian hierarchical model, run its diagnostics gate (R-hat, ESS, "
                    "divergences, E-BFMI) and save the fit so `forecast --model-dir DIR` can project "
                    "scenarios without refitting. A fit that fails the gate is saved but marked unreliable.")
    add_data_args(p)
    p.add_argument("--model", default="bayes-hierarchical", choices=list(SAVABLE), help="model to fit")
    p.add_argument("--out", required=True, help="output folder for the saved fit")
    p.add_argument("--draws", type=int, default=None, help="posterior draws per chain after tuning (default 1000)")
    p.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=None, help="chains (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--sampler", choices=("nutpie", "pymc"), default=None,
                   help="NUTS implementation (default nutpie; PyMC's when nutpie is missing)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--allow-unreliable", action="store_true",
                   help="exit 0 even when the fit fails its diagnostics gate (it is saved and marked either way)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit, gate, save (all files at once). Exit 3 when the gate fails unless ``--allow-unreliable``."""
    from ..forecast.staging import check_out_dir, staged_folder
    from ..models.bayes import GATE, BayesHierarchical
    from .checks import check_seed, prepare_data

    check_seed(args.seed)
    cfg = {"seed": args.seed}
    for k in ("draws", "tune", "chains", "sampler"):
        v = getattr(args, k)
        if v is not None:
            if k != "sampler" and v < 1:
                raise DataError(Problem("command line", None, f"--{k}", "must be at least 1"))
            cfg[k] = v
    if args.no_progress:
        cfg["progress"] = False
    check_out_dir(args.out)
    obs, regions = load_data(args)
    model = BayesHierarchical(cfg)
    obs, regions, notes = prepare_data(obs, regions, model, file=str(args.data))
    for w in notes.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    print(f"fitting {args.model} on {args.data} ...", file=sys.stderr)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gate's verdict is printed below, loudly
        model.fit(obs, regions)
    from ..data.io import write_text_atomic

    diag = {"model": model.name, "reliable": model.info_.reliable, "warnings": model.info_.warnings,
            "thresholds": GATE, "diagnostics": model.info_.diagnostics, "data_notes": notes.to_dict()}
    with staged_folder(args.out) as stage:
        model.save(stage)
        write_text_atomic(json.dumps(diag, indent=1), stage / "diagnostics.json")
    out = Path(args.out)
    print(model.summary())
    if not model.info_.reliable:
        bar = "!" * 78
        print(f"{bar}\nWARNING: this fit FAILED its diagnostics gate; forecasts from it are UNRELIABLE.\n"
              + "\n".join(f"  - {w}" for w in model.info_.warnings)
              + "\nSample longer (--draws/--tune) or check the data before using it.\n" + bar, file=sys.stderr)
    for f in ("posterior.nc", "model.json", "diagnostics.json"):
        print(f"wrote {out / f}")
    if not model.info_.reliable and not args.allow_unreliable:
        print(f"error: the fit failed its diagnostics gate; it is saved in {out} and marked unreliable "
              "(exit 3; give --allow-unreliable to accept it)", file=sys.stderr)
        return 3
    return 0
