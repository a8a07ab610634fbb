"""Region-chunked forecasts (forecast/streaming.py): the same file whatever the chunks, the same
summaries as hub_frame, the same distribution as the whole-panel sampler."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.schema import DataError
from displacement_forecast.forecast import engine
from displacement_forecast.forecast.run import run_forecast
from displacement_forecast.forecast.streaming import region_chunks, stream_forecast
from displacement_forecast.models import get_model
from displacement_forecast.scenarios import Change, Scenario, load_scenarios

ROOT = Path(__file__).resolve().parents[1]
KEY = ["scenario", "region", "target", "horizon", "output_type", "output_type_id"]


@pytest.fixture(scope="module")
def fitted(sim):
    # with its driver forecaster: a test run alone (or first on an xdist worker) must not rely on
    # an earlier test's forecast having fitted it on this shared fixture
    return engine.fit(get_model("nb-dl"), sim.observations, sim.regions)


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_chunked_file_equals_unchunked_for_the_same_seed(fitted, sim, tmp_path):
    scen = load_scenarios(ROOT / "experiments" / "scenarios" / "idlib.toml", sim.regions)  # incl. hold
    kw = dict(horizon=5, n_draws=120, seed=11)
    one = stream_forecast(fitted, scen, tmp_path / "one.csv", chunk_regions=10**6, **kw)
    small = stream_forecast(fitted, scen, tmp_path / "small.csv", chunk_regions=1, workers=2, **kw)
    assert len(one.chunks) == 1 and len(small.chunks) > 2
    assert _md5(tmp_path / "one.csv") == _md5(tmp_path / "small.csv")
    pq = stream_forecast(fitted, scen, tmp_path / "f.parquet", chunk_regions=4, file_format="parquet", **kw)
    a = pd.read_csv(tmp_path / "one.csv", keep_default_na=False, dtype={"output_type_id": str})
    b = pd.read_parquet(tmp_path / "f.parquet")
    assert list(a.columns) == list(b.columns) and len(a) == one.n_rows == pq.n_rows
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())
    assert (a["region"] == b["region"]).all()
    import pyarrow.parquet as papq  # one row group here (each chunk's slices were one apiece: 100s)

    assert papq.ParquetFile(tmp_path / "f.parquet").metadata.num_row_groups == 1
    # ALL is the sum of the regions draw by draw, whatever the chunks
    for sid, tot in one.totals.items():
        np.testing.assert_array_equal(tot, small.totals[sid])
    assert not list(tmp_path.glob(".*"))  # no part files left


@pytest.mark.parametrize("name", ["last-value", "dynamic"])  # without and with driver paths
def test_rows_are_hub_frame_for_the_same_paths(sim, tmp_path, name):
    """A model without a chunked sampler gets run_forecast's paths: every value equals hub_frame's."""
    m = get_model(name).fit(sim.observations, sim.regions)
    scen = [Scenario.baseline(), Scenario.ceasefire()]
    got = stream_forecast(m, scen, tmp_path / "f.csv", horizon=4, n_draws=200, seed=5, chunk_regions=3)
    a = pd.read_csv(got.path, keep_default_na=False, dtype={"output_type_id": str})
    ref = run_forecast(model=m, scenarios=scen, horizon=4, n_draws=200, seed=5).frame
    assert len(a) == len(ref)
    mm = ref.merge(a, on=KEY, suffixes=("_ref", "_got"), validate="one_to_one")
    assert len(mm) == len(ref)
    np.testing.assert_array_equal(mm["value_ref"].to_numpy(), mm["value_got"].to_numpy())
    assert (mm["target_date_ref"] == mm["target_date_got"]).all()


@pytest.mark.parametrize("name", ["last-value", "dynamic"])
def test_streamed_csv_is_the_unchunked_writers_bytes(sim, tmp_path, name):
    """Same paths, same file: the streamed CSV quoted every text cell, wrote `""` for an empty
    output_type_id and `40114` for 40114.0, in another row order. A text cell a spreadsheet would
    run (a region code starting with `=`) is escaped in both."""
    from displacement_forecast.data.regions import RegionTable
    from displacement_forecast.forecast.marks import apply_marks, mark_text
    from displacement_forecast.forecast.output import write_forecast

    code = sim.regions.codes[1]
    regions = RegionTable(sim.regions.frame.replace({"code": {code: "=1+1"}}))
    obs = sim.observations.replace({"region": {code: "=1+1"}})
    m = get_model(name).fit(obs, regions)
    scen = [Scenario.baseline(), Scenario.ceasefire()]
    run = run_forecast(model=m, scenarios=scen, horizon=4, n_draws=200, seed=5)
    apply_marks(run.sidecar, fit_reliable=False)  # a marked run: the `mark` column in both
    whole, _ = write_forecast(run.frame, run.sidecar, tmp_path / "whole")
    got = stream_forecast(m, scen, tmp_path / "chunked.csv", horizon=4, n_draws=200, seed=5, chunk_regions=3,
                          mark=mark_text(run.sidecar))
    text = whole.read_bytes()
    assert got.path.read_bytes() == text
    assert len(got.chunks) > 1 and not got.chunked_sampler  # the engine's paths, summarised chunk by chunk
    # dates unquoted (the mark is quoted where it holds commas: last-value's says no scenario moves it)
    assert b"\n2" in text and b'"2' not in text and b',"2' not in text
    assert b",'=1+1," in text and b",=1+1," not in text
    assert b",mean,," in text  # an empty type id is empty, not ""
    assert b".0,UNRELIABLE" in text or b'.0,"UNRELIABLE' in text  # 40114.0, not 40114
    assert not list(tmp_path.glob(".*"))


def test_forecast_rows_are_what_pandas_writes_with_text_escaped():
    """write_forecast_rows (both writers' formatting) is escape_text_columns + DataFrame.to_csv,
    batch by batch, for every kind of cell: quoting, formulas, missing cells, float spellings."""
    import io

    import displacement_forecast.forecast.output as output
    from displacement_forecast.data.io import escape_text_columns

    v = [0.0, -0.0, 1e-05, 0.0001, 1e16, 123456789012.3, np.nan, np.inf, 40114.0, 0.1 + 0.2, 5e-324, 2.5]
    text = ["x,y", 'q"t', "=1+1", None, "a\nb", "-5", "+x", "@a", " sp ", "", "x\ry", "-"]
    df = pd.DataFrame({"value": v, "text": text, "n": np.arange(12) - 3,
                       "cat": pd.Categorical(["=A", "b", "=A", "c,d", None, "b"] * 2), "mark": "=MARK"})
    # categorical cells (a streamed run's) are escaped too, as the same cells held as text
    want = escape_text_columns(df.astype({"cat": object})).to_csv(index=False, lineterminator="\n")
    assert "'=A" in want and "'=1+1" in want and '"x,y"' in want and ",'-5," not in want
    for batch in (100_000, 5):
        out = io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(output, "ROWS_PER_BATCH", batch)
            output.write_forecast_rows(df.iloc[:7], out, header=True)
            output.write_forecast_rows(df.iloc[7:], out, header=False)
        assert out.getvalue() == want


def test_chunked_sampler_has_the_distribution_of_the_whole_panel_sampler(fitted):
    """Different random numbers, same model: quantiles of the 8-week all-region total agree."""
    D, H = 3000, 8
    sc = Scenario.intensify(["ALL"], 1.5)
    from displacement_forecast.forecast.streaming import _ChunkedNBDL

    s = _ChunkedNBDL(fitted, H, D, 1)
    idx = np.arange(len(fitted.active_))
    base = s.baseline(idx)
    fut = sc.apply(base, fitted.panel_.regions, fitted.panel_.future_dates(H))
    a, noise = s.randomness(idx)
    tot = s.displacement(idx, fut, a, noise).sum(axis=(1, 2))
    ref = fitted.sample_paths(H, sc, n_draws=D, seed=2).values.sum(axis=(1, 2))
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(tot, q) / np.quantile(ref, q) - 1) < 0.08, q
    for k in base:
        ref_k = fitted.driver_model_.sample(H, D, np.random.default_rng(3))[k].mean()
        assert abs(base[k].mean() / ref_k - 1) < 0.08, k


def test_region_chunks_keep_zones_whole_and_order_fixed():
    zones = np.array([0, 1, 0, 2, 1, 2, 2])
    for n in (1, 2, 3, 100):
        ch = region_chunks(zones, n)
        order = np.concatenate(ch)
        np.testing.assert_array_equal(order, [0, 2, 1, 4, 3, 5, 6])
        for c in ch:
            for z in set(zones[c]):
                assert set(np.flatnonzero(zones == z)) <= set(c)


def test_bad_scenario_fails_before_any_file(fitted, tmp_path):
    bad = Scenario("bad", "", (Change(("Nowhere",), None, 1, None, 2.0),))
    with pytest.raises(DataError):
        stream_forecast(fitted, [bad], tmp_path / "f.csv", horizon=3, n_draws=10)
    assert not list(tmp_path.iterdir())


def test_dask_loopback_cluster_writes_the_local_file(fitted, sim, tmp_path):
    distributed = pytest.importorskip("distributed")
    scen = load_scenarios(ROOT / "experiments" / "scenarios" / "idlib.toml", sim.regions)
    kw = dict(horizon=4, n_draws=60, seed=2, chunk_regions=3)
    stream_forecast(fitted, scen, tmp_path / "local.csv", **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp://", dashboard_address=":0") as cluster:
        res = stream_forecast(fitted, scen, tmp_path / "dask.csv", dask=cluster.scheduler_address, **kw)
    assert len(res.chunks) > 2
    assert _md5(tmp_path / "dask.csv") == _md5(tmp_path / "local.csv")


def test_cli_chunked_forecast_writes_csv_and_sidecar(tmp_path, capsys):
    import json

    from displacement_forecast.cli import main

    data = ROOT / "data" / "synthetic_nw_syria"
    rc = main(["forecast", str(data / "observations.csv"), "--regions", str(data / "regions.csv"), "--horizon", "3",
               "--draws", "50", "--chunk-regions", "5", "--out", str(tmp_path)])
    assert rc == 0
    # charts of the all-region total (no regional paths are kept in a chunked run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cumulative_baseline.png", "datapackage.json", "exceedance.png",
                                                           "fan_baseline.png", "forecast.csv", "forecast.json"]
    import matplotlib.image

    assert matplotlib.image.imread(tmp_path / "fan_baseline.png").shape[0] > 100
    side = json.loads((tmp_path / "forecast.json").read_text())
    f = pd.read_csv(tmp_path / "forecast.csv", keep_default_na=False)
    assert side["forecast"]["streamed"]["rows"] == len(f) and side["forecast"]["streamed"]["region_chunks"] >= 2
    assert set(f["region"]) == set(side["data"]["regions"]) | {"ALL"}
    assert "P(more than 250,000 newly displaced within 3 weeks, by " in capsys.readouterr().out


CASES = ROOT.parent / "shared" / "cases" / "reliability"


@pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
def test_cli_chunked_sidecar_and_screen_say_what_an_unchunked_run_says(tmp_path, capsys):
    """--origin and scenario warnings reach a streamed run's sidecar and screen too (they were lost)."""
    import json

    from displacement_forecast.cli import main

    args = ["forecast", str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), "--draws", "30",
            "--horizon", "2", "--model", "last-value", "--no-plots", "--origin", "2019-12-30",
            "--scenarios", str(CASES / "scen" / "k3_two_scenarios.toml")]
    sides, screens = [], []
    for extra, out in (([], "whole"), (["--chunk-regions", "2"], "chunked")):
        assert main([*args, *extra, "--out", str(tmp_path / out)]) == 0
        sides.append(json.loads((tmp_path / out / "forecast.json").read_text()))
        screens.append(capsys.readouterr().err)
    whole, chunked = sides
    assert chunked["forecast"]["hindcast"] == whole["forecast"]["hindcast"]
    assert chunked["warnings"] == whole["warnings"] and any("uses no conflict series" in w for w in whole["warnings"])
    assert all("uses no conflict series" in s for s in screens)


@pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
def test_cli_chunked_and_unchunked_runs_write_the_same_csv_and_a_data_package(tmp_path, capsys):
    """A model without a chunked sampler draws the same paths chunked or not: the same forecast.csv,
    byte for byte; and every forecast folder holds datapackage.json (a chunked run wrote none), which
    lists the same files and (frictionless) validates. With --format parquet, the package describes
    forecast.parquet."""
    import json

    from displacement_forecast.cli import main

    args = ["forecast", str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), "--draws", "80",
            "--horizon", "3", "--model", "last-value", "--seed", "7",
            "--scenarios", str(CASES / "scen" / "k3_two_scenarios.toml")]
    for extra, out in (([], "whole"), (["--chunk-regions", "2"], "chunked"),
                       (["--chunk-regions", "1", "--format", "parquet", "--no-plots"], "parquet")):
        assert main([*args, *extra, "--out", str(tmp_path / out)]) == 0
    assert "datapackage.json" in capsys.readouterr().out  # said among the files written
    whole, chunked, parquet = (tmp_path / d for d in ("whole", "chunked", "parquet"))
    assert (chunked / "forecast.csv").read_bytes() == (whole / "forecast.csv").read_bytes()
    pkgs = [json.loads((d / "datapackage.json").read_text()) for d in (whole, chunked, parquet)]
    assert [r["path"] for r in pkgs[1]["resources"]] == [r["path"] for r in pkgs[0]["resources"]]
    assert pkgs[1]["resources"][0]["schema"] == pkgs[0]["resources"][0]["schema"]
    assert pkgs[1]["provenance"]["forecast"]["streamed"]["format"] == "csv"
    assert "unchunked run's, byte for byte" in pkgs[1]["provenance"]["forecast"]["streamed"]["random_numbers"]
    assert [r["path"] for r in pkgs[2]["resources"]] == ["forecast.parquet", "forecast.json"]
    rows = pd.read_parquet(parquet / "forecast.parquet")
    rows = rows.astype({c: str for c in rows.columns if rows[c].dtype.name == "category"})
    pd.testing.assert_frame_equal(rows, pd.read_csv(whole / "forecast.csv", dtype={"output_type_id": str},
                                                    keep_default_na=False), check_dtype=False)  # same rows, same order
    frictionless = pytest.importorskip("frictionless")
    for d in (whole, chunked, parquet):
        assert frictionless.validate(str(d / "datapackage.json")).valid, d


