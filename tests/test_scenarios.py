"""Scenario files and scenario effects: errors name the key; effects go the right way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.schema import DataError
from displacement_forecast.scenarios import Change, Scenario, load_scenarios, scenarios_from_dict


def _err(tmp_path, text, regions):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(DataError) as e:
        load_scenarios(p, regions)
    return str(e.value)


def test_shipped_scenarios_load(sim):
    from pathlib import Path

    sc = load_scenarios(Path(__file__).parents[1] / "experiments" / "scenarios" / "idlib.toml", sim.regions)
    assert [s.id for s in sc] == ["baseline", "intensify-south", "offensive-continues", "de-escalation", "ceasefire"]


@pytest.mark.parametrize("body,key,msg", [
    ('regions=["Atlantis"]\nmultiply=2', "regions", "unknown region 'Atlantis'"),
    ('multiply=-1', "multiply", "not a non-negative number"),
    ('multiply=2\nintensity=3', "intensity", "unknown key"),
    ('values=[1, -2]', "values", "non-negative"),
    ('multiply=2\nvalues=[1]', "change[0]", "contradicts"),
    ('regions=[]\nmultiply=0', "regions", "names no region"),
    ('series=[]\nmultiply=0', "series", "names no series"),
    ('values=[1, inf]', "values", "finite"),
    ('values=[1, nan]', "values", "finite"),
    ('multiply=inf', "multiply", "not a non-negative number"),
    ('values=[1, 2]\nperiods=3', "values", "one value per period"),
    ('multiply=2\nweeks=2\nperiods=6', "periods", "contradict"),
    ('multiply=2', "", ""),
    ('multiply=2\nstart=0', "start", "before the first forecast period"),
    ('multiply=2\nweeks=0', "weeks", "positive whole number"),
    ('hold=0', "hold", "positive whole number"),
    ('hold=2\nvalues=[2]', "change[0]", "contradicts"),
    ('start=2', "change[0]", "exactly one"),
])
def test_bad_change_names_the_key(tmp_path, sim, body, key, msg):
    text = f'[[scenario]]\nid="x"\n  [[scenario.change]]\n  {body}\n'
    if not key:  # the control: a valid change loads
        p = tmp_path / "ok.toml"
        p.write_text(text)
        assert load_scenarios(p, sim.regions)[0].changes[0].multiply == 2
        return
    err = _err(tmp_path, text, sim.regions)
    assert key in err and msg in err
    assert "\n" not in err.strip() or all(line.startswith(str(tmp_path)) for line in err.splitlines())


def test_overlapping_changes_rejected(tmp_path, sim):
    text = """[[scenario]]
id = "x"
  [[scenario.change]]
  regions = ["South Idlib"]
  multiply = 2
  start = 1
  weeks = 4
  [[scenario.change]]
  regions = ["NWS01"]
  multiply = 3
  start = 3
