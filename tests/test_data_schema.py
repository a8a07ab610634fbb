"""Observation schema validation: every rule reports file, line, column and expectation."""

from __future__ import annotations

import pandas as pd
import pytest

from displacement_forecast.data.regions import load_regions, normalise_name, regions_from_frame
from displacement_forecast.data.schema import DataError, check_observations, validate_observations


def frame(rows):
    return pd.DataFrame(rows, columns=["date", "region", "series", "value"], dtype=object)


GOOD = [("2020-01-06", "A", "strikes", "3"), ("2020-01-13", "A", "strikes", "0")]


def only(problems, column):
    return [p for p in problems if p.column == column]


def test_good_frame_has_no_problems():
    assert validate_observations(frame(GOOD), file="f.csv", freq="W") == []


@pytest.mark.parametrize("bad_date, what", [("2020-13-01", "cannot read"), ("not a date", "cannot read"),
                                            ("1900-01-01", "out of range"), ("2199-01-06", "out of range")])
def test_bad_dates(bad_date, what):
    probs = validate_observations(frame([*GOOD, (bad_date, "B", "strikes", "1")]), file="f.csv")
    dates = only(probs, "date")
    assert dates and what in dates[0].message and dates[0].row == 4 and dates[0].file == "f.csv"


def test_a_file_of_non_iso_dates_is_one_line_and_other_bad_dates_keep_theirs():
    """One summary line for the not-ISO dates, and the other bad dates keep their own lines.
    (The summary once left the rows it covered with a set rebuilt per row: measured 16 s for 20,000
    rows, 0.24 s now; timings belong in benchmarks, not in tests.)"""
    n = 2_000
    rows = [(f"{d % 28 + 1:02d}/01/2020", "A", "strikes", "1") for d in range(n)] + [("", "A", "strikes", "1")]
    dates = only(validate_observations(frame(rows), file="f.csv"), "date")
    assert [(p.row, p.message) for p in dates] == [
        (2, f"'01/01/2020' and {n - 1:,} more dates are not ISO; the tidy format takes YYYY-MM-DD only (agency "
            "files with other date formats: --format with --date-format)"),
        (n + 2, "empty date; expected YYYY-MM-DD")]


@pytest.mark.parametrize("value, what", [("-1", "negative"), ("abc", "not a number"), ("inf", "infinite")])
def test_bad_values(value, what):
    probs = only(validate_observations(frame([*GOOD, ("2020-01-20", "A", "strikes", value)])), "value")
    assert len(probs) == 1 and what in probs[0].message and probs[0].row == 4


def test_missing_value_is_allowed_and_stays_nan():
    obs = check_observations(frame([*GOOD, ("2020-01-20", "A", "strikes", None)]))
    assert obs["value"].isna().sum() == 1


def test_a_date_with_surrounding_spaces_reads_as_validation_said():
    """validate stripped ' 2020-01-20 ' and passed it; coercing it then crashed (internal error, exit 1)."""
    obs = check_observations(frame([*GOOD, (" 2020-01-20 ", "A", "strikes", "1")]), file="f.csv")
    assert obs["date"].max() == pd.Timestamp("2020-01-20")


def test_unknown_series_and_region():
    probs = validate_observations(frame([*GOOD, ("2020-01-20", "Z", "drones", "1")]), region_codes=["A"])
    assert {p.column for p in probs} == {"series", "region"}
    assert all(p.row == 4 for p in probs)


def test_duplicate_keys_point_to_first_line():
    probs = validate_observations(frame([*GOOD, ("2020-01-06", "A", "strikes", "5")]))
    assert len(probs) == 1 and "duplicate" in probs[0].message and "line 2" in probs[0].message


def test_mixed_and_wrong_frequency():
    mixed = frame([("2020-01-06", "A", "strikes", "1"), ("2020-01-08", "A", "strikes", "1"),
                   ("2020-01-07 12:00", "A", "strikes", "1")])
    assert any("frequenc" in p.message for p in validate_observations(mixed))
    weekly = frame(GOOD)
    assert any("periods were expected" in p.message for p in validate_observations(weekly, freq="M"))


def test_all_problems_reported_at_once():
    bad = frame([("x", "A", "strikes", "1"), ("2020-01-06", "A", "foo", "-2")])
    with pytest.raises(DataError) as e:
        check_observations(bad, file="f.csv")
    assert len(e.value.problems) >= 3
    assert all(line.startswith("f.csv:") for line in str(e.value).splitlines())


