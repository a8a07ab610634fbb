"""Output formats as a registry: the data package is written last, from what the writers report."""

from __future__ import annotations

import hashlib
import json
import sys
import types

import pytest

from displacement_forecast.cli import main
from displacement_forecast.forecast import writers
from displacement_forecast.forecast.run import run_forecast, write_run

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria" / "observations.csv"


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_hxl_run_lists_the_hxl_file_in_its_data_package(tmp_path):
    """The CLI's own write order on a fresh folder: datapackage.json lists forecast_hxl.csv with
    the hash of the file on disk (it used to be written before the HXL file and omit it)."""
    out = tmp_path / "out"
    rc = main(["forecast", str(DATA), "--model", "last-value", "--horizon", "2", "--draws", "50",
               "--out", str(out), "--no-plots", "--hxl"])
    assert rc == 0
    pkg = json.loads((out / "datapackage.json").read_text())
    res = {r["path"]: r for r in pkg["resources"]}
    assert set(res) == {"forecast.csv", "forecast.json", "forecast_hxl.csv"}
    for name, r in res.items():
        assert r["hash"] == _sha(out / name)
        assert r["bytes"] == (out / name).stat().st_size
    assert res["forecast_hxl.csv"]["dialect"] == {"commentRows": [2]}


def test_every_resource_of_a_run_with_draws_has_the_hash_and_bytes_of_its_file(tmp_path):
    """`forecast --write-draws`: draws.parquet was listed as {'name': 'draws', 'path': 'draws.parquet',
    'format': 'parquet', ...} with a bare `sha256` and no `hash` or `bytes`, while README says the data
    package holds the SHA-256 of each file. Every resource now has both, equal to the file on disk
    (the folder as swapped in, not the staging copy), and frictionless checks the Parquet file's too."""
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    rc = main(["forecast", str(DATA), "--model", "last-value", "--horizon", "2", "--draws", "30",
               "--out", str(out), "--no-plots", "--write-draws"])
    assert rc == 0
    res = {r["path"]: r for r in json.loads((out / "datapackage.json").read_text())["resources"]}
    assert set(res) == {"forecast.csv", "forecast.json", "draws.parquet"}
    for name, r in res.items():
        assert r.get("hash") == _sha(out / name), name
        assert r.get("bytes") == (out / name).stat().st_size, name
    frictionless = pytest.importorskip("frictionless")
    assert frictionless.validate(str(out / "datapackage.json")).valid
    with open(out / "draws.parquet", "ab") as f:  # a changed draws file no longer validates
        f.write(b"x")
    report = frictionless.validate(str(out / "datapackage.json"))
    assert {e[0] for e in report.flatten(["type"])} == {"hash-count", "byte-count"}


@pytest.fixture(scope="module")
def small_run(sim):
    return run_forecast(sim.observations, sim.regions, model="last-value", horizon=2, n_draws=30, seed=1)


def test_write_run_lists_exactly_what_it_wrote(tmp_path, small_run):
    """A stale HXL file from an earlier run is not listed by a run that did not write one."""
    (tmp_path / "forecast_hxl.csv").write_text("stale\n")
    files = write_run(small_run, tmp_path, plots=False, draws=True)
    assert files[-1].name == "datapackage.json"
    pkg = json.loads((tmp_path / "datapackage.json").read_text())
    assert [r["name"] for r in pkg["resources"]] == ["forecast", "sidecar", "draws"]


def test_a_new_format_is_one_module_and_one_registry_line(tmp_path, small_run, monkeypatch):
    """Register a writer from its own module: its file is written and described in the package."""
    mod = types.ModuleType("tiny_writer")

    def write(run, out_dir, *, sep=";"):
        path = out_dir / "totals.csv"
        path.write_text(f"scenario{sep}n\n" + "".join(f"{s}{sep}{p.sizes['draw']}\n" for s, p in run.paths.items()))
        return [writers.Output(path, {"name": "totals", "path": "totals.csv", "profile": "data-resource"})]

    mod.write = write
    monkeypatch.setitem(sys.modules, "tiny_writer", mod)
    monkeypatch.setitem(writers.REGISTRY, "totals", "tiny_writer:write")
    monkeypatch.setitem(writers.FILES, "totals", ("totals.csv",))
    files = writers.write_outputs(small_run, tmp_path, ["totals"], {"totals": {"sep": ","}})
    assert [f.name for f in files] == ["forecast.csv", "forecast.json", "totals.csv", "datapackage.json"]
    pkg = json.loads((tmp_path / "datapackage.json").read_text())
    totals = next(r for r in pkg["resources"] if r["name"] == "totals")
    assert totals["hash"] == _sha(tmp_path / "totals.csv")
    assert (tmp_path / "totals.csv").read_text().startswith("scenario,n\n")


