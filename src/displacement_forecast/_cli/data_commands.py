"""``validate`` and ``describe``: check observation files and summarise them, writing nothing.

Both read tidy observation CSVs (``date, region, series, value[, source]``) by default, or a raw
source with ``--format NAME`` (choices from the loader registry,
:data:`displacement_forecast.data.loaders.LOADERS`; ``mapped`` needs ``--config TOML``).
Problems are printed one per line as ``error: file:line: column 'x': message`` (a TOML key is
``key x``, a command-line option ``option --x``; :class:`~..data.schema.Problem`), exit 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings

import pandas as pd

from ..data.io import observation_lines
from ..data.loaders import LOADERS, parse_tag_map
from ..data.regions import RegionTable, load_regions
from ..data.schema import (
    DataError,
    DataNote,
    DataWarning,
    Problem,
    detect_frequency,
    freq_code,
    period_grid,
)

#: ``--format`` choices: the loader registry.
FORMATS = tuple(LOADERS)


def agency_options(args: argparse.Namespace) -> dict:
    """Loader options given by the flags of :func:`add_agency_args` (None where not given)."""
    return {
        "strict": getattr(args, "strict", False) or None,
        "date_format": getattr(args, "date_format", None),
        "delimiter": getattr(args, "delimiter", None),
        "complete_periods": getattr(args, "complete_periods", False) or None,
        "tag_map": parse_tag_map(getattr(args, "tag_map", None)) or None,
        "whole": False if getattr(args, "decimals", False) else None,
    }


def loader_options(args: argparse.Namespace, fmt: str) -> dict:
    """Options of the loader ``fmt`` that the command line gave (only those the loader takes)."""
    loader = LOADERS[fmt]
    given = {"freq": getattr(args, "freq", None), "config": getattr(args, "config", None), **agency_options(args)}
    if fmt == "mapped" and given["config"] is None:
        raise DataError(Problem("--format mapped", None, None, "--format mapped needs --config TOML"))
    unused = [k for k, v in given.items() if v is not None and k not in loader.options]
    if unused:  # a flag the format has no use for would be dropped without a word
        raise DataError([Problem("command line", None, FLAGS[k], unused_flag(k, fmt, given[k])) for k in unused])
    return loader.takes(given)


#: The command-line flag of each loader option that :func:`loader_options` passes on.
FLAGS = {"freq": "--freq", "config": "--config", "strict": "--strict", "date_format": "--date-format", "delimiter": "--delimiter",
         "complete_periods": "--complete-periods", "tag_map": "--tag-map", "whole": "--decimals"}


def unused_flag(option: str, fmt: str, value: object = None) -> str:
    """Why ``option`` is refused for ``fmt``: the formats that read it."""
    users = [k for k, v in LOADERS.items() if option in v.options]
    why = " (tidy files take YYYY-MM-DD dates only)" if (fmt, option) == ("tidy", "date_format") else ""
    key = {"delimiter": "[file] delimiter", "whole": "[file] whole = false", "freq": f"freq = \"{value}\""}.get(option)
    where = f"; for --format mapped write {key} in the --config TOML" if fmt == "mapped" and key else ""
    return (f"{FLAGS[option]} does not apply to --format {fmt}{why}; it is read by --format "
            f"{' | '.join(users)}{where}")


def _load(path: str, args: argparse.Namespace, regions: RegionTable | None) -> pd.DataFrame:
    return LOADERS[args.format].load(path, regions, **loader_options(args, args.format))


def add_agency_args(p: argparse.ArgumentParser) -> None:
    """Options for reading agency files (shared by ``validate``, ``describe`` and ``panel``)."""
    p.add_argument("--date-format", metavar="FMT",
                   help="strptime format of the dates in agency files (--format acled, ucdp, hxl, mapped; tidy "
                        "files take YYYY-MM-DD only), e.g. %%d/%%m/%%Y (default: detected; "
                        "an ambiguous file is resolved only when one reading gives consecutive dates)")
    p.add_argument("--delimiter", metavar="CHAR", help="CSV delimiter (default: sniffed among , ; and tab)")
    p.add_argument("--tag-map", metavar="TAG=ROLE,...",
                   help="HXL tag patterns to roles, e.g. '#affected+idps=displaced,#adm2+name=region'")
    p.add_argument("--complete-periods", action="store_true",
                   help="drop first/last periods that event data only partly cover")
    p.add_argument("--strict", action="store_true", help="unmatched region names are errors, not warnings")
    add_decimals_arg(p)


def add_decimals_arg(p: argparse.ArgumentParser) -> None:
    """``--decimals``: counts of people may have decimals (every loader's ``whole = false``)."""
    p.add_argument("--decimals", action="store_true",
                   help="counts of people may have decimals (a source that splits estimates); by default a "
                        "non-whole count of people is an error (README front matter `decimals: true` "
                        "declares it for a data folder)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--regions", metavar="CSV", help="region table (code, name, parent, population[, aliases][, counts])")
    p.add_argument("--format", choices=FORMATS, default="tidy", type=str.lower,
                   help="input format: " + "; ".join(f"{k} = {v.description}" for k, v in LOADERS.items()))
    p.add_argument("--config", metavar="TOML", help="column mapping for --format mapped")
    add_agency_args(p)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``validate`` and ``describe``."""
    v = sub.add_parser("validate", help="check observation files; list every problem",
                       description="Check files against the observation schema. Exit 0 if all are valid, 2 otherwise.")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--freq", choices=("D", "W", "M"), type=freq_code, help="expected frequency")
    _common(v)
    v.set_defaults(func=run_validate)

    d = sub.add_parser("describe", help="summarise an observation file per series and region",
                       description="Per series and region: date range, frequency, number of periods, total, missing share.")
    d.add_argument("file", metavar="FILE")
    d.add_argument("--freq", choices=("D", "W", "M"), type=freq_code, help="expected frequency (aggregates raw formats)")
    _common(d)
    d.set_defaults(func=run_describe)


def _regions(args: argparse.Namespace) -> RegionTable | None:
    return load_regions(args.regions) if args.regions else None


def print_warnings(caught) -> None:
    """Print recorded :class:`DataWarning` s one line each on stderr (a :class:`DataNote` as ``note:``)."""
    for w in caught:
        if issubclass(w.category, DataWarning):
            print(f"{'note' if issubclass(w.category, DataNote) else 'warning'}: {w.message}", file=sys.stderr)


def run_validate(args: argparse.Namespace) -> int:
    from .checks import check_population, forecast_would_refuse, regions_without_rows

    regions = _regions(args)
    problems: list[Problem] = []
    for path in args.files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            try:
                obs = _load(path, args, regions)
                lines = (functools.partial(observation_lines, path, delimiter=args.delimiter)
                         if args.format == "tidy" else None)  # agency rows are sums of many lines
                population_warnings = [] if regions is None else check_population(
                    obs, regions, file=str(path), regions_file=str(args.regions), lines=lines)
                absent = None if regions is None else regions_without_rows(
                    obs, regions, file=str(path), regions_file=str(args.regions))
                refused = forecast_would_refuse(obs, regions, file=str(path), regions_file=args.regions)
            except DataError as e:
                problems += e.problems
                print_warnings(caught)
                continue
        print_warnings(caught)
        for w in population_warnings:  # the same rule as `forecast`
            print(f"WARNING: {w}", file=sys.stderr)
        if absent:  # legitimate, but `forecast` will leave them out: said now
            print(f"WARNING: {absent}", file=sys.stderr)
        for w in refused:  # well-formed, but `forecast` stops or leaves a region out: said now, exit 0
            print(f"WARNING: {w}", file=sys.stderr)
        freq = detect_frequency(obs["date"], file=path).label
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
    try:
        freq = detect_frequency(obs["date"]).code
    except DataError:
        freq = "D"
    grid = pd.date_range(obs["date"].min(), obs["date"].max(), freq=period_grid(obs["date"], freq))
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
    print_warnings(caught)
    table = describe_frame(obs)
    print(f"{args.file}: {len(obs):,} rows")
    with pd.option_context("display.max_rows", 500, "display.width", 140):
        print(table.to_string(index=False, formatters={"total": "{:,.0f}".format, "missing": "{:.0%}".format}))
    return 0