def test_bench_scale_runs_at_a_tiny_size(tmp_path, monkeypatch):
    """The scale benchmark's per-size run and report (experiments/benchmarks/bench_scale.py), shrunk."""
    import argparse
    import sys

    monkeypatch.syspath_prepend(str(ROOT / "experiments" / "benchmarks"))
    sys.modules.pop("bench_scale", None)
    import bench_scale as b

    monkeypatch.setattr(b, "DRAWS", 30)
    monkeypatch.setattr(b, "HORIZON", 3)
    monkeypatch.setattr(b, "WEEKS", 40)
    rec = b.one_size(40, False, 20, 1)
    assert rec["converged"] and rec["chunks"] == 2
    assert rec["csv_rows"] == 10 * (40 + 1) * 2 * (1 + 23 + 5) * 3  # scenarios x (regions + ALL) x ...
    rec.update(load_before=1.0, load_after=1.0)
    args = argparse.Namespace(sizes="40", reference="", chunk=20, workers=1, out=tmp_path / "r.md")
    b.write_report([rec], args)
    assert f"| 40 | {rec['data_s']:.1f} | {rec['fit_s']:.1f} |" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_a_marked_streamed_run_carries_the_mark_on_every_row(fitted, tmp_path, file_format):
    """Chunked runs write forecast.csv/.parquet themselves: the mark travels there too (as in an
    unchunked forecast.csv), and the sidecar records it."""
    from displacement_forecast.forecast.streaming import write_streamed_run
    from displacement_forecast.forecast.summaries import HUB_COLUMNS

    res, sc, _ = write_streamed_run(fitted, None, tmp_path, horizon=2, n_draws=20, seed=1, file_format=file_format,
                                    chunk_regions=3, marks={"fit_reliable": False})
    df = pd.read_csv(res.path) if file_format == "csv" else pd.read_parquet(res.path)
    assert list(df.columns) == [*HUB_COLUMNS, "mark"] and len(df) == res.n_rows
    assert df["mark"].astype(str).str.contains("UNRELIABLE FIT").all()
    assert sc["reliable"] is False and sc["marks"]["fit_failed_gate"]
    res, sc, _ = write_streamed_run(fitted, None, tmp_path / "ok", horizon=2, n_draws=20, seed=1,
                                    file_format=file_format, chunk_regions=3)
    df = pd.read_csv(res.path) if file_format == "csv" else pd.read_parquet(res.path)
    assert list(df.columns) == list(HUB_COLUMNS)