def test_a_writer_writing_a_name_it_did_not_declare_is_refused(tmp_path, small_run, monkeypatch):
    """A file missing from writers.FILES would survive into the next run's folder: refused at once."""
    mod = types.ModuleType("sneaky_writer")

    def write(run, out_dir):
        (out_dir / "extra.csv").write_text("x\n")
        return [writers.Output(out_dir / "extra.csv")]

    mod.write = write
    monkeypatch.setitem(sys.modules, "sneaky_writer", mod)
    monkeypatch.setitem(writers.REGISTRY, "sneaky", "sneaky_writer:write")
    with pytest.raises(RuntimeError, match="extra.csv.*FILES"):
        writers.write_outputs(small_run, tmp_path, ["sneaky"])


def test_every_file_of_a_forecast_folder_is_listed_with_its_media_type_and_hash(tmp_path, small_run):
    """The sidecar (application/json) and the charts (image/png) are resources of the package like
    the CSV: every file the run wrote is listed, hashed, and the package validates."""
    frictionless = pytest.importorskip("frictionless")
    files = write_run(small_run, tmp_path, plots=True)
    pkg = json.loads((tmp_path / "datapackage.json").read_text())
    res = {r["path"]: r for r in pkg["resources"]}
    assert set(res) == {p.name for p in files} - {"datapackage.json"}
    assert res["forecast.json"]["mediatype"] == "application/json"
    assert {r["mediatype"] for n, r in res.items() if n.endswith(".png")} == {"image/png"}
    for name, r in res.items():
        assert r["hash"] == _sha(tmp_path / name)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])
    (tmp_path / "forecast.json").write_text((tmp_path / "forecast.json").read_text() + " ")
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert {e[0] for e in report.flatten(["type"])} == {"hash-count", "byte-count"}


def test_unknown_format_lists_the_known_ones(tmp_path, small_run):
    with pytest.raises(ValueError, match="unknown output format 'xlsx'.*hxl"):
        writers.write_outputs(small_run, tmp_path, ["xlsx"])


def test_a_marked_run_carries_its_mark_in_the_forecast_csv(tmp_path, small_run):
    """../shared/cases README (bayes case): every output, the CSV included, carries the mark. The CSV
    gets a trailing ``mark`` column (described in the data package); the hubverse columns are
    unchanged and the hub export, reading the CSV back, writes only them."""
    import copy

    import pandas as pd

    from displacement_forecast.forecast.marks import apply_marks
    from displacement_forecast.forecast.summaries import HUB_COLUMNS

    run = copy.copy(small_run)
    run.sidecar = apply_marks(copy.deepcopy(small_run.sidecar), fit_reliable=False)
    out = tmp_path / "out"
    write_run(run, out, plots=False)
    df = pd.read_csv(out / "forecast.csv")
    assert list(df.columns) == [*HUB_COLUMNS, "mark"]
    assert df["mark"].str.contains("UNRELIABLE FIT").all()
    fields = json.loads((out / "datapackage.json").read_text())["resources"][0]["schema"]["fields"]
    assert fields[-1]["name"] == "mark" and fields[-1]["constraints"]["enum"] == [df["mark"][0]]
    frictionless = pytest.importorskip("frictionless")
    assert frictionless.validate(str(out / "datapackage.json")).valid
    assert main(["export-hub", str(out), "--hub", str(tmp_path / "hub")]) == 0
    (hub_file,) = (tmp_path / "hub" / "model-output").rglob("*.csv")
    assert list(pd.read_csv(hub_file).columns) == list(HUB_COLUMNS)
    # an unmarked run keeps exactly the hubverse columns
    write_run(small_run, tmp_path / "plain", plots=False)
    assert list(pd.read_csv(tmp_path / "plain" / "forecast.csv").columns) == list(HUB_COLUMNS)


def test_target_date_range_is_the_forecast_periods(tmp_path, small_run):
    """datapackage.json: target_date runs from the period after the origin to the last forecast period."""
    import pandas as pd

    write_run(small_run, tmp_path, plots=False, draws=True)
    pkg = json.loads((tmp_path / "datapackage.json").read_text())
    dates = sorted(pd.read_csv(tmp_path / "forecast.csv")["target_date"].unique())
    for res in pkg["resources"]:
        schema = res.get("schema") or res.get("schema_of_columns")
        if not schema:
            continue
        (f,) = [f for f in schema["fields"] if f["name"] == "target_date"]
        assert (f["constraints"]["minimum"], f["constraints"]["maximum"]) == (dates[0], dates[-1]), res["name"]
    assert dates[0] > small_run.sidecar["forecast"]["origin_date"] and len(dates) == 2
