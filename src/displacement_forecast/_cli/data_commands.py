"""``validate`` and ``describe``: check observation files and summarise them, writing nothing.

Both read tidy observation CSVs (``date, region, series, value[, source]``) by default, or a raw
source with ``--format acled|ucdp|hxl|mapped`` (``mapped`` needs ``--config TOML``).
Problems are printed one per line as ``error: file:line: column 'x': message`` (exit 2).
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from ..data.io import read_observations
from ..data.loaders import DataWarning, load_acled, load_hxl, load_mapped, load_ucdp_ged
from ..data.regions import RegionTable, load_regions
from ..data.schema import DataError, Problem, infer_frequency

FORMATS = ("tidy", "acled", "ucdp", "hxl", "mapped")


def _load(path: str, args: argparse.Namespace, regions: RegionTable | None) -> pd.DataFrame:
    fmt = args.format
    freq = getattr(args, "freq", None)
    if fmt == "tidy":
        return read_observations(path, region_codes=regions.codes if regions else None, freq=freq)
    if fmt == "acled":
        return load_acled(path, regions, freq=freq or "W", strict=args.strict)
    if fmt == "ucdp":
        return load_ucdp_ged(path, regions, freq=freq or "W", strict=args.strict)
    if fmt == "hxl":
        return load_hxl(path, regions=regions, freq=freq, strict=args.strict)
    if args.config is None:
        raise DataError(Problem(path, None, None, "--format mapped needs --config TOML"))
    return load_mapped(path, args.config, regions, strict=args.strict)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--regions", metavar="CSV", help="region table (code, name, parent, population[, aliases])")
    p.add_argument("--format", choices=FORMATS, default="tidy", help="input format (default: tidy observations)")
    p.add_argument("--config", metavar="TOML", help="column mapping for --format mapped")
    p.add_argument("--strict", action="store_true", help="unmatched region names are errors, not warnings")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``validate`` and ``describe``."""
    v = sub.add_parser("validate", help="check observation files; list every problem",
                       description="Check files against the observation schema. Exit 0 if all are valid, 2 otherwise.")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--freq", choices=("D", "W", "M"), help="expected frequency")
    _common(v)
    v.set_defaults(func=run_validate)

    d = sub.add_parser("describe", help="summarise an observation file per series and region",
                       description="Per series and region: date range, frequency, number of periods, total, missing share.")
    d.add_argument("file", metavar="FILE")
    d.add_argument("--freq", choices=("D", "W", "M"), help="expected frequency (aggregates raw formats)")
    _common(d)
    d.set_defaults(func=run_describe)


def _regions(args: argparse.Namespace) -> RegionTable | None:
    return load_regions(args.regions) if args.regions else None


def _print_warnings(caught) -> None:
    for w in caught:
        if issubclass(w.category, DataWarning):
            print(f"warning: {w.message}", file=sys.stderr)


def run_validate(args: argparse.Namespace) -> int:
    regions = _regions(args)
    problems: list[Problem] = []
    for path in args.files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            try:
                obs = _load(path, args, regions)
            except DataError as e:
                problems += e.problems
                _print_warnings(caught)
                continue
        _print_warnings(caught)
        freq = infer_frequency(obs["date"]) or "?"
        print(f"ok: {path}: {len(obs):,} rows, {obs['series'].nunique()} series, "
              f"{obs['region'].nunique()} regions, frequency {freq}, "
              f"{obs['date'].min().date()} to {obs['date'].max().date()}")
    if problems:
        raise DataError(problems)
    return 0


def describe_frame(obs: pd.DataFrame) -> pd.DataFrame:
    """Per series and region: first/last date, frequency, periods, total, missing share.

    The missing share counts periods on the complete grid between the first and last date of
    the whole file that have no value (absent rows or NaN).
    """
    freq = infer_frequency(obs["date"]) or "D"
    grid = pd.date_range(obs["date"].min(), obs["date"].max(), freq={"D": "D", "W": "W-MON", "M": "MS"}[freq])
    rows = []
    for (series, region), g in obs.groupby(["series", "region"], sort=True):
        seen = g.dropna(subset=["value"])
        rows.append({
            "series": series,
            "region": region,
            "first": g["date"].min().date(),
            "last": g["date"].max().date(),
            "freq": freq,
            "periods": len(seen),
            "total": seen["value"].sum(),
            "missing": 1 - len(seen) / len(grid) if len(grid) else 0.0,
        })
    return pd.DataFrame(rows)


def run_describe(args: argparse.Namespace) -> int:
    regions = _regions(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        obs = _load(args.file, args, regions)
    _print_warnings(caught)
    table = describe_frame(obs)
    print(f"{args.file}: {len(obs):,} rows")
    with pd.option_context("display.max_rows", 500, "display.width", 140):
        print(table.to_string(index=False, formatters={"total": "{:,.0f}".format, "missing": "{:.0%}".format}))
    return 0
