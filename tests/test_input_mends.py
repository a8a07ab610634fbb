"""Input handling a new user tripped over: bad values in many rows are one line per (file, column,
kind of problem); tidy headers match case-insensitively; large scenario multipliers warn; hubs whose
regions are not the panel's are refused.
"""

from __future__ import annotations

import pandas as pd
import pytest

from displacement_forecast.cli import main


def regions_csv(path, codes=("R1", "R2")):
    path.write_text("code,name,parent,population\n"
                    + "".join(f"{c},{c} name,,1000000\n" for c in codes))
    return path


def tidy_rows(n_weeks=40, regions=("R1", "R2"), value=lambda w, r: 10 + w % 7 + r):
    rows = []
    for w, d in enumerate(pd.date_range("2023-01-02", periods=n_weeks, freq="W-MON")):
        for r, code in enumerate(regions):
            rows.append((d.date().isoformat(), code, "displaced", value(w, r)))
    return rows


def write_tidy(path, rows, header="date,region,series,value"):
    path.write_text(header + "\n" + "".join(f"{d},{r},{s},{v}\n" for d, r, s, v in rows))
    return path


def problems_of(read, *args) -> list[str]:
    """The lines of the DataError ``read(*args)`` raises."""
    from displacement_forecast.data.schema import DataError

    with pytest.raises(DataError) as e:
        read(*args)
    return [str(p) for p in e.value.problems]


def error_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]


@pytest.mark.parametrize("command", ["validate", "forecast"])
def test_one_bad_value_kind_in_many_rows_is_one_line(tmp_path, capsys, command):
    regions_csv(tmp_path / "regions.csv")
    rows = tidy_rows(200)  # 400 data rows on lines 2..401
    bad_lines = []
    for k in range(0, 400, 4):  # 100 rows 'abc' (kind 1) ...
        d, r, s, _ = rows[k]
        rows[k] = (d, r, s, "abc" if k != 8 else "n/a")
        bad_lines.append(k + 2)
    for k in range(1, 400, 8):  # ... 50 rows negative (kind 2)
        d, r, s, _ = rows[k]
        rows[k] = (d, r, s, -5)
    data = write_tidy(tmp_path / "obs.csv", rows)
    args = [command, str(data)] + (["--out", str(tmp_path / "out")] if command == "forecast" else [])
    assert main(args) == 2
    lines = error_lines(capsys)
    assert len(lines) == 2, lines
    assert lines[0] == (f"error: {data}: column 'value': 100 rows are not a number (lines 2, 6, 10, 14, 18, ...; "
                        "first value 'abc'); expected a non-negative count (leave empty for missing)"), lines[0]
    assert lines[1].startswith(f"error: {data}: column 'value': 50 rows are negative (lines 3, 11, 19, 27, 35, ...; "
                               "first value '-5')"), lines[1]
    assert not (tmp_path / "out").exists()


def test_one_bad_row_keeps_its_line(tmp_path, capsys):
    regions_csv(tmp_path / "regions.csv")
    rows = tidy_rows(20)
    rows[5] = (*rows[5][:3], "abc")
    data = write_tidy(tmp_path / "obs.csv", rows)
    assert main(["validate", str(data)]) == 2
    assert error_lines(capsys) == [f"error: {data}:7: column 'value': 'abc' is not a number; expected a non-negative "
                                   "count (leave empty for missing)"]


def test_agency_loader_groups_bad_counts_too(tmp_path):
    from displacement_forecast.data.loaders.common import parse_counts

    raw = pd.Series(["1", "x"] + ["y"] * 30 + ["-3"] * 3)
    vals, problems = parse_counts(raw, file="f.csv", column="best", lines=None)
    text = [str(p) for p in problems]
    assert len(text) == 2, text
    assert text[0].startswith("f.csv: column 'best': 31 rows are not a number (lines "), text[0]
    assert "first value 'x'" in text[0]
    assert text[1].startswith("f.csv: column 'best': 3 rows are negative ("), text[1]


# ---------------------------------------------------------------- scenario multipliers

def strikes_data(tmp_path):
    regions_csv(tmp_path / "regions.csv")
    rows = tidy_rows(40)
    for w, d in enumerate(pd.date_range("2023-01-02", periods=40, freq="W-MON")):
        rows += [(d.date().isoformat(), "R1", "strikes", 5 + w % 4), (d.date().isoformat(), "R2", "strikes", 2)]
    return write_tidy(tmp_path / "obs.csv", rows)


def scenario_file(path, change):
    path.write_text('[[scenario]]\nid = "baseline"\n\n[[scenario]]\nid = "surge"\n  [[scenario.change]]\n'
                    f'  regions = ["R1"]\n  series = ["strikes"]\n  {change}\n')
    return path


