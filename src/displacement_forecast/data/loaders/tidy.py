"""The project's own tidy observation CSV (``date, region, series, value[, source]``).

Dates are ISO ``YYYY-MM-DD`` only (a ``dd/mm/yyyy`` tidy file is refused, never guessed); the
delimiter is sniffed (``,`` ``;`` tab). The strict reader and the schema check live in
:mod:`..io` and :mod:`..schema`; this module puts them behind the loader registry.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_observations
from ..regions import RegionTable

__all__ = ["load_tidy"]


def load_tidy(
    path: str | Path,
    regions: RegionTable | None = None,
    *,
    freq: str | None = None,
    delimiter: str | None = None,
    whole: bool | None = None,
) -> pd.DataFrame:
    """Read and validate a tidy observation file (see :func:`..io.read_observations`).

    Parameters
    ----------
    freq
        Expected frequency (``D``, ``W``, ``M``); None accepts the one the dates name.
    delimiter
        ``,`` ``;`` or tab; sniffed when None.
    whole
        Counts of people must be whole numbers (the rule of every loader; ``false`` for a source
        that publishes estimates with decimals; None: ``decimals: true`` in the README beside the
        file says so). A non-whole count is one problem naming file, line, column ``value`` and
        the cell.
    """
    return read_observations(path, region_codes=regions.codes if regions is not None else None, freq=freq,
                             delimiter=delimiter, whole=whole,
                             region_names=regions.code_named if regions is not None else None)
