"""A hub counts people over one period (polish2, item 9; new-user trial): a weekly forecast is not put
silently beside a monthly one, under the same model id or any other, by `export-hub` or `forecast --hub`.
The hub's period is the ``time_unit`` its ``tasks.json`` records for every round's targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "reliability"
pytestmark = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
COMMON = ["--draws", "30", "--horizon", "2", "--no-plots"]
WEEKLY = [str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv")]


def _monthly(tmp_path: Path) -> list[str]:
    dates = pd.date_range("2020-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(1)
    pd.DataFrame([{"date": d.date(), "region": r, "series": "displaced", "value": int(rng.integers(100, 900))}
                  for r in ("NWS01", "NWS02") for d in dates]).to_csv(tmp_path / "m.csv", index=False)
    # regions of the weekly case's table: a hub refuses a forecast of none of its regions first
    pd.DataFrame({"code": ["NWS01", "NWS02"], "name": ["Alpha", "Beta"], "parent": ["P", "P"],
                  "population": [1_000_000, 1_000_000]}).to_csv(tmp_path / "mreg.csv", index=False)
    return [str(tmp_path / "m.csv"), "--regions", str(tmp_path / "mreg.csv")]


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _error(capsys) -> str:
    (msg,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    return msg


def test_monthly_and_weekly_under_one_model_id_are_refused(tmp_path, capsys):
    lv = ["--model", "last-value", *COMMON]
    assert main(["forecast", *WEEKLY, *lv, "--out", str(tmp_path / "weekly")]) == 0
    assert main(["forecast", *_monthly(tmp_path), *lv, "--out", str(tmp_path / "monthly")]) == 0
    hub = tmp_path / "hub"
    assert main(["export-hub", str(tmp_path / "weekly"), "--hub", str(hub)]) == 0
    before = _files(hub)
    capsys.readouterr()
    rc = main(["export-hub", str(tmp_path / "monthly"), "--hub", str(hub)])
    msg = _error(capsys)
    assert rc == 2 and "per week" in msg and "this forecast is per month" in msg and str(hub) in msg
    assert _files(hub) == before
    # the same through forecast --hub
    rc = main(["forecast", *_monthly(tmp_path), *lv, "--out", str(tmp_path / "m2"), "--hub", str(hub)])
    assert rc == 2 and "this forecast is per month" in _error(capsys)
    assert _files(hub) == before and not (tmp_path / "m2").exists()


def test_a_weekly_forecast_of_another_model_is_refused_by_a_monthly_hub(tmp_path, capsys):
    """The new-user trial: a monthly round of one model, then a weekly forecast of the same regions under
    another model id went in silently (only one model id's own rounds were compared). Refused now, with one
    line naming the hub's tasks.json, its unit (the time_unit it records) and the forecast's; nothing is
    written, neither to the hub nor to the forecast's --out."""
    assert main(["forecast", *_monthly(tmp_path), "--model", "last-value", *COMMON,
                 "--out", str(tmp_path / "monthly"), "--hub", str(tmp_path / "hub")]) == 0
    hub = tmp_path / "hub"
    tasks = json.loads((hub / "hub-config" / "tasks.json").read_text())
    assert {t["time_unit"] for r in tasks["rounds"] for mt in r["model_tasks"] for t in mt["target_metadata"]} \
        == {"month"}  # what the hub records of its period, and what the check reads
    assert main(["forecast", *WEEKLY, "--model", "historic-average", *COMMON, "--out", str(tmp_path / "weekly")]) == 0
    before = _files(hub)
    capsys.readouterr()
    want = (f"error: {hub}: option --hub: {hub / 'hub-config' / 'tasks.json'} declares forecasts per month "
            "(time_unit of round 2021-12-01); this forecast is per week: a hub's targets must count people over "
            "one period in every round, or new_displaced would mean months in one round and weeks in another; "
            "give another --hub")
    for argv in (["export-hub", str(tmp_path / "weekly"), "--hub", str(hub)],
                 ["export-hub", str(tmp_path / "weekly"), "--hub", str(hub), "--model", "ha_weekly", "--team", "t2"],
                 ["forecast", *WEEKLY, "--model", "historic-average", *COMMON, "--out", str(tmp_path / "w2"),
                  "--hub", str(hub)]):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.splitlines() == [want], argv
        assert _files(hub) == before, argv
    assert not (tmp_path / "w2").exists()
    # another monthly model is welcome: the hub is refused only another period
    assert main(["forecast", *_monthly(tmp_path), "--model", "historic-average", *COMMON,
                 "--out", str(tmp_path / "m2"), "--hub", str(hub)]) == 0
    assert (hub / "model-output" / "dfcast-historic_average").is_dir()


def test_export_to_hub_refuses_another_period_in_python(tmp_path):
    """The Python API refuses it too (the commands check before staging, to name the hub as given)."""
    from displacement_forecast.forecast.hub import (
        HubError,
        export_to_hub,
        hub_units,
        read_forecast_dir,
    )

    assert main(["forecast", *_monthly(tmp_path), "--model", "last-value", *COMMON,
                 "--out", str(tmp_path / "monthly")]) == 0
    assert main(["forecast", *WEEKLY, "--model", "last-value", *COMMON, "--out", str(tmp_path / "weekly")]) == 0
    hub = tmp_path / "hub"
    export_to_hub(*read_forecast_dir(tmp_path / "monthly"), hub)
    assert hub_units(json.loads((hub / "hub-config" / "tasks.json").read_text())) == {"month": "2021-12-01"}
    before = _files(hub)
    with pytest.raises(HubError, match=r"declares forecasts per month .*this forecast is per week"):
        export_to_hub(*read_forecast_dir(tmp_path / "weekly"), hub, model="other")
    assert _files(hub) == before