def test_huge_multiplier_is_one_warning_line_and_recorded(tmp_path, capsys):
    import json

    data = strikes_data(tmp_path)
    toml = scenario_file(tmp_path / "sc.toml", "multiply = 1000")
    out = tmp_path / "out"
    assert main(["forecast", str(data), "--scenarios", str(toml), "--model", "historic-average", "--horizon", "4",
                 "--draws", "50", "--no-plots", "--out", str(out)]) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "multiply = 1000" in ln]
    # R1's strikes: 5..8 a week, the last 4 weeks average 6.5; 1000 x that is 6,500, 812x the largest (8)
    expected = (f"{toml}:9: key scenario 'surge'.change[0].multiply: multiply = 1000 takes strikes in R1 to about 6,500 per "
                "period, 812x the largest count observed there (8); used as given (check the factor if that is "
                "not what you meant)")
    assert warned == [f"WARNING: {expected}"], warned
    assert expected in json.loads((out / "forecast.json").read_text())["warnings"]


@pytest.mark.parametrize("change", ["multiply = 3", "multiply = 10", "values = [60, 70]", "hold = 4\n  multiply = 2"])
def test_multipliers_within_ten_times_the_history_are_quiet(tmp_path, change):
    from displacement_forecast.data.io import read_observations
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.scenarios import check_scenarios, load_scenarios

    data = strikes_data(tmp_path)
    regions = load_regions(tmp_path / "regions.csv")
    toml = scenario_file(tmp_path / "sc.toml", change)
    checked = check_scenarios(load_scenarios(toml, regions), read_observations(data), 4, regions=regions,
                              file=str(toml))
    assert [s.warnings for s in checked] == [(), ()]


def test_values_far_beyond_the_history_warn_too(tmp_path):
    from displacement_forecast.data.io import read_observations
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.scenarios import check_scenarios, load_scenarios

    data = strikes_data(tmp_path)
    regions = load_regions(tmp_path / "regions.csv")
    toml = scenario_file(tmp_path / "sc.toml", "values = [40, 900]")
    checked = check_scenarios(load_scenarios(toml, regions), read_observations(data), 4, regions=regions,
                              file=str(toml))
    assert checked[1].warnings == (f"{toml}:9: key scenario 'surge'.change[0].values: values up to 900 take strikes in R1 to about 900 per period, "
                                   "112x the largest count observed there (8); used as given (check the values if "
                                   "that is not what you meant)",)


@pytest.mark.parametrize("bad", ["-2", "nan", "inf", "-inf"])
def test_absurd_multipliers_are_errors(tmp_path, capsys, bad):
    data = strikes_data(tmp_path)
    toml = scenario_file(tmp_path / "sc.toml", f"multiply = {bad}")
    assert main(["forecast", str(data), "--scenarios", str(toml), "--model", "historic-average", "--horizon", "4",
                 "--out", str(tmp_path / "out")]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "multiply" in lines[0] and "is not a non-negative number" in lines[0], lines
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- hubs of other panels

def forecast_into_hub(tmp_path, name, codes, hub, capsys=None):
    d = tmp_path / name
    d.mkdir()
    regions_csv(d / "regions.csv", codes)
    data = write_tidy(d / "obs.csv", tidy_rows(30, codes))
    return main(["forecast", str(data), "--model", "historic-average", "--horizon", "2", "--draws", "50",
                 "--no-plots", "--hub", str(hub), "--out", str(d / "out")])


def test_a_hub_of_other_regions_is_refused_naming_the_file(tmp_path, capsys):
    hub = tmp_path / "hub"
    assert forecast_into_hub(tmp_path, "syria", ("SY01", "SY02", "SY03", "SY04"), hub) == 0
    tasks = (hub / "hub-config" / "tasks.json").read_text()
    capsys.readouterr()
    assert forecast_into_hub(tmp_path, "somalia", ("SO01", "SO02"), hub) == 2
    lines = error_lines(capsys)
    assert lines == [f"error: {hub}: option --hub: {hub / 'hub-config' / 'tasks.json'} lists regions SY01, SY02, "
                     "SY03, SY04; this forecast's regions (SO01, SO02) are none of them: is it the right hub? "
                     "(a hub collects forecasts of one set of regions; give another --hub)"], lines
    assert (hub / "hub-config" / "tasks.json").read_text() == tasks  # the hub left as it was
    assert not (tmp_path / "somalia" / "out").exists()


def test_a_hub_with_regions_the_data_lack_warns(tmp_path, capsys):
    import json

    hub = tmp_path / "hub"
    assert forecast_into_hub(tmp_path, "all", tuple(f"R{i}" for i in range(1, 10)), hub) == 0
    capsys.readouterr()
    assert forecast_into_hub(tmp_path, "some", ("R1", "R2", "X9"), hub) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "belong together" in ln]
    expected = (f"{hub / 'hub-config' / 'tasks.json'} lists 7 regions this forecast does not cover (R3, R4, R5, "
                "R6, R7, ...) and this forecast has 1 region the hub has not had (X9): check that --hub and the region "
                "table belong together")
    assert warned == [f"WARNING: {expected}"], warned
    assert expected in json.loads((tmp_path / "some" / "out" / "forecast.json").read_text())["warnings"]


