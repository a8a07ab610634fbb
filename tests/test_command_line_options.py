"""Every option is checked before any data is read, with one clear line (polish2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from displacement_forecast.cli import main

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "reliability"
needs_cases = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
SMALL = [str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), "--draws", "30",
         "--horizon", "2", "--model", "last-value", "--no-plots"]


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


@needs_cases
@pytest.mark.parametrize("date", ["01/06/2019", "2019-6-1", "20190601", "June 2019", "2019-13-01", "2019-02-30"])
def test_origin_must_be_iso(tmp_path, capsys, date):
    rc = main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--origin", date])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--origin" in msg and "YYYY-MM-DD" in msg
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["forecast", "backtest"])
@pytest.mark.parametrize("date", ["9999-01-01", "0001-01-01"])
def test_a_date_pandas_cannot_hold_is_out_of_range_not_an_internal_error(tmp_path, capsys, command, date):
    """--origin 9999-01-01 (or --origins with it) was 'internal error: OutOfBoundsDatetime' (exit 1)."""
    opt = ["--model", "last-value", "--origin", date] if command == "forecast" else \
        ["--models", "last-value", f"--origins={date},{date}"]
    rc = main([command, *SYN_ARGS, *opt, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    option = "--origin" if command == "forecast" else "--origins"
    assert rc == 2 and errors(err) == [f"error: command line: option {option}: {date} is out of range; expected a "
                                       "date between 1946-01-01 and next year, as the data's dates are"], err
    assert not (tmp_path / "out").exists()


@needs_cases
@pytest.mark.parametrize("spec", ["01/06/2019:2019-12-30", "2019-01-07:30/12/2019", "2019-06-03,01/07/2019"])
def test_backtest_origins_dates_must_be_iso(tmp_path, capsys, spec):
    rc = main(["backtest", *SMALL[:3], "--models", "last-value", "--out", str(tmp_path / "bt"), f"--origins={spec}"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--origins" in msg and "YYYY-MM-DD" in msg


@needs_cases
@pytest.mark.parametrize(("extra", "expected"), [
    (["--horizon", "0"], ["option --horizon: 0: expected at least 1"]),
    (["--workers", "0"], ["option --workers: 0: expected at least 1"]),
    (["--horizon", "-1", "--workers", "0"], ["option --horizon: -1: expected at least 1",
                                              "option --workers: 0: expected at least 1"])])
def test_backtest_names_the_option_below_1(tmp_path, capsys, extra, expected):
    """Both said '--horizon >= 1 and --workers >= 1 are required', whichever was wrong."""
    rc = main(["backtest", *SMALL[:3], "--models", "last-value", "--out", str(tmp_path / "bt"), *extra])
    assert rc == 2 and errors(capsys.readouterr().err) == [f"error: command line: {e}" for e in expected]
    assert not (tmp_path / "bt").exists()


SYN = Path(__file__).resolve().parents[1] / "data" / "synthetic_nw_syria"
SYN_ARGS = [str(SYN / "observations.csv"), "--regions", str(SYN / "regions.csv"), "--draws", "30", "--no-plots"]


@pytest.mark.parametrize("command", ["forecast", "backtest"])
def test_a_horizon_past_the_last_date_pandas_holds_is_the_cap_error(tmp_path, capsys, command):
    """--horizon 3000 on monthly data (13000 on these weeks, to 2020) counted dates past the year
    2262 before the cap was checked: 'internal error: OutOfBoundsDatetime' (exit 1) from forecast, a
    failed task at every origin (exit 1) from backtest. The cap of 520 is checked before any data is read."""
    model = ["--model", "last-value"] if command == "forecast" else ["--models", "last-value", "--origins=2019-06-03"]
    rc = main([command, *SYN_ARGS, *model, "--out", str(tmp_path / "out"), "--horizon", "13000"])
    err = capsys.readouterr().err
    assert rc == 2 and "internal error" not in err, err
    (msg,) = errors(err)
    assert msg.startswith("error: command line: option --horizon: 13000 is above the cap of 520 periods"), msg
    assert not (tmp_path / "out").exists()


def test_backtest_horizon_no_origin_can_score_is_an_error(tmp_path, capsys):
    """--horizon 600 on 24 months was accepted without a word while forecast refuses above 520;
    a horizon past every observed period scores nothing: one line naming the periods there are."""
    rc = main(["backtest", *SYN_ARGS, "--models", "last-value", "--out", str(tmp_path / "bt"),
               "--origins=2019-12-02,2020-01-06", "--horizon", "10"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and msg == ("error: command line: option --horizon: 10: the data hold 7 periods after the first "
                               "origin (2019-12-02), so horizons 8-10 have nothing observed to score against from "
                               "any origin; expected at most 7"), msg
    assert not (tmp_path / "bt").exists()


@needs_cases
def test_backtest_origins_mixing_a_range_and_a_list_say_so(tmp_path, capsys):
    """``1:3,5`` was refused as '3,5 is not a date' by the option check before parse_origins could
    say what is wrong."""
    rc = main(["backtest", *SMALL[:3], "--models", "last-value", "--out", str(tmp_path / "bt"),
               "--origins=2019-01-07:2019-03-04,2019-05-06"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--origins" in msg and "not both" in msg, msg


@needs_cases
def test_backtest_origins_as_a_list_of_dates(tmp_path, capsys):
    """``--origins=D1,D2`` (statsforecast's cutoffs, the form issue 16 wrote) was refused as not a
    date; it gives those origins, each the last period on or before its date."""
    import json

    out = tmp_path / "bt"
    assert main(["backtest", *SMALL[:3], "--models", "last-value", "--horizon", "2", "--draws", "30",
                 "--no-plots", "--no-progress", "--out", str(out), "--origins=2019-07-03,2019-06-03"]) == 0
    origins = json.loads((out / "backtest.json").read_text())["settings"]["origins"]
    assert origins == ["2019-06-03", "2019-07-01"]


@needs_cases
def test_iso_origin_is_read_as_written(tmp_path, capsys):
    import json

    assert main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--origin", "2019-06-05"]) == 0
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert side["forecast"]["hindcast"]["origin"] == "2019-06-03"  # the week (from Monday) holding 5 June


@needs_cases
@pytest.mark.parametrize("value, words", [("1e300", "1e300 is above 10,000,000,000"),
                                          ("2000000", "above the total population of the region table (1,050,000)")])
def test_thresholds_beyond_the_people_there_are_are_refused(tmp_path, capsys, value, words):
    rc = main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--thresholds", value])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--thresholds" in msg and words in msg and len(msg) < 200


@needs_cases
@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_thresholds_are_refused(tmp_path, capsys, value):
    """--thresholds "" wrote a forecast with no cdf rows and said nothing."""
    rc = main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--thresholds", value])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "option --thresholds:" in msg and "holds no number" in msg
    assert not (tmp_path / "out").exists()


@needs_cases
def test_thresholds_are_written_in_increasing_order(tmp_path, capsys):
    import json

    assert main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--thresholds", "5000,1000,3000"]) == 0
    assert json.loads((tmp_path / "out" / "forecast.json").read_text())["forecast"]["cdf_thresholds"] == [1000, 3000, 5000]


@needs_cases
@pytest.mark.parametrize("draws", ["1", "19"])
def test_too_few_draws_for_a_probability_are_refused_before_reading_data(tmp_path, capsys, draws):
    rc = main(["forecast", str(tmp_path / "absent.csv"), "--draws", draws, "--out", str(tmp_path / "out")])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--draws" in msg and "at least 20" in msg  # not "file not found": checked first


@needs_cases
def test_default_thresholds_are_said_to_be_defaults(tmp_path, capsys):
    assert main(["forecast", *SMALL, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "thresholds 10,000, 50,000, 100,000, 250,000, 500,000 (defaults; give --thresholds" in out
    assert main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--thresholds", "5000"]) == 0
    assert "defaults" not in capsys.readouterr().out


def test_monthly_default_thresholds_come_from_the_recent_total(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    dates = pd.date_range("2020-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(3)
    rows = [{"date": d.date(), "region": r, "series": "displaced", "value": int(v)}
            for r in ("A", "B") for d, v in zip(dates, rng.integers(40_000, 60_000, len(dates)), strict=True)]
    obs = pd.DataFrame(rows)
    obs.to_csv(tmp_path / "obs.csv", index=False)
    pd.DataFrame({"code": ["A", "B"], "name": ["Alpha", "Beta"], "parent": ["P", "P"],
                  "population": [5_000_000, 5_000_000]}).to_csv(tmp_path / "regions.csv", index=False)
    rc = main(["forecast", str(tmp_path / "obs.csv"), "--regions", str(tmp_path / "regions.csv"), "--model",
               "last-value", "--horizon", "3", "--draws", "50", "--no-plots", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0
    recent = obs[obs["date"] >= dates[-3].date()]["value"].sum()
    want = [float(f"{k * recent:.2g}") for k in (0.5, 1, 2)]
    assert f"thresholds {', '.join(f'{t:,.0f}' for t in want)} (from the data: 0.5x, 1x and 2x the {recent:,} " in out
    cdf = pd.read_csv(tmp_path / "out" / "forecast.csv").query("output_type == 'cdf'")
    assert sorted(cdf["output_type_id"].unique()) == want


@needs_cases
@pytest.mark.parametrize("extra, option", [(["--team", "../evil", "--hub", "HUB"], "--team"),
                                           (["--chunk-regions", "0"], "--chunk-regions"),
                                           (["--scenarios", "ABSENT.toml"], "--scenarios"),
                                           (["--backtest", "ABSENT"], "--backtest"),
                                           (["--model-dir", "ABSENT"], "--model-dir")])
def test_options_are_checked_before_the_data_are_read(tmp_path, capsys, monkeypatch, extra, option):
    import displacement_forecast._cli.forecast_command as fc

    def no(*a, **k):
        raise AssertionError("the data were read before the options were checked")

    monkeypatch.setattr(fc, "load_data", no)
    extra = [str(tmp_path / e) if e in ("HUB", "ABSENT.toml", "ABSENT") else e for e in extra]
    base = SMALL if option != "--model-dir" else [a for a in SMALL if a not in ("--model", "last-value")]  # one error
    rc = main(["forecast", *base, "--out", str(tmp_path / "out"), *extra])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and option in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no lock file


@needs_cases
@pytest.mark.parametrize("extra, option", [(["--chunk-regions", "2", "--hub", "HUB"], "--hub"),
                                           (["--chunk-regions", "2", "--hxl"], "--hxl"),
                                           (["--chunk-regions", "2", "--write-draws"], "--write-draws"),
                                           (["--format", "parquet"], "--format"),
                                           (["--dask", "tcp://127.0.0.1:1"], "--dask"),
                                           (["--team", "x"], "--team")])
def test_options_the_run_would_ignore_are_refused(tmp_path, capsys, monkeypatch, extra, option):
    """--chunk-regions wrote no hub, HXL file or draws though asked, and --format, --dask, --team
    without the option they serve did nothing: each is one error before the data are read."""
    import displacement_forecast._cli.forecast_command as fc

    def no(*a, **k):
        raise AssertionError("the data were read before the options were checked")

    monkeypatch.setattr(fc, "load_data", no)
    extra = [str(tmp_path / e) if e == "HUB" else e for e in extra]
    rc = main(["forecast", *SMALL, "--out", str(tmp_path / "out"), *extra])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and f"option {option}:" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["forecast", "fit", "backtest"])
@pytest.mark.parametrize("data, words", [("absent.csv", "file not found"), (".", "is a folder; expected a file")])
def test_a_missing_data_file_is_named_not_the_region_table_beside_it(tmp_path, capsys, command, data, words):
    """A mistyped data path was reported as 'regions.csv: region table not found'."""
    rc = main([command, str(tmp_path / data), "--out", str(tmp_path / "out")])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and msg == f"error: {tmp_path / data}: {words}"


@needs_cases
@pytest.mark.parametrize("hub", ["out", "out/hub", "."])
def test_a_hub_in_the_output_folder_is_refused(tmp_path, capsys, hub):
    """--hub DIR --out DIR reported the hub's file written, then the swap of the two folders lost it."""
    rc = main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--hub", str(tmp_path / hub)])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "option --hub:" in msg and "expected separate folders" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@needs_cases
def test_a_saved_fit_is_not_replaced_by_a_forecast_into_its_folder(tmp_path, capsys):
    """forecast --model-dir DIR --out DIR replaced model.json and params.npz with the forecast."""
    assert main(["fit", *SMALL[:3], "--model", "last-value", "--out", str(tmp_path / "fit")]) == 0
    before = sorted(p.name for p in (tmp_path / "fit").iterdir())
    capsys.readouterr()
    base = [a for a in SMALL if a not in ("--model", "last-value")]
    rc = main(["forecast", *base, "--model-dir", str(tmp_path / "fit"), "--out", str(tmp_path / "fit")])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "option --model-dir:" in msg and "the same folder" in msg
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == before


@needs_cases
def test_export_hub_refuses_the_forecast_folder_as_hub(tmp_path, capsys):
    assert main(["forecast", *SMALL, "--out", str(tmp_path / "fc")]) == 0
    before = sorted(p.name for p in (tmp_path / "fc").iterdir())
    capsys.readouterr()
    rc = main(["export-hub", str(tmp_path / "fc"), "--hub", str(tmp_path / "fc")])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "the same folder" in msg
    assert sorted(p.name for p in (tmp_path / "fc").iterdir()) == before


@needs_cases
def test_export_hub_checks_team_before_reading(tmp_path, capsys):
    rc = main(["export-hub", str(tmp_path / "absent"), "--hub", str(tmp_path / "hub"), "--team", "../evil"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--team" in msg


@needs_cases
@pytest.mark.parametrize("command", ["forecast", "fit", "backtest"])
def test_no_lock_file_is_left_beside_the_output(tmp_path, capsys, command):
    args = {"forecast": ["--model", "last-value", "--no-plots", "--draws", "30", "--horizon", "2"],
            "fit": ["--model", "last-value"], "backtest": ["--models", "last-value", "--horizon", "1", "--no-plots"]}
    base = [command, str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), *args[command]]
    assert main([*base, "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    if command == "forecast":  # a run refused after the folder was claimed leaves none either
        assert main([*base, "--out", str(tmp_path / "out"), "--origin", "1990-01-01"]) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_lock_file_deleted_by_the_run_before_is_not_shared(tmp_path, monkeypatch):
    """Run B opened the lock file just before run A deleted it: B must not lock the deleted file
    (run C would lock a new one and both would write); it locks the file the path names now."""
    import os

    from displacement_forecast.forecast import staging

    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    real_open = os.open
    calls = []

    def open_then_lose(path, *a, **k):
        fd = real_open(path, *a, **k)
        calls.append(path)
        if len(calls) == 1:  # the holder finishes right after B opened the file
            os.unlink(path)
        return fd

    monkeypatch.setattr(staging.os, "open", open_then_lose)
    fd = staging._lock(out)
    monkeypatch.setattr(staging.os, "open", real_open)
    try:
        assert len(calls) == 2 and staging._same_file(fd, lock)
        with pytest.raises(staging.DataError, match="another run is writing"):
            staging._lock(out)
    finally:
        staging._unlock(out, fd)
    assert not lock.exists()


def test_python_warnings_are_one_line_each_said_once(tmp_path, capsys, monkeypatch):
    """The Ukraine panel printed numpy's 'covariance is not symmetric positive-semidefinite' with its
    file:line header and source line, again and again; a command now says each warning once, in one line."""
    import warnings

    import displacement_forecast._cli.data_commands as dc

    def noisy(args):
        for _ in range(3):
            warnings.warn_explicit("covariance is not\nsymmetric positive-semidefinite.", RuntimeWarning,
                                   "somewhere.py", 318 + _)  # three places: Python's registry would print each
        return 0

    monkeypatch.setattr(dc, "run_describe", noisy)
    monkeypatch.delenv("DF_DEBUG", raising=False)
    assert main(["describe", str(tmp_path / "x.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: covariance is not symmetric positive-semidefinite."]  # no '(RuntimeWarning)'
    assert warnings.showwarning.__module__ == "warnings"  # put back after the command

    class ConvergenceWarning(UserWarning):  # a library's own class: the library is named, not the class
        __module__ = "statsmodels.tools.sm_exceptions"

    def library(args):
        warnings.warn("Maximum Likelihood optimization failed to converge.", ConvergenceWarning, stacklevel=2)
        return 0

    monkeypatch.setattr(dc, "run_describe", library)
    assert main(["describe", str(tmp_path / "x.csv")]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "warning: Maximum Likelihood optimization failed to converge. (from statsmodels)"]
    assert warnings.showwarning.__module__ == "warnings"  # put back after the command


def _daily_ukraine(tmp_path):
    """40 days of about 48,000 refugees a day from 1 March 2022 (to 9 April) in one region, UKR,
    written as ``obs.csv`` and ``regions.csv`` in ``tmp_path``; returns the observations."""
    import pandas as pd

    dates = pd.date_range("2022-03-01", periods=40, freq="D")
    obs = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "region": "UKR", "series": "displaced",
                        "value": [48_000 + 500 * (i % 5) for i in range(len(dates))]})
    obs.to_csv(tmp_path / "obs.csv", index=False)
    pd.DataFrame({"code": ["UKR"], "name": ["Ukraine"], "parent": ["UKR"],
                  "population": [41_000_000]}).to_csv(tmp_path / "regions.csv", index=False)
    return obs


def test_daily_defaults_that_would_all_be_exceeded_come_from_the_recent_total(tmp_path, capsys):
    """Ukraine (UNHCR, about 48,000 refugees a day): the fixed defaults 10,000 ... 500,000 over 14 days
    gave 'more than 999 in 1,000' five times; above the largest default the data set the thresholds."""

    obs = _daily_ukraine(tmp_path)
    rc = main(["forecast", str(tmp_path / "obs.csv"), "--model", "last-value", "--horizon", "14", "--draws", "50",
               "--no-plots", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0
    recent = int(obs["value"].iloc[-14:].sum())
    want = [float(f"{k * recent:.2g}") for k in (0.5, 1, 2)]
    assert f"thresholds {', '.join(f'{t:,.0f}' for t in want)} (from the data: 0.5x, 1x and 2x the {recent:,} " in out
    assert "last 14 days, which exceed every default" in out
    assert "more than 98%" not in out.split("P(more than " + f"{want[2]:,.0f}")[1].splitlines()[0]


def test_screen_probabilities_give_the_date_and_one_wording(tmp_path, capsys):
    """Trial 19: "P(more than X newly displaced within 14 days)" gave no end date (a planner asked "by
    when?"), and one line mixed "more than 999 in 1,000" with "more than 99%"."""

    _daily_ukraine(tmp_path)  # data to 9 Apr 2022
    rc = main(["forecast", str(tmp_path / "obs.csv"), "--model", "last-value", "--horizon", "14", "--draws", "50",
               "--thresholds", "100000,5000000", "--no-plots", "--out", str(tmp_path / "out")])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("P(")]
    assert rc == 0
    assert lines == ["P(more than 100,000 newly displaced within 14 days, by 23 Apr 2022): baseline more than 98%",
                     "P(more than 5,000,000 newly displaced within 14 days, by 23 Apr 2022): baseline less than 2%"]


def test_counts_above_the_population_are_movements_not_depleted(tmp_path, capsys):
    """Somalia (PRMN): Hiraan's 813,171 departures exceed its 520,685 people. The people at risk
    were floored at 1%, so auto forecast at most 5,207 for 3 months (median = 99% quantile) against
    months of up to 260,212. Counts above the population are movements: that region is not
    depleted, the warning says so, and the forecast follows the history."""
    import pandas as pd

    dates = pd.date_range("2021-01-01", periods=24, freq="MS")
    values = [2_000, 3_000, 60_000] * 8  # 520,000 over the history: more than the population
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "region": "H", "series": "displaced",
                  "value": values}).to_csv(tmp_path / "obs.csv", index=False)
    pd.DataFrame({"code": ["H"], "name": ["Hiraan"], "parent": ["C"],
                  "population": [500_000]}).to_csv(tmp_path / "regions.csv", index=False)
    rc = main(["forecast", str(tmp_path / "obs.csv"), "--model", "dynamic", "--horizon", "3", "--draws", "200",
               "--no-plots", "--thresholds", "1000", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    (line,) = [ln for ln in err.splitlines() if "not depleted" in ln]
    assert "520,000 displacements" in line and "up to 60,000 in one period" in line
    assert "at most 500,000 in one period" in line
    fc = pd.read_csv(tmp_path / "out" / "forecast.csv")
    cum = fc[(fc["target"] == "cum_new_displaced") & (fc["horizon"] == 3) & (fc["region"] == "H")
             & (fc["output_type"] == "quantile")].set_index("output_type_id")["value"]
    # three months of a history that averages 21,667 a month: no longer capped at 1% (5,000)
    assert cum.loc[0.5] > 20_000 and cum.loc[0.99] > cum.loc[0.5]
    per = fc[(fc["target"] == "new_displaced") & (fc["region"] == "H") & (fc["output_type"] == "quantile")]
    assert per["value"].max() <= 500_000  # movements: each period within the population, not their sum
    import json

    sidecar = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert sidecar["data"]["regions_counting_movements"] == {"H": "counts above the population"}


@pytest.mark.parametrize("extra", [[], ["--model", "last-value"]])
def test_fit_refuses_a_seed_it_would_not_use(tmp_path, capsys, extra):
    """`fit DATA --seed 7` (auto, the default) and `fit --model last-value --seed 7` exited 0 and
    saved the same fit as seed 0, the seed ignored without a word (its help named the Bayesian
    model only): it is now one error line naming --seed, before anything is read or written."""
    data = Path(__file__).resolve().parents[1] / "data" / "synthetic_nw_syria" / "observations.csv"
    rc = main(["fit", str(data), *extra, "--seed", "7", "--out", str(tmp_path / "fit")])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--seed" in msg and "Bayesian models only" in msg and "forecast's --seed" in msg, msg
    assert not (tmp_path / "fit").exists()


def test_forecast_refuses_a_model_beside_a_saved_fit(tmp_path, capsys):
    """`forecast --model-dir DIR --model nb-dl` forecast with the saved fit (auto) and ignored
    --model without a word (the screen said `model auto`): it is one error line, nothing written."""
    root = Path(__file__).resolve().parents[1]
    data = root / "data" / "synthetic_nw_syria" / "observations.csv"
    (tmp_path / "saved").mkdir()
    rc = main(["forecast", str(data), "--model-dir", str(tmp_path / "saved"), "--model", "nb-dl",
               "--out", str(tmp_path / "out")])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--model" in msg and "nb-dl" in msg and "--model-dir" in msg, msg
    assert not (tmp_path / "out").exists()


@needs_cases
@pytest.mark.parametrize("command, extra", [("forecast", ["--model", "nb-dl", "--horizon", "2", "--no-plots"]),
                                            ("fit", ["--model", "nb-dl"]),
                                            ("backtest", ["--models", "nb-dl", "--horizon", "1", "--no-plots"])])
@pytest.mark.parametrize("drivers, name", [("strikes,strikes", "strikes"), ("strikes, flights,strikes", "strikes"),
                                           ("flights,strikes,flights", "flights")])
def test_a_driver_given_twice_is_one_error_before_the_data_are_read(tmp_path, capsys, monkeypatch, command, extra,
                                                                    drivers, name):
    """`forecast --model nb-dl --drivers strikes,strikes` fitted the column twice and failed with
    'LinAlgError: Eigenvalues did not converge'; forecast, fit and backtest now refuse the repeat."""
    import importlib

    mod = importlib.import_module(f"displacement_forecast._cli.{command}_command")

    def no(*a, **k):
        raise AssertionError("the data were read before --drivers was checked")

    monkeypatch.setattr(mod, "load_data", no)
    rc = main([command, *SMALL[:3], *extra, "--drivers", drivers, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and errors(err) == [f"error: command line: option --drivers: {name} is given twice"], err
    assert "LinAlgError" not in err and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["forecast", "obs.csv", "--model", "nbdl", "--out", "o"],
     "argument --model: invalid choice: 'nbdl' (choose from 'last-value', "),
    (["forecast", "obs.csv", "--modle", "nb-dl", "--out", "o"], "unrecognized arguments: --modle nb-dl"),
    (["backtest", "obs.csv", "--horizon", "four", "--out", "o"], "argument --horizon: invalid int value: 'four'"),
    (["fit", "obs.csv"], "the following arguments are required: --out"),
    (["forcast", "obs.csv"], "argument COMMAND: invalid choice: 'forcast' (choose from 'validate', ")])
def test_a_command_line_typo_is_one_error_line(tmp_path, capsys, monkeypatch, argv, message):
    """argparse printed its usage block (17 lines for forecast) before the error; now one line,
    naming the help of the command that was given (exit 2 as before)."""
    monkeypatch.chdir(tmp_path)
    rc = main(argv)
    out, err = capsys.readouterr()
    command = argv[0] if argv[0] != "forcast" else ""
    see = f"; see displacement-forecast {command} --help".replace("  ", " ")
    assert rc == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: command line: {message}") and err.rstrip("\n").endswith(see), err
    assert "usage:" not in err and sorted(p.name for p in tmp_path.iterdir()) == []


@needs_cases
@pytest.mark.parametrize("spec, message", [
    ("0:2", "option --origins: the first origin, 2018-07-02, has 1 period of history; `forecast` needs at least 8; "
            "the earliest allowed origin is 2018-08-20 (period 7)"),
    ("6", "option --origins: origin 2018-08-13 has 7 periods of history; `forecast` needs at least 8; "
          "the earliest allowed origin is 2018-08-20 (period 7)"),
    ("5,9,20", "option --origins: 1 of the 3 origins has fewer than 8 periods of history, the least `forecast` "
               "accepts: 2018-08-06 (6 periods); the earliest allowed origin is 2018-08-20 (period 7)"),
    ("2018-07-16:2018-09-03:7", "option --origins: 1 of the 2 origins has fewer than 8 periods of history")])
def test_backtest_refuses_origins_with_less_history_than_forecast_needs(tmp_path, capsys, spec, message):
    """`backtest --models last-value --origins=0:2` fitted from the first period and exited 0, where
    `forecast` refuses fewer than 8 periods (conventions.MIN_HISTORY, as default_origins leaves)."""
    rc = main(["backtest", *SMALL[:3], "--models", "last-value", "--horizon", "2", "--draws", "30", "--no-plots",
               "--no-progress", "--out", str(tmp_path / "bt"), f"--origins={spec}"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and msg.startswith(f"error: command line: {message}"), msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@needs_cases
def test_backtest_refuses_origins_the_chosen_model_cannot_fit_at(tmp_path, capsys):
    """`--models nb-dl --lags 8` needs 22 periods on the 3 regions (12 for the lags, and 5 rows per
    coefficient: 3 x (22 - 8 + 1) >= 45); the check used the general 8, so origins 7..20 exited 0 with a
    failed fit at each, and the default origins of a short file started at period 7."""
    import json

    nbdl = ["backtest", *SMALL[:3], "--models", "nb-dl", "--drivers", "strikes", "--lags", "8", "--horizon", "2",
            "--draws", "30", "--no-plots", "--no-progress"]
    rc = main([*nbdl, "--out", str(tmp_path / "bt"), "--origins=7:12"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and msg == ("error: command line: option --origins: the first origin, 2018-08-20, has 8 periods "
                               "of history; model 'nb-dl' needs at least 22; the earliest allowed origin is "
                               "2018-11-26 (period 21)"), msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    short = tmp_path / "short.csv"  # the first 26 weeks: the default origins start at period 21
    lines = (CASES / "small_obs.csv").read_text().splitlines()
    short.write_text("\n".join(ln for ln in lines if ln[:10] < "2018-12-31" or not ln[:1].isdigit()) + "\n")
    out = tmp_path / "default"
    nbdl[1] = str(short)
    assert main([*nbdl, "--out", str(out)]) == 0
    meta = json.loads((out / "backtest.json").read_text())
    assert meta["settings"]["origins"][0] == "2018-11-26" and meta["failures"] == []


@needs_cases
@pytest.mark.parametrize("spec, which", [("-3:-1", "the last origin, 2020-01-20,"), ("-3,-1", "the last origin, 2020-01-20,"),
                                         ("-1:-1", "origin 2020-01-20"), ("2020-01-20", "origin 2020-01-20")])
def test_backtest_refuses_the_last_period_as_an_origin_in_every_form(tmp_path, capsys, spec, which):
    """The range parser refused the last period alone ('-1:-1' gives only the last period) but took
    -3:-1 (exit 0, the last origin scoring nothing), the list parser said '-1 is the last period':
    one rule (check_origin_history), one line for every form."""
    rc = main(["backtest", *SMALL[:3], "--models", "last-value", "--horizon", "2", "--draws", "30", "--no-plots",
               "--no-progress", "--out", str(tmp_path / "bt"), f"--origins={spec}"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and msg == (f"error: command line: option --origins: {which} is the data's last period, after "
                               "which nothing is observed to score; expected origins before it (the latest allowed "
                               "is 2020-01-13, period -2)"), msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@needs_cases
def test_backtest_from_the_earliest_allowed_origin_and_no_runner_up_of_one_model(tmp_path, capsys):
    """Period 7 (8 periods of history) is the earliest origin accepted; a backtest of one model
    printed 'runner-up None' on every winners line: the runner-up is left out when there is none."""
    import json

    out = tmp_path / "bt"
    assert main(["backtest", *SMALL[:3], "--models", "last-value", "--horizon", "2", "--draws", "30", "--no-plots",
                 "--no-progress", "--out", str(out), "--origins=7:8"]) == 0
    printed = capsys.readouterr().out
    assert json.loads((out / "backtest.json").read_text())["settings"]["origins"] == ["2018-08-20", "2018-08-27"]
    best = [ln for ln in printed.splitlines() if " h=" in ln]
    assert len(best) == 4 and "runner-up" not in printed and "None" not in printed, printed
    assert main(["backtest", *SMALL[:3], "--models", "last-value,climatology", "--horizon", "2", "--draws", "30",
                 "--no-plots", "--no-progress", "--out", str(tmp_path / "bt2"), "--origins=7:8"]) == 0
    best = [ln for ln in capsys.readouterr().out.splitlines() if " h=" in ln]
    assert len(best) == 4 and all("; runner-up " in ln and "None" not in ln for ln in best), best


@needs_cases
def test_model_names_are_read_in_any_case(tmp_path, capsys):
    """`--model Last-Value` was refused ("invalid choice") while format and frequency names were read
    in any case; a model name is now too, and outputs spell it as the registry does."""
    import json

    args = [*SMALL[:-3], "--model", "Last-Value", "--no-plots"]
    assert main(["forecast", *args, "--out", str(tmp_path / "f")]) == 0
    assert json.loads((tmp_path / "f" / "forecast.json").read_text())["model"]["name"] == "last-value"
    assert main(["fit", *SMALL[:3], "--model", "HISTORIC-AVERAGE", "--out", str(tmp_path / "fit")]) == 0
    assert main(["backtest", *SMALL[:3], "--models", "Historic-Average", "--horizon", "1", "--origins=-4:-2",
                 "--draws", "20", "--no-plots", "--out", str(tmp_path / "bt")]) == 0
    assert "historic-average" in (tmp_path / "bt" / "scores.csv").read_text()
    capsys.readouterr()
