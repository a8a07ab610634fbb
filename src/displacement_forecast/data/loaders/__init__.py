"""Loaders for the formats analysts receive, one module per format, behind one registry.

=========  =================  ==============================================================
name       module             reads
=========  =================  ==============================================================
tidy       :mod:`.tidy`       the project's observation CSV (ISO dates)
acled      :mod:`.acled`      ACLED exports of every era (CSV ``,`` ``;`` tab, or workbook)
ucdp       :mod:`.ucdp`       UCDP GED event CSVs (date ranges spread, optional flag columns)
hxl        :mod:`.hxl`        HXL-tagged tables (hashtag row found, tag patterns)
mapped     :mod:`.mapped`     any CSV/workbook described by a TOML column mapping
=========  =================  ==============================================================

:data:`LOADERS` maps the name to a :class:`~.common.Loader`; the command line takes its
``--format`` choices from it and recipes name it in ``format =``. Adding a format is one new
module with a ``load_<name>`` function plus one line in :data:`LOADERS`.

Every loader checks its input and raises :class:`~..schema.DataError` listing *all* problems
(file, line, column, what was expected); names it cannot match to the region table are reported
in one :class:`~..schema.DataWarning` (or a ``DataError`` with ``strict=True``). Output frames
pass :func:`~..schema.check_observations` before they are returned.
"""

from __future__ import annotations

from ..schema import DataWarning
from .acled import ACLED_SUB_EVENT_TYPES, DEFAULT_ACLED_SERIES, load_acled
from .common import DATE_FORMATS, Loader, detect_date_format, map_region_names, parse_counts
from .hxl import DEFAULT_HXL_TAGS, HXL_REGION_TAGS, load_hxl, normalise_hxl_tag, parse_tag_map
from .mapped import load_mapped
from .tidy import load_tidy
from .ucdp import load_ucdp_ged

__all__ = [
    "ACLED_SUB_EVENT_TYPES",
    "DATE_FORMATS",
    "DEFAULT_ACLED_SERIES",
    "DEFAULT_HXL_TAGS",
    "HXL_REGION_TAGS",
    "LOADERS",
    "DataWarning",
    "Loader",
    "detect_date_format",
    "load_acled",
    "load_hxl",
    "load_mapped",
    "load_tidy",
    "load_ucdp_ged",
    "map_region_names",
    "normalise_hxl_tag",
    "parse_counts",
    "parse_tag_map",
]

#: Registry: format name -> loader. The CLI's ``--format`` choices and recipe ``format`` keys.
LOADERS: dict[str, Loader] = {
    "tidy": Loader("tidy", load_tidy, "observations", "tidy observation CSV (date, region, series, value[, source])"),
    "acled": Loader("acled", load_acled, "events", "ACLED export: events, fatalities, strikes, shelling per region"),
    "ucdp": Loader("ucdp", load_ucdp_ged, "events", "UCDP GED events: events and deaths per region"),
    "hxl": Loader("hxl", load_hxl, "measured", "HXL-tagged table, columns found by hashtag"),
    "mapped": Loader("mapped", load_mapped, "measured", "CSV/workbook described by a TOML mapping (needs config)",
                     needs=("config",)),
}