def test_export_hub_records_its_partial_region_warning_in_the_model_metadata(tmp_path, capsys):
    """`forecast --hub` records the partial-region warning (sidecar, then the hub's model metadata);
    `export-hub` printed it and recorded it nowhere. It now goes into the `warnings` of the hub's
    model-metadata file, as `forecast --hub`'s does; the forecast folder it reads stays as it was."""
    import json

    from displacement_forecast.forecast.hub import _loads

    hub = tmp_path / "hub"
    assert forecast_into_hub(tmp_path, "all", tuple(f"R{i}" for i in range(1, 10)), hub) == 0
    assert forecast_into_hub(tmp_path, "some", ("R1", "R2", "X9"), tmp_path / "own_hub") == 0
    folder = tmp_path / "some" / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    capsys.readouterr()
    assert main(["export-hub", str(folder), "--hub", str(hub), "--model", "partial"]) == 0
    expected = (f"{hub / 'hub-config' / 'tasks.json'} lists 7 regions this forecast does not cover (R3, R4, R5, "
                "R6, R7, ...) and this forecast has 1 region the hub has not had (X9): check that --hub and the region "
                "table belong together")
    assert f"WARNING: {expected}" in capsys.readouterr().err.splitlines()
    meta = _loads(hub / "model-metadata" / "dfcast-partial.yml")
    assert meta["warnings"].count(expected) == 1, meta["warnings"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # forecast --hub records its line there too, once (it comes with the sidecar's warnings)
    assert forecast_into_hub(tmp_path, "some2", ("R1", "R2", "X9"), hub) == 0
    (line,) = [w for w in json.loads((tmp_path / "some2" / "out" / "forecast.json").read_text())["warnings"]
               if "belong together" in w]
    assert _loads(hub / "model-metadata" / "dfcast-historic_average.yml")["warnings"].count(line) == 1


def test_a_replaced_round_file_and_a_partial_all_are_said_on_screen(tmp_path, capsys):
    """Trial 19 item 15: exporting the same model and round again replaced the file with no word, and
    an ALL over fewer regions than the hub lists went in beside other models' full ALL unremarked."""
    from displacement_forecast.forecast.hub import _loads

    hub = tmp_path / "hub"
    assert forecast_into_hub(tmp_path, "all", ("R1", "R2", "R3"), hub) == 0
    (old,) = (hub / "model-output" / "dfcast-historic_average").iterdir()
    first = capsys.readouterr().err
    assert "replaced earlier submission" not in first and "ALL sums" not in first
    assert forecast_into_hub(tmp_path, "again", ("R1", "R2", "R3"), hub) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "replaced earlier" in ln]
    assert len(lines) == 1, lines
    (line,) = lines
    # review 19: "warning: ... (from displacement_forecast)"; every other line says WARNING:, with no suffix
    assert line.startswith(f"WARNING: replaced earlier submission model-output/dfcast-historic_average/{old.name} (20")
    assert line.endswith(" UTC)")
    assert forecast_into_hub(tmp_path, "some", ("R1", "R3"), hub) == 0
    err = capsys.readouterr().err.splitlines()
    (note,) = [ln for ln in err if "ALL sums" in ln]
    assert note.startswith("WARNING: round ") and "ALL sums 2 regions, but the hub's tasks.json lists 3; missing: R2" in note
    # the region missing was said twice (review 19): the hub's own check of its regions is left off the screen
    assert not [ln for ln in err if "does not cover" in ln], err
    meta = _loads(hub / "model-metadata" / "dfcast-historic_average.yml")
    assert any("ALL sums 2 regions" in w for w in meta["warnings"])


