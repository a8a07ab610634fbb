"""Drivers from the data (issue 16 item 1): the default rule, --drivers, and the two clear errors.

Cases ``../shared/cases/ingest/13_*`` (strikes but no flights; an all-zero region, a late
starter, a gap) and ``13b_*`` (a quiet neighbour in the same zone) stand for every panel whose
conflict series are not the synthetic strikes + flights.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from displacement_forecast.cli import main
from displacement_forecast.data.schema import DataError
from displacement_forecast.models.driver_choice import available_drivers, resolve_drivers

CASE = SHARED / "cases" / "ingest"


def _case(name: str, regions: str):
    f, r = CASE / name, CASE / regions
    if not f.exists():
        pytest.skip(f"case {f} is absent (it sits beside the project in ../shared)")
    return str(f), str(r)


def _medians(out) -> pd.DataFrame:
    f = pd.read_csv(out / "forecast.csv")
    f = f[(f["target"] == "new_displaced") & (f["output_type"] == "quantile")
          & np.isclose(f["output_type_id"].astype(float), 0.5)]
    return f.pivot_table(index="region", columns="horizon", values="value")


def test_default_rule_order_and_all_zero_series():
    s = {"displaced": np.ones(3), "events": np.array([1.0, 0, 2]), "flights": np.zeros(3),
         "strikes": np.array([np.nan, 1.0, 0])}
    assert available_drivers(s) == ("strikes", "events")
    assert resolve_drivers("auto", s, "nb-dl", max_n=1) == ("strikes",)
    with pytest.raises(DataError, match="driver series shelling not in the data"):
        resolve_drivers(["shelling"], s, "nb-dl")
    with pytest.raises(DataError, match="use a model without drivers: .*dynamic"):
        resolve_drivers("auto", {"displaced": np.ones(3)}, "nb-dl")


@pytest.mark.parametrize("model", ["nb-dl", "dynamic", "sarimax", None])
def test_case13_forecast_with_strikes_but_no_flights(tmp_path, model):
    """Every driver model (and the default) runs on strikes only; the all-zero region stays near 0;
    the sidecar records the drivers used and the rule."""
    data, regions = _case("13_weekly_zero_late_gap.csv", "13_regions.csv")
    out = tmp_path / "o"
    args = ["forecast", data, "--regions", regions, "--horizon", "4", "--draws", "200", "--no-plots", "--out", str(out)]
    assert main(args + (["--model", model] if model else [])) == 0
    med = _medians(out)
    assert (med.loc["R2"] <= 5).all()
    assert (med.loc[["R1", "R3", "R4"]] > 20).all().all()
    side = json.loads((out / "forecast.json").read_text())
    if model in ("nb-dl", "dynamic"):
        assert side["model"]["config"]["drivers"] == ["strikes"]
        assert "strikes, shelling, flights" in side["model"]["config"]["driver_rule"]


def test_case13b_quiet_neighbour_no_singular_fit(tmp_path):
    data, regions = _case("13b_quiet_neighbour_with_flights.csv", "13b_regions.csv")
    for model in ("nb-dl", "dynamic"):
        out = tmp_path / model
        assert main(["forecast", data, "--regions", regions, "--model", model, "--horizon", "3", "--draws", "200",
                     "--no-plots", "--out", str(out)]) == 0
        assert (_medians(out).loc["R2"] <= 5).all()


def test_drivers_option_and_errors(tmp_path, capsys):
    data, regions = _case("13b_quiet_neighbour_with_flights.csv", "13b_regions.csv")
    base = ["forecast", data, "--regions", regions, "--horizon", "2", "--draws", "100", "--no-plots"]
    assert main(base + ["--model", "nb-dl", "--drivers", "flights", "--out", str(tmp_path / "a")]) == 0
    side = json.loads((tmp_path / "a" / "forecast.json").read_text())
    assert side["model"]["config"]["drivers"] == ["flights"]
    capsys.readouterr()
    assert main(base + ["--model", "nb-dl", "--drivers", "events", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error")]
    assert len(lines) == 1 and "events not in the data" in lines[0] and "Traceback" not in err
    assert main(base + ["--model", "last-value", "--drivers", "strikes", "--out", str(tmp_path / "c")]) == 2
    assert "uses no driver series" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_no_driver_at_all_names_the_driver_free_models(tmp_path, capsys):
    data, regions = _case("14_log_ar1_around_10000.csv", "14_regions.csv")
    assert main(["forecast", data, "--regions", regions, "--model", "nb-dl", "--horizon", "2", "--draws", "50",
                 "--no-plots", "--out", str(tmp_path / "o")]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "the data have none" in err[0] and "historic-average" in err[0]


def test_backtest_drivers_option(tmp_path):
    data, regions = _case("13_weekly_zero_late_gap.csv", "13_regions.csv")
    out = tmp_path / "bt"
    assert main(["backtest", data, "--regions", regions, "--models", "nb-dl,dynamic", "--drivers", "strikes",
                 "--horizon", "2", "--origins", "2019-08-19:2019-09-30:3", "--draws", "100", "--no-plots",
                 "--no-progress", "--out", str(out)]) == 0
    scores = pd.read_csv(next(out.glob("*scores*.csv")))
    assert {"nb-dl", "dynamic"} <= set(scores["model"])
