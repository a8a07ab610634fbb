"""``displacement-forecast export-hub``: put a forecast folder into a hubverse hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.schema import DataError, Problem


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export-hub`` on the ``displacement-forecast`` command."""
    p = sub.add_parser(
        "export-hub", help="add a forecast folder (forecast.csv + forecast.json) to a hubverse hub",
        description="Write or update a hubverse hub (hub-config/admin.json, hub-config/tasks.json, "
                    "model-output/<team>-<model>/<origin>-<team>-<model>.csv, model-metadata/) from a "
                    "folder written by `displacement-forecast forecast`. Other origins and models already "
                    "in the hub are kept; the hub opens with hubdata.connect_hub (Python) or "
                    "hubData::connect_hub (R).")
    p.add_argument("forecast_dir", metavar="FORECAST_DIR", help="folder holding forecast.csv and forecast.json")
    p.add_argument("--hub", required=True, metavar="DIR", help="hub root folder: a new or empty folder, or an existing hub (created if missing)")
    p.add_argument("--team", default="dfcast", help="team abbreviation: letters, digits, '_' (default dfcast)")
    p.add_argument("--model", default=None,
                   help="model abbreviation (default: the sidecar's model name with '-' as '_', "
                        "shortened to 16 characters, e.g. bayes_hier)")
    p.add_argument("--format", dest="file_format", type=str.lower, choices=("csv", "parquet"), default="csv",
                   help="model-output file format (default csv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the forecast folder and export it; user mistakes become one-line errors (exit 2)."""
    from ..forecast.hub import (
        HubError,
        check_abbreviation,
        check_hub_regions,
        check_hub_unit,
        export_to_hub,
        read_forecast_dir,
        sidecar_unit,
    )
    from ..forecast.staging import as_final, claim_out_dir, final_paths, staged_folder
    from .checks import apart_problem

    for option, value in (("--team", args.team), ("--model", args.model)):
        try:
            if value is not None:
                check_abbreviation(value, option[2:])
        except HubError as e:
            raise DataError(Problem("command line", None, option, str(e))) from None
    d = Path(args.forecast_dir)
    problem = apart_problem(str(d), "FORECAST_DIR", args.hub, "--hub")
    if problem:
        raise DataError(problem)
    try:
        frame, sidecar = read_forecast_dir(d)
    except FileNotFoundError as e:
        raise DataError(Problem(str(d), None, None, str(e))) from None
    claim_out_dir(args.hub, option="--hub", replace=False, kind="hub")
    try:  # named in the hub the user gave (export_to_hub sees its staging copy)
        warning = check_hub_regions(args.hub, frame["region"].astype(str).unique())
        check_hub_unit(args.hub, sidecar_unit(sidecar))
    except HubError as e:
        raise DataError(Problem(str(args.hub), None, "--hub", str(e))) from None
    if warning:
        print(f"WARNING: {warning}", file=sys.stderr)
    stage = None
    try:
        with staged_folder(args.hub, copy_existing=True, option="--hub", kind="hub") as stage:  # all or nothing
            out = export_to_hub(frame, sidecar, stage, team=args.team, model=args.model,
                                file_format=args.file_format, warnings=[warning] if warning else [])
    except HubError as e:  # named as the user knows the hub, not as its staging copy
        raise DataError(Problem(str(args.hub), None, None, as_final(str(e), stage, args.hub))) from None
    (out,) = final_paths([out], stage, args.hub)
    print(f"wrote {out}")
    return 0
