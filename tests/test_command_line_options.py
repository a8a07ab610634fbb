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


@needs_cases
@pytest.mark.parametrize("spec", ["01/06/2019:2019-12-30", "2019-01-07:30/12/2019"])
def test_backtest_origins_dates_must_be_iso(tmp_path, capsys, spec):
    rc = main(["backtest", *SMALL[:3], "--models", "last-value", "--out", str(tmp_path / "bt"), f"--origins={spec}"])
    (msg,) = errors(capsys.readouterr().err)
    assert rc == 2 and "--origins" in msg and "YYYY-MM-DD" in msg


@needs_cases
def test_iso_origin_is_read_as_written(tmp_path, capsys):
    import json

    assert main(["forecast", *SMALL, "--out", str(tmp_path / "out"), "--origin", "2019-06-05"]) == 0
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert side["forecast"]["hindcast"]["origin"] == "2019-06-03"  # the week (from Monday) holding 5 June