def test_export_to_hub_refuses_a_forecast_of_other_regions(tmp_path):
    from displacement_forecast.forecast.hub import HubError, check_hub_regions

    hub = tmp_path / "hub"
    (hub / "hub-config").mkdir(parents=True)
    (hub / "hub-config" / "tasks.json").write_text(
        '{"schema_version": "x", "rounds": [{"model_tasks": [{"task_ids": {"location": '
        '{"required": null, "optional": ["US", "CA", "MX"]}}}]}]}')
    with pytest.raises(HubError, match=r"lists regions CA, MX, US; this forecast's regions \(R1\) are none"):
        check_hub_regions(hub, ["R1"])
    assert check_hub_regions(tmp_path / "new", ["R1"]) is None  # a new hub takes any regions


def test_export_hub_command_refuses_another_panels_forecast(tmp_path, capsys):
    hub = tmp_path / "hub"
    assert forecast_into_hub(tmp_path, "syria", ("SY01", "SY02"), hub) == 0
    other = tmp_path / "other_hub"
    assert forecast_into_hub(tmp_path, "somalia", ("SO01",), other) == 0
    capsys.readouterr()
    assert main(["export-hub", str(tmp_path / "somalia" / "out"), "--hub", str(hub)]) == 2
    assert error_lines(capsys) == [f"error: {hub}: option --hub: {hub / 'hub-config' / 'tasks.json'} lists regions "
                                   "SY01, SY02; this forecast's regions (SO01) are none of them: is it the right "
                                   "hub? (a hub collects forecasts of one set of regions; give another --hub)"]


# ---------------------------------------------------------------- header case

@pytest.mark.parametrize("header", ["Date,Region,Series,Value", "date , region ,SERIES, Value ",
                                    "DATE,region,series,value,Source"])
def test_tidy_header_in_any_case_or_with_spaces_gives_the_same_frame(tmp_path, header):
    from displacement_forecast.data.io import read_observations

    rows = tidy_rows(10)
    plain = write_tidy(tmp_path / "plain.csv", rows, "date,region,series,value" + (",source" if "Source" in header
                                                                                   else ""))
    other = write_tidy(tmp_path / "other.csv", rows, header)
    if "Source" in header:
        for p in (plain, other):
            p.write_text("\n".join(ln + ("" if i == 0 else ",acled") for i, ln in enumerate(p.read_text().splitlines()))
                         + "\n")
    pd.testing.assert_frame_equal(read_observations(other), read_observations(plain))


def test_tidy_header_in_any_case_validates_and_forecasts(tmp_path, capsys):
    regions_csv(tmp_path / "regions.csv")
    data = write_tidy(tmp_path / "obs.csv", tidy_rows(30), "Date,Region,Series,Value")
    assert main(["validate", str(data)]) == 0
    assert main(["forecast", str(data), "--model", "historic-average", "--horizon", "2", "--draws", "30",
                 "--no-plots", "--out", str(tmp_path / "out")]) == 0


def test_a_formula_cell_under_a_capitalised_header_is_still_refused(tmp_path):
    from displacement_forecast.data.io import read_observations
    from displacement_forecast.data.schema import DataError

    rows = tidy_rows(10)
    rows[3] = (*rows[3][:3], "=1+1")
    data = write_tidy(tmp_path / "obs.csv", rows, "Date,Region,Series,Value")
    with pytest.raises(DataError, match="like a spreadsheet formula"):
        read_observations(data)


def test_a_header_that_still_does_not_match_is_one_line(tmp_path, capsys):
    regions_csv(tmp_path / "regions.csv")
    data = write_tidy(tmp_path / "obs.csv", tidy_rows(5), "when,Region,what,count")
    assert main(["validate", str(data)]) == 2
    assert error_lines(capsys) == [
        f"error: {data}:1: the header has no column date, series, value (have: when, region, what, count); expected "
        "columns date, region, series, value[, source] (in any case)"]


def test_region_table_header_in_any_case(tmp_path):
    from displacement_forecast.data.regions import load_regions

    a = regions_csv(tmp_path / "a.csv", ("R1", "R2"))
    b = tmp_path / "b.csv"
    b.write_text(a.read_text().replace("code,name,parent,population", "Code, Name ,PARENT,Population"))
    pd.testing.assert_frame_equal(load_regions(b).frame, load_regions(a).frame)


# ---------------------------------------------------------------- the same class in the other readers

def test_region_table_bad_populations_are_one_line(tmp_path):
    from displacement_forecast.data.regions import load_regions

    f = tmp_path / "regions.csv"
    f.write_text("code,name,parent,population\n" + "".join(f"R{i},n{i},,{'x' if i % 2 else 1000}\n" for i in range(40)))
    assert problems_of(load_regions, f) == [
        f"{f}: column 'population': 20 rows are not a number (lines 3, 5, 7, 9, 11, ...; first value 'x'); expected "
        "a finite, positive whole number of people at risk"]


