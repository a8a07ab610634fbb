"""Property tests of the tidy and ACLED loaders on generated files (hypothesis).

Whatever the file holds, a loader either returns observations that agree with the rows it was
given or raises :class:`DataError` whose problems are one line each; never another exception
(the command line would print 'internal error'). Files vary as received: delimiter, BOM, CRLF,
header spelling, blank lines, and cells a careless or hostile file may hold.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from displacement_forecast.data import read_observations
from displacement_forecast.data.loaders import load_acled
from displacement_forecast.data.schema import DataError

EXAMPLES = 40
NASTY = ["", " ", "nan", "inf", "-1", "1e400", "1e308", "0.5", "=1+1", "+SUM(A1)", "@x", "-x", "abc", "1,5",
         "12,000", "a\nb", '"', "é", "🙂", "99999999999999999999"]
TYPES = [("Explosions/Remote violence", "Air/drone strike", "strikes"),
         ("Explosions/Remote violence", "Shelling/artillery/missile attack", "shelling"),
         ("Battles", "Armed clash", None), ("Protests", "Peaceful protest", None)]
ADMIN1 = ["Idleb", "Aleppo", " Idleb ", "", "Ḥamāh"]
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

layout = st.fixed_dictionaries({
    "delim": st.sampled_from([",", ";", "\t"]), "bom": st.booleans(), "crlf": st.booleans(),
    "blank": st.booleans(),
    "header": st.sampled_from([str, str.upper, lambda h: h.upper() + " ", lambda h: f" {h.replace('_', ' ').title()}"]),
})


def _write(path: Path, header: list[str], rows: list[list[str]], lay: dict) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=lay["delim"], lineterminator="\r\n" if lay["crlf"] else "\n")
    w.writerow([lay["header"](h) for h in header])
    for k, r in enumerate(rows):
        w.writerow(r)
        if lay["blank"] and k == 0:
            buf.write("\r\n" if lay["crlf"] else "\n")
    path.write_bytes((b"\xef\xbb\xbf" if lay["bom"] else b"") + buf.getvalue().encode("utf-8"))
    return path


def _one_line_problems(e: DataError) -> None:
    assert e.problems
    for p in e.problems:
        assert "\n" not in p.message and "Traceback" not in p.message


def _number(cell: str) -> float | None:
    try:
        x = float(cell)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


event = st.tuples(st.integers(0, 27), st.sampled_from(TYPES), st.sampled_from(ADMIN1),
                  st.one_of(st.integers(0, 50).map(str), st.sampled_from(NASTY)))


@SETTINGS
@given(events=st.lists(event, min_size=1, max_size=25), lay=layout,
       date_fmt=st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%d %B %Y", "%d/%m/%y"]))
def test_acled_loader_counts_what_it_was_given_or_says_why_not(events, lay, date_fmt):
    header = ["event_id_cnty", "event_date", "event_type", "sub_event_type", "admin1", "fatalities"]
    day0 = pd.Timestamp("2019-11-25")
    rows = [[f"E{k}", (day0 + pd.Timedelta(days=d)).strftime(date_fmt), t, s, a, f]
            for k, (d, (t, s, _), a, f) in enumerate(events)]
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "acled.csv", header, rows, lay)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obs = load_acled(path, freq="W")
        except DataError as e:
            _one_line_problems(e)
            # refused only for a bad fatalities cell (an empty one included), no region at all, or
            # day/month dates that read both ways (the user must say which)
            assert (any(f in NASTY for *_, f in events) or not any(a.strip() for _, _, a, _ in events)
                    or "/" in date_fmt), e.problems
            return
    kept = [(d, ts, a, f) for d, ts, a, f in events if a.strip()]
    total = obs.groupby("series")["value"].sum()
    assert total.get("events", 0) == len(kept)
    assert total.get("strikes", 0) == sum(ts[2] == "strikes" for _, ts, _, _ in kept)
    fat = [_number(f) for *_, f in kept]
    assert all(x is not None and x >= 0 and x == int(x) for x in fat)  # else the loader should have refused
    assert total.get("fatalities", 0) == sum(fat)


tidy_row = st.tuples(st.integers(0, 11), st.sampled_from(["R1", "R2"]), st.sampled_from(["displaced", "strikes"]),
                     st.one_of(st.integers(0, 10**6).map(str), st.sampled_from(NASTY)))


@SETTINGS
@given(rows=st.lists(tidy_row, min_size=1, max_size=30, unique_by=lambda r: r[:3]), lay=layout)
def test_tidy_loader_reads_what_it_was_given_or_says_why_not(rows, lay):
    lay = {**lay, "header": str}  # tidy column names are exact (spelling variants: a clear error, tested elsewhere)
    day0 = pd.Timestamp("2020-01-06")
    cells = [[str((day0 + pd.Timedelta(weeks=w)).date()), r, s, v] for w, r, s, v in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "obs.csv", ["date", "region", "series", "value"], cells, lay)
        try:
            obs = read_observations(path)
        except DataError as e:
            _one_line_problems(e)
            # only a cell the file should not hold is refused: plain counts on weekly dates (two
            # weeks in a row show the frequency) always read, whatever the layout
            weeks = sorted({w for w, *_ in rows})
            weekly = any(b - a == 1 for a, b in zip(weeks, weeks[1:], strict=False))
            assert not weekly or any(v in NASTY and v.strip() for *_, v in rows), e.problems
            return
    assert len(obs) == len(rows)
    got = {(str(d.date()), r, s): v for d, r, s, v in obs[["date", "region", "series", "value"]].itertuples(index=False)}
    for (date, r, s, v) in cells:
        x = _number(v)
        if v.strip() == "":
            assert math.isnan(got[(date, r, s)])  # missing stays missing, never 0
        else:
            assert x is not None and 0 <= x <= 1e10 and got[(date, r, s)] == x