def test_region_table(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("code,name,parent,population,aliases\nSO19,Galgaduud,Central,569434,Galguduud|Galgudud\n"
                 "SO22,Banadir,South,1650227,Banaadir\n")
    r = load_regions(p)
    assert r.codes == ["SO19", "SO22"] and r.population.sum() == 569434 + 1650227
    matched, unmatched = r.match(["galguduud", "BANAADIR", "Hiraan"])
    assert matched == {"galguduud": "SO19", "BANAADIR": "SO22"} and unmatched == ["Hiraan"]
    assert r.resolve(["South"]) == ["SO22"]
    assert normalise_name("Shabeellaha-Hoose ") == normalise_name("shabeellaha hoose")


def test_a_code_names_its_region_even_when_another_region_is_named_like_it():
    """'NWS02' was refused as naming two regions (NWS01 is called 'NWS02'), with the advice to use codes."""
    r = regions_from_frame(pd.DataFrame({"code": ["NWS01", "NWS02"], "name": ["NWS02", "b"], "parent": ["P", "P"],
                                         "population": ["10", "20"]}))
    assert r.resolve(["NWS02"]) == ["NWS02"] and r.resolve([" NWS01 "]) == ["NWS01"] and r.resolve(["b"]) == ["NWS02"]


def test_region_table_errors():
    with pytest.raises(DataError) as e:
        regions_from_frame(pd.DataFrame({"code": ["A", "A"], "name": ["a", "b"], "population": ["10", "-1"]}), file="r.csv")
    msgs = str(e.value)
    assert "duplicate region code" in msgs and "not a positive number" in msgs


def test_a_population_above_any_count_is_an_error(tmp_path):
    """Populations in a file were capped at finite only: 1e20 passed, and thresholds up to it were accepted.
    (A frame built in Python may hold a huge population on purpose: no region is depleted.)"""
    p = tmp_path / "r.csv"
    p.write_text("code,name,parent,population\nA,a,P,1e20\nB,b,P,10000000000\n")
    with pytest.raises(DataError) as e:
        load_regions(p)
    (prob,) = e.value.problems
    assert (prob.row, prob.column) == (2, "population") and "at most 10,000,000,000" in prob.message


def test_a_file_without_its_header_line_is_one_line():
    df = pd.DataFrame([("2020-01-13", "A", "strikes", "0")], columns=["2020-01-06", "A", "strikes", "3"], dtype=object)
    (prob,) = validate_observations(df, file="f.csv")
    assert prob.row == 1 and "line 1 holds data (2020-01-06, A, strikes, 3), not the header" in prob.message


def test_an_unknown_series_is_one_line_not_one_per_row():
    rows = [(f"2020-01-{d:02d}", "A", "Displaced", "1") for d in (6, 13, 20)] + [("2020-01-27", "A", "drones", "1")]
    probs = only(validate_observations(frame([*GOOD, *rows]), file="f.csv"), "series")
    assert [(p.row, p.message.split(";")[0]) for p in probs] == [
        (4, "unknown series 'Displaced' (and 2 more rows)"), (7, "unknown series 'drones'")]


@pytest.mark.parametrize(("name", "hint"), [
    ("Displaced", "did you mean 'displaced' (series names are lower case)? "),
    (" STRIKES", "did you mean 'strikes' (series names are lower case)? "),
    ("strike", "did you mean 'strikes'? "), ("drones", "")])
def test_an_unknown_series_close_to_a_known_one_says_which(name, hint):
    """'Displaced' in 246 rows was refused with the list of series only."""
    (prob,) = only(validate_observations(frame([*GOOD, ("2020-01-20", "A", name, "1")]), file="f.csv"), "series")
    assert prob.message.endswith(f"; {hint}expected one of displaced, strikes, shelling, flights, events, battles, "
                                 "fatalities, arrivals, refugees"), prob.message


def test_a_region_given_by_its_name_is_said_to_be_the_name_of_its_code():
    """A tidy file with 'Idleb' (the table's name of SY07) or its alias 'Idlib' where the code belongs:
    was 'not in the region table; the table has ...', without a word that it is a name."""
    from pathlib import Path

    table = load_regions(Path(__file__).parent / "fixtures" / "regions_syria_small.csv")
    rows = [("2020-01-06", "Idleb", "strikes", "1"), ("2020-01-13", "idlib", "strikes", "2"),
            ("2020-01-20", "Nowhere", "strikes", "3"), ("2020-01-20", "SY07", "strikes", "3")]
    probs = only(validate_observations(frame(rows), file="f.csv", region_codes=table.codes,
                                       region_names=table.code_named), "region")
    assert [(p.row, p.message) for p in probs] == [
        (2, "region 'Idleb' is not in the region table: it is the name of region SY07 there; expected region codes "
            "(SY07, not 'Idleb')"),
        (3, "region 'idlib' is not in the region table: it is the name of region SY07 there; expected region codes "
            "(SY07, not 'idlib')"),
        (4, "region 'Nowhere' is not in the region table; the table has 'SY02', 'SY07'")]


def test_unknown_regions_are_one_line_each_not_one_per_row():
    """A file for another country: one line per unknown code (first line, how many rows) and one
    saying none matches - not hundreds of identical lines."""
    obs = pd.DataFrame({"date": pd.date_range("2020-01-06", periods=50, freq="W-MON").repeat(2).astype(str),
                        "region": ["X1", "X2"] * 50, "series": "displaced", "value": 5.0})
    with pytest.raises(DataError) as e:
        check_observations(obs, region_codes=["A", "B"], file="other.csv")
    lines = [str(p) for p in e.value.problems]
    assert len(lines) == 3, lines
    assert "none of the file's 2 region codes" in lines[0]
    assert "other.csv:2" in lines[1] and "'X1'" in lines[1] and "49 more rows" in lines[1]
