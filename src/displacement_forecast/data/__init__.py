"""Data layer: the observation schema, validation, region tables, loaders, aggregation, simulator."""

from .aggregate import aggregate
from .io import read_csv_strict, read_observations, write_csv_atomic
from .loaders import LOADERS, load_acled, load_hxl, load_mapped, load_tidy, load_ucdp_ged
from .regions import RegionTable, load_regions, regions_from_frame
from .schema import (
    COLUMNS,
    KNOWN_SERIES,
    DataError,
    DataWarning,
    Frequency,
    Problem,
    check_observations,
    detect_frequency,
    observation_frequency,
    to_panel,
    validate_observations,
)

__all__ = [
    "COLUMNS",
    "KNOWN_SERIES",
    "DataError",
    "DataWarning",
    "Frequency",
    "LOADERS",
    "aggregate",
    "detect_frequency",
    "load_acled",
    "load_hxl",
    "load_mapped",
    "load_tidy",
    "load_ucdp_ged",
    "Problem",
    "RegionTable",
    "check_observations",
    "load_regions",
    "observation_frequency",
    "read_csv_strict",
    "read_observations",
    "regions_from_frame",
    "to_panel",
    "validate_observations",
    "write_csv_atomic",
]
