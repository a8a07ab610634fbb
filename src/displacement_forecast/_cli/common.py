"""Helpers shared by CLI sub-commands: finding the region table, loading observations."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..data.io import read_observations
from ..data.regions import RegionTable, load_regions
from ..data.schema import DataError, Problem


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="observation CSV (date, region, series, value[, source])")
    p.add_argument("--regions", help="region table CSV (code, name, parent, population); "
                   "default: regions.csv beside DATA")


def load_data(args: argparse.Namespace) -> tuple[pd.DataFrame, RegionTable]:
    """Region table (given or beside the data file) and validated observations."""
    data = Path(args.data)
    reg_path = Path(args.regions) if args.regions else data.with_name("regions.csv")
    if not reg_path.exists():
        raise DataError(Problem(str(reg_path), None, None,
                                "region table not found; give one with --regions (columns code, name, parent, population)"))
    regions = load_regions(reg_path)
    obs = read_observations(data, region_codes=regions.codes)
    return obs, regions
