"""Variants of the inputs real users hand the toolkit (the classes of ../shared/cases, pushed further).

Each test stands for one class of file found broken by trying: the expected behaviour is the
project's rule for bad input (one line naming file, line, column or key and what was expected;
exit 2; nothing written) or, for a harmless variant, the same numbers as the plain file.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.loaders import load_acled
from displacement_forecast.data.schema import DataError

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


def _run(argv, capsys) -> tuple[int, list[str]]:
    rc = main([str(a) for a in argv])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    return rc, err


def _validate_wide(tmp_path, capsys, text: str):
    """``validate --format mapped`` of a wide monthly table (regions down, Jan, Feb ... across)."""
    wide = tmp_path / "wide.csv"
    wide.write_text(text)
    cfg = tmp_path / "wide.toml"
    cfg.write_text('series = "displaced"\n[columns]\nregion = "Region"\n[dates]\nformat = "%b"\nyear = 2020\n'
                   '[wide]\nmelt = "date"\n')
    rc, err = _run(["validate", "--format", "mapped", "--config", cfg, wide], capsys)
    return wide, rc, err


@pytest.mark.parametrize(("cell", "expected"), [
    ("", "empty cell; expected a count (0 when there were none"),    # was: "nan is not a whole number"
    ("unknown", "'unknown' is not a number"),
    ("1e308", "'1e308' is larger than any count; expected at most 10,000,000,000"),  # was: inf, wrong line
])
def test_acled_bad_fatalities_cell_is_one_line_at_its_file_line(tmp_path, capsys, cell, expected):
    rows = [list(r) for r in ACLED_ROWS]
    rows[3][5] = cell  # data row 4: file line 5
    path = write_acled(tmp_path / "acled.csv", rows)
    rc, err = _run(["validate", "--format", "acled", path], capsys)
    assert rc == 2
    assert err == [f"error: {path}:5: column 'fatalities': {err[0].split(': ', 3)[3]}"]  # one line, at line 5
    assert expected in err[0]


def test_a_count_beyond_any_population_is_refused_in_every_format(tmp_path, capsys):
    """1e308 strikes were read and fitted (nb-dl's median moved from 47,000 to 21,000 without a word)."""
    tidy = tmp_path / "obs.csv"
    tidy.write_text("date,region,series,value\n2020-01-06,A,strikes,3\n2020-01-13,A,strikes,1e308\n"
                    "2020-01-06,A,displaced,10\n2020-01-13,A,displaced,12\n")
    rc, err = _run(["validate", tidy], capsys)
    assert rc == 2 and err == [f"error: {tidy}:3: column 'value': 1e+308 is larger than any count; expected at most "
                               "10,000,000,000 (more than the world's population)"]
    wide, rc, err = _validate_wide(tmp_path, capsys, "Region,Jan,Feb\nIdleb,20000000000,5\nAleppo,2,3\n")
    assert rc == 2 and err == [f"error: {wide}:2: column 'Jan': '20000000000' is larger than any count; "
                               "expected at most 10,000,000,000"]


def test_acled_event_listed_twice_is_counted_once_or_refused(tmp_path, capsys):
    """Two overlapping weekly exports joined: the repeated events were counted twice, silently."""
    plain = _counts(_load(write_acled(tmp_path / "plain.csv")))
    joined = write_acled(tmp_path / "joined.csv", ACLED_ROWS + ACLED_ROWS[3:5])
    with pytest.warns(UserWarning, match=r"2 event\(s\) listed twice with the same cells \(first repeat on line 9, id 'SYR4'\)"):
        obs = load_acled(joined, freq="W")
    assert _counts(obs) == plain
    assert plain[("2019-12-02", "Aleppo", "strikes")] == 1 and plain[("2019-12-02", "Idleb", "events")] == 1
    revised = [list(r) for r in ACLED_ROWS] + [list(ACLED_ROWS[3])]
    revised[-1][5] = "4"  # the same event id with revised fatalities
    path = write_acled(tmp_path / "revised.csv", revised)
    rc, err = _run(["validate", "--format", "acled", path], capsys)
    assert rc == 2 and err == [f"error: {path}:9: column 'event_id_cnty': event 'SYR4' is listed again with other cells "
                               "(first on line 5); expected each event once: keep the version to count (a revised "
                               "event beside its old version?)"]


UCDP_HEAD = "id,type_of_violence,adm_1,date_start,date_end,best"
UCDP_ROWS = ["256939,1,Idlib governorate,2019-12-02,2019-12-02,4", "256940,1,Aleppo governorate,2019-12-03,2019-12-05,10"]


def _ucdp(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("\n".join([UCDP_HEAD, *rows]) + "\n")
    return path


def test_an_integer_event_id_written_as_a_float_is_the_same_event(tmp_path, capsys):
    """One UCDP event as ``256939`` in one export and ``256939.0`` in another (a spreadsheet or pandas
    round-trip) was counted twice when the exports were joined; other ids stay apart."""
    from displacement_forecast.data.loaders import load_ucdp_ged

    def load(path):
        return load_ucdp_ged(path, freq="W")

    plain = _counts(_load_quiet(load, _ucdp(tmp_path, "plain.csv", UCDP_ROWS)))
    joined = _ucdp(tmp_path, "joined.csv", [*UCDP_ROWS, " 256939.0 ,1,Idlib governorate,2019-12-02,2019-12-02,4",
                                             "256940.00,1,Aleppo governorate,2019-12-03,2019-12-05,10"])
    with pytest.warns(UserWarning, match=r"2 event\(s\) listed twice with the same cells \(first repeat on line 4, "
                                         r"id ' 256939.0 '\)"):
        assert _counts(load(joined)) == plain
    assert plain[("2019-12-02", "Idlib governorate", "fatalities")] == 4
    # Genuinely other ids: every row counts.
    apart = _ucdp(tmp_path, "apart.csv", [*UCDP_ROWS, "256939.5,1,Idlib governorate,2019-12-02,2019-12-02,4",
                                          "2569390,1,Idlib governorate,2019-12-02,2019-12-02,4"])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        twice = _counts(load(apart))
    assert not [w for w in said if "listed twice" in str(w.message)]
    assert twice[("2019-12-02", "Idlib governorate", "events")] == 3
    # The same id with a revised count is refused, naming the first line.
    revised = _ucdp(tmp_path, "revised.csv", [*UCDP_ROWS, "256939.0,1,Idlib governorate,2019-12-02,2019-12-02,7"])
    rc, err = _run(["validate", "--format", "ucdp", revised], capsys)
    assert rc == 2 and err == [f"error: {revised}:4: column 'id': event '256939.0' is listed again with other cells "
                               "(first on line 2); expected each event once: keep the version to count (a revised "
                               "event beside its old version?)"]
    # ACLED's ids go through the same rule; 'SYR4' and 'SYR4.0' are different text, not a number.
    acled = write_acled(tmp_path / "acled.csv", [*ACLED_ROWS, ("SYR4.0", *ACLED_ROWS[3][1:])])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert _counts(load_acled(acled, freq="W"))[("2019-12-02", "Aleppo", "events")] == 2
    assert not [w for w in said if "listed twice" in str(w.message)]


def _load_quiet(load, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path)


TIDY = ["date,region,series,value,source", "2020-01-06,A,displaced,10,x", "2020-01-13,A,displaced,12,x",
        "2020-01-20,A,displaced,9,x", "2020-01-06,A,strikes,3,x", "2020-01-13,A,strikes,4,x", "2020-01-20,A,strikes,0,x"]


def test_tidy_file_saved_by_a_spreadsheet_reads_the_same(tmp_path, capsys):
    """Excel adds trailing ',,' columns, blank rows and CRLF: was 'column name appears more than once'
    (with an empty name) and, for a blank row, 'cannot read None as a date' plus 'unknown series <NA>'."""
    from displacement_forecast.data import read_observations

    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(TIDY) + "\n")
    excel = tmp_path / "excel.csv"
    rows = [r + ",," for r in TIDY]
    rows[3:3] = [",,,,,,", ""]
    excel.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n,,,,,,\r\n").encode())
    a, b = read_observations(plain), read_observations(excel)
    pd.testing.assert_frame_equal(a, b)
    assert b["value"].tolist() == [10.0, 12.0, 9.0, 3.0, 4.0, 0.0]
    assert main(["validate", str(excel)]) == 0


def test_tidy_problems_name_the_file_line_after_blank_lines_and_quoted_line_breaks(tmp_path, capsys):
    rows = list(TIDY)
    rows[1] = '2020-01-06,A,displaced,10,"first line\nsecond line"'  # one record, lines 2-3
    rows[4] = "2020-01-06,A,strikes,-3,x"                            # line 6 + 1 blank line = 7
    rows[3:3] = [""]
    path = tmp_path / "obs.csv"
    path.write_text("\n".join(rows) + "\n")
    rc, err = _run(["validate", path], capsys)
    assert rc == 2 and err == [f"error: {path}:7: column 'value': negative value -3; expected >= 0"]  # was line 5
    named = tmp_path / "unnamed.csv"
    named.write_text(TIDY[0] + ",\n" + TIDY[1] + ",note\n" + "\n".join(r + "," for r in TIDY[2:]) + "\n")
    rc, err = _run(["validate", named], capsys)
    assert rc == 2 and err == [f"error: {named}:2: column 'column 6': has values but no name in the header (line 1); "
                               "expected a column name"]


@pytest.mark.parametrize("fmt", ["%d/%m/%y", "%m/%d/%y", "%d/%m/%Y %H:%M"])
def test_acled_dates_as_excel_shows_them_read_the_same(tmp_path, fmt):
    """A CSV saved from a sheet writes dates as the cell shows them: '25/11/19' was 'cannot read dates'."""
    plain = _counts(_load(write_acled(tmp_path / "plain.csv")))
    rows = [list(r) for r in ACLED_ROWS]
    for r in rows:
        r[1] = pd.Timestamp(r[1]).strftime(fmt)
    assert _counts(_load(write_acled(tmp_path / "excel.csv", rows))) == plain
    week = [list(r) for r in ACLED_ROWS[:2]] + [["SYR9", "2020-01-08", "Battles", "Armed clash", "Idleb", "1"]]
    for r, day in zip(week, ("2020-01-06", "2020-01-07", "2020-01-08"), strict=True):  # days <= 12: both readings parse
        r[1] = pd.Timestamp(day).strftime(fmt)
    obs = _load(write_acled(tmp_path / "week.csv", week))
    assert obs["date"].unique().tolist() == [pd.Timestamp("2020-01-06")]  # day-first and month-first resolved
    assert obs.loc[(obs["series"] == "events") & (obs["region"] == "Idleb"), "value"].tolist() == [3.0]


def _weekly_panel(tmp_path, weeks: int = 30):
    """A tidy file of one region (displaced, strikes) and its region table."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2019-06-03", periods=weeks, freq="W-MON")
    strikes = rng.poisson(5, weeks)
    displaced = rng.poisson(200 + 30 * strikes)
    rows = [f"{d.date()},R1,{s},{v}" for d, k, n in zip(days, strikes, displaced, strict=True)
            for s, v in (("displaced", n), ("strikes", k))]
    obs = tmp_path / "obs.csv"
    obs.write_text("date,region,series,value\n" + "\n".join(rows) + "\n")
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nR1,Region one,Z,100000\n")
    return obs, reg


@pytest.mark.parametrize(("series", "expected"), [
    ('"airstrikes"', "unknown series 'airstrikes'; expected conflict series: strikes, shelling, flights, events, "
                     "battles, fatalities"),
    ('["shelling"]', "series 'shelling' not in the data (they count displaced, strikes); expected a conflict series "
                     "of the data"),
])
def test_scenario_series_the_data_cannot_move_is_one_line_naming_file_and_key(tmp_path, capsys, series, expected):
    """Was 'scenario 'a' change 1: key series: ...' after fitting, naming no file or line."""
    obs, reg = _weekly_panel(tmp_path)
    scen = tmp_path / "scen.toml"
    scen.write_text(f'[[scenario]]\nid = "a"\n  [[scenario.change]]\n  regions = ["ALL"]\n  series = {series}\n'
                    "  multiply = 2\n")
    out = tmp_path / "out"
    rc, err = _run(["forecast", obs, "--regions", reg, "--scenarios", scen, "--model", "nb-dl", "--horizon", 2,
                    "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {scen}:5: key scenario 'a'.change[0].series: {expected}"]


@pytest.mark.parametrize("name", ["R2", "Region two"])
def test_a_scenario_on_a_region_the_forecast_leaves_out_says_so(tmp_path, capsys, name):
    """A region with no 'strikes' rows is left out of an nb-dl forecast; a scenario naming it was
    refused as "unknown region 'R2'; expected a code, name or parent from the region table" though
    the region table holds it."""
    obs, reg = _weekly_panel(tmp_path)
    with obs.open("a") as f:  # R2: displacement counts, no strikes
        f.writelines(f"{d.date()},R2,displaced,{100 + i}\n"
                     for i, d in enumerate(pd.date_range("2019-06-03", periods=30, freq="W-MON")))
    with reg.open("a") as f:
        f.write("R2,Region two,Z,50000\n")
    scen = tmp_path / "scen.toml"
    scen.write_text(f'[[scenario]]\nid = "x5"\n  [[scenario.change]]\n  regions = ["{name}"]\n  multiply = 5\n')
    out = tmp_path / "out"
    rc, err = _run(["forecast", obs, "--regions", reg, "--scenarios", scen, "--model", "nb-dl", "--horizon", 2,
                    "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {scen}:4: key scenario 'x5'.change[0].regions: region R2 is not forecast (no 'strikes' "
                   "rows, which the model needs), so this scenario cannot change it; expected regions that are "
                   "forecast"], err


def test_a_scenario_error_found_when_it_is_applied_names_file_line_and_key(tmp_path):
    """Problems found only when a scenario is applied (after the fit) said "scenario 'a' change 1:
    key hold: ..." - no file or line, and changes counted from 1 where every other scenario error
    says change[0]."""
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.scenarios import load_scenarios

    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nR1,Region one,Z,100000\nR2,Region two,Z,50000\n")
    regions = load_regions(reg)
    scen = tmp_path / "scen.toml"
    scen.write_text('[[scenario]]\nid = "a"\n  [[scenario.change]]\n  regions = ["ALL"]\n  hold = 4\n')
    (sc,) = load_scenarios(scen, regions)
    dates = pd.date_range("2020-01-06", periods=3, freq="W-MON")
    history = {"strikes": np.array([[1.0] * 10, [np.nan] * 10])}
    with pytest.raises(DataError) as e:
        sc.apply({"strikes": np.zeros((2, 2, 3))}, regions, dates, history)
    assert str(e.value) == (f"{scen}:5: key scenario 'a'.change[0].hold: no observed 'strikes' count at all for R2, "
                            "so there is no level to hold; expected regions with 'strikes' counts in the last 4 "
                            "periods")


def test_panel_takes_the_reading_options_of_validate(tmp_path, capsys):
    """`panel` had no --delimiter, --strict or --decimals: a quick-flag panel could not say what
    `validate` accepts for the same files."""
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nSY07,Idleb,NW,2900000\nSY02,Aleppo,NW,4200000\n")
    rows = [list(r) for r in ACLED_ROWS] + [["SYR8", "2019-12-10", "Battles", "Armed clash", "Hama", "0"]]
    events = write_acled(tmp_path / "acled.csv", rows, delim="|")
    disp = tmp_path / "disp.csv"
    disp.write_text("date|region|series|value\n2019-11-25|SY07|displaced|10.5\n2019-12-02|SY07|displaced|4\n")
    out = tmp_path / "obs.csv"
    base = ["panel", "--events", events, "--displacement", disp, "--regions", reg, "--freq", "W", "--out", out]
    rc, err = _run([*base, "--delimiter", "|", "--strict"], capsys)
    assert rc == 2 and not out.exists()
    assert err[0] == (f"error: {events}:9: column 'admin1': region name 'Hama' (1 rows) does not match any code, "
                      "name or alias in the region table")
    assert len(err) == 2 and err[1].startswith(f"error: {disp}:2: column 'value': '10.5' is not a whole number")
    rc, err = _run([*base, "--delimiter", "|"], capsys)
    assert rc == 2 and len(err) == 1 and "'10.5' is not a whole number" in err[0] and not out.exists()
    rc, err = _run([*base, "--delimiter", "|", "--decimals"], capsys)
    assert rc == 0 and err == []
    obs = pd.read_csv(out)  # (a delimiter the sniffer does not try: given once for every source)
    assert obs.loc[(obs["series"] == "displaced") & (obs["date"] == "2019-11-25"), "value"].tolist() == [10.5]
    assert obs.loc[(obs["series"] == "strikes") & (obs["region"] == "SY02"), "value"].sum() == 2


def test_an_event_list_whose_region_column_is_empty_everywhere_is_refused(tmp_path, capsys):
    """Was 'internal error: IndexError' (found by tests/test_loader_fuzz.py); with a region table
    it must not become a grid of zero events either."""
    rows = [list(r) for r in ACLED_ROWS]
    for r in rows:
        r[4] = ""
    path = write_acled(tmp_path / "acled.csv", rows)
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nSY07,Idleb,NW,2900000\n")
    for extra in ([], ["--regions", reg]):
        rc, err = _run(["validate", "--format", "acled", path, *extra], capsys)
        assert rc == 2 and err == [f"error: {path}: column 'admin1': every row's 'admin1' is empty; expected region "
                                   "names (is this the right column or level?)"]


def test_a_region_given_twice_in_a_table_is_named_at_its_file_lines(tmp_path, capsys):
    """A wide table of 4 lines had its repeated region reported at 'lines 8-10, first seen on line
    2-4' (rows of the reshaped table, not lines of the file)."""
    wide, rc, err = _validate_wide(tmp_path, capsys, "Region,Jan,Feb\nIdleb,10,20\nAleppo,1,2\nIdleb,11,20\n")
    assert rc == 2 and err == [  # both cells of line 4 repeat a key: one line for the kind
        f"error: {wide}: column 'date': 2 rows repeat the key (date, region, series) of an earlier row (line 4); "
        "expected each key once (the first repeated: (date=2020-01-01, region=Idleb, series=displaced), first seen "
        "on line 2)"]
    hxl = tmp_path / "hxl.csv"
    hxl.write_text("Governorate,Week,New IDPs\n#adm1+name,#date,#affected+idps+new\nIdleb,2019-12-02,12000\n"
                   "Aleppo,2019-12-02,800\nIdleb,2019-12-02,12000\n")
    rc, err = _run(["validate", "--format", "hxl", hxl], capsys)
    assert rc == 2 and err == [f"error: {hxl}:5: column 'date': duplicate key (date=2019-12-02, region=Idleb, "
                               "series=displaced); first seen on line 3"]


@pytest.mark.parametrize(("line", "expected"), [
    ('series_map = ["x"]', "series_map = ['x'] has the wrong type; expected a table {key = value}"),  # was: internal error
    ('totals = "events"', "totals = 'events' has the wrong type; expected a list [...]"),  # was: "unknown totals ['e', 'v', ...]"
    ('strict = "no"', "strict = 'no' has the wrong type; expected true or false"),  # was: read as strict = true
])
def test_recipe_source_option_of_the_wrong_type_is_one_line_at_its_key(tmp_path, capsys, line, expected):
    write_acled(tmp_path / "acled.csv")
    (tmp_path / "regions.csv").write_text("code,name,parent,population\nSY07,Idleb,NW,2900000\nSY02,Aleppo,NW,4200000\n")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'regions = "regions.csv"\nfreq = "W"\n[[sources]]\nformat = "acled"\npath = "acled.csv"\n{line}\n')
    out = tmp_path / "obs.csv"
    rc, err = _run(["panel", recipe, "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {recipe}:6: key {line.split()[0]}: [[sources]] #1: {expected}"]


MAPPING = 'series = "displaced"\n[file]\n{}\n[columns]\nregion = "Region"\ndate = "Date"\nvalue = "Value"\n'
ROWS_BELOW = "is below {0}; expected a whole number >= {0} ({1})"
SKIP_WHAT, NROWS_WHAT = "lines or sheet rows before the header", "data rows to read; leave it out to read all"


@pytest.mark.parametrize(("line", "expected"), [
    ("skip_rows = -1", ROWS_BELOW.format(0, SKIP_WHAT)),  # was: "file has only a header", naming the data file
    ("nrows = 0", ROWS_BELOW.format(1, NROWS_WHAT)),      # was: the same
    ("nrows = -2", ROWS_BELOW.format(1, NROWS_WHAT)),     # was: read all rows but the last two, silently
    ("skip_rows = true", "has the wrong type; expected a whole number"),  # was: 'True ... expected int'
    ("nrows = 2.5", "has the wrong type; expected a whole number"),
    ('whole = "no"', "has the wrong type; expected true or false"),  # the words of every loader option
    ('missing = "NA"', "has the wrong type; expected a list [...]"),
])
def test_a_mapping_file_option_out_of_range_is_one_line_at_its_key(tmp_path, capsys, line, expected):
    data = tmp_path / "t.csv"
    data.write_text("Region,Date,Value\nIdleb,2020-01-06,3\nAleppo,2020-01-06,4\nIdleb,2020-01-13,5\n")
    cfg = tmp_path / "map.toml"
    cfg.write_text(MAPPING.format(line))
    key = line.split()[0]
    value = line.split(" = ")[1].replace('"', "'")
    rc, err = _run(["validate", "--format", "mapped", "--config", cfg, data], capsys)
    assert rc == 2 and err == [f"error: {cfg}:3: key {key}: [file] {key} = {value} {expected}"]
    # The same mapping written inline in a recipe: named at the recipe line (was: internal error, a TypeError)
    (tmp_path / "regions.csv").write_text("code,name,population\nSY07,Idleb,2900000\nSY02,Aleppo,4200000\n")
    recipe = tmp_path / "recipe.toml"
    inline = f'series = "displaced", file = {{{line}}}, columns = {{region = "Region", date = "Date", value = "Value"}}'
    recipe.write_text(f'regions = "regions.csv"\nfreq = "W"\n[[sources]]\nformat = "mapped"\npath = "t.csv"\n'
                      f"config = {{{inline}}}\n")
    out = tmp_path / "obs.csv"
    rc, err = _run(["panel", recipe, "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {recipe}:6: key config: [[sources]] #1: [file] {key} = {value} {expected}"]


def test_recipe_window_as_toml_dates_and_backwards(tmp_path, capsys):
    write_acled(tmp_path / "acled.csv")
    (tmp_path / "regions.csv").write_text("code,name,parent,population\nSY07,Idleb,NW,2900000\nSY02,Aleppo,NW,4200000\n")
    recipe = tmp_path / "recipe.toml"
    body = 'regions = "regions.csv"\nfreq = "W"\n{}\n[[sources]]\nformat = "acled"\npath = "acled.csv"\n'
    out = tmp_path / "obs.csv"
    recipe.write_text(body.format("start = 2019-12-02\nend = 2019-12-08"))  # TOML dates: was 'has the wrong type'
    assert _run(["panel", recipe, "--out", out], capsys)[0] == 0
    assert pd.read_csv(out)["date"].unique().tolist() == ["2019-12-02"]
    out.unlink()
    recipe.write_text(body.format('start = "2019-12-02"\nend = "2019-11-01"'))  # was: 'no data rows (only a header)'
    rc, err = _run(["panel", recipe, "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {recipe}:4: key end: end = 2019-11-01 is before start = 2019-12-02; expected end on or after start"]


def test_region_table_with_the_reserved_code_all_or_an_empty_population(tmp_path, capsys):
    """A region coded ALL was an internal error ('y1' is not 1-dimensional) once forecast built its
    totals; an empty population said 'None is not a number'."""
    obs = tmp_path / "obs.csv"
    obs.write_text("\n".join([TIDY[0], *(r.replace(",A,", ",ALL,") for r in TIDY[1:])]) + "\n")
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nR1,One,Z,1000\nALL,Everywhere,Z,5000\nR2,Two,Z,\n")
    rc, err = _run(["validate", obs, "--regions", reg], capsys)
    assert rc == 2 and err == [
        f"error: {reg}:3: column 'code': region code 'ALL' is reserved (outputs use it for the sum over all regions, "
        "scenarios for every region); expected another code",
        f"error: {reg}:4: column 'population': empty cell is not a number; expected a finite, positive whole number of people at risk"]


def test_a_name_two_regions_share_is_refused_not_given_to_one_of_them(tmp_path, capsys):
    """Rows named 'Idleb' went to whichever of two regions called Idleb came last in the table."""
    path = write_acled(tmp_path / "acled.csv")
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nSY07,Idleb,NW,2900000\nSY02,Aleppo,NW,4200000\nSY99,Idleb,NW,1000\n")
    rc, err = _run(["validate", "--format", "acled", path, "--regions", reg], capsys)
    expected = "'Idleb' names 2 regions of the region table (SY07, SY99); expected a name of one region (give them " \
               "distinct names or aliases, or use their codes)"
    assert rc == 2 and err == [f"error: {path}:2: column 'admin1': {expected}"]
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.scenarios import scenarios_from_dict

    with pytest.raises(DataError, match="'Idleb' names 2 regions"):
        scenarios_from_dict({"scenario": [{"id": "x", "change": [{"regions": ["Idleb"], "multiply": 2}]}]},
                            load_regions(reg))


@pytest.mark.parametrize(("drivers", "expected"), [
    ("displaced", "'displaced' is a count of people"),  # was: a forecast driven by its own target, exit 0
    ("strikes,bogus", "'bogus' is not a known series"),
])
def test_drivers_must_be_conflict_series(tmp_path, capsys, drivers, expected):
    obs, reg = _weekly_panel(tmp_path)
    out = tmp_path / "out"
    rc, err = _run(["forecast", obs, "--regions", reg, "--model", "nb-dl", "--drivers", drivers, "--horizon", 2,
                    "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: command line: option --drivers: {expected}; expected conflict series among strikes, "
                   "shelling, flights, events, battles, fatalities"]


def test_formula_like_region_names_in_tables_read_cell_by_cell_are_refused(tmp_path, capsys):
    """HXL and mapped tables took '=cmd' as a region (validate: ok), as the tidy and ACLED readers do not."""
    hxl = tmp_path / "hxl.csv"
    hxl.write_text("Gov,Week,New IDPs\n#adm1+name,#date,#affected+idps+new\nIdleb,2019-12-02,5\n=cmd,2019-12-02,5\n")
    rc, err = _run(["validate", "--format", "hxl", hxl], capsys)
    assert rc == 2 and err == [f"error: {hxl}:4: column 'Gov': cell '=cmd' starts with '=', like a spreadsheet "
                               "formula; expected a plain value"]
    # a count cell that is a formula is said to be one, not 'not a number' (fresh-eyes trial)
    hxl.write_text("Gov,Week,New IDPs\n#adm1+name,#date,#affected+idps+new\nIdleb,2019-12-02,=2100\n")
    rc, err = _run(["validate", "--format", "hxl", hxl], capsys)
    assert rc == 2 and err == [f"error: {hxl}:3: column 'New IDPs': '=2100' starts like a spreadsheet formula "
                               "(=, +, -, @); expected a plain count (the figure itself)"]
    wide, rc, err = _validate_wide(tmp_path, capsys, "Region,Jan,Feb\n@Idleb,1,2\nAleppo,1,2\n")
    assert rc == 2 and err == [f"error: {wide}:2: column 'Region': cell '@Idleb' starts with '@', like a spreadsheet "
                               "formula; expected a plain value"]


@pytest.mark.parametrize(("fmt", "line", "expected"), [
    ("%Q", "", "date format '%Q' is not a strptime format ('Q' is a bad directive in format '%Q'); expected codes "
               "such as %d/%m/%Y or %Y-%m-%d"),  # was: internal error
    ("%d/%m/%Y", ":2", "no date reads in format '%d/%m/%Y' (the first, '2019-11-25', and 6 more rows); expected dates "
                       "in that format (without --date-format the format is detected)"),  # was: one line per row
])
def test_a_date_format_that_cannot_read_the_file_is_one_line(tmp_path, capsys, fmt, line, expected):
    path = write_acled(tmp_path / "acled.csv")
    rc, err = _run(["validate", "--format", "acled", "--date-format", fmt, path], capsys)
    assert rc == 2 and err == [f"error: {path}{line}: column 'event_date': {expected}"]


def test_dates_a_format_reads_only_in_part_are_one_line_per_cause(tmp_path, capsys):
    """80 days, every third written ISO, two 'n/a', one empty, read with --date-format %d/%m/%Y: was
    29 lines, one per row; now one line per cause at its first row, with the rows like it counted."""
    day0 = pd.Timestamp("2019-11-01")
    cells = [(day0 + pd.Timedelta(days=k)).strftime("%Y-%m-%d" if k % 3 == 0 else "%d/%m/%Y") for k in range(80)]
    cells[10] = cells[11] = "n/a"
    cells[20] = ""
    rows = [(f"E{k}", c, "Battles", "Armed clash", "Idleb", "1") for k, c in enumerate(cells)]
    path = write_acled(tmp_path / "acled.csv", rows)
    rc, err = _run(["validate", "--format", "acled", "--date-format", "%d/%m/%Y", path], capsys)
    n_iso = sum(k % 3 == 0 for k in range(80) if k not in (10, 11, 20))
    assert rc == 2 and err == [
        f"error: {path}:22: column 'event_date': empty date; expected a date",
        f"error: {path}:2: column 'event_date': cannot read '2019-11-01' as a date in format '%d/%m/%Y' (and "
        f"{n_iso - 1} more rows like it); expected dates such as '15/02/2022'",
        f"error: {path}:12: column 'event_date': cannot read 'n/a' as a date in format '%d/%m/%Y' (and 1 more row "
        "like it); expected dates such as '15/02/2022'"]
    assert n_iso == 27


def test_tidy_dates_that_cannot_be_read_are_one_line_per_cause(tmp_path, capsys):
    """The tidy reader listed every impossible, empty or out-of-range date, one line each (without limit)."""
    tidy = tmp_path / "obs.csv"
    tidy.write_text("date,region,series,value\n2020-02-30,A,strikes,1\n2020-02-31,A,strikes,1\n,A,strikes,1\n"
                    "1900-01-01,A,strikes,2\n1900-01-08,A,strikes,2\n1900-01-15,A,strikes,2\n2020-03-02,A,strikes,1\n")
    rc, err = _run(["validate", tidy], capsys)
    assert rc == 2 and err == [
        f"error: {tidy}:2: column 'date': cannot read '2020-02-30' as a date (and 1 more row like it); expected YYYY-MM-DD",
        f"error: {tidy}:4: column 'date': empty date; expected YYYY-MM-DD",  # was: 'cannot read None as a date'
        f"error: {tidy}:5: column 'date': date 1900-01-01 is out of range (and 2 more rows like it); expected between "
        "1946-01-01 and next year"]


def test_region_codes_equal_in_unicode_are_one_code(tmp_path, capsys):
    """A table typed on a Mac (decomposed accents) refused a file's identical-looking code:
    "region 'Ḥamāh' is not in the region table; the table has 'Ḥamāh'"."""
    import unicodedata

    from displacement_forecast.data import read_observations
    from displacement_forecast.data.regions import load_regions

    nfc, nfd = (unicodedata.normalize(f, "Ḥamāh") for f in ("NFC", "NFD"))
    reg = tmp_path / "regions.csv"
    reg.write_text(f"code,name,parent,population\n{nfd},Hama,C,100000\n")
    obs = tmp_path / "obs.csv"
    obs.write_text("date,region,series,value\n" + "".join(f"2020-01-{d:02d},{nfc},displaced,5\n" for d in (6, 13, 20)))
    table = load_regions(reg)
    got = read_observations(obs, region_codes=table.codes)
    assert table.codes == [nfc] and got["region"].unique().tolist() == [nfc] and got["value"].sum() == 15
    assert main(["validate", str(obs), "--regions", str(reg)]) == 0


def test_trailing_periods_without_driver_counts_are_said_on_screen_and_in_the_sidecar(tmp_path, capsys):
    """Strikes missing for the last weeks were carried forward by the driver models without a word
    (displacement missing at the end was already said)."""
    import json

    from conftest import SHARED

    cases = SHARED / "cases" / "reliability"
    if not cases.exists():
        pytest.skip(f"{cases} is absent (the handed cases sit beside the project in ../shared)")
    obs, reg = tmp_path / "obs.csv", cases / "small_regions.csv"
    lines = (cases / "small_obs.csv").read_text().splitlines()
    cut = {"2020-01-06", "2020-01-13", "2020-01-20"}
    cells = [ln.split(",") for ln in lines]  # date, region, series, value, source
    obs.write_text("\n".join(",".join(c[:3] + [""] + c[4:] if c[0] in cut and c[2] == "strikes" else c)
                             for c in cells) + "\n")
    out = tmp_path / "out"
    rc = main(["forecast", str(obs), "--regions", str(reg), "--model", "nb-dl", "--horizon", "2", "--draws", "100",
               "--out", str(out)])
    expected = ("no 'strikes' counts in any region for the last 3 period(s) (2020-01-06, 2020-01-13, 2020-01-20): the "
                "driver models carry each region's last count forward over them (missing is not read as 0); give "
                "the counts if they exist")
    screen = capsys.readouterr()
    assert rc == 0 and f"WARNING: {expected}" in (screen.out + screen.err).splitlines()
    assert expected in json.loads((out / "forecast.json").read_text())["warnings"]


@pytest.mark.parametrize("model", ["nb-dl", "dynamic", "last-value"])
def test_a_region_whose_driver_counts_stopped_long_ago_is_marked(tmp_path, capsys, model):
    """NWS02's strikes rows ending 2018-08-27, forecast from 2020-01-20: nb-dl and dynamic carried
    that count forward as current ("reliable": true, no warning) and a scenario multiplying its
    strikes by 5 raised its forecast 448 -> 4,545. Every model that uses the drivers now says so,
    marks the region and the run unreliable; a driver-free model has nothing to say."""
    import json

    from conftest import SHARED

    cases = SHARED / "cases" / "reliability"
    if not cases.exists():
        pytest.skip(f"{cases} is absent (the handed cases sit beside the project in ../shared)")
    obs, reg = tmp_path / "obs.csv", cases / "small_regions.csv"
    lines = (cases / "small_obs.csv").read_text().splitlines()
    obs.write_text("\n".join(ln for ln in lines if not (",NWS02,strikes," in ln and ln[:10] > "2018-08-27")) + "\n")
    out = tmp_path / "out"
    rc = main(["forecast", str(obs), "--regions", str(reg), "--model", model, "--horizon", "2", "--draws", "100",
               "--origin", "2020-01-20", "--no-plots", "--out", str(out)])
    screen = capsys.readouterr()
    side = json.loads((out / "forecast.json").read_text())
    assert rc == 0, screen.err
    said = [w for w in side["warnings"] if w.startswith("region NWS02: its last 'strikes' count is 2018-08-27")]
    if model == "last-value":
        assert not said and not side["marks"]["driver_counts_stopped"]
        return
    assert said and f"WARNING: {said[0]}" in screen.err.splitlines(), screen.err
    assert list(side["marks"]["driver_counts_stopped"]) == ["NWS02"] and side["reliable"] is False
    mark = pd.read_csv(out / "forecast.csv")["mark"]
    assert mark.str.contains("OLD DRIVER COUNTS: NWS02 (its last 'strikes' count is 2018-08-27", regex=False).all()


def test_an_acled_export_handed_to_forecast_says_how_to_count_it(tmp_path, capsys):
    """Was four lines of 'required column is missing (have: event_id_cnty, event_date, ...)'."""
    path = write_acled(tmp_path / "acled.csv")
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,parent,population\nSY07,Idleb,NW,2900000\nSY02,Aleppo,NW,4200000\n")
    out = tmp_path / "out"
    rc, err = _run(["forecast", path, "--regions", reg, "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {path}:1: is an ACLED export, not an observation file (date, region, series, value); "
                   f"count it into one with `displacement-forecast panel --events {path} --events-format acled "
                   "--freq W --regions CSV --out obs.csv`, or check it with `validate --format acled`"]


@pytest.mark.parametrize("header", [
    tuple(h.replace("_", " ").title() for h in ACLED_HEADER),          # 'Event Date', 'Event Type'
    tuple(h.upper() for h in ACLED_HEADER),                             # pre-2019 'EVENT_DATE'
    tuple(h.replace("_", "-") for h in ACLED_HEADER),                   # 'event-date'
])
def test_an_acled_export_with_other_header_spelling_gets_the_same_hint(tmp_path, header, capsys):
    """The hint recognised only 'event_date'/'event_type' (stripped, lower case) while the ACLED
    loader reads 'Event Date' too: `validate` of such an export listed four missing columns instead
    of saying it is an ACLED export and how to read it (one header rule now, schema.header_key)."""
    plain, odd = write_acled(tmp_path / "plain.csv"), write_acled(tmp_path / "odd.csv", header=header)
    rc, err = _run(["validate", plain], capsys)
    assert rc == 2 and len(err) == 1 and "is an ACLED export" in err[0] and "--format acled" in err[0], err
    rc2, err2 = _run(["validate", odd], capsys)
    assert rc2 == 2 and err2 == [err[0].replace(str(plain), str(odd))]
    assert main(["validate", "--format", "acled", str(odd)]) == 0  # and the hint's advice works


def test_a_broken_hub_file_is_named_where_the_user_keeps_it(tmp_path, capsys):
    """The error named the staging copy ('.hub.staging-x1y2/hub-config/tasks.json'), gone by then."""
    obs, reg = _weekly_panel(tmp_path)
    hub = tmp_path / "hub"
    (hub / "hub-config").mkdir(parents=True)
    (hub / "hub-config" / "tasks.json").write_text("{bad json")
    out = tmp_path / "out"
    rc, err = _run(["forecast", obs, "--regions", reg, "--model", "last-value", "--horizon", 2, "--out", out,
                    "--hub", hub], capsys)
    assert rc == 2 and not out.exists() and (hub / "hub-config" / "tasks.json").read_text() == "{bad json"
    assert err == [f"error: {hub}: option --hub: {hub}/hub-config/tasks.json is not valid JSON (Expecting property "
                   "name enclosed in double quotes: line 1 column 2 (char 1)); fix or remove it"]


def test_export_hub_names_a_broken_hub_file_where_the_user_keeps_it(tmp_path, capsys):
    """As above, for `export-hub` (its own staging copy; the same :func:`as_final` mapping)."""
    obs, reg = _weekly_panel(tmp_path)
    out = tmp_path / "out"
    rc, err = _run(["forecast", obs, "--regions", reg, "--model", "last-value", "--horizon", 2, "--out", out], capsys)
    assert rc == 0, err
    hub = tmp_path / "hub"
    (hub / "hub-config").mkdir(parents=True)
    (hub / "hub-config" / "tasks.json").write_text("{bad json")
    rc, err = _run(["export-hub", out, "--hub", hub], capsys)
    assert rc == 2 and (hub / "hub-config" / "tasks.json").read_text() == "{bad json"
    assert len(err) == 1 and err[0].startswith(f"error: {hub}: ") and f"{hub}/hub-config/tasks.json is not valid" \
        in err[0] and ".staging" not in err[0], err


def test_a_scenario_start_with_a_time_of_day_is_refused():
    """start = 2020-02-03T10:00:00 was read as 2020-02-03 without a word."""
    from displacement_forecast.scenarios import scenarios_from_dict

    doc = {"scenario": [{"id": "x", "change": [{"regions": ["ALL"], "multiply": 2,
                                                "start": pd.Timestamp("2020-02-03 10:00").to_pydatetime()}]}]}
    with pytest.raises(DataError, match=r"start: 2020-02-03 10:00:00 carries a time of day; expected a date"):
        scenarios_from_dict(doc, file="s.toml")
    doc["scenario"][0]["change"][0]["start"] = pd.Timestamp("2020-02-03").date()
    (sc,) = scenarios_from_dict(doc, file="s.toml")
    assert sc.changes[0].start == "2020-02-03"


def test_a_scenario_id_that_is_not_text_says_so():
    """id = 5 was 'missing or empty scenario id'."""
    from displacement_forecast.scenarios import scenarios_from_dict

    with pytest.raises(DataError, match=r"key scenario\[0\]\.id: scenario id 5 is not text; expected a quoted id such "
                                        r"as \"5\""):
        scenarios_from_dict({"scenario": [{"id": 5, "change": [{"regions": ["ALL"], "multiply": 2}]}]}, file="s.toml")


def test_an_empty_toml_file_is_called_what_it_should_have_been(tmp_path):
    """An empty scenario file said 'expected a header line and data rows' (the message of a CSV)."""
    from displacement_forecast.scenarios import load_scenarios

    empty = tmp_path / "scen.toml"
    empty.write_text("\n")
    with pytest.raises(DataError, match=r"scen.toml: file is empty; expected a scenario file \(TOML keys and tables\)$"):
        load_scenarios(empty)


def test_a_scenario_series_the_model_does_not_use_is_named_at_its_file_line(tmp_path, capsys):
    """Found only when the scenario is applied (after the fit): was "scenario 'a' change 1: key
    series: ...", naming no file or line."""
    from conftest import SHARED

    case = SHARED / "cases" / "ingest"
    if not case.exists():
        pytest.skip(f"{case} is absent (the handed cases sit beside the project in ../shared)")
    scen = tmp_path / "scen.toml"
    scen.write_text('[[scenario]]\nid = "a"\n  [[scenario.change]]\n  regions = ["ALL"]\n  series = ["strikes"]\n'
                    "  multiply = 2\n")
    out = tmp_path / "out"
    rc, err = _run(["forecast", case / "13b_quiet_neighbour_with_flights.csv", "--regions", case / "13b_regions.csv",
                    "--model", "nb-dl", "--drivers", "flights", "--horizon", 2, "--draws", 100, "--scenarios", scen,
                    "--out", out], capsys)
    assert rc == 2 and not out.exists()
    assert err == [f"error: {scen}:5: key scenario 'a'.change[0].series: series 'strikes' is not a driver of this "
                   "model (drivers: flights); expected one of those"]


@pytest.mark.parametrize("char", ["\x0c", "\x0b", "\x1e", "\x85", "\u2028"])
def test_a_control_character_in_a_cell_keeps_every_error_on_one_line(tmp_path, capsys, char):
    """Found by the slow fuzz test: a series cell holding a form feed, echoed into the duplicate-key
    error, split it in two lines (str.splitlines breaks at \\x0c), one of them without 'error:'."""
    (tmp_path / "regions.csv").write_text("code,name,parent,population\nA,A,P,1000000\n")
    rows = ["date,region,series,value", "2020-01-06,A,displaced,5", f"2020-01-06,A,{char},11",
            f"2020-01-06,A,{char},11"]
    (tmp_path / "obs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8", newline="")
    rc = main(["forecast", str(tmp_path / "obs.csv"), "--regions", str(tmp_path / "regions.csv"), "--no-plots",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.splitlines()
    assert lines and all(ln.startswith(("error:", "note:", "WARNING")) for ln in lines), lines
    assert repr(char)[1:-1] in err  # the character is shown, escaped
