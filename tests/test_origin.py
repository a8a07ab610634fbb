"""``forecast --origin DATE``: a hindcast sees only rows up to the origin period."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.hindcast import truncate_at_origin
from displacement_forecast.data.schema import DataError


@pytest.fixture
def small(sim, tmp_path):
    codes = ["NWS01", "NWS02", "NWS03"]
    obs = sim.observations[sim.observations["region"].isin(codes)]
    obs = obs[obs["date"] >= obs["date"].max() - pd.Timedelta(weeks=70)]
    sim.regions.frame[sim.regions.frame["code"].isin(codes)].to_csv(tmp_path / "regions.csv", index=False)
    return obs[["date", "region", "series", "value"]].copy(), tmp_path / "regions.csv"


def _run(obs, regions, out, origin):
    path = out.parent / f"{out.name}.csv"
    obs.assign(date=obs["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    code = main(["forecast", str(path), "--regions", str(regions), "--origin", origin, "--horizon", "4",
                 "--draws", "80", "--seed", "3", "--no-plots", "--model", "last-value", "--out", str(out)])
    assert code == 0
    return (out / "forecast.csv").read_bytes(), json.loads((out / "forecast.json").read_text())


def test_garbage_after_the_origin_changes_nothing(small, tmp_path, capsys):
    obs, regions = small
    dates = sorted(obs["date"].unique())
    origin = pd.Timestamp(dates[-12])
    clean, side = _run(obs, regions, tmp_path / "clean", str((origin + pd.Timedelta(days=3)).date()))
    later = obs["date"] > origin
    garbage = obs.copy()
    garbage.loc[later, "value"] = 1e6  # every later count absurd
    extra = garbage[later].assign(date=garbage.loc[later, "date"] + pd.Timedelta(weeks=30))
    dirty, side2 = _run(pd.concat([garbage, extra]), regions, tmp_path / "dirty", str(origin.date()))
    assert clean == dirty
    for s in (side, side2):
        assert s["forecast"]["hindcast"]["origin"] == str(origin.date()) == s["data"]["last_period"]
        assert s["forecast"]["origin_date"] == str(origin.date())
    assert side["forecast"]["hindcast"]["rows_ignored"] == int(later.sum())
    # the later rows (garbage and the extra weeks) are counted as ignored, not silently dropped
    assert side2["forecast"]["hindcast"]["rows_ignored"] > side["forecast"]["hindcast"]["rows_ignored"]
    # the control: without --origin the same file is read to its end and its garbage refused (counts
    # above the populations), so `clean == dirty` above is the origin cutting the garbage off
    path = tmp_path / "seen.csv"
    pd.concat([garbage, extra]).assign(date=lambda d: d["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    capsys.readouterr()
    assert main(["forecast", str(path), "--regions", str(regions), "--horizon", "4", "--draws", "80",
                 "--no-plots", "--model", "last-value", "--out", str(tmp_path / "seen")]) == 2
    assert "1,000,000" in capsys.readouterr().err and not (tmp_path / "seen").exists()


def test_origin_outside_the_data_is_one_clear_error(small, tmp_path, capsys):
    obs, _ = small
    for bad in ("2001-01-01", "2100-01-01"):
        with pytest.raises(DataError, match="outside the data"):
            truncate_at_origin(obs, bad, file="obs.csv")
    with pytest.raises(DataError, match="not a date"):
        truncate_at_origin(obs, "yesterday")
    kept, label, dropped = truncate_at_origin(obs, str(obs["date"].max().date()))
    assert dropped == 0 and len(kept) == len(obs) and label == obs["date"].max()
