"""``validate`` / ``describe``: every bad input is one clear line per problem, exit 2, nothing written."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from displacement_forecast.cli import main

FIX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
HEADER = "date,region,series,value\n"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def files_in(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


@pytest.mark.parametrize("name, content, where, what", [
    ("empty.csv", b"", ":", "file is empty"),
    ("header_only.csv", HEADER.encode(), ":", "only a header"),
    ("latin1.csv", (HEADER + "2020-01-06,Ma\xe2rrat,strikes,1\n").encode("latin-1"), ":2:", "not UTF-8"),
    ("utf16.csv", (HEADER + "2020-01-06,A,strikes,1\n").encode("utf-16"), ":1:", "is UTF-16 (byte-order mark"),
    ("too_many.csv", (HEADER + "2020-01-06,A,strikes,1\n2020-01-13,A,strikes,2,3\n").encode(), ":3:", "fields but the header has 4"),
    ("formula.csv", (HEADER + "2020-01-06,A,strikes,=SUM(A1:A3)\n").encode(), ":2: column 'value'", "spreadsheet formula"),
    # a row cut short was read as a missing value, without a word
    ("cut_short.csv", (HEADER + "2020-01-06,A,strikes,1\n2020-01-13,A,strikes\n").encode(), ":3:",
     "row has 3 fields but the header has 4, so no 'value': is it cut short? expected a field for every column, "
     "empty (,,) for a missing value"),
    ("bad_date.csv", (HEADER + "2020-02-30,A,strikes,1\n").encode(), ":2: column 'date'", "cannot read"),
    ("negative.csv", (HEADER + "2020-01-06,A,strikes,-4\n").encode(), ":2: column 'value'", "negative"),
    # was 'not UTF-8 (byte 0x8b at offset 1); save the file as UTF-8'
    ("obs.csv.gz", gzip.compress((HEADER + "2020-01-06,A,strikes,1\n").encode(), mtime=0), ":",
     "is gzip-compressed: decompress it first (gunzip "),
])
def test_validate_bad_files(tmp_path, capsys, name, content, where, what):
    p = tmp_path / name
    p.write_bytes(content)
    before = files_in(tmp_path)
    code, out, err = run(capsys, "validate", str(p))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {p}{where}") and what in lines[0]
    assert "Traceback" not in err and out == ""
    assert files_in(tmp_path) == before


def test_an_empty_value_field_stays_missing_and_source_may_be_left_out(tmp_path, capsys):
    """Only a row too short for the value column is an error (test_validate_bad_files: cut_short.csv):
    an empty value field is a missing value, and the optional source may be left off a row."""
    p = tmp_path / "obs.csv"
    p.write_text("date,region,series,value,source\n2020-01-06,A,strikes,1,x\n2020-01-13,A,strikes,,\n"
                 "2020-01-20,A,strikes,\n2020-01-27,A,strikes,4\n")
    code, out, err = run(capsys, "validate", str(p))
    assert code == 0 and out.startswith(f"ok: {p}: 4 rows") and err == ""
    cut = tmp_path / "cut.csv"
    cut.write_text("date,region,series,value,source\n2020-01-06,A,strikes\n2020-01-13,A\n2020-01-20,A,strikes,3\n")
    code, _, err = run(capsys, "validate", str(cut))
    assert code == 2 and err.splitlines() == [
        f"error: {cut}: 2 rows have too few fields for the header (5) (lines 2, 3); expected a field for every "
        "column, empty (,,) for a missing value; are the rows cut short?"]


def test_validate_says_a_region_name_is_the_name_of_its_code(tmp_path, capsys):
    """The tidy reader gives the schema check the table's names and aliases (data.schema's test)."""
    p = tmp_path / "obs.csv"
    p.write_text(HEADER + "2020-01-06,SY07,strikes,1\n2020-01-13,Idlib,strikes,1\n")
    code, _, err = run(capsys, "validate", str(p), "--regions", str(FIX / "regions_syria_small.csv"))
    assert code == 2 and err.splitlines() == [
        f"error: {p}:3: column 'region': region 'Idlib' is not in the region table: it is the name of region SY07 "
        "there; expected region codes (SY07, not 'Idlib')"]


def test_validate_lists_every_problem_and_checks_regions(tmp_path, capsys):
    p = tmp_path / "obs.csv"
    p.write_text(HEADER + "2020-01-06,SY07,strikes,1\n2020-01-13,XX,strikes,1\n2020-01-20,SY07,drones,-1\n")
    code, _, err = run(capsys, "validate", str(p), "--regions", str(FIX / "regions_syria_small.csv"))
    assert code == 2
    cols = sorted(line.split("column '")[1].split("'")[0] for line in err.strip().splitlines())
    assert cols == ["region", "series", "value"]


def test_validate_ok_and_freq(tmp_path, capsys):
    p = tmp_path / "obs.csv"
    p.write_text(HEADER + "2020-01-06,A,strikes,1\n2020-01-13,A,strikes,\n")
    code, out, err = run(capsys, "validate", str(p), str(p), "--freq", "W")
    assert code == 0 and out.count("ok: ") == 2 and err == ""
    code, _, err = run(capsys, "validate", str(p), "--freq", "M")
    assert code == 2 and "periods were expected" in err


def test_describe_table(tmp_path, capsys):
    p = tmp_path / "obs.csv"
    p.write_text(HEADER + "2020-01-06,A,strikes,1\n2020-01-20,A,strikes,4\n2020-01-06,B,strikes,2\n"
                 "2020-01-13,B,strikes,\n2020-01-20,B,strikes,3\n")
    code, out, _ = run(capsys, "describe", str(p))
    assert code == 0
    rows = {line.split()[1]: line.split() for line in out.splitlines()[2:]}
    assert rows["A"][-2:] == ["5", "33%"] and rows["B"][-2:] == ["5", "33%"]
    assert rows["A"][4] == "W"


def test_describe_raw_formats(capsys):
    code, out, err = run(capsys, "describe", str(FIX / "prmn_wide_small.csv"), "--format", "mapped",
                         "--config", str(FIX / "prmn_wide_small.toml"), "--regions", str(FIX / "regions_som_small.csv"))
    assert code == 0 and "SO19" in out and "119,589" in out
    code, out, err = run(capsys, "validate", str(FIX / "acled_small.csv"), "--format", "acled", "--freq", "M")
    assert code == 0 and "warning:" in err and "no 'admin1'" in err


def test_event_formats_count_weekly_without_freq(capsys):
    """ACLED and UCDP exports are counted per Monday week unless --freq says otherwise (the loaders' default)."""
    for name, fmt in (("acled_small.csv", "acled"), ("ucdp_small.csv", "ucdp")):
        code, out, err = run(capsys, "validate", str(FIX / name), "--format", fmt)
        assert code == 0 and "frequency weekly (Mondays)" in out, (fmt, out, err)


def test_a_reading_flag_the_format_does_not_take_is_one_error(tmp_path, capsys):
    """`validate obs.csv --date-format %d/%m/%Y` on a tidy file (the default format) ignored the
    flag and then said the dates were not ISO and to use --date-format; every reading flag the
    chosen format has no use for was dropped without a word. Now one line per such flag."""
    f = tmp_path / "obs.csv"
    f.write_text("date,region,series,value\n01/01/2023,A,displaced,5\n08/01/2023,A,displaced,7\n")
    assert main(["validate", str(f), "--date-format", "%d/%m/%Y", "--strict"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 2, err
    by_flag = {x.split("option ")[1].split(":")[0]: x for x in err}
    assert "tidy" in by_flag["--date-format"] and "YYYY-MM-DD" in by_flag["--date-format"], err
    assert "tidy" in by_flag["--strict"], err
    assert main(["validate", str(f), "--format", "mapped", "--config", str(f), "--delimiter", ";"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "--delimiter" in err[0] and "[file] delimiter" in err[0], err


def test_freq_on_a_mapped_file_is_refused_not_ignored(capsys):
    """`validate idp.csv --format mapped --config idp.toml --freq M` on a weekly report said 'ok ...
    frequency weekly': --freq was dropped (a mapped file's frequency is its config's `freq` key)."""
    ex = ROOT / "data" / "examples"
    assert main(["validate", str(ex / "idp_report_synthetic.csv"), "--format", "mapped", "--config",
                 str(ex / "idp_report_synthetic.toml"), "--regions", str(ex / "regions.csv"), "--freq", "M"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "--freq" in err[0] and "freq = " in err[0], err


def test_every_loader_flag_has_its_command_line_name():
    """FLAGS names the command-line flag of every option the commands pass to a loader: one added
    to agency_options without a FLAGS entry would be a KeyError only when a format refuses it."""
    import argparse

    from displacement_forecast._cli.data_commands import FLAGS, agency_options

    assert set(FLAGS) == {"freq", "config", *agency_options(argparse.Namespace())}


def test_a_warning_on_screen_is_a_sentence_without_a_python_class_name(tmp_path, capsys):
    """A region-table header typo printed 'warning: ...: did you mean 'population'? (...) (DataWarning)'
    before its error: the class name means nothing to a user."""
    obs = tmp_path / "obs.csv"
    obs.write_text(HEADER + "2020-01-06,A,strikes,1\n")
    reg = tmp_path / "regions.csv"
    reg.write_text("code,name,populaton\nA,Alpha,1000\n")
    code, out, err = run(capsys, "validate", str(obs), "--regions", str(reg))
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith(f"warning: {reg}:1: column 'populaton' is not read; did you mean "
                                              "'population'?")
    assert not any(line.rstrip().endswith("Warning)") for line in lines), err