"""
    assert "overlaps change[0]" in _err(tmp_path, text, sim.regions)


def test_non_overlapping_changes_accepted(sim):
    doc = {"scenario": [{"id": "x", "change": [
        {"regions": ["NWS01"], "multiply": 2, "start": 1, "weeks": 2},
        {"regions": ["NWS01"], "multiply": 3, "start": 3, "weeks": 2},
        {"regions": ["NWS02"], "series": ["strikes"], "values": [5, 5]}]}]}
    (s,) = scenarios_from_dict(doc, sim.regions)
    assert len(s.changes) == 3


def test_unknown_top_key_and_duplicate_ids(sim):
    with pytest.raises(DataError, match="unknown top-level key"):
        scenarios_from_dict({"scenarios": [], "scenario": [{"id": "a"}]}, sim.regions)
    with pytest.raises(DataError, match="duplicate scenario id"):
        scenarios_from_dict({"scenario": [{"id": "a"}, {"id": "a"}]}, sim.regions)


def test_invalid_toml_is_one_clear_error(tmp_path, sim):
    err = _err(tmp_path, "[[scenario]\nid=", sim.regions)
    assert "not valid TOML" in err and "s.toml:1:" in err  # the line of the syntax error


def test_effects_intensify_ceasefire_and_coherence(fitted_nbdl, sim):
    south = sim.regions.resolve(["South Idlib"])
    others = [c for c in sim.regions.codes if c not in south]
    res = fitted_nbdl.sample_scenarios(
        12, [Scenario.baseline(), Scenario.intensify(["South Idlib"], 2.0), Scenario.ceasefire()],
        n_draws=1000, seed=5)
    b, i, c = (res[k] for k in ("baseline", "intensify", "ceasefire"))
    mb, mi, mc = (x.median("draw") for x in (b, i, c))
    # Cumulative totals: never below baseline, above it in every affected region and week. Weekly
    # counts late in the horizon may dip below baseline where intensified strikes have already
    # driven out most of those at risk (depletion), so they are checked over the first weeks only.
    cb, ci = (x.cumsum("horizon").median("draw") for x in (b, i))
    assert (ci >= cb).all()
    assert (ci.sel(region=south) > cb.sel(region=south)).all()
    assert (mi.isel(horizon=slice(0, 6)) >= mb.isel(horizon=slice(0, 6))).all()
    assert (mi.sel(region=south).isel(horizon=slice(0, 6)) > mb.sel(region=south).isel(horizon=slice(0, 6))).all()
    # Common random numbers: regions the scenario does not touch get identical paths.
    np.testing.assert_array_equal(i.sel(region=others).values, b.sel(region=others).values)
    assert (mc <= mb).all() and float(mc.sum()) < float(mb.sum())


def test_time_limited_intensify_raises_cumulative_totals(fitted_nbdl):
    """After a 4-week escalation, weekly counts may dip below baseline (those at risk have fled),
    but cumulative totals stay above it."""
    res = fitted_nbdl.sample_scenarios(12, [Scenario.baseline(), Scenario.intensify(["South Idlib"], 2.0, 4)],
                                       n_draws=1000, seed=9)
    cb, ci = (res[k].cumsum("horizon").median("draw") for k in ("baseline", "intensify"))
    assert (ci >= cb).all()
    wk_b, wk_i = (res[k].median("draw") for k in ("baseline", "intensify"))
    assert (wk_i.isel(horizon=slice(0, 4)) >= wk_b.isel(horizon=slice(0, 4))).all()


def test_custom_values_and_date_start(fitted_nbdl, sim):
    doc = {"scenario": [{"id": "c", "change": [
        {"regions": ["NWS01"], "series": ["strikes"], "values": [0, 0, 100]},
        {"regions": ["NWS02"], "series": ["strikes"], "start": "2020-02-10", "multiply": 0}]}]}
    (s,) = scenarios_from_dict(doc, sim.regions)
    dates = fitted_nbdl.panel_.future_dates(6)
    base = fitted_nbdl.driver_model_.sample(6, 50, np.random.default_rng(0))
    out = s.apply(base, sim.regions, dates)
    np.testing.assert_array_equal(out["strikes"][:, 0, :3], np.tile([0, 0, 100], (50, 1)))
    np.testing.assert_array_equal(out["strikes"][:, 0, 3:], base["strikes"][:, 0, 3:])
    assert (out["strikes"][:, 1, 2:] == 0).all() and (out["strikes"][:, 1, :2] == base["strikes"][:, 1, :2]).all()
    np.testing.assert_array_equal(out["flights"], base["flights"])


def test_apply_copies_only_what_it_changes(fitted_nbdl, sim):
    base = fitted_nbdl.driver_model_.sample(6, 40, np.random.default_rng(1))
    before = {k: v.copy() for k, v in base.items()}
    (s,) = scenarios_from_dict({"scenario": [{"id": "s", "change": [
        {"regions": ["NWS01", "NWS03", "NWS04"], "series": ["strikes"], "multiply": 3}]}]}, sim.regions)
    out = s.apply(base, sim.regions, fitted_nbdl.panel_.future_dates(6))
    for k in base:
        np.testing.assert_array_equal(base[k], before[k])  # the input is never modified
    assert not out["flights"].flags.writeable and np.shares_memory(out["flights"], base["flights"])
    np.testing.assert_array_equal(out["strikes"][:, [0, 2, 3]], 3 * base["strikes"][:, [0, 2, 3]])
    np.testing.assert_array_equal(np.delete(out["strikes"], [0, 2, 3], axis=1), np.delete(base["strikes"], [0, 2, 3], axis=1))
    # a scenario that changes one series only runs through the model; untouched regions keep their paths
    res = fitted_nbdl.sample_scenarios(6, [Scenario.baseline(), s], n_draws=300, seed=2)
    np.testing.assert_array_equal(res["s"].values[:, 4:], res["baseline"].values[:, 4:])
    assert float(res["s"].sum()) > float(res["baseline"].sum())


def test_hold_keeps_each_region_at_its_recent_mean(fitted_nbdl, sim):
    """``hold = 4``: in the chosen regions and weeks the drivers are the region's mean of the last 4
    observed weeks (without ``counts``), or counts drawn around it with the driver model's noise;
    everything else keeps the baseline paths."""
    (s,) = scenarios_from_dict({"scenario": [{"id": "h", "change": [
        {"regions": ["South Idlib"], "series": ["strikes"], "hold": 4, "start": 2, "weeks": 3}]}]}, sim.regions)
    south = [sim.regions.codes.index(c) for c in sim.regions.resolve(["South Idlib"])]
    hist = fitted_nbdl.panel_.series
    dates = fitted_nbdl.panel_.future_dates(6)
    base = fitted_nbdl.driver_model_.sample(6, 4000, np.random.default_rng(3))
    want = hist["strikes"][south, -4:].mean(axis=1)
    out = s.apply(base, sim.regions, dates, hist)
    np.testing.assert_array_equal(out["strikes"][:, south, 1:4], np.broadcast_to(want[None, :, None], (4000, 6, 3)))
    keep = np.ones(out["strikes"].shape, bool)
    keep[:, south, 1:4] = False
    np.testing.assert_array_equal(out["strikes"][keep], base["strikes"][keep])
    np.testing.assert_array_equal(out["flights"], base["flights"])

    dm = fitted_nbdl.driver_model_
    noise = dm.count_noise(np.random.default_rng(8), base["strikes"].shape)
    out = s.apply(base, sim.regions, dates, hist, counts=lambda series, m: noise[series].draw(slice(None), m))
    held = out["strikes"][:, south, 1:4]
    assert np.array_equal(held, np.round(held)) and held.std(axis=0).min() > 0
    alpha = dm.models_["strikes"].nb_alpha()
    se = np.sqrt((want + alpha * want**2) / 4000)
    assert (np.abs(held.mean(axis=0) - want[:, None]) < 4 * se[:, None]).all()
    np.testing.assert_array_equal(out["strikes"][keep], base["strikes"][keep])


def test_hold_runs_through_the_model_and_keeps_count_noise(fitted_nbdl, sim):
    """Holding the final offensive where it is raises displacement above the baseline (in which
    strikes fade); its bands are wider than with the same numbers as fixed ``values``, because the
    counts keep their noise; and hold scenarios share their random numbers: holding only the south
    gives the south exactly the paths of holding everything."""
    codes = sim.regions.codes
    south = [codes.index(c) for c in sim.regions.resolve(["South Idlib"])]
    hist = fitted_nbdl.panel_.series
    (hold, hold2) = scenarios_from_dict({"scenario": [
        {"id": "hold", "change": [{"regions": ["ALL"], "hold": 4}]},
        {"id": "hold2", "change": [{"regions": ["South Idlib"], "hold": 4}]}]}, sim.regions)
    vals = Scenario("vals", changes=tuple(
        Change((c,), (s,), 1, None, None, (float(np.nanmean(hist[s][i, -4:])),) * 8)
        for i, c in enumerate(codes) for s in ("strikes", "flights")))
    res = fitted_nbdl.sample_scenarios(8, [Scenario.baseline(), hold, vals, hold2], n_draws=1000, seed=4)
    np.testing.assert_array_equal(res["hold"].values[:, south], res["hold2"].values[:, south])
    assert not np.array_equal(res["hold"].values, res["hold2"].values)
    tot = {k: res[k].sum(["region", "horizon"]) for k in ("baseline", "hold", "vals")}
    assert float(tot["hold"].median()) > float(tot["baseline"].median())
    width = {k: float(np.diff(np.quantile(v, [0.05, 0.95]))[0]) for k, v in tot.items()}
    assert width["hold"] > 1.5 * width["vals"]


def test_hold_errors_name_the_problem(sim):
    hist = {"strikes": np.full((len(sim.regions), 10), np.nan), "flights": np.ones((len(sim.regions), 10))}
    hist["strikes"][:, :5] = 1.0  # counts, but none in the last 3 periods
    (s,) = scenarios_from_dict({"scenario": [{"id": "h", "change": [
        {"regions": ["NWS02"], "series": ["strikes"], "hold": 3}]}]}, sim.regions)
    base = {"strikes": np.ones((2, len(sim.regions), 4)), "flights": np.ones((2, len(sim.regions), 4))}
    dates = pd.date_range("2020-01-27", periods=4, freq="W-MON")
    with pytest.raises(DataError, match="no observed 'strikes' count in the last 3 periods for NWS02"):
        s.apply(base, sim.regions, dates, hist)
    with pytest.raises(DataError, match="needs the observed 'strikes' counts"):
        s.apply(base, sim.regions, dates)
