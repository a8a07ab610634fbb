"""Forecast table and files: coherent summaries from paths, the CSV schema, sidecar, atomic writes, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from displacement_forecast.cli import main
from displacement_forecast.forecast.output import write_forecast
from displacement_forecast.forecast.run import run_forecast, write_run
from displacement_forecast.forecast.summaries import (
    HUB_COLUMNS,
    QUANTILE_LEVELS,
    intervals,
    quantiles,
    validate_levels,
    with_total,
)
from displacement_forecast.scenarios import Scenario

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria" / "observations.csv"


@pytest.fixture(scope="module")
def run(fitted_nbdl):
    return run_forecast(model=fitted_nbdl, scenarios=[Scenario.baseline(), Scenario.intensify(["South Idlib"], 2)],
                        horizon=6, n_draws=500, seed=3, thresholds=[50_000, 250_000])


def test_quantile_levels_cover_the_issue():
    assert len(QUANTILE_LEVELS) >= 23
    assert {0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975} <= set(QUANTILE_LEVELS)


def test_frame_schema_and_contents(run):
    f = run.frame
    assert tuple(f.columns) == HUB_COLUMNS
    assert set(f["target"]) == {"new_displaced", "cum_new_displaced"}
    assert set(f["output_type"]) == {"mean", "quantile", "cdf"}
    assert set(f["scenario"]) == {"baseline", "intensify"}
    assert "ALL" in set(f["region"])
    n_units = 2 * 2 * 14 * 6  # scenarios x targets x (13 regions + ALL) x horizons
    assert len(f) == n_units * (1 + len(QUANTILE_LEVELS) + 2)
    assert not f["value"].isna().any() and (f["value"] >= 0).all()


def test_quantiles_monotone_and_cdf_in_unit_interval(run):
    q = run.frame[run.frame.output_type == "quantile"].copy()
    q["lvl"] = q["output_type_id"].astype(float)
    for _, g in q.groupby(["scenario", "region", "target", "horizon"]):
        assert g.sort_values("lvl")["value"].is_monotonic_increasing
    cdf = run.frame[run.frame.output_type == "cdf"]
    assert cdf["value"].between(0, 1).all()


def test_all_region_is_sum_of_regions_draw_by_draw(run):
    p = with_total(run.paths["baseline"])
    np.testing.assert_allclose(p.sel(region="ALL").values, run.paths["baseline"].sum("region").values)
    m = run.frame[(run.frame.output_type == "mean") & (run.frame.scenario == "baseline")]
    for (_t, _h), g in m.groupby(["target", "horizon"]):
        assert g[g.region == "ALL"]["value"].iloc[0] == pytest.approx(g[g.region != "ALL"]["value"].sum(), abs=1.0)


def test_cumulative_cdf_matches_exceedance_from_paths(run):
    """P(cum > 250k) from the CSV's cdf row equals the share of paths above it."""
    row = run.frame.query("scenario=='intensify' and region=='ALL' and target=='cum_new_displaced' "
                          "and horizon==6 and output_type=='cdf' and output_type_id=='250000'")
    assert len(row) == 1
    assert 1 - row["value"].iloc[0] == pytest.approx(run.prob_exceed(250_000, 6)["intensify"], abs=1e-4)


def test_levels_validated():
    with pytest.raises(ValueError, match="between 0 and 100"):
        validate_levels([80, 100])
    paths = xr.DataArray(np.random.default_rng(0).poisson(5, (100, 2, 3)).astype(float), dims=("draw", "region", "horizon"),
                         coords={"region": ["a", "b"], "horizon": [1, 2, 3], "target_date": ("horizon", pd.date_range("2020-01-06", periods=3, freq="W-MON"))})
    w = intervals(paths, [80, 50], name="nb-dl")
    assert list(w.columns) == ["region", "horizon", "nb-dl-median", "nb-dl-lo-50", "nb-dl-hi-50", "nb-dl-lo-80", "nb-dl-hi-80"]
    assert (w["nb-dl-lo-80"] <= w["nb-dl-lo-50"]).all()
    with pytest.raises(ValueError):
        quantiles(paths, [0.0, 0.5])


def test_sidecar_records_provenance(run):
    s = run.sidecar
    assert s["model"]["name"] == "nb-dl" and s["forecast"]["seed"] == 3
    assert s["data"]["vintage"]["displaced"] == "2020-01-20"
    assert [x["id"] for x in s["scenarios"]] == ["baseline", "intensify"]
    assert any("future conflict" in u for u in s["uncertainty_included"])
    json.dumps(s)


