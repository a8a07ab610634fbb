"""One model id and target in a hub means one frequency (polish2, item 9): a monthly forecast is not
put silently beside a weekly one of the same model id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "reliability"
pytestmark = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")


def _monthly(tmp_path: Path) -> list[str]:
    dates = pd.date_range("2020-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(1)
    pd.DataFrame([{"date": d.date(), "region": r, "series": "displaced", "value": int(rng.integers(100, 900))}
                  for r in ("NWS01", "NWS02") for d in dates]).to_csv(tmp_path / "m.csv", index=False)
    # regions of the weekly case's table: a hub refuses a forecast of none of its regions first
    pd.DataFrame({"code": ["NWS01", "NWS02"], "name": ["Alpha", "Beta"], "parent": ["P", "P"],
                  "population": [1_000_000, 1_000_000]}).to_csv(tmp_path / "mreg.csv", index=False)
    return [str(tmp_path / "m.csv"), "--regions", str(tmp_path / "mreg.csv")]


def test_monthly_and_weekly_under_one_model_id_are_refused(tmp_path, capsys):
    common = ["--model", "last-value", "--draws", "30", "--horizon", "2", "--no-plots"]
    assert main(["forecast", str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"),
                 *common, "--out", str(tmp_path / "weekly")]) == 0
    assert main(["forecast", *_monthly(tmp_path), *common, "--out", str(tmp_path / "monthly")]) == 0
    hub = tmp_path / "hub"
    assert main(["export-hub", str(tmp_path / "weekly"), "--hub", str(hub)]) == 0
    before = {p: p.read_bytes() for p in hub.rglob("*") if p.is_file()}
    capsys.readouterr()
    rc = main(["export-hub", str(tmp_path / "monthly"), "--hub", str(hub)])
    (msg,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and "per week" in msg and "per month" in msg and "--model" in msg
    assert {p: p.read_bytes() for p in hub.rglob("*") if p.is_file()} == before
    # the same through forecast --hub
    rc = main(["forecast", *_monthly(tmp_path), *common, "--out", str(tmp_path / "m2"), "--hub", str(hub)])
    assert rc == 2 and "per month" in capsys.readouterr().err
    # kept apart under another model abbreviation: accepted
    assert main(["export-hub", str(tmp_path / "monthly"), "--hub", str(hub), "--model", "lv_monthly"]) == 0
    assert (hub / "model-output" / "dfcast-lv_monthly").is_dir()