def test_chunked_charts_draw_the_accumulated_totals(monkeypatch, tmp_path):
    """write_totals hands the fan and exceedance charts exactly the all-region totals given (per
    period and, for the cumulative chart, the same paths) and the observed total as history."""
    from displacement_forecast.plot import writer

    seen = []
    monkeypatch.setattr(writer, "fan_chart", lambda p, h, **kw: seen.append(("fan", p, h, kw)) or _Fig())
    monkeypatch.setattr(writer, "exceedance_curve", lambda ps, **kw: seen.append(("exc", ps, None, kw)) or _Fig())
    monkeypatch.setattr(writer, "save_figure", lambda fig, path: path.write_bytes(b""))
    rng = np.random.default_rng(0)
    totals = {"baseline": rng.poisson(1000, (50, 3)).astype(float), "more": rng.poisson(2000, (50, 3)).astype(float)}
    hist = pd.Series([10.0, np.nan, 30.0], index=pd.date_range("2020-01-06", periods=3, freq="W-MON"))
    side = {"scenarios": [{"id": "baseline"}, {"id": "more"}], "forecast": {"cdf_thresholds": [1500.0]},
            "data": {}, "model": {"name": "m", "version": "v"}}
    monkeypatch.setattr(writer, "caption", lambda sc, bands=True: "cap.")
    out = writer.write_totals(totals, hist, pd.date_range("2020-01-27", periods=3, freq="W-MON"), "W", side, tmp_path)
    assert sorted(o.path.name for o in out) == ["cumulative_baseline.png", "cumulative_more.png", "exceedance.png",
                                                "fan_baseline.png", "fan_more.png"]
    fans = [s for s in seen if s[0] == "fan"]
    assert len(fans) == 4 and all(kw["regions"] == [] for *_, kw in fans)  # the total panel only
    for sid, (_, p, h, kw) in zip(["baseline", "baseline", "more", "more"], fans, strict=True):
        np.testing.assert_array_equal(p.sum("region").values, totals[sid])
        assert h.iloc[:, 0].equals(hist.rename(h.columns[0]))
        assert "region chunks" in kw["caption"]
    (_, ps, _, kw) = [s for s in seen if s[0] == "exc"][0]
    np.testing.assert_array_equal(ps["more"].sum("region").values, totals["more"])
    assert kw["marks"] == [1500.0]


class _Fig:
    pass