def test_write_is_atomic_and_escapes_formulas(tmp_path, run):
    f = run.frame.copy()
    f.loc[0, "scenario"] = "=HYPERLINK(\"http://x\")"
    csv, side = write_forecast(f, run.sidecar, tmp_path)
    text = csv.read_text()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    # A failing write leaves neither a partial file nor a temp file behind.
    bad = run.frame.drop(columns=["value"])
    with pytest.raises(ValueError):
        write_forecast(bad, run.sidecar, tmp_path / "x")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_write_run_makes_plots(tmp_path, run):
    files = write_run(run, tmp_path)
    names = {p.name for p in files}
    assert {"forecast.csv", "forecast.json", "fan_baseline.png", "fan_intensify.png", "exceedance.png"} <= names
    assert all(p.stat().st_size > 1000 for p in files)
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_forecast_end_to_end(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid="baseline"\n[[scenario]]\nid="south-x3"\n  [[scenario.change]]\n'
                    '  regions=["South Idlib"]\n  multiply=3\n  weeks=4\n')
    rc = main(["forecast", str(DATA), "--scenarios", str(toml), "--horizon", "4", "--draws", "200",
               "--out", str(tmp_path / "out"), "--no-plots", "--thresholds", "250000"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "P(more than 250,000 newly displaced within 4 weeks, by " in out
    df = pd.read_csv(tmp_path / "out" / "forecast.csv")
    assert set(df["scenario"]) == {"baseline", "south-x3"}


def test_cli_forecasts_the_baseline_when_the_scenario_file_has_none(tmp_path, capsys):
    """A file holding only 'ceasefire-south' and 'double-all' gave a forecast without baseline rows
    and no word, though --help says the default is the baseline: it is forecast first, with a note."""
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid="ceasefire-south"\n  [[scenario.change]]\n  regions=["South Idlib"]\n'
                    '  multiply=0\n[[scenario]]\nid="double-all"\n  [[scenario.change]]\n  regions=["ALL"]\n'
                    '  multiply=2\n')
    base = ["forecast", str(DATA), "--model", "nb-dl", "--scenarios", str(toml), "--horizon", "2", "--draws", "50",
            "--no-plots", "--thresholds", "250000"]
    assert main([*base, "--out", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    notes = [ln for ln in err.splitlines() if "baseline" in ln]
    assert notes == [f"note: {toml} has no 'baseline' scenario; it is forecast too (conflict continues as "
                     "forecast), as every scenario is read against it"], err
    assert re.search(r"P\(more than 250,000 newly displaced within 2 weeks, by \d+ \w+ \d{4}\): baseline ", out), out
    df = pd.read_csv(tmp_path / "out" / "forecast.csv")
    assert list(dict.fromkeys(df["scenario"])) == ["baseline", "ceasefire-south", "double-all"]
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert [s["id"] for s in side["scenarios"]] == ["baseline", "ceasefire-south", "double-all"]
    # a file that has its own baseline (any case: chart files are named without case) is that baseline,
    # spelled 'baseline' in the outputs: 'Baseline' rows escaped a pipeline filtering scenario == "baseline"
    toml.write_text('[[scenario]]\nid="Baseline"\n[[scenario]]\nid="double-all"\n  [[scenario.change]]\n'
                    '  regions=["ALL"]\n  multiply=2\n')
    assert main([*base, "--out", str(tmp_path / "out2")]) == 0
    err = capsys.readouterr().err
    assert "no 'baseline' scenario" not in err
    assert "key scenario 'Baseline'.id: id 'Baseline' is the baseline: it is written 'baseline' in the outputs" in err
    assert set(pd.read_csv(tmp_path / "out2" / "forecast.csv")["scenario"]) == {"baseline", "double-all"}


def test_cli_bad_scenario_is_one_line_per_problem(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid="x"\n  [[scenario.change]]\n  regions=["Atlantis"]\n  multiply=-2\n')
    rc = main(["forecast", str(DATA), "--scenarios", str(toml), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Atlantis" in err and "multiply" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cum80", [0.79, 0.55])
def test_forecast_backtest_marks_cumulative_intervals_that_did_not_cover(tmp_path, capsys, cum80):
    """A backtest whose per-period intervals covered as stated but whose sums from the first period
    (cum_new_displaced) did not: the sidecar's `cumulative_intervals_calibrated_in_backtest` is
    false, with its own mark, mark-column phrase and warning line naming the target, while
    `intervals_calibrated_in_backtest` (each period's) stays true. Where the sums covered too,
    nothing of it is said."""
    rows = [dict(model="last-value", scope=scope, target=target, horizon=h, crps=1.0, wis=1.0, cover_50=0.5,
                 cover_80=cum80 if target == "cum_new_displaced" and h == 2 else 0.8, cover_90=0.9, cover_95=0.95,
                 mae=1, mape=1, ignorance=1, skill=0.0, n=100, n_origins=10, first_origin="2019-01-07",
                 last_origin="2019-03-11")
            for target in ("new_displaced", "cum_new_displaced") for scope in ("regions", "ALL") for h in (1, 2)]
    pd.DataFrame(rows).to_csv(tmp_path / "summary.csv", index=False)
    rc = main(["forecast", str(DATA), "--model", "last-value", "--horizon", "2", "--draws", "30", "--no-plots",
               "--thresholds", "1000", "--backtest", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    fc = pd.read_csv(tmp_path / "out" / "forecast.csv")
    off = cum80 < 0.75  # pooled over horizons 1 and 2: (0.8 + 0.55) / 2, more than 5 points short
    assert side["intervals_calibrated_in_backtest"] is True and not side["marks"]["bands_did_not_cover_in_backtest"]
    assert side["cumulative_intervals_calibrated_in_backtest"] is (not off)
    assert side["marks"]["cumulative_bands_did_not_cover_in_backtest"] is off
    assert side["backtest"]["cumulative"]["intervals_ok"] is (not off)
    phrase = "CAUTION: cumulative intervals (cum_new_displaced) did not cover as stated in backtests"
    line = ("cumulative intervals (cum_new_displaced: sums from the first forecast period) did not cover as "
            "stated: 80% interval covered 68%")
    if off:
        # the only mark (per-period intervals covered), with the band off and its direction
        assert (fc["mark"] == f"{phrase} (80% too narrow; no interval of these rates)").all(), \
            fc["mark"].iloc[0]
        assert f"WARNING: in backtests (10 origins, the all-region total) {line}" in err
        assert any(line in w for w in side["warnings"]) and "intervals did not cover" not in err.replace(line, "")
    else:
        assert "mark" not in fc.columns and "cumulative" not in err and side["backtest"]["cumulative"]["warnings"] == []


def test_backtest_record_flags_intervals_that_did_not_cover(tmp_path, capsys):
    """A backtest where 80% intervals covered 63% puts a warning in the sidecar and on stderr."""
    rows = []
    for scope, cov80 in (("regions", 0.79), ("ALL", 0.63)):
        for h in (1, 2):
            rows.append(dict(model="nb-dl", scope=scope, horizon=h, crps=1.0, wis=1.0, cover_50=0.5, cover_80=cov80,
                             cover_90=0.9, cover_95=0.95, mae=1, mape=1, ignorance=1, skill=0.1, n=100,
                             n_origins=10, first_origin="2019-01-07", last_origin="2019-03-11"))
    pd.DataFrame(rows).to_csv(tmp_path / "summary.csv", index=False)
    from displacement_forecast.evaluate.backtest import backtest_record

    assert backtest_record(tmp_path, "nb-dl", scope="regions")["intervals_ok"]
    rec = backtest_record(tmp_path, "nb-dl")
    assert not rec["intervals_ok"] and "80% interval covered 63%" in rec["warnings"][0]
    rc = main(["forecast", str(DATA), "--model", "nb-dl", "--horizon", "2", "--draws", "100", "--no-plots",
               "--backtest", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0 and "80% interval covered 63%" in err
    # no backtest.json beside the summary: which data it was run on cannot be checked, and it says so
    assert f"WARNING: --backtest {tmp_path}: no backtest.json, so which data the backtest was run on is not known" in err
    assert rec["interval_90"] == {} and rec["interval_note"].startswith("no scores.csv")  # no interval claimed
    # a damaged scores.csv beside it (another writer's, a bad date): the record stands, without intervals
    for text in ("model,origin\n", "model,origin,target_date,region,horizon,observed,cover_50,cover_80,cover_90,"
                 "cover_95\nnb-dl,garbage,2019-01-14,ALL,1,x,1,1,1,1\n"):
        (tmp_path / "scores.csv").write_text(text)
        bad = backtest_record(tmp_path, "nb-dl")
        assert bad["interval_90"] == {} and bad["interval_note"] in (  # header only / no usable cell
            f"{tmp_path / 'scores.csv'}: not readable for the intervals of the rates (ValueError); none given",
            "no scored cells"), bad["interval_note"]
        assert not bad["intervals_ok"] and "80% interval covered 63%" in bad["warnings"][0]
    (tmp_path / "scores.csv").unlink()
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert side["intervals_calibrated_in_backtest"] is False
    assert any("63%" in w for w in side["warnings"])
    assert main(["forecast", str(DATA), "--backtest", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]) == 2


def test_upper_tails_cut_at_a_bound_are_named():
    """Known paths: a movements region whose paths pile at its population, one piled at a model's
    cap (10x its record + 10), a depleting region whose paths reach its people at risk, and a
    smooth heavy tail: only the first two are named, with the bound, the periods and the share."""
    from displacement_forecast.forecast.summaries import tail_warnings

    D, H = 1000, 4
    rng = np.random.default_rng(0)
    p = np.round(rng.lognormal(4, 1.5, (D, 4, H)))  # smooth heavy tails, no pile
    p[:, 0, :] = np.minimum(p[:, 0, :] * 50, 5_000)  # A: movements, population 5,000
    p[:, 1, [0, 1, 3]] = np.minimum(p[:, 1, [0, 1, 3]], 1_510)  # B: a cap at 10 x 150 + 10 in periods 1-2, 4
    p[-30:, 1, [0, 1, 3]] = 1_510
    p[:, 1, 2] = np.minimum(p[:, 1, 2], 1_000)  # (period 3 smooth: below the cap, no pile at 1,000)
    p[p[:, 1, 2] == 1_000, 1, 2] = 999 - np.arange((p[:, 1, 2] == 1_000).sum())
    p[:, 2, 0] = np.minimum(p[:, 2, 0] * 50, 3_000)  # C: depleting, reaches its 3,000 at risk in period 1
    arr = xr.DataArray(p, dims=("draw", "region", "horizon"), coords={"region": ["A", "B", "C", "D"]})
    hist = np.array([[90.0, np.nan, 120.0], [150.0, 10.0, 5.0], [400.0, 300.0, np.nan], [50.0, 60.0, 70.0]])
    pop = np.array([5_000.0, 1e6, 3_000.0, 1e6])
    out = tail_warnings(arr, pop, pop, np.array([False, True, True, True]), hist, "month")
    assert len(out) == 2, out
    assert out[0].startswith(f"region A: in months 1-4 up to {(p[:, 0, :] == 5_000).mean(axis=0).max():.0%} of the paths") and "sit at the region table's population " \
        "(5,000), the cap of each period" in out[0] and "placeholder" in out[0]
    assert out[1].startswith("region B: in months 1-2 and 4 up to 4% of the paths sit at one value (up to 1,510, "
                             "10.1x its largest month on record (150)), a model's cap")
    # A counting people: its pile at its people not yet displaced is the region emptying, not named
    out = tail_warnings(arr, pop, pop, np.array([True, True, True, True]), hist, "month")
    assert [w.split(":")[0] for w in out] == ["region B"]


def test_the_forecast_says_when_a_tail_reaches_a_bound(tmp_path, capsys):
    """End to end: a region counting movements whose population is just above its largest count
    (each period is capped there) is named on screen and in the sidecar's warnings; no other is."""
    from displacement_forecast.data.simulate import simulate_nw_syria

    sim = simulate_nw_syria(seed=1)
    obs = sim.observations
    regions = sim.regions.frame.copy()
    top = obs[(obs.series == "displaced") & (obs.region == regions.code[0])]["value"].max()
    regions.loc[0, "population"] = int(top) + 1  # just above its largest count: movements, capped there
    regions["counts"] = ["movements"] + ["people"] * (len(regions) - 1)
    regions.to_csv(tmp_path / "regions.csv", index=False)
    obs.to_csv(tmp_path / "obs.csv", index=False)
    rc = main(["forecast", str(tmp_path / "obs.csv"), "--regions", str(tmp_path / "regions.csv"), "--model",
               "last-value", "--horizon", "4", "--draws", "400", "--no-plots", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    side = json.loads((tmp_path / "out" / "forecast.json").read_text())
    named = [w for w in side["tails"] if w.startswith(f"region {regions.code[0]}: in weeks")
             and "sit at the region table's population" in w]
    assert named and f"WARNING: {named[0]}" in err
    assert not [w for w in side["tails"] if w not in named]
    assert not [w for w in side["warnings"] if "of the paths sit at" in w]  # not a reason for an UNRELIABLE mark
