"""Every registry model saves and loads (no pickle): same paths for the same seed; clear errors."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.schema import DataError
from displacement_forecast.data.simulate import simulate_nw_syria
from displacement_forecast.forecast import engine
from displacement_forecast.models import REGISTRY, get_model
from displacement_forecast.models.base import Panel
from displacement_forecast.models.io import load_model, save_model
from displacement_forecast.scenarios import Scenario

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "bayes_fit_v1"
#: statsforecast's AutoARIMA takes ~40 s to forecast on a loaded machine: slow.
GENERIC = [pytest.param(m, marks=pytest.mark.slow) if m == "statsforecast-autoarima" else m
           for m in REGISTRY if m not in ("bayes-hierarchical", "bayes-dynamic")]  # own NetCDF formats, own tests


@pytest.fixture(scope="module")
def panel():
    sim = simulate_nw_syria(n_weeks=60, seed=5)
    return Panel.from_observations(sim.observations, sim.regions)


@pytest.mark.parametrize("name", GENERIC)
def test_round_trip_gives_identical_paths(name, panel, tmp_path):
    if name.startswith("statsforecast"):
        pytest.importorskip("statsforecast")
    m = engine.fit(get_model(name), panel)
    d = save_model(m, tmp_path / "fit")
    assert not list(d.glob("*.pkl")) and (d / "params.npz").exists()
    meta = json.loads((d / "model.json").read_text())
    assert meta["model"] == name and meta["format_version"] == 1 and meta["content_sha256"]
    assert meta["data_vintage"]["last_date"] == str(panel.origin.date()) and meta["package_version"]
    loaded = load_model(d)
    # the fitted configuration (drivers resolved from the data when the model was given 'auto')
    assert type(loaded) is type(m) and loaded.info_.config == m.info_.config
    assert tuple(loaded.drivers) == tuple(m.drivers)
    scen = [Scenario.baseline(), Scenario.intensify(["ALL"], 2.0)]
    a = engine.sample(m, 4, scen, n_draws=60, seed=2)
    b = engine.sample(loaded, 4, scen, n_draws=60, seed=2)
    for s in a:
        np.testing.assert_array_equal(a[s].values, b[s].values)
    assert loaded.uncertainty_included() == m.uncertainty_included()


def test_bayes_fixture_v1_loads_resaves_with_hashes_and_round_trips(tmp_path):
    pytest.importorskip("arviz")
    old = load_model(FIXTURE)  # format 1 written before hashes were recorded
    d = save_model(old, tmp_path / "fit")
    meta = json.loads((d / "model.json").read_text())
    assert meta["content_sha256"] and set(meta["files"]) == {"posterior.nc"}
    new = load_model(d)
    np.testing.assert_array_equal(old.sample_paths(3, n_draws=50, seed=1).values,
                                  new.sample_paths(3, n_draws=50, seed=1).values)
    (d / "posterior.nc").write_bytes((d / "posterior.nc").read_bytes() + b"x")
    with pytest.raises(DataError, match="posterior.nc does not match the hash"):
        load_model(d)


@pytest.fixture(scope="module")
def saved(panel, tmp_path_factory):
    d = tmp_path_factory.mktemp("saved") / "fit"
    save_model(get_model("last-value").fit(panel), d)
    return d


def _copy(saved, tmp_path):
    d = tmp_path / "fit"
    shutil.copytree(saved, d)
    return d, json.loads((d / "model.json").read_text())


def test_changed_model_json_fails_clearly(saved, tmp_path):
    d, meta = _copy(saved, tmp_path)
    meta["state"]["last_"] = {"kind": "json", "value": 1}
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="content hash does not match") as e:
        load_model(d)
    assert "\n" not in str(e.value)


def test_a_model_json_without_its_hash_says_so(saved, tmp_path):
    """A deleted content_sha256 was reported as 'does not match': say that it is missing."""
    d, meta = _copy(saved, tmp_path)
    del meta["content_sha256"]
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="has no content hash") as e:
        load_model(d)
    assert "\n" not in str(e.value) and "does not match" not in str(e.value)


def test_changed_params_file_fails_clearly(saved, tmp_path):
    d, _ = _copy(saved, tmp_path)
    np.savez(d / "params.npz", last_=np.zeros(3), alpha_=np.ones(2))
    with pytest.raises(DataError, match="params.npz does not match the hash"):
        load_model(d)


def test_wrong_version_or_unknown_model_fails_clearly(saved, tmp_path):
    d, meta = _copy(saved, tmp_path)
    (d / "model.json").write_text(json.dumps({**meta, "format_version": 7}))
    with pytest.raises(DataError, match="format version 7 is not supported"):
        load_model(d)
    (d / "model.json").write_text(json.dumps({**meta, "model": "my-model"}))
    with pytest.raises(DataError, match="cannot load a 'my-model' fit; loadable models"):
        load_model(d)
    (d / "model.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "model"}))
    with pytest.raises(DataError, match="key model: missing key; expected the model's name"):  # was: a None fit
        load_model(d)


def test_params_are_read_without_pickle(saved, tmp_path):
    d, _ = _copy(saved, tmp_path)
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with open(d / "params.npz", "wb") as f:
        np.savez(f, last_=np.array([{"a": 1}], dtype=object))
    meta = json.loads((d / "model.json").read_text())
    from displacement_forecast.models.io import _file_sha, write_meta

    meta["files"]["params.npz"] = _file_sha(d / "params.npz")
    write_meta(d, meta)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_model(d)


def test_unsavable_state_is_refused_by_name(panel, tmp_path):
    m = get_model("last-value").fit(panel)
    m.thing_ = object()
    with pytest.raises(TypeError, match="thing_"):
        save_model(m, tmp_path / "fit")


def test_cli_fit_saves_any_model_and_forecast_uses_it(tmp_path, capsys):
    data = ROOT / "data" / "synthetic_nw_syria" / "observations.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(data), "--model", "last-value", "--out", str(tmp_path / "fit")]) == 0
        assert (tmp_path / "fit" / "params.npz").exists()
        args = ["forecast", str(data), "--horizon", "2", "--draws", "40", "--no-plots"]
        assert main([*args, "--model-dir", str(tmp_path / "fit"), "--out", str(tmp_path / "a")]) == 0
        assert main([*args, "--model", "last-value", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "forecast.csv").read_bytes() == (tmp_path / "b" / "forecast.csv").read_bytes()
    assert main(["fit", str(data), "--model", "last-value", "--tune", "5", "--out", str(tmp_path / "x")]) == 2


def test_fit_by_default_then_forecast_from_it_is_forecast(tmp_path):
    """`fit` without `--model` fits forecast's default (auto): `forecast --model-dir` from it gives
    the forecast that `forecast` alone gives (same seed), value for value."""
    from displacement_forecast.cli import main

    data = ROOT / "data" / "synthetic_nw_syria" / "observations.csv"
    assert main(["fit", str(data), "--out", str(tmp_path / "fit")]) == 0
    assert json.loads((tmp_path / "fit" / "model.json").read_text())["model"] == "auto"
    common = ["--horizon", "2", "--draws", "200", "--no-plots"]
    assert main(["forecast", str(data), *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["forecast", str(data), *common, "--model-dir", str(tmp_path / "fit"), "--out", str(tmp_path / "b")]) == 0
    a, b = (pd.read_csv(tmp_path / d / "forecast.csv") for d in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)
