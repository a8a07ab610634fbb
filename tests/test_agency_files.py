"""Agency-ready files (issue 9), checked with the consumers' own tools.

hubverse hub -> ``hubdata.connect_hub`` (the hubverse's Python reader); data package ->
``frictionless.validate``; HXL -> the project's HXL loader; draws -> numpy quantiles against the
quantile rows of forecast.csv.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.forecast.datapackage import write_datapackage
from displacement_forecast.forecast.formats import (
    HXL_TAGS,
    VIEWS_DRAWS,
    draws_frame,
    write_draws,
    write_hxl_csv,
)
from displacement_forecast.forecast.hub import (
    HubError,
    export_to_hub,
    read_forecast_dir,
    samples_frame,
)
from displacement_forecast.forecast.output import write_forecast
from displacement_forecast.forecast.run import run_forecast, write_run
from displacement_forecast.forecast.summaries import HUB_COLUMNS
from displacement_forecast.scenarios import Scenario

hubdata = pytest.importorskip("hubdata")
frictionless = pytest.importorskip("frictionless")


@pytest.fixture(scope="module")
def run(fitted_nbdl):
    return run_forecast(model=fitted_nbdl, scenarios=[Scenario.baseline(), Scenario.intensify(["South Idlib"], 2)],
                        horizon=4, n_draws=VIEWS_DRAWS, seed=11, thresholds=[50_000, 250_000])


@pytest.fixture(scope="module")
def fdir(run, tmp_path_factory):
    """A forecast folder as `write_run` leaves it (no plots)."""
    d = tmp_path_factory.mktemp("forecast")
    write_run(run, d, plots=False)
    return d


def _shift(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    """The same forecast as if issued ``days`` later (a new origin date)."""
    f = frame.copy()
    for c in ("origin_date", "target_date"):
        f[c] = (pd.to_datetime(f[c]) + pd.Timedelta(days=days)).dt.strftime("%Y-%m-%d")
    return f


def _hub_table(hub) -> pd.DataFrame:
    t = hubdata.connect_hub(hub).get_dataset().to_table().to_pandas()
    for c in ("origin_date", "target_date"):
        t[c] = pd.to_datetime(t[c]).dt.strftime("%Y-%m-%d")
    return t


def _key(df: pd.DataFrame) -> pd.DataFrame:
    out = df[list(HUB_COLUMNS)].copy()
    out["output_type_id"] = pd.to_numeric(out["output_type_id"].replace("", None))
    out["horizon"] = out["horizon"].astype(int)
    return out.sort_values(list(HUB_COLUMNS[:-1])).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# hubverse hub
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_hubdata_reads_back_exactly_what_was_written(tmp_path, fdir, fmt):
    frame, sidecar = read_forecast_dir(fdir)
    out = export_to_hub(frame, sidecar, tmp_path / "hub", team="acme", file_format=fmt)
    assert out == tmp_path / "hub" / "model-output" / "acme-nb_dl" / f"{sidecar['forecast']['origin_date']}-acme-nb_dl.{fmt}"
    hub = hubdata.connect_hub(tmp_path / "hub")
    assert hub.admin["file_format"] == [fmt]
    assert {"rounds", "schema_version"} <= set(hub.tasks)
    t = _hub_table(tmp_path / "hub")
    assert set(t["model_id"]) == {"acme-nb_dl"}
    pd.testing.assert_frame_equal(_key(t), _key(frame), check_dtype=False)


def test_hub_query_returns_the_csv_quantiles(tmp_path, fdir):
    frame, sidecar = read_forecast_dir(fdir)
    export_to_hub(frame, sidecar, tmp_path / "hub")
    ds = hubdata.connect_hub(tmp_path / "hub").get_dataset()
    import pyarrow.compute as pc

    q = ds.to_table(filter=(pc.field("scenario") == "intensify") & (pc.field("region") == "NWS07")
                    & (pc.field("output_type") == "quantile")).to_pandas()
    csv = pd.read_csv(fdir / "forecast.csv")
    want = csv[(csv.scenario == "intensify") & (csv.region == "NWS07") & (csv.output_type == "quantile")]
    assert len(q) == len(want) == 23 * 4 * 2
    a = q.sort_values(["target", "horizon", "output_type_id"])[["target", "horizon", "output_type_id", "value"]]
    b = want.sort_values(["target", "horizon", "output_type_id"])[["target", "horizon", "output_type_id", "value"]]
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())
    np.testing.assert_allclose(a["output_type_id"].to_numpy(), b["output_type_id"].to_numpy())


def test_new_origin_and_new_model_keep_what_was_there(tmp_path, fdir):
    frame, sidecar = read_forecast_dir(fdir)
    hub = tmp_path / "hub"
    first = export_to_hub(frame, sidecar, hub)
    first_bytes = first.read_bytes()
    later = _shift(frame, 7)
    sc2 = json.loads(json.dumps(sidecar))
    sc2["forecast"]["origin_date"] = later["origin_date"].iloc[0]
    later = later[later.scenario == "baseline"].copy()
    later.loc[:, "scenario"] = "ceasefire"  # a scenario the first round never had
    second = export_to_hub(later, sc2, hub, file_format="parquet")
    third = export_to_hub(frame, sidecar, hub, team="other", model="glm")
    assert first.read_bytes() == first_bytes  # the first origin's file is untouched
    assert second != first and third.parent.name == "other-glm"
    tasks = json.loads((hub / "hub-config" / "tasks.json").read_text())
    origins = [r["model_tasks"][0]["task_ids"]["origin_date"]["optional"] for r in tasks["rounds"]]
    assert origins == [[frame["origin_date"].iloc[0]], [later["origin_date"].iloc[0]]]
    assert "ceasefire" not in tasks["rounds"][0]["model_tasks"][0]["task_ids"]["scenario"]["optional"]
    assert tasks["rounds"][1]["model_tasks"][0]["task_ids"]["scenario"]["optional"] == ["ceasefire"]
    t = _hub_table(hub)
    assert t.groupby(["model_id", "origin_date"]).size().to_dict() == {
        ("dfcast-nb_dl", frame["origin_date"].iloc[0]): len(frame),
        ("dfcast-nb_dl", later["origin_date"].iloc[0]): len(later),
        ("other-glm", frame["origin_date"].iloc[0]): len(frame),
    }
    old = t[(t.model_id == "dfcast-nb_dl") & (t.origin_date == frame["origin_date"].iloc[0])]
    pd.testing.assert_frame_equal(_key(old), _key(frame), check_dtype=False)
    assert sorted(p.name for p in (hub / "model-metadata").iterdir()) == ["dfcast-nb_dl.yml", "other-glm.yml"]


def test_hub_refuses_other_quantile_levels_in_a_round(tmp_path, fdir):
    frame, sidecar = read_forecast_dir(fdir)
    hub = tmp_path / "hub"
    export_to_hub(frame, sidecar, hub)
    before = (hub / "hub-config" / "tasks.json").read_text()
    fewer = frame[(frame.output_type != "quantile") | (frame.output_type_id.isin(["0.1", "0.5", "0.9"]))]
    with pytest.raises(HubError, match="quantile levels"):
        export_to_hub(fewer, sidecar, hub, team="b")
    assert (hub / "hub-config" / "tasks.json").read_text() == before
    assert not (hub / "model-output" / "b-nb_dl").exists()
    with pytest.raises(HubError, match="abbreviation"):
        export_to_hub(frame, sidecar, hub, team="has-dash")
    bad = frame.copy()
    bad.loc[0, "scenario"] = "=cmd()"
    with pytest.raises(HubError, match="formula"):
        export_to_hub(bad, sidecar, tmp_path / "hub2")


def test_hub_sample_output_type(tmp_path, run):
    s = samples_frame(run.paths)
    export_to_hub(run.frame, run.sidecar, tmp_path / "hub", file_format="parquet", samples=s)
    hub = hubdata.connect_hub(tmp_path / "hub")
    params = hub.tasks["rounds"][0]["model_tasks"][0]["output_type"]["sample"]["output_type_id_params"]
    assert params["min_samples_per_task"] == params["max_samples_per_task"] == VIEWS_DRAWS
    import pyarrow.compute as pc

    t = hub.get_dataset().to_table(filter=(pc.field("output_type") == "sample") & (pc.field("region") == "NWS01")
                                   & (pc.field("scenario") == "baseline") & (pc.field("horizon") == 2)).to_pandas()
    assert len(t) == VIEWS_DRAWS
    np.testing.assert_allclose(np.sort(t["value"]), np.sort(np.round(run.paths["baseline"].sel(region="NWS01").isel(horizon=1).values, 1)))


def test_cli_export_hub(tmp_path, fdir, capsys):
    assert main(["export-hub", str(fdir), "--hub", str(tmp_path / "hub"), "--team", "cli"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(_hub_table(tmp_path / "hub")) == len(pd.read_csv(fdir / "forecast.csv"))
    assert not [p for p in (tmp_path).rglob("*.lock")]  # no lock file left in or beside the hub
    assert main(["export-hub", str(tmp_path / "nothing"), "--hub", str(tmp_path / "hub")]) == 2
    assert main(["export-hub", str(fdir), "--hub", str(tmp_path / "hub"), "--team", "a-b"]) == 2
    assert "abbreviation" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Frictionless data package
# --------------------------------------------------------------------------------------------


def test_datapackage_beside_forecast_validates(fdir):
    pkg = json.loads((fdir / "datapackage.json").read_text())
    assert pkg["licenses"][0]["name"] == "CC-BY-4.0"
    assert pkg["provenance"]["model"]["name"] == "nb-dl"
    assert pkg["provenance"]["forecast"]["seed"] == 11
    fields = {f["name"]: f for f in pkg["resources"][0]["schema"]["fields"]}
    assert fields["value"]["constraints"]["minimum"] == 0
    assert fields["output_type"]["constraints"]["enum"] == ["mean", "quantile", "cdf"]
    assert all(f.get("description") for f in fields.values())
    report = frictionless.validate(str(fdir / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])


def test_full_forecast_folder_with_all_options_validates(tmp_path, fitted_nbdl):
    """write_run with HXL, Parquet draws and a hub: the data package still validates.

    40 draws, not the module's VIEWS_DRAWS: the files' columns and constraints do not depend on the
    number of draws, and frictionless reading 1,000 draws per cell took two minutes on 2 cores."""
    pytest.importorskip("pyarrow")
    run = run_forecast(model=fitted_nbdl, scenarios=[Scenario.baseline(), Scenario.intensify(["South Idlib"], 2)],
                       horizon=4, n_draws=40, seed=11, thresholds=[50_000, 250_000])
    files = write_run(run, tmp_path / "f", plots=False, hxl=True, draws=True, hub=tmp_path / "hub")
    names = {p.name for p in files}
    assert {"forecast.csv", "datapackage.json", "forecast_hxl.csv", "draws.parquet"} <= names
    report = frictionless.validate(str(tmp_path / "f" / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])
    assert (tmp_path / "hub" / "hub-config" / "tasks.json").exists()


TAMPER = {
    "negative value": (lambda t: t.replace(",mean,,", ",mean,,-", 1), "constraint-error"),
    "renamed column": (lambda t: t.replace("output_type_id", "level", 1), "incorrect-label"),
    "unknown output_type": (lambda t: t.replace(",mean,,", ",median,,", 1), "constraint-error"),
    "unknown scenario": (lambda t: t.replace(",baseline,", ",worst,", 1), "constraint-error"),
    "text in value": (lambda t: t.replace(",mean,,", ",mean,,x", 1), "type-error"),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_datapackage_fails_on_tampered_file(tmp_path, fdir, case):
    change, error = TAMPER[case]
    d = tmp_path / "f"
    shutil.copytree(fdir, d)
    csv = d / "forecast.csv"
    csv.write_text(change(csv.read_text()))
    report = frictionless.validate(str(d / "datapackage.json"))
    kinds = {e[0] for e in report.flatten(["type"])}
    assert not report.valid and "hash-count" in kinds and error in kinds
    # regenerating the package from the tampered file does not help: constraints come from the sidecar
    write_datapackage(d, json.loads((d / "forecast.json").read_text()))
    report = frictionless.validate(str(d / "datapackage.json"))
    assert not report.valid and {e[0] for e in report.flatten(["type"])} == {error}


# --------------------------------------------------------------------------------------------
# HXL
# --------------------------------------------------------------------------------------------


def test_hxl_csv_tag_row_and_project_loader(tmp_path, run):
    from displacement_forecast.data.loaders import load_hxl

    p = write_hxl_csv(run.frame, tmp_path / "forecast_hxl.csv")
    lines = p.read_text().splitlines()
    assert lines[0].split(",") == list(HUB_COLUMNS)
    assert lines[1].split(",") == [HXL_TAGS[c] for c in HUB_COLUMNS]
    body = pd.read_csv(p, skiprows=[1])
    assert set(body["output_type"]) == {"mean", "quantile"}  # no probabilities under #affected
    assert len(body) == (run.frame["output_type"] != "cdf").sum()
    # default forecast.csv stays plain
    csv, _ = write_forecast(run.frame, run.sidecar, tmp_path)
    assert not csv.read_text().splitlines()[1].startswith("#")
    one = run.frame[(run.frame.scenario == "baseline") & (run.frame.output_type == "mean")
                    & (run.frame.target == "new_displaced") & (run.frame.region != "ALL")]
    write_hxl_csv(one, tmp_path / "one.csv")
    obs = load_hxl(tmp_path / "one.csv", {"#date+forecast": "date", "#adm1+code": "region",
                                          HXL_TAGS["value"]: "displaced"}, whole=False)  # means, not counts
    got = obs.set_index([obs["date"].dt.strftime("%Y-%m-%d"), "region"])["value"].sort_index()
    want = one.set_index(["target_date", "region"])["value"].sort_index()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy())


def test_hxl_file_in_datapackage_validates(tmp_path, run):
    write_forecast(run.frame, run.sidecar, tmp_path)
    write_hxl_csv(run.frame, tmp_path / "forecast_hxl.csv")
    write_datapackage(tmp_path, run.sidecar)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])
    assert [r["name"] for r in json.loads((tmp_path / "datapackage.json").read_text())["resources"]] == [
        "forecast", "sidecar", "forecast-hxl"]


def test_a_marked_forecasts_hxl_file_validates(tmp_path, run):
    """A marked run (here: bands that did not cover in a backtest) writes forecast.csv with a `mark`
    column and the HXL file with a `note` column: the package described the HXL file with both and
    did not validate."""
    from displacement_forecast.forecast.marks import apply_marks, mark_text

    sidecar = apply_marks({**json.loads(json.dumps(run.sidecar)), "intervals_calibrated_in_backtest": False},
                          fit_reliable=True)
    assert mark_text(sidecar)
    write_forecast(run.frame, sidecar, tmp_path)
    write_hxl_csv(run.frame, tmp_path / "forecast_hxl.csv", note=mark_text(sidecar))
    write_datapackage(tmp_path, sidecar)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])


# --------------------------------------------------------------------------------------------
# draws
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_draws_complete_and_match_forecast_quantiles(tmp_path, run, fmt):
    write_forecast(run.frame, run.sidecar, tmp_path)
    p = write_draws(run.paths, tmp_path, run.sidecar["forecast"]["origin_date"], file_format=fmt)
    assert p.name == f"draws.{fmt}"
    d = pd.read_parquet(p) if fmt == "parquet" else pd.read_csv(p)
    assert not d.isna().any().any() and (d["value"] >= 0).all()
    per_unit = d.groupby(["scenario", "region", "horizon"])["draw"].agg(["count", "nunique"])
    assert (per_unit["count"] == VIEWS_DRAWS).all() and (per_unit["nunique"] == VIEWS_DRAWS).all()
    assert len(per_unit) == 2 * 13 * 4
    fc = pd.read_csv(tmp_path / "forecast.csv")
    q = fc[(fc.output_type == "quantile") & (fc.target == "new_displaced") & (fc.region != "ALL")]
    levels = sorted(q["output_type_id"].unique())
    for (scen, region, h), g in d.groupby(["scenario", "region", "horizon"]):
        want = q[(q.scenario == scen) & (q.region == region) & (q.horizon == h)].sort_values("output_type_id")
        got = np.maximum.accumulate(np.quantile(g["value"].to_numpy(), levels))
        np.testing.assert_allclose(got, want["value"].to_numpy(), atol=0.051)
    # ALL is the sum of regions draw by draw
    tot = d[d.horizon == 1].groupby(["scenario", "draw"])["value"].sum()
    fcall = fc[(fc.output_type == "quantile") & (fc.target == "new_displaced") & (fc.region == "ALL") & (fc.horizon == 1)
               & (fc.scenario == "baseline")].sort_values("output_type_id")
    np.testing.assert_allclose(np.quantile(tot["baseline"].to_numpy(), levels), fcall["value"].to_numpy(), atol=0.051)
    if fmt == "csv":
        write_datapackage(tmp_path, run.sidecar)
        report = frictionless.validate(str(tmp_path / "datapackage.json"))
        assert report.valid, report.flatten(["type", "note"])


def test_draws_refuse_nan_and_negatives(run):
    p = run.paths["baseline"].copy()
    p[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        draws_frame({"baseline": p})
    p[0, 0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        draws_frame({"baseline": p})


def test_missing_optional_package_message(tmp_path, fdir, monkeypatch):
    import sys

    frame, sidecar = read_forecast_dir(fdir)
    monkeypatch.setitem(sys.modules, "hubdata", None)
    export_to_hub(frame, sidecar, tmp_path / "hub")  # CSV needs neither hubdata nor pyarrow
    with pytest.raises(ModuleNotFoundError, match=r"displacement-forecast\[hub\]"):
        export_to_hub(frame, sidecar, tmp_path / "hub", file_format="parquet")