def test_tidy_formula_cells_are_one_line_per_column(tmp_path):
    from displacement_forecast.data.io import read_observations

    rows = tidy_rows(30)
    for k in range(0, 60, 3):
        rows[k] = (*rows[k][:3], "=1+1")
    data = write_tidy(tmp_path / "obs.csv", rows)
    assert problems_of(read_observations, data) == [
        f"{data}: column 'value': 20 rows start like a spreadsheet formula (=, +, -, @) (lines 2, 5, 8, 11, 14, ...; "
        "first value '=1+1'); expected plain values"]


@pytest.mark.parametrize("reader, text, expected", [
    ("observations", "date,region,series,value,Value\n2024-01-01,R1,displaced,1,2\n",
     "{f}:1: column 'Value': names the same column as 'value' (names are compared in any case, without surrounding "
     "spaces); expected each column once"),
    ("regions", "id,label,pop\nR1,One,100\n",
     "{f}:1: the region table has no column code, name, population (have: id, label, pop); expected columns code, "
     "name, parent, population[, aliases][, counts] (in any case; parent may be left out)"),
])
def test_a_header_that_cannot_be_matched_is_one_line(tmp_path, reader, text, expected):
    """Two columns naming one (value and Value); a region table header naming none of its columns."""
    from displacement_forecast.data.io import read_observations
    from displacement_forecast.data.regions import load_regions

    f = tmp_path / "file.csv"
    f.write_text(text)
    read = {"observations": read_observations, "regions": load_regions}[reader]
    assert problems_of(read, f) == [expected.format(f=f)]


@pytest.mark.parametrize("command", ["validate", "forecast"])
def test_a_tidy_file_with_decimal_commas_says_so(tmp_path, capsys, command):
    """A ';'-separated tidy file saved with decimal commas ('307,0') was '2,160 rows are not a
    number ... first value '307,0'' with no word of why or of what reads it."""
    data = tmp_path / "obs.csv"
    days = pd.date_range("2022-01-01", periods=12, freq="MS")
    data.write_text("date;region;series;value\n" + "".join(f"{d.date()};R1;displaced;{300 + i},0\n"
                                                           for i, d in enumerate(days)))
    (tmp_path / "regions.csv").write_text("code,name,parent,population\nR1,One,P,100000\n")
    out = ["--out", str(tmp_path / "out")] if command == "forecast" else []
    assert main([command, str(data), "--regions", str(tmp_path / "regions.csv"), *out]) == 2
    assert error_lines(capsys) == [
        f"error: {data}: column 'value': 12 rows are not a number (lines 2, 3, 4, 5, 6, ...; first value '300,0'); "
        "the file seems to use decimal commas, which the tidy format does not read; expected a decimal point (save "
        "the file with 307.0, not 307,0), or read it as the mapped format with a config whose [file] has "
        "decimal = \",\" (docs/input-formats.md)"]
    assert not (tmp_path / "out").exists()
    # '12,000' could be a thousands separator too: not called a decimal comma
    data.write_text(data.read_text().replace("300,0", "12,000"))
    assert main([command, str(data), "--regions", str(tmp_path / "regions.csv"), *out]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 2 and "decimal commas" in lines[1] and "'12,000' is not a number; expected" in lines[0]


def test_our_warnings_carry_no_from_suffix_when_run_as_a_module(tmp_path):
    """Run as ``python -m displacement_forecast.cli`` (the trial's and the review's way), the module's
    ``__name__`` is ``__main__`` and the package's own warnings ended "(from displacement_forecast)"
    (review 19: the hub's replaced-submission line). The package is told by its name now."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    (tmp_path / "b.csv").write_text("date,cum,daily\n2024-01-01,10,10\n2024-01-03,15,5\n2024-01-04,16,1\n")
    (tmp_path / "a.toml").write_text('series = "displaced"\nregion = "R1"\n[columns]\ndate = "date"\n'
                                     'value = "daily"\ncumulative = "cum"\n')
    (tmp_path / "reg.csv").write_text("code,name,parent,population\nR1,R1,,1000\n")
    r = subprocess.run([sys.executable, "-m", "displacement_forecast.cli", "panel", "--displacement",
                        str(tmp_path / "b.csv"), "--displacement-format", "mapped", "--displacement-config",
                        str(tmp_path / "a.toml"), "--regions", str(tmp_path / "reg.csv"), "--freq", "D",
                        "--out", str(tmp_path / "p.csv")], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(src)}, check=False)
    (line,) = [ln for ln in r.stderr.splitlines() if "equals the change of 'cum'" in ln]
    assert line.startswith("warning: ") and "(from " not in line, r.stderr
