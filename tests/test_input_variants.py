"""Variants of the inputs real users hand the toolkit (the classes of ../shared/cases, pushed further).

Each test stands for one class of file found broken by trying: the expected behaviour is the
project's rule for bad input (one line naming file, line, column or key and what was expected;
exit 2; nothing written) or, for a harmless variant, the same numbers as the plain file.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.loaders import load_acled

#: A small ACLED export (current layout): 3 weeks, 2 regions.
ACLED_ROWS = [
    # event_id_cnty, event_date, event_type, sub_event_type, admin1, fatalities
    ("SYR1", "2019-11-25", "Explosions/Remote violence", "Air/drone strike", "Idleb", "2"),
    ("SYR2", "2019-11-26", "Explosions/Remote violence", "Shelling/artillery/missile attack", "Idleb", "0"),
    ("SYR3", "2019-11-27", "Battles", "Armed clash", "Aleppo", "5"),
    ("SYR4", "2019-12-02", "Explosions/Remote violence", "Air/drone strike", "Aleppo", "1"),
    ("SYR5", "2019-12-03", "Explosions/Remote violence", "Air/drone strike", "Idleb", "0"),
    ("SYR6", "2019-12-09", "Battles", "Armed clash", "Idleb", "3"),
    ("SYR7", "2019-12-15", "Explosions/Remote violence", "Air/drone strike", "Aleppo", "0"),
]
ACLED_HEADER = ("event_id_cnty", "event_date", "event_type", "sub_event_type", "admin1", "fatalities")


def write_acled(path, rows=ACLED_ROWS, header=ACLED_HEADER, *, delim=",", eol="\n", bom=False):
    """Write ``rows`` as an ACLED-like CSV (cells written as given, quoted only when needed)."""
    def cell(c):
        return f'"{c}"' if (delim in c or '"' in c) else c

    text = eol.join(delim.join(cell(c) for c in r) for r in [header, *rows]) + eol
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _counts(obs: pd.DataFrame) -> dict:
    return {(str(d.date()), r, s): v for d, r, s, v in obs[["date", "region", "series", "value"]].itertuples(index=False)}


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_acled(path, freq="W", **kw)


@pytest.mark.parametrize("header", [
    tuple(h.upper() + " " for h in ACLED_HEADER),                     # Excel-padded upper-case cells
    tuple(" " + h for h in ACLED_HEADER),
    tuple(h.replace("_", " ").title() for h in ACLED_HEADER),          # 'Event Date', 'Sub Event Type'
])
def test_acled_header_cells_with_spaces_or_other_spelling_read_the_same(tmp_path, header, capsys):
    plain = _counts(_load(write_acled(tmp_path / "plain.csv")))
    odd = write_acled(tmp_path / "odd.csv", header=header)
    assert _counts(_load(odd)) == plain
    assert plain[("2019-11-25", "Idleb", "strikes")] == 1 and plain[("2019-11-25", "Aleppo", "fatalities")] == 5
    assert main(["validate", "--format", "acled", str(odd)]) == 0  # was: internal error, exit 1
