"""Issue 17: every case of ../shared/cases/reliability/ (outside scen/ and the date-format ones) and
the 'outputs under stress' list, run through the CLI in-process.

Scenario-file cases (reliability/scen) are tested with the scenarios; the frequency / ISO-date
cases (o11a, o11c, o13, o13b) with the data layer.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reliability_helpers import run_problems, snapshot

from displacement_forecast.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CASES = SHARED / "cases" / "reliability"

pytestmark = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")

# The reliability cases were written against a driver model (a region without driver rows, no
# driver series at all...): nb-dl, fast. The default `auto` is tested on its own below.
FAST = ["--no-plots", "--draws", "60", "--horizon", "3", "--model", "nb-dl"]


def forecast(capsys, data, regions, out, *extra):
    fast = FAST if "--model-dir" not in extra else FAST[:-2]  # a saved fit is its model: --model is refused
    rc = main(["forecast", str(data), "--regions", str(regions), "--out", str(out), *fast, *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


def assert_complete_run(folder: Path, user_files: tuple[str, ...] = ()) -> dict:
    """The folder holds one run (see :func:`reliability_helpers.run_problems`); its sidecar."""
    assert run_problems(folder, user_files) == []
    return json.loads((folder / "forecast.json").read_text())


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """One good run on the base case (small_obs + small_regions), with the HXL and draws files."""
    out = tmp_path_factory.mktemp("base") / "out"
    rc = main(["forecast", str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"),
               "--out", str(out), *FAST, "--hxl", "--write-draws"])
    assert rc == 0
    return out


# ------------------------------------------------------------------------------------------
# obs/ and reg/ cases: one clear error each
# ------------------------------------------------------------------------------------------

ONE_ERROR = [
    ("obs/o01_all_zero_displaced.csv", "obs/regions.csv", ["every 'displaced' count is 0", "nothing to fit"]),
    # and what would work (README: 'with what would work'): no model runs on 3 weeks, each model's minimum said
    ("obs/o03_short3.csv", "obs/regions.csv", ["3 periods of history", "needs at least 8", "no model runs on 3 periods (auto, ",
                                               "last-value, ", "need at least 8; bayes-hierarchical at least 12): "
                                               "expected a longer history"]),
    ("obs/o10_displaced_only.csv", "obs/regions.csv", ["o10_displaced_only.csv", "strikes",
                                                       "model without drivers", "last-value"]),
    ("obs/o07_huge_1e12.csv", "obs/regions.csv", ["larger than any count", "expected at most 10,000,000,000"]),
    ("small_obs.csv", "reg/r05_pop_lt_displaced.csv", ["population 1,000", "r05_pop_lt_displaced.csv:2"]),
    ("small_obs.csv", "reg/r18_half_person.csv", ["r18_half_person.csv:2", "'population'", "whole number"]),
    ("small_obs.csv", "reg/r10_inf_pop.csv", ["r10_inf_pop.csv:2", "'population'", "not finite"]),
]


@pytest.mark.parametrize(("data", "regions", "expect"), ONE_ERROR, ids=[c[0].split("/")[-1] + "+" + c[1].split("/")[-1]
                                                                        for c in ONE_ERROR])
def test_case_is_one_clear_error(tmp_path, capsys, data, regions, expect):
    out = tmp_path / "out"
    rc, _, err = forecast(capsys, CASES / data, CASES / regions, out)
    assert rc == 2
    lines = errors(err)
    assert 1 <= len(lines) <= 3, err  # one line per problem (here: per region at most)
    for word in expect:
        assert word in lines[0], lines[0]
    assert not out.exists()


def test_default_model_forecasts_displacement_alone_and_says_scenarios_cannot_move_it(tmp_path, capsys):
    """o10 (no driver series) with the default `auto`: a driver-free forecast, said so in the sidecar."""
    out = tmp_path / "out"
    rc = main(["forecast", str(CASES / "obs/o10_displaced_only.csv"), "--regions", str(CASES / "obs/regions.csv"),
               "--out", str(out), "--no-plots", "--draws", "60", "--horizon", "3"])
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err, err
    sc = assert_complete_run(out)
    assert sc["model"]["name"] == "auto"
    assert "cannot move" in json.dumps(sc["diagnostics"])


def test_o28_every_problem_in_one_pass(tmp_path, capsys):
    rc, _, err = forecast(capsys, CASES / "obs/o28_bad_cells.csv", CASES / "obs/regions.csv", tmp_path / "o")
    assert rc == 2
    lines = errors(err)
    assert any(":2: column 'series'" in ln and "displacement" in ln for ln in lines), err
    assert any(":3: column 'region'" in ln and "=cmd" in ln for ln in lines), err
    assert any(":4: column 'value'" in ln and "+SUM" in ln for ln in lines), err


def test_population_below_fled_total_is_a_warning_naming_the_region_line(tmp_path, capsys):
    """No single count above the population, but their sum is (real flow data do this: PRMN
    Somalia): a forecast, with a warning naming the region table line, on screen and in the sidecar."""
    obs = pd.read_csv(CASES / "small_obs.csv")
    fled = obs[(obs.series == "displaced") & (obs.region == "NWS01")]["value"]
    reg = pd.read_csv(CASES / "small_regions.csv")
    reg.loc[reg.code == "NWS01", "population"] = int(fled.max()) + 1
    reg.to_csv(tmp_path / "r.csv", index=False)
    rc, _, err = forecast(capsys, CASES / "small_obs.csv", tmp_path / "r.csv", tmp_path / "o")
    assert rc == 0, err
    line = next(ln for ln in err.splitlines() if "r.csv:2" in ln)
    assert line.startswith("WARNING:") and "below the" in line and "NWS01" in line
    side = json.loads((tmp_path / "o" / "forecast.json").read_text())
    assert any("r.csv:2" in w for w in side["warnings"])


@pytest.mark.parametrize(("cell", "word"), [("0", "not a positive number"), ("-5", "not a positive number"), ("", "not a number"),
                                            ("nan", "not a number"), ("1e400", "expected a finite")])
def test_population_cells(tmp_path, cell, word):
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.data.schema import DataError

    p = tmp_path / "r.csv"
    p.write_text(f"code,name,parent,population\nA,a,P,{cell}\nB,b,P,100\n")
    with pytest.raises(DataError) as e:
        load_regions(p)
    assert e.value.problems[0].row == 2 and word in e.value.problems[0].message


def test_codes_differing_only_by_spaces_are_duplicates(tmp_path):
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.data.schema import DataError

    p = tmp_path / "r.csv"
    p.write_text('code,name,parent,population\nNWS01,a,P,100\n" NWS01 ",b,P,200\n')
    with pytest.raises(DataError) as e:
        load_regions(p)
    (prob,) = e.value.problems
    assert prob.row == 3 and prob.column == "code" and "first on line 2" in prob.message


def test_inf_in_values_is_an_error(tmp_path, capsys):
    text = (CASES / "small_obs.csv").read_text().splitlines()
    text[5] = ",".join(text[5].split(",")[:3] + ["inf", "x"])
    (tmp_path / "o.csv").write_text("\n".join(text) + "\n")
    rc, _, err = forecast(capsys, tmp_path / "o.csv", CASES / "small_regions.csv", tmp_path / "out")
    assert rc == 2 and "o.csv:6: column 'value': infinite value" in err


# ------------------------------------------------------------------------------------------
# regions the data cannot support; a trailing missing week
# ------------------------------------------------------------------------------------------

UNSUPPORTED = [
    ("obs/o21_region_no_strikes.csv", "obs/regions.csv", "NWS02", "no 'strikes' rows"),
    ("obs/o22_region_all_nan.csv", "obs/regions.csv", None, "no displacement counts"),
    ("small_obs.csv", "reg/r11_table_region_no_data.csv", "NWS99", "no data at all"),
]


@pytest.mark.parametrize(("data", "regions", "code", "why"), UNSUPPORTED, ids=["o21", "o22", "r11"])
def test_region_without_data_is_marked_not_made_up(tmp_path, capsys, data, regions, code, why):
    out = tmp_path / "out"
    rc, _, err = forecast(capsys, CASES / data, CASES / regions, out, "--hxl", "--hub", str(tmp_path / "hub"))
    assert rc == 0, err
    sc = assert_complete_run(out)
    left = sc["marks"]["regions_left_out"]
    assert len(left) == 1
    code = code or next(iter(left))
    assert left[code] .startswith(why.split(" (")[0])
    assert sc["reliable"] is False
    assert f"region {code} is not forecast" in err
    fc = pd.read_csv(out / "forecast.csv")
    assert code not in set(fc["region"])  # no made-up number for it
    # the mark travels: data package, HXL file, hub metadata
    pkg = json.loads((out / "datapackage.json").read_text())
    assert f"NOT FORECAST: {code}" in pkg["description"]
    hxl = pd.read_csv(out / "forecast_hxl.csv", skiprows=[1])
    assert hxl["note"].str.contains(f"NOT FORECAST: {code}").all()
    meta = next((tmp_path / "hub" / "model-metadata").glob("*.yml")).read_text()
    assert "reliable: false" in meta and code in meta


def test_o17_trailing_missing_week_is_stated_and_covered(tmp_path, capsys):
    out = tmp_path / "out"
    rc, _, err = forecast(capsys, CASES / "obs/o17_trailing_nan.csv", CASES / "obs/regions.csv", out)
    assert rc == 0
    assert ("no displacement counts for the last 1 period(s) (2020-01-20); the forecast starts after 2020-01-13 "
            "and covers them") in err
    sc = assert_complete_run(out)
    assert sc["marks"]["missing_last_periods"] == ["2020-01-20"]
    assert any("2020-01-20" in w for w in sc["warnings"])
    assert sc["forecast"]["origin_date"] == "2020-01-13"
    fc = pd.read_csv(out / "forecast.csv")
    assert fc.loc[fc.horizon == 1, "target_date"].unique().tolist() == ["2020-01-20"]
    assert set(fc["mark"]) == {"no displacement counts for 2020-01-20 (forecast covers them)"}


def test_a_gap_longer_than_the_horizon_is_not_said_to_be_covered(tmp_path, capsys):
    """12 months without displacement counts and --horizon 3: screen, sidecar and every mark cell
    said the forecast 'covers them'; it covers the first 3 and says what would reach the last."""
    obs = pd.read_csv(CASES / "obs/o17_trailing_nan.csv")
    gap = sorted(obs["date"].unique())[-5:]  # 5 weeks without a count, 3 forecast
    obs.loc[obs["date"].isin(gap) & (obs["series"] == "displaced"), "value"] = np.nan
    obs.to_csv(tmp_path / "obs.csv", index=False)
    out = tmp_path / "out"
    rc, _, err = forecast(capsys, tmp_path / "obs.csv", CASES / "obs/regions.csv", out)
    assert rc == 0
    said = (f"no displacement counts for the last 5 period(s) ({', '.join(gap)}); the forecast starts after "
            f"2019-12-16; its 3 period(s) cover only 3 of the 5 periods with no displacement count (to {gap[2]}); "
            f"use --horizon 5 or more to reach {gap[-1]}")
    assert f"WARNING: {said}" in err.splitlines() and "covers them" not in err
    sc = assert_complete_run(out)
    assert said in sc["warnings"] and sc["marks"]["missing_last_periods"] == gap
    fc = pd.read_csv(out / "forecast.csv")
    assert set(fc["mark"]) == {f"no displacement counts for {', '.join(gap)} (the forecast's 3 period(s) cover "
                               f"only 3 of them, to {gap[2]})"}


def test_a_suggested_horizon_above_the_cap_says_the_max_horizon_it_needs(tmp_path, capsys):
    """'use --horizon 5 or more' when the cap in force was 4: --horizon 5 was then refused ('above
    the cap ... raise the cap with --max-horizon'); the hint now names the --max-horizon too."""
    obs = pd.read_csv(CASES / "obs/o17_trailing_nan.csv")
    gap = sorted(obs["date"].unique())[-5:]
    obs.loc[obs["date"].isin(gap) & (obs["series"] == "displaced"), "value"] = np.nan
    obs.to_csv(tmp_path / "obs.csv", index=False)
    rc, _, err = forecast(capsys, tmp_path / "obs.csv", CASES / "obs/regions.csv", tmp_path / "out",
                          "--max-horizon", "4")
    assert rc == 0
    assert f"use --horizon 5 or more with --max-horizon 5 to reach {gap[-1]}" in err, err
    rc, _, err = forecast(capsys, tmp_path / "obs.csv", CASES / "obs/regions.csv", tmp_path / "out2",
                          "--max-horizon", "5")
    assert rc == 0 and f"use --horizon 5 or more to reach {gap[-1]}" in err, err  # within the cap: as before
    from displacement_forecast.forecast.marks import missing_periods_note

    assert missing_periods_note(gap, "2019-12-16", 3, cap=4).endswith(
        f"use --horizon 5 or more with --max-horizon 5 to reach {gap[-1]}")


def test_a_fit_says_what_horizon_covers_the_periods_without_counts():
    from displacement_forecast.forecast.marks import missing_periods_note

    gap = ["2023-01-01", "2023-02-01"]
    assert missing_periods_note(gap, "2022-12-01", None) == (
        "the fit ends at 2022-12-01: a forecast from it starts after that date and covers them with --horizon 2 "
        "or more")
    assert missing_periods_note(gap, "2022-12-01", 2) == "the forecast starts after 2022-12-01 and covers them"


# ------------------------------------------------------------------------------------------
# outputs under stress
# ------------------------------------------------------------------------------------------

def run_small(capsys, out, *extra):
    return forecast(capsys, CASES / "small_obs.csv", CASES / "small_regions.csv", out, *extra)


@pytest.mark.parametrize(("extra", "words"), [
    (["--seed", "-1"], ["--seed", "-1 is not a valid seed"]),
    (["--thresholds", "nan,-5,inf"], ["'nan'", "'-5'", "'inf'"]),
    (["--thresholds", "10,10"], ["given twice"]),
    (["--horizon", "100"], ["--horizon", "cap of 82", "--max-horizon"]),
    (["--horizon", "10000"], ["--horizon", "cap of 520", "--max-horizon cannot raise"]),
    (["--horizon", "10000", "--max-horizon", "10000"], ["cap of 520"]),
    (["--horizon", "0"], ["at least 1"]),
    (["--max-horizon", "0"], ["--max-horizon", "0: expected at least 1"]),  # named --horizon's cap before
    (["--draws", "0"], ["at least 20"]),
    (["--draws", "1000000000"], ["expected at most"]),
])
def test_bad_options_are_one_line_each(tmp_path, capsys, extra, words):
    rc, _, err = run_small(capsys, tmp_path / "out", *extra)
    assert rc == 2
    text = "\n".join(errors(err))
    for w in words:
        assert w in text, text
    assert not (tmp_path / "out").exists()


def test_out_where_nothing_can_be_written_is_one_line_naming_out(tmp_path, capsys):
    """--out in a folder where no file can be created (/proc; root ignores permissions, so a
    read-only folder cannot stand in) named the lock file beside it ('/proc/.x.lock: No such file or
    directory'); it is one line naming --out, exit 2."""
    if not Path("/proc/self").exists():
        pytest.skip("needs Linux's /proc")
    out = Path("/proc") / "displacement-forecast-out"
    rc, _, err = run_small(capsys, out)
    lines = errors(err)
    assert rc == 2 and len(lines) == 1 and str(out) in lines[0] and "cannot write here" in lines[0], err
    assert ".lock" not in err


def test_out_is_a_file_or_empty(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep me")
    rc, _, err = run_small(capsys, f)
    assert rc == 2 and "is a file" in err and f.read_text() == "keep me"
    rc, _, err = run_small(capsys, "")
    assert rc == 2 and "--out" in err and "empty path" in err
    rc, _, err = run_small(capsys, f / "sub")
    assert rc == 2 and "is a file" in err


def test_out_read_only(tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == ro else real(p, mode, **k))
    rc, _, err = run_small(capsys, ro / "out")
    assert rc == 2 and "read-only" in err
    assert list(ro.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_read_only_for_real(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = run_small(capsys, ro / "out")
    finally:
        ro.chmod(0o755)
    assert rc == 2 and "read-only" in err


def test_out_holding_other_files_is_refused(tmp_path, capsys):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "thesis.docx").write_text("years of work")
    rc, _, err = run_small(capsys, d)
    assert rc == 2 and "no earlier run" in err and snapshot(d) == {"thesis.docx": hashlib.sha256(b"years of work").hexdigest()}


#: Fast arguments per command that writes a folder (last-value: no fitting to wait for).
QUICK = {"forecast": ["--model", "last-value", "--no-plots", "--draws", "40", "--horizon", "2"],
         "fit": ["--model", "last-value"],
         "backtest": ["--models", "last-value", "--horizon", "1", "--draws", "40", "--no-plots", "--no-progress"]}
HOLDS = {"forecast": "holds a forecast (forecast.json)", "fit": "holds a saved fit (model.json)",
         "backtest": "holds a backtest (backtest.json)"}


def run_quick(capsys, command, out, *extra):
    rc = main([command, str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"),
               "--out", str(out), *QUICK[command], *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.err


@pytest.fixture(scope="module")
def one_of_each(tmp_path_factory):
    """A folder written by each command that writes one: kind -> folder."""
    root = tmp_path_factory.mktemp("kinds")
    for command in QUICK:
        assert main([command, str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"),
                     "--out", str(root / command), *QUICK[command]]) == 0
    return {command: root / command for command in QUICK}


@pytest.mark.parametrize(("command", "held"), [(c, h) for c in QUICK for h in QUICK if c != h])
def test_out_holding_another_commands_run_is_refused(tmp_path, capsys, one_of_each, command, held):
    """`forecast --out <a saved fit>` (or a backtest), `fit --out <a forecast>`...: was exit 0 with
    the earlier files deleted; one line saying what the folder holds, nothing touched."""
    out = tmp_path / "out"
    shutil.copytree(one_of_each[held], out)
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    rc, err = run_quick(capsys, command, out)
    (line,) = errors(err)
    assert rc == 2 and HOLDS[held] in line and str(out) in line and "choose another --out" in line
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("command", list(QUICK))
def test_out_holding_the_same_commands_run_is_replaced(tmp_path, capsys, one_of_each, command):
    out = tmp_path / "out"
    shutil.copytree(one_of_each[command], out)
    (out / "notes.txt").write_text("mine")
    rc, _ = run_quick(capsys, command, out)
    assert rc == 0 and (out / "notes.txt").read_text() == "mine"
    assert set(snapshot(out)) == set(snapshot(one_of_each[command])) | {"notes.txt"}


def test_a_hub_and_a_run_folder_are_never_mixed(tmp_path, capsys, one_of_each):
    """A hub is updated, not replaced, but never inside a saved fit (or a forecast, a backtest);
    nor is a hub replaced by a forecast folder."""
    fit = tmp_path / "fit"
    shutil.copytree(one_of_each["fit"], fit)
    before = snapshot(fit)
    rc = main(["export-hub", str(one_of_each["forecast"]), "--hub", str(fit)])
    (line,) = errors(capsys.readouterr().err)
    assert rc == 2 and "holds a saved fit (model.json); expected a hub folder" in line and "--hub" in line
    assert snapshot(fit) == before
    hub = tmp_path / "hub"
    assert main(["export-hub", str(one_of_each["forecast"]), "--hub", str(hub)]) == 0

    def tree() -> dict[str, bytes]:
        return {str(p.relative_to(hub)): p.read_bytes() for p in sorted(hub.rglob("*")) if p.is_file()}

    before = tree()
    rc, err = run_quick(capsys, "forecast", hub)
    (line,) = errors(err)
    assert rc == 2 and "holds a hubverse hub (hub-config); expected a forecast folder" in line
    assert tree() == before


def test_staged_folder_refuses_to_swap_in_a_run_of_another_kind(tmp_path):
    """Without ``kind`` (a caller that forgot it), what the run wrote is checked before the swap."""
    import displacement_forecast.forecast.staging as st
    from displacement_forecast.data.schema import DataError

    out = tmp_path / "out"
    out.mkdir()
    (out / "model.json").write_text("{}")
    with pytest.raises(DataError, match=r"holds a saved fit \(model.json\); expected a forecast folder"):
        with st.staged_folder(out) as stage:
            (stage / "forecast.json").write_text("{}")
    assert snapshot(out) == {"model.json": hashlib.sha256(b"{}").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_second_run_drops_the_first_runs_extra_files(tmp_path, capsys, base_run):
    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    (out / "notes.txt").write_text("mine")
    assert {"draws.parquet", "forecast_hxl.csv"} <= set(snapshot(out))
    rc, _, _ = run_small(capsys, out, "--seed", "3")
    assert rc == 0
    names = set(snapshot(out))
    assert "draws.parquet" not in names and "forecast_hxl.csv" not in names
    assert (out / "notes.txt").read_text() == "mine"  # the user's own file is kept
    assert assert_complete_run(out, ("notes.txt",))["forecast"]["seed"] == 3
    assert not list(tmp_path.glob(".out.staging-*")) and not list(tmp_path.glob(".out.old-*"))


def test_disk_full_leaves_the_folder_as_it_was(tmp_path, capsys, base_run, monkeypatch):
    import displacement_forecast.forecast.writers as run_mod  # the data package is written last

    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    before = snapshot(out)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "datapackage.json"))

    monkeypatch.setattr(run_mod, "write_datapackage", full)
    rc, _, err = run_small(capsys, out)
    assert rc == 2
    assert "No space left on device" in err and "free some space" in err
    assert f"{out} left as it was" in err
    assert snapshot(out) == before


def test_interrupt_while_writing_says_what_is_on_disk(tmp_path, capsys, base_run, monkeypatch):
    import displacement_forecast.forecast.writers as run_mod  # the data package is written last

    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    before = snapshot(out)

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "write_datapackage", stop)
    rc, _, err = run_small(capsys, out)
    assert rc == 130
    assert f"interrupted; {out} left as it was (nothing written)" in err
    assert snapshot(out) == before


def test_interrupt_before_writing(tmp_path, capsys, monkeypatch):
    import displacement_forecast.forecast.run as run_mod

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "run_forecast", stop)
    rc, _, err = run_small(capsys, tmp_path / "out")
    assert rc == 130 and "interrupted; nothing written" in err and not (tmp_path / "out").exists()


def test_a_locked_folder_is_refused(tmp_path, capsys, base_run):
    from displacement_forecast.forecast.staging import folder_lock

    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    before = snapshot(out)
    with folder_lock(out):
        rc, _, err = run_small(capsys, out)
    assert rc == 2
    (line,) = errors(err)
    assert "another run is writing this folder" in line
    assert snapshot(out) == before


@pytest.mark.parametrize("command", ["forecast", "fit", "backtest"])
def test_a_locked_folder_is_refused_before_the_data_are_read(tmp_path, capsys, monkeypatch, command):
    """The lock is taken when the run starts, not when it writes: a second run is refused before it
    reads (let alone fits) anything, for every command that writes a folder."""
    import displacement_forecast._cli.backtest_command as bt
    import displacement_forecast._cli.fit_command as ft
    import displacement_forecast._cli.forecast_command as fc
    from displacement_forecast.forecast.staging import folder_lock

    def no(*a, **k):
        raise AssertionError("the data were read although the output folder is locked")

    for mod in (fc, ft, bt):
        monkeypatch.setattr(mod, "load_data", no)
    out = tmp_path / "out"
    args = {"forecast": ["--model", "last-value"], "fit": ["--model", "last-value"],
            "backtest": ["--models", "last-value", "--horizon", "1"]}[command]
    with folder_lock(out.resolve()):
        rc = main([command, str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"),
                   "--out", str(out), *args])
    (line,) = errors(capsys.readouterr().err)
    assert rc == 2 and "another run is writing this folder" in line and not out.exists()


def test_two_runs_into_one_folder_the_second_is_refused_at_once(tmp_path, capsys):
    """Two real runs: the first (another process) is stopped right after it starts fitting; the
    second is refused with one line (exit 2) without fitting; the first then completes."""
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    data = root / "data" / "synthetic_nw_syria" / "observations.csv"
    out = tmp_path / "out"
    cmd = ["forecast", str(data), "--model", "last-value", "--horizon", "2", "--draws", "50", "--no-plots"]
    first = subprocess.Popen([sys.executable, "-m", "displacement_forecast", *cmd, "--out", str(out)],
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                             env={**os.environ, "PYTHONPATH": str(root / "src")})
    try:
        line = first.stderr.readline()  # printed after the lock is taken, before the fit
        while line and not line.startswith("fitting"):
            line = first.stderr.readline()
        assert line.startswith("fitting"), "the first run ended before fitting"
        first.send_signal(signal.SIGSTOP)
        rc = main([*cmd, "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and "fitting" not in err
        (msg,) = errors(err)
        assert "another run is writing this folder now" in msg
    finally:
        first.send_signal(signal.SIGCONT)
        first.stderr.read()
        assert first.wait(timeout=300) == 0
    assert (out / "forecast.csv").exists()
    assert main([*cmd, "--out", str(out)]) == 0  # the lock went with the first run


def test_stale_staging_of_a_killed_run_is_cleaned(tmp_path, capsys, base_run):
    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    (tmp_path / ".out.staging-abc").mkdir()
    (tmp_path / ".out.staging-abc" / "forecast.csv").write_text("half")
    rc, _, _ = run_small(capsys, out)
    assert rc == 0 and not (tmp_path / ".out.staging-abc").exists()


def test_killed_between_two_renames_is_recovered(tmp_path):
    """The fallback swap (no renameat2): an old folder left under .old is put back."""
    from displacement_forecast.forecast.staging import recover

    out = tmp_path / "out"
    old = tmp_path / ".out.old-123"
    old.mkdir()
    (old / "forecast.json").write_text("{}")
    recover(out)
    assert (out / "forecast.json").exists() and not old.exists()


def test_fallback_swap_without_exchange(tmp_path, monkeypatch):
    import displacement_forecast.forecast.staging as st

    monkeypatch.setattr(st, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "forecast.json").write_text("old")
    with st.staged_folder(out) as stage:
        (stage / "forecast.json").write_text("new")
    assert (out / "forecast.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock file left either


def test_hub_error_leaves_both_folders_as_they_were(tmp_path, capsys, base_run):
    out, hub = tmp_path / "out", tmp_path / "hub"
    shutil.copytree(base_run, out)
    before = snapshot(out)
    rc, _, err = run_small(capsys, out, "--hub", str(hub), "--team", "a-team-name-that-is-far-too-long")
    assert rc == 2 and errors(err)
    assert snapshot(out) == before
    assert not hub.exists() or not list(hub.rglob("*.csv"))


def test_model_json_missing_keys(tmp_path, capsys):
    d = tmp_path / "fit"
    d.mkdir()
    (d / "model.json").write_text(json.dumps({"model": "bayes-hierarchical", "format_version": 1}))
    (d / "posterior.nc").write_bytes(b"")
    rc, _, err = run_small(capsys, tmp_path / "out", "--model-dir", str(d))
    assert rc == 2
    (line,) = errors(err)
    assert "model.json" in line and "key config:" in line and "missing key" in line


# ------------------------------------------------------------------------------------------
# unreliable fits: exit 3 unless --allow-unreliable; every output carries the mark
# ------------------------------------------------------------------------------------------

@pytest.fixture
def unreliable_nbdl(monkeypatch):
    """nb-dl whose fit reports a failed gate (a stand-in for a Bayesian fit that failed its gate)."""
    from displacement_forecast.models.glm import NBDistributedLag

    real = NBDistributedLag._fit

    def _fit(self, panel):
        real(self, panel)
        self.info_.reliable = False
        self.info_.warnings.append("bulk ESS 6.1 < 400 (at decay): too few effective draws")

    monkeypatch.setattr(NBDistributedLag, "_fit", _fit)


def test_unreliable_fit_exits_3_and_every_output_is_marked(tmp_path, capsys, unreliable_nbdl):
    out, hub = tmp_path / "out", tmp_path / "hub"
    rc, stdout, err = run_small(capsys, out, "--hxl", "--hub", str(hub))
    assert rc == 3
    assert "UNRELIABLE" in err and "--allow-unreliable" in errors(err)[-1]
    sc = assert_complete_run(out)
    assert sc["reliable"] is False and sc["marks"]["fit_failed_gate"] is True
    assert "UNRELIABLE FIT" in json.loads((out / "datapackage.json").read_text())["description"]
    hxl = pd.read_csv(out / "forecast_hxl.csv", skiprows=[1])
    assert hxl["note"].str.startswith("UNRELIABLE FIT").all()
    meta = next((hub / "model-metadata").glob("*.yml")).read_text()
    assert "reliable: false" in meta and "ESS 6.1" in meta and "UNRELIABLE FIT" in meta
    rc, _, _ = run_small(capsys, tmp_path / "out2", "--allow-unreliable")
    assert rc == 0


def test_caption_carries_the_mark():
    from displacement_forecast.forecast.marks import apply_marks
    from displacement_forecast.forecast.run import caption

    sc = {"data": {"files": ["x.csv"], "last_period": "2020-01-06", "vintage": {"displaced": "2020-01-06"}},
          "model": {"name": "nb-dl"}, "software": {"version": "0"}, "forecast": {"n_draws": 10, "seed": 0},
          "uncertainty_included": ["process (noise)"], "warnings": [], "reliable": True}
    apply_marks(sc, fit_reliable=True, regions_left_out={"NWS99": "no data at all"},
                warnings=["region NWS99 is not forecast (no data at all); totals (ALL) leave it out"])
    assert "UNRELIABLE" in caption(sc) and "NWS99" in caption(sc)


def test_fit_gate_failure_exits_3_unless_allowed(tmp_path, capsys, monkeypatch):
    """`fit` on the tiny case with a stand-in sampler whose gate fails: saved, marked, exit 3."""
    import displacement_forecast.models.bayes as bayes

    class Tiny(bayes.BayesHierarchical):
        def fit(self, obs, regions, **kw):
            from displacement_forecast.models.base import FitInfo, Panel

            self.panel_ = Panel.from_observations(obs, regions)
            self.info_ = FitInfo(model=self.name, reliable=False, warnings=["R-hat 1.3 > 1.01"])
            return self

        def save(self, d):
            (Path(d) / "model.json").write_text("{}")
            (Path(d) / "posterior.nc").write_bytes(b"")

        def summary(self):
            return "tiny"

    monkeypatch.setattr(bayes, "BayesHierarchical", Tiny)
    args = ["fit", str(CASES / "bayes/tiny_obs.csv"), "--regions", str(CASES / "bayes/regions.csv"),
            "--model", "bayes-hierarchical"]
    assert main([*args, "--out", str(tmp_path / "f")]) == 3
    err = capsys.readouterr().err
    assert "FAILED its diagnostics gate" in err and "--allow-unreliable" in err
    diag = json.loads((tmp_path / "f" / "diagnostics.json").read_text())
    assert diag["reliable"] is False
    assert main([*args, "--out", str(tmp_path / "g"), "--allow-unreliable"]) == 0
    assert main([*args, "--out", str(tmp_path / "f"), "--seed", "-1"]) == 2


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    """A real, tiny Bayesian fit on the bayes case minus its last two weeks (fails its gate)."""
    d = tmp_path_factory.mktemp("bayes")
    obs = pd.read_csv(CASES / "bayes/tiny_obs.csv")
    last = sorted(obs["date"].unique())[-2:]
    obs[~obs["date"].isin(last)].to_csv(d / "early.csv", index=False)
    rc = main(["fit", str(d / "early.csv"), "--regions", str(CASES / "bayes/regions.csv"), "--out", str(d / "fit"),
               "--model", "bayes-hierarchical", "--draws", "30", "--tune", "30", "--chains", "1", "--no-progress"])
    return d, rc, last


@pytest.mark.slow
def test_bayes_case_fit_and_forecast_carry_the_mark(tmp_path, capsys, tiny_fit):
    d, rc, last = tiny_fit
    assert rc == 3  # the tiny case fails its gate
    out, hub = tmp_path / "out", tmp_path / "hub"
    rc, _, err = forecast(capsys, CASES / "bayes/tiny_obs.csv", CASES / "bayes/regions.csv", out,
                          "--model-dir", str(d / "fit"), "--hxl", "--hub", str(hub))
    assert rc == 3, err
    sc = assert_complete_run(out)
    assert sc["reliable"] is False and sc["marks"]["fit_failed_gate"]
    # --model-dir with data: conditioned on the new rows, recorded
    assert sc["model_dir"]["new_periods"] == 2 and sc["model_dir"]["posterior_refitted"] is False
    assert sc["forecast"]["origin_date"] == last[-1]
    assert pd.read_csv(out / "forecast_hxl.csv", skiprows=[1])["note"].str.contains("UNRELIABLE").all()
    assert pd.read_csv(out / "forecast.csv")["mark"].str.contains("UNRELIABLE").all()
    assert "reliable: false" in (hub / "model-metadata" / "dfcast-bayes_hier.yml").read_text()
    rc, _, err = forecast(capsys, d / "early.csv", CASES / "bayes/regions.csv", tmp_path / "o2",
                          "--model-dir", str(d / "fit"), "--allow-unreliable")
    assert rc == 0
    early = pd.read_csv(d / "early.csv")
    early[early["date"] < sorted(early["date"].unique())[-1]].to_csv(tmp_path / "stale.csv", index=False)
    rc, _, err = forecast(capsys, tmp_path / "stale.csv", CASES / "bayes/regions.csv", tmp_path / "o3",
                          "--model-dir", str(d / "fit"))
    assert rc == 2 and "before the saved fit's last period" in err


def test_a_folder_named_like_an_output_does_not_break_the_run(tmp_path, capsys, base_run):
    """An earlier folder holding a *directory* called datapackage.json: the new run replaces it."""
    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    (out / "datapackage.json").unlink()
    (out / "datapackage.json").mkdir()
    rc, _, err = run_small(capsys, out)
    assert rc == 0, err
    assert_complete_run(out)


def test_export_hub_is_all_or_nothing(tmp_path, capsys, base_run):
    hub = tmp_path / "hub"
    assert main(["export-hub", str(base_run), "--hub", str(hub)]) == 0
    before = {p.relative_to(hub): p.read_bytes() for p in hub.rglob("*") if p.is_file()}
    assert main(["export-hub", str(base_run), "--hub", str(hub), "--team", "bad-team"]) == 2
    after = {p.relative_to(hub): p.read_bytes() for p in hub.rglob("*") if p.is_file()}
    assert after == before
    assert not list(tmp_path.glob(".hub.staging-*"))
    assert "wrote " + str(hub) in capsys.readouterr().out


def test_backtest_coverage_mark_text():
    from displacement_forecast.forecast.marks import apply_marks, mark_text

    sc = {"warnings": [], "reliable": True, "intervals_calibrated_in_backtest": False}
    apply_marks(sc, fit_reliable=True, missing_last_periods=["2020-01-20"])
    assert sc["reliable"] is True and sc["marks"]["bands_did_not_cover_in_backtest"] is True
    text = mark_text(sc)
    assert "CAUTION: intervals did not cover" in text and "2020-01-20" in text and "UNRELIABLE" not in text


def test_cumulative_backtest_coverage_has_its_own_mark():
    """Sums from the first period that did not cover: their own mark and phrase; each period's
    flag, `reliable` and a sidecar written before the field existed are left as they were."""
    from displacement_forecast.forecast.marks import apply_marks, mark_text

    sc = {"warnings": [], "reliable": True, "intervals_calibrated_in_backtest": True,
          "cumulative_intervals_calibrated_in_backtest": False}
    apply_marks(sc, fit_reliable=True)
    assert sc["reliable"] is True and sc["marks"]["cumulative_bands_did_not_cover_in_backtest"] is True
    assert sc["marks"]["bands_did_not_cover_in_backtest"] is False
    assert mark_text(sc) == "CAUTION: cumulative intervals (cum_new_displaced) did not cover as stated in backtests"
    old = apply_marks({"warnings": [], "reliable": True, "intervals_calibrated_in_backtest": False}, fit_reliable=True)
    assert old["marks"]["cumulative_bands_did_not_cover_in_backtest"] is False and "cumulative" not in mark_text(old)


def test_thresholds_written_with_a_thousands_separator_are_one_clear_error(tmp_path, capsys):
    """`--thresholds 250,000` used to be read as 250 and 0."""
    rc, _, err = run_small(capsys, tmp_path / "out", "--thresholds", "250,000")
    assert rc == 2 and not (tmp_path / "out").exists()
    (line,) = errors(err)
    assert "'000'" in line and "thousands separator" in line and "250000" in line


def test_probabilities_near_0_and_1_are_not_rounded_to_certainty():
    from displacement_forecast.brief import fmt_prob

    assert fmt_prob(0.005, 1000) == "less than 1%" and fmt_prob(0.995, 1000) == "more than 99%"
    assert fmt_prob(0.0, 1000) == "less than 0.1%" and fmt_prob(0.5, 1000) == "50%"


def test_a_region_with_old_counts_only_is_said_on_screen_and_marked(tmp_path, capsys):
    """Real NW Syria panel: Hama's last displacement count is January 2019 (10 months before). It was
    said on screen only, the run ``reliable: true`` with no mark (trial 19: Syria's Quneitra, 7 months
    old), where a driver's counts stopped as long ago mark the run; the same rule now: the mark
    ``target_counts_stopped`` in the sidecar, ``reliable`` false, the ``mark`` column on every row."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "out"
    rc = main(["forecast", str(root / "data/nw_syria/panel.csv"), "--regions", str(root / "data/nw_syria/regions.csv"),
               "--origin", "2019-11-01", "--horizon", "2", "--draws", "60", "--no-plots", "--model", "last-value",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "region Hama: its last displacement count is 2019-01-01, 10 months before the last month" in err
    side = json.loads((out / "forecast.json").read_text())
    assert any(w.startswith("region Hama: its last displacement count") for w in side["warnings"])
    why = "its last displacement count is 2019-01-01, 10 months before the last month"
    assert side["marks"]["target_counts_stopped"].get("Hama") == why and side["reliable"] is False
    assert side["marks"]["driver_counts_stopped"] == {}  # last-value uses no driver
    mark = pd.read_csv(out / "forecast.csv")["mark"]
    assert mark.str.contains(f"OLD DISPLACEMENT COUNTS: Hama ({why})", regex=False).all(), mark.iloc[0]
    assert "OLD DISPLACEMENT COUNTS: Hama" in err  # the UNRELIABLE banner


def test_old_counts_are_marked_by_the_library_as_on_the_command_line():
    """``run_forecast`` (the README's "In Python" route, every notebook) never set
    ``target_counts_stopped``: the NW Syria panel from 2019-11-01 was ``reliable: true`` there and
    UNRELIABLE on the command line (review 19). ``build_sidecar`` now applies the one rule."""
    from displacement_forecast.data import load_regions, read_observations
    from displacement_forecast.forecast.run import run_forecast

    root = Path(__file__).resolve().parents[1]
    regions = load_regions(root / "data/nw_syria/regions.csv")
    obs = read_observations(root / "data/nw_syria/panel.csv", region_codes=regions.codes)
    obs = obs[obs["date"] <= "2019-11-01"]
    run = run_forecast(obs, regions, model="last-value", horizon=2, seed=1, n_draws=50)
    assert run.sidecar["reliable"] is False
    assert run.sidecar["marks"]["target_counts_stopped"] == {
        "Hama": "its last displacement count is 2019-01-01, 10 months before the last month",
        "Lattakia": "its last displacement count is 2019-07-01, 4 months before the last month"}
    assert any(w.startswith("region Hama: its last displacement count") for w in run.sidecar["warnings"])


@pytest.mark.parametrize(("freq", "start", "behind", "marked", "unit"),
                         [("D", "2022-01-01", 4, False, "day"), ("D", "2022-01-01", 15, True, "day"),
                          ("D", "2022-01-01", 14, False, "day"), ("W", "2022-01-03", 4, True, "week"),
                          ("W", "2022-01-03", 3, False, "week"), ("M", "2022-01-01", 4, True, "month")])
def test_how_old_a_count_may_be_depends_on_the_frequency(freq, start, behind, marked, unit):
    """"More than 3 periods" for every frequency marked daily counts 4 days old (agency daily tables
    routinely lag a few days; review 19's Ukraine panel) and said "periods": the limit is now 14
    days, 3 weeks or 3 months (``conventions.STALE_AFTER``), and the message names the unit."""
    import numpy as np

    from displacement_forecast.conventions import GRID_FREQ
    from displacement_forecast.data.regions import RegionTable
    from displacement_forecast.forecast.marks import stopped_counts
    from displacement_forecast.models.panel import Panel

    dates = pd.date_range(start, periods=40, freq=GRID_FREQ[freq])
    x = np.ones((2, 40))
    x[1, 40 - behind:] = np.nan
    regions = RegionTable(pd.DataFrame({"code": ["A", "B"], "name": ["A", "B"], "population": [1e6, 1e6]}))
    got = stopped_counts(Panel(dates, regions, freq, {"displaced": x}), ["displaced"])
    if not marked:
        assert got == {}
        return
    last = dates[39 - behind].date()
    assert got == {"B": f"its last displacement count is {last}, {behind} {unit}s before the last {unit}"}


def test_validate_applies_the_population_rule_of_forecast(capsys, tmp_path):
    """`validate --regions` said ok where `forecast` then refused: one rule for both now (counts x100,
    above the populations but below schema.MAX_COUNT; o07's 1e12 counts are that cap's error)."""
    obs = pd.read_csv(CASES / "small_obs.csv")
    obs.loc[obs.series == "displaced", "value"] *= 100
    obs.to_csv(tmp_path / "x100.csv", index=False)
    rc = main(["validate", str(tmp_path / "x100.csv"), "--regions", str(CASES / "small_regions.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = errors(err)
    assert all("'displaced' counts for NWS0" in ln and "exceed its population" in ln for ln in lines) and len(lines) == 2
    assert "the largest 9,242,800 on 2020-01-13 (line 574); expected at most the population" in lines[0], lines[0]


@pytest.mark.parametrize("cell", ["1e308", "2e10"])
def test_a_count_above_the_cap_is_that_error_with_a_region_table_too(capsys, tmp_path, cell):
    """A 1e308 displacement cell with --regions was a population error printed as 309 digits, without
    its line; without --regions, the documented one line. The cap (schema.MAX_COUNT) is checked first."""
    rows = (CASES / "small_obs.csv").read_text().splitlines()
    k = next(i for i, ln in enumerate(rows) if ln.startswith("2018-08-06,NWS01,displaced,"))
    cells = rows[k].split(",")
    rows[k] = ",".join([*cells[:3], cell, *cells[4:]])
    (tmp_path / "huge.csv").write_text("\n".join(rows) + "\n")
    shown = f"{float(cell):g}"
    for extra in (["--regions", str(CASES / "small_regions.csv")], []):
        assert main(["validate", str(tmp_path / "huge.csv"), *extra]) == 2
        assert errors(capsys.readouterr().err) == [
            f"error: {tmp_path / 'huge.csv'}:{k + 1}: column 'value': {shown} is larger than any count; expected at "
            "most 10,000,000,000 (more than the world's population)"]


def test_one_count_above_the_population_names_its_line(capsys, tmp_path):
    """The README's rule, "one row keeps its own line": the population error of one row names it."""
    rows = (CASES / "small_obs.csv").read_text().splitlines()
    k = next(i for i, ln in enumerate(rows) if ln.startswith("2018-08-06,NWS01,displaced,"))
    cells = rows[k].split(",")
    rows[k] = ",".join([*cells[:3], "500000", *cells[4:]])
    (tmp_path / "one.csv").write_text("\n".join(rows) + "\n")
    table = CASES / "small_regions.csv"
    expected = [f"error: {tmp_path / 'one.csv'}:{k + 1}: column 'value': 'displaced' count 500,000 for NWS01 on "
                f"2018-08-06 exceeds its population 420,000 ({table}:2); expected at most the population"]
    assert main(["validate", str(tmp_path / "one.csv"), "--regions", str(table)]) == 2
    assert errors(capsys.readouterr().err) == expected
    rc, _, err = forecast(capsys, tmp_path / "one.csv", table, tmp_path / "out")
    assert rc == 2 and errors(err) == expected and not (tmp_path / "out").exists()


def test_validate_names_table_regions_without_rows_as_forecast_will(capsys, tmp_path):
    """r11: validate said `ok` for a table region with no rows; only forecast later said it is not
    forecast. Now a warning (not an error: a file may cover part of the table) on validate too."""
    obs, table = CASES / "small_obs.csv", CASES / "reg/r11_table_region_no_data.csv"
    assert main(["validate", str(obs), "--regions", str(table)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {obs}: 738 rows")
    assert err.splitlines() == [f"WARNING: region NWS99 ({table}:5) has no rows in {obs}: it is not forecast "
                                "(no data at all); totals (ALL) leave it out"]
    more = tmp_path / "regions.csv"
    more.write_text(table.read_text() + "NWS98,Other,Central Idlib,1000\n")
    assert main(["validate", str(obs), "--regions", str(more)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"WARNING: 2 regions, NWS99 ({more}:5), NWS98 ({more}:6), have no rows in {obs}: they are not forecast "
        "(no data at all); totals (ALL) leave them out"]
    assert main(["validate", str(obs), "--regions", str(CASES / "small_regions.csv")]) == 0
    assert capsys.readouterr().err == ""  # every region has rows: no warning


def _small_obs_variant(tmp_path: Path, name: str, change) -> Path:
    """small_obs.csv with ``change(frame)`` applied, written to ``tmp_path / name``."""
    obs = pd.read_csv(CASES / "small_obs.csv")
    change(obs)
    obs.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def test_a_history_too_short_for_the_model_names_the_models_that_run_on_it(tmp_path, capsys):
    """10 weeks: bayes-hierarchical (its weekly driver lags) needs 12; the error names the models
    that fit on 10, by the rule forecast applies to each, so each of them runs."""
    short = _small_obs_variant(tmp_path, "short.csv", lambda o: o.drop(
        o.index[o.date < sorted(o.date.unique())[-10]], inplace=True))
    rc, _, err = forecast(capsys, short, CASES / "small_regions.csv", tmp_path / "out", "--model", "bayes-hierarchical")
    assert rc == 2 and not (tmp_path / "out").exists()
    (line,) = errors(err)
    assert line.startswith(f"error: {short}: column 'date': 10 periods of history; model 'bayes-hierarchical' needs "
                           "at least 12; models that run on 10 periods: auto, "), line
    runs = line.split("models that run on 10 periods: ")[1].removesuffix(" (--model NAME)").split(", ")
    assert {"last-value", "nb-dl"} <= set(runs) and "bayes-hierarchical" not in runs
    rc, _, err = forecast(capsys, short, CASES / "small_regions.csv", tmp_path / "out", "--model", "last-value")
    assert rc == 0, err


def _all_empty(obs: pd.DataFrame) -> None:
    obs.loc[obs.series == "displaced", "value"] = np.nan


def test_validate_warns_of_what_forecast_will_refuse_or_leave_out(capsys, tmp_path):
    """validate said `ok`, and nothing else, for files forecast then refused (o01 all zero, o03 three
    weeks, one period, every displacement value empty) or forecast without a region and marked
    unreliable (o22: NWS07's displacement all empty). Well-formed files: warnings, exit 0."""
    table = CASES / "obs/regions.csv"
    one = _small_obs_variant(tmp_path, "one.csv", lambda o: o.drop(o.index[o.date != o.date.max()], inplace=True))
    empty = _small_obs_variant(tmp_path, "empty.csv", _all_empty)
    cases = [
        (CASES / "obs/o22_region_all_nan.csv", [
            f"region NWS07 ({table}:4): its 82 'displaced' values are all empty (missing) in "
            f"{CASES / 'obs/o22_region_all_nan.csv'}: it is not forecast (no displacement counts), totals (ALL) leave "
            "it out and the forecast is marked (reliable: false)"]),
        (CASES / "obs/o01_all_zero_displaced.csv", [
            f"{CASES / 'obs/o01_all_zero_displaced.csv'}: every 'displaced' count is 0: nothing to fit; "
            "`forecast` stops"]),
        (CASES / "obs/o03_short3.csv", [
            f"{CASES / 'obs/o03_short3.csv'}: 3 periods of history up to the last displacement count; `forecast` "
            "needs at least 8 (the driver models more) and stops"]),
        (one, [f"{one}: 1 period of history up to the last displacement count; `forecast` needs at least 8 (the "
               "driver models more) and stops"]),
        (empty, [f"{empty}: the 246 'displaced' values are all empty (missing): nothing to fit; `forecast` stops"]),
    ]
    for data, expected in cases:
        assert main(["validate", str(data), "--regions", str(table)]) == 0, data
        out, err = capsys.readouterr()
        assert out.startswith(f"ok: {data}:") and err.splitlines() == [f"WARNING: {w}" for w in expected]
    assert main(["validate", str(CASES / "small_obs.csv"), "--regions", str(table)]) == 0
    assert capsys.readouterr().err == ""  # nothing forecast refuses: no warning


def test_forecast_says_the_displacement_values_are_all_empty(capsys, tmp_path):
    """246 'displaced' rows, every value empty: was 'no displaced counts to forecast (series held:
    flights, strikes); ... if one of these is the target, read it as displaced'."""
    empty = _small_obs_variant(tmp_path, "empty.csv", _all_empty)
    rc, _, err = forecast(capsys, empty, CASES / "small_regions.csv", tmp_path / "out")
    assert rc == 2 and not (tmp_path / "out").exists()
    assert errors(err) == [f"error: {empty}: column 'value': the 246 'displaced' values are all empty (missing): "
                           "nothing to fit; expected some displacement counts"]


def test_a_later_reliable_round_does_not_unmark_an_unreliable_one_in_the_hub(tmp_path, capsys, monkeypatch,
                                                                              unreliable_nbdl):
    """The hub keeps one metadata file per model: it used to say `reliable: true` after a later
    reliable export, leaving the earlier round's file in the hub unmarked."""
    hub = tmp_path / "hub"
    rc, _, _ = run_small(capsys, tmp_path / "a", "--hub", str(hub), "--allow-unreliable")
    assert rc == 0
    monkeypatch.undo()  # nb-dl fits reliably again
    rc, _, err = run_small(capsys, tmp_path / "b", "--hub", str(hub), "--origin", "2019-12-30")
    assert rc == 0, err
    meta = next((hub / "model-metadata").glob("*.yml")).read_text()
    assert "reliable: false" in meta and 'unreliable_rounds:\n  - "2020-01-20: UNRELIABLE FIT' in meta
    assert len(list((hub / "model-output").rglob("*.csv"))) == 2


def test_scenarios_on_a_driver_free_model_are_said_to_do_nothing(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid = "double"\n  [[scenario.change]]\n  regions = ["NWS01"]\n  multiply = 2.0\n')
    rc, _, err = run_small(capsys, tmp_path / "out", "--model", "last-value", "--scenarios", str(toml))
    assert rc == 0, err
    assert "uses no conflict series: every scenario gives the baseline forecast" in err
    assert "e.g. --model nb-dl or the default auto, on the data's strikes" in err  # the data have some
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert any("uses no conflict series" in w for w in side["warnings"])
    # the scenario rows are the baseline's: a pipeline reading the CSV alone sees it in every row
    assert side["model"]["answers_scenarios"] is False and side["marks"]["scenarios_ignored"] is True
    f = pd.read_csv(tmp_path / "out" / "forecast.csv")
    assert f["mark"].str.contains("SCENARIOS DO NOT MOVE: model 'last-value' uses no conflict series").all()
    pd.testing.assert_series_equal(f.loc[f.scenario == "double", "value"].reset_index(drop=True),
                                   f.loc[f.scenario == "baseline", "value"].reset_index(drop=True))
    # a baseline-only run of the same model carries no such mark
    rc, _, err = run_small(capsys, tmp_path / "plain", "--model", "last-value")
    assert rc == 0, err
    assert json.loads((tmp_path / "plain" / "forecast.json").read_text())["marks"]["scenarios_ignored"] is False


def test_scenarios_on_conflict_series_that_count_nothing_say_so(tmp_path, capsys):
    """Conflict series present but all 0: the warning says they count nothing, not that the data
    hold none (review)."""
    obs = pd.read_csv(CASES / "small_obs.csv")
    obs.loc[obs["series"] != "displaced", "value"] = 0.0
    data = tmp_path / "zero.csv"
    obs.to_csv(data, index=False)
    rc = main(["forecast", str(data), "--regions", str(CASES / "small_regions.csv"), "--model", "last-value",
               "--scenarios", str(CASES / "scen/k3_two_scenarios.toml"), "--horizon", "2", "--draws", "50",
               "--no-plots", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0 and "count nothing above 0" in err and "hold no conflict series" not in err, err


def test_scenarios_on_data_without_conflict_series_are_marked_under_the_default(tmp_path, capsys):
    """obs/o10 (displacement only): the default `auto` can answer no scenario either; its rows
    are marked, and the warning says the data hold no conflict series (not to use nb-dl, which
    cannot run on them)."""
    out = tmp_path / "out"
    rc = main(["forecast", str(CASES / "obs/o10_displaced_only.csv"), "--regions", str(CASES / "small_regions.csv"),
               "--scenarios", str(CASES / "scen/k3_two_scenarios.toml"), "--horizon", "2", "--draws", "50",
               "--no-plots", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err, err
    assert "the data hold no conflict series" in err and "--model nb-dl" not in err
    side = json.loads((out / "forecast.json").read_text())
    assert side["model"]["name"] == "auto" and side["marks"]["scenarios_ignored"] is True
    assert pd.read_csv(out / "forecast.csv")["mark"].str.contains("SCENARIOS DO NOT MOVE: model 'auto'").all()


def test_k3_two_scenarios_baseline_and_ceasefire(tmp_path, capsys):
    """scen/k3: a baseline and a ceasefire (multiply = 0) in one file: both forecast with common
    random numbers, the ceasefire's median total below the baseline's, and its sidecar
    entry says its bands leave out conflict uncertainty."""
    out = tmp_path / "out"
    rc, _, err = run_small(capsys, out, "--scenarios", str(CASES / "scen/k3_two_scenarios.toml"))
    assert rc == 0, err
    sc = assert_complete_run(out)
    assert [s["id"] for s in sc["scenarios"]] == ["baseline", "ceasefire"]
    assert "NOT included" in sc["scenarios"][1]["conflict_uncertainty"]
    assert "conflict_uncertainty" not in sc["scenarios"][0]
    fc = pd.read_csv(out / "forecast.csv")
    med = fc[(fc.region == "ALL") & (fc.target == "cum_new_displaced") & (fc.output_type == "quantile")
             & (fc.output_type_id.astype(float) == 0.5) & (fc.horizon == 3)].set_index("scenario")["value"]
    assert med["ceasefire"] < med["baseline"]


def test_weekly_data_on_thursdays_count_every_period():
    """The horizon cap and `hold` checks counted weeks on a Monday grid: data on Thursdays lost one."""
    from displacement_forecast._cli.checks import history_periods
    from displacement_forecast.scenarios import period_grid

    d = pd.date_range("2024-01-04", periods=4, freq="W-THU")
    assert history_periods(pd.DataFrame({"date": d})) == 4
    assert list(period_grid(d[0], d[-1], "W")) == list(d)


def test_history_length_names_the_frequency_by_the_one_rule_or_says_why_not():
    """history_periods used to fall back to daily (and prepare_data to weekly) when the frequency
    could not be named: irregular dates are now the frequency rule's one-line error, naming the file."""
    from displacement_forecast._cli.checks import history_periods
    from displacement_forecast.data.schema import DataError

    monthly = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=5, freq="MS")})
    assert history_periods(monthly) == 5  # not 121 days
    odd = pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2020-01-04", "2020-01-11"])})
    with pytest.raises(DataError) as e:
        history_periods(odd, file="obs.csv")
    (p,) = e.value.problems
    assert p.file == "obs.csv" and p.column == "date" and "expected one frequency" in p.message


def test_o21_under_the_default_model_is_forecast_and_said(tmp_path, capsys):
    """o21 with ``auto``: NWS02 has displacement counts but no strike rows. It is forecast from its
    displacement alone; a warning on screen and in the sidecar says scenarios do not move it, and
    they do not (its ceasefire paths equal its baseline paths)."""
    from displacement_forecast.cli import main

    out = tmp_path / "out"
    rc = main(["forecast", str(CASES / "obs/o21_region_no_strikes.csv"), "--regions", str(CASES / "obs/regions.csv"),
               "--horizon", "3", "--draws", "200", "--no-plots", "--scenarios",
               str(CASES / "scen/k3_two_scenarios.toml"), "--out", str(out)])
    cap = capsys.readouterr()
    err = cap.err
    assert rc == 0, err
    assert "region NWS02 has no counts of strikes" in err
    # the screen says what the default model became on these data (driver models left out here)
    assert "auto's weights: " in cap.out and "nb-dl" not in cap.out.split("auto's weights: ")[1].splitlines()[0]
    sc = json.loads((out / "forecast.json").read_text())
    assert any("NWS02" in w and "scenarios do not move" in w for w in sc["warnings"])
    # a mark in every output (a note: the forecast itself is not unreliable)
    # what NWS02 lacks, not every series (it has 82 flights rows; the mark said "strikes, flights")
    assert sc["marks"]["scenarios_cannot_move"] == {"NWS02": "no counts of strikes"}
    assert sc["reliable"] is True
    fc = pd.read_csv(out / "forecast.csv")
    assert (fc["mark"] == "SCENARIOS DO NOT MOVE: NWS02 (no counts of strikes)").all()
    assert "SCENARIOS DO NOT MOVE: NWS02" in json.loads((out / "datapackage.json").read_text())["description"]
    q = fc[(fc["region"] == "NWS02") & (fc["output_type"] == "quantile")]
    base, cease = (q[q["scenario"] == k].sort_values(["target", "horizon", "output_type_id"])["value"].to_numpy()
                   for k in ("baseline", "ceasefire"))
    assert len(base) and np.array_equal(base, cease)
    other = fc[(fc["region"] == "NWS01") & (fc["output_type"] == "quantile")]
    assert not np.array_equal(*(other[other["scenario"] == k].sort_values(["target", "horizon", "output_type_id"])
                                ["value"].to_numpy() for k in ("baseline", "ceasefire")))


# o21 under every driver model: one rule (models.driver_choice.regions_without_drivers)
O21_SCENARIO = """[[scenario]]
id = "ks-x5"
description = "conflict in Khan Shaykhun x5"
  [[scenario.change]]
  regions = ["NWS02"]
  multiply = 5
"""


def test_o21_under_dynamic_leaves_the_region_out_as_nbdl_does(tmp_path, capsys):
    """o21 with ``--model dynamic`` (drivers by the default rule: strikes, flights): NWS02 has no
    strike rows. It used to be forecast without a word (strikes read as 0, ``reliable: true``), and a
    scenario on it moved it; now it is left out with the warning and the mark nb-dl gives."""
    out = tmp_path / "out"
    rc = main(["forecast", str(CASES / "obs/o21_region_no_strikes.csv"), "--regions", str(CASES / "obs/regions.csv"),
               "--model", "dynamic", "--horizon", "4", "--draws", "60", "--no-plots", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "region NWS02 is not forecast (no 'strikes' rows, which the model needs)" in err
    sc = assert_complete_run(out)
    assert sc["marks"]["regions_left_out"] == {"NWS02": "no 'strikes' rows, which the model needs"}
    assert sc["reliable"] is False
    fc = pd.read_csv(out / "forecast.csv")
    assert "NWS02" not in set(fc["region"])
    assert fc["mark"].str.contains("NOT FORECAST: NWS02").all()


def test_o21_scenario_on_a_region_left_out_is_one_clear_error(tmp_path, capsys):
    """A scenario naming only NWS02 (left out) can change nothing: one clear error saying why, not
    "unknown region" (NWS02 is in the region table), and nothing written."""
    scen = tmp_path / "o21_scen.toml"
    scen.write_text(O21_SCENARIO)
    for model in ("dynamic", "nb-dl"):
        out = tmp_path / model
        rc = main(["forecast", str(CASES / "obs/o21_region_no_strikes.csv"), "--regions",
                   str(CASES / "obs/regions.csv"), "--model", model, "--horizon", "4", "--draws", "60",
                   "--no-plots", "--scenarios", str(scen), "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2, err
        (line,) = errors(err)
        assert f"{scen}:5" in line and "region NWS02 is not forecast (no 'strikes' rows" in line, line
        assert "unknown region" not in line
        assert not out.exists()


def test_o21_scenario_under_auto_does_not_move_the_region(tmp_path, capsys):
    """The same scenario under ``auto``: NWS02 is forecast by the driver-free candidates; the
    scenario does not move it (no driver counts to change), it is listed in
    ``scenario_blind_regions`` with a warning, and the other regions are as in the baseline."""
    scen = tmp_path / "o21_scen.toml"
    scen.write_text(O21_SCENARIO)
    out = tmp_path / "out"
    rc = main(["forecast", str(CASES / "obs/o21_region_no_strikes.csv"), "--regions", str(CASES / "obs/regions.csv"),
               "--horizon", "4", "--draws", "200", "--no-plots", "--scenarios", str(scen), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "region NWS02 has no counts of strikes: scenarios do not move its forecast" in err
    sc = assert_complete_run(out)
    assert sc["scenario_blind_regions"] == {"NWS02": "no counts of strikes"}
    assert sc["marks"]["regions_left_out"] == {}
    fc = pd.read_csv(out / "forecast.csv")
    for code in ("NWS02", "ALL"):
        q = fc[(fc["region"] == code) & (fc["output_type"].isin(["quantile", "mean"]))]
        base, x5 = (q[q["scenario"] == k].sort_values(["target", "horizon", "output_type", "output_type_id"])
                    ["value"].to_numpy() for k in ("baseline", "ks-x5"))
        assert len(base) and np.array_equal(base, x5), code


def test_an_interrupt_inside_a_c_callback_is_delivered_again_without_a_traceback(capfd):
    """Ctrl-C landing inside numba's llvmlite callback printed "Exception ignored on calling ctypes
    callback function ... Traceback ... KeyboardInterrupt" and was lost (the stress test's kills);
    the command's hook now prints nothing and the interrupt reaches the code after the callback."""
    import ctypes
    import time

    from displacement_forecast.cli import _interrupts_from_callbacks

    @ctypes.CFUNCTYPE(None)
    def callback():
        raise KeyboardInterrupt

    import signal

    # a test worker may ignore SIGINT (pytest-xdist's do): the command runs with Python's handler
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    restore = _interrupts_from_callbacks()
    try:
        with pytest.raises(KeyboardInterrupt):
            callback()
            for _ in range(500):  # the signal comes from a helper thread
                time.sleep(0.01)
    finally:
        restore()
        signal.signal(signal.SIGINT, previous)
    assert "Traceback" not in capfd.readouterr().err
