"""Scenario validation: each ../shared/cases/reliability/scen/* case, hold + multiply, duration units.

Cases run through the command line (``forecast``) on the shared small panel: one line per problem
naming the key, exit 2, nothing written; or a warning carried into the sidecar.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.schema import DataError
from displacement_forecast.scenarios import (
    Scenario,
    check_scenarios,
    load_scenarios,
    scenarios_from_dict,
    with_baseline,
)

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "reliability"


@pytest.fixture
def cases():
    if not CASES.exists():
        pytest.skip(f"shared cases folder {CASES} is absent (it sits beside the project in ../shared)")
    return CASES


def _forecast(case_dir, toml, out, *extra):
    return main(["forecast", str(case_dir / "small_obs.csv"), "--regions", str(case_dir / "small_regions.csv"),
                 "--scenarios", str(toml), "--out", str(out), "--horizon", "8", "--draws", "60", "--no-plots", *extra])


@pytest.mark.parametrize("name,key,msg", [
    ("s26_change_not_table", "change", "expected [[scenario.change]] tables"),
    ("s07b_overlap_dates", "change[1]", "overlaps change[0]"),
    ("s08_date_before_origin", "start", "before the first forecast period"),
    ("s20_empty_regions", "regions", "names no region"),
    ("s24_hold_huge", "hold", "the data hold only 82"),
    ("s28_weeks_and_periods", "periods", "contradict"),
    ("s12_formula_names", "id", "is not allowed"),
    ("s29_fan_name_collision", "id", "'south/x2' is not allowed"),
])
def test_scenario_case_is_one_clear_error(cases, tmp_path, capsys, name, key, msg):
    out = tmp_path / "out"
    code = _forecast(cases, cases / "scen" / f"{name}.toml", out, "--hxl", "--hub", str(tmp_path / "hub"))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and lines, err
    assert "Traceback" not in err
    assert any(f"{name}.toml" in ln and key in ln and msg in ln for ln in lines), err
    assert not out.exists() and not (tmp_path / "hub").exists()


def test_s12_every_formula_id_is_named(cases, capsys):
    with pytest.raises(DataError) as e:
        load_scenarios(cases / "scen" / "s12_formula_names.toml")
    assert len(e.value.problems) == 4  # one line per bad id, all in one pass


def test_s29_underscore_id_is_fine_and_ids_differing_by_case_are_not(cases):
    ok = {"scenario": [{"id": "south_x2", "change": [{"regions": ["ALL"], "multiply": 2.0}]}]}
    assert scenarios_from_dict(ok)[0].id == "south_x2"
    with pytest.raises(DataError, match="differ only by case"):
        scenarios_from_dict({"scenario": [{"id": "South"}, {"id": "south"}]})
    for bad in ("x\ry", "\tx", " x", "x y", "=1", "a" * 65, ""):
        with pytest.raises(DataError):
            scenarios_from_dict({"scenario": [{"id": bad}]})
        with pytest.raises(DataError):
            Scenario(bad)


def test_an_exact_duplicate_id_is_named_as_such_beside_one_differing_by_case(tmp_path):
    """ids x, X, x: both errors said the ids differ only by case; the third is the first repeated."""
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid = "x"\n[[scenario]]\nid = "X"\n[[scenario]]\nid = "x"\n')
    with pytest.raises(DataError) as e:
        load_scenarios(toml)
    assert str(e.value).splitlines() == [
        f"{toml}:4: key scenario 'X'.id: scenario ids 'x' and 'X' differ only by case (they would share a chart file)",
        f"{toml}:6: key scenario 'x'.id: duplicate scenario id 'x' (first on line 2); expected each id once"]
    with pytest.raises(DataError, match=r"^<scenarios>: key scenario 'a'.id: duplicate scenario id 'a'; expected each id once$"):
        scenarios_from_dict({"scenario": [{"id": "a"}, {"id": "a"}]})


def test_s09_change_after_the_horizon_is_a_warning_in_the_sidecar(cases, tmp_path, capsys):
    out = tmp_path / "out"
    assert _forecast(cases, cases / "scen" / "s09_date_far_future.toml", out) == 0
    err = capsys.readouterr().err
    toml = cases / "scen" / "s09_date_far_future.toml"
    # the errors' form (file:line: key scenario 'x'.change[0].start: ...); was "scenario 'future': file:6: change[0] ..."
    assert re.search(rf"WARNING: {re.escape(str(toml))}:\d+: key scenario 'future'\.change\[0\]\.start: starts at "
                     "forecast period", err), err
    assert "WARNING: scenario 'future':" not in err
    assert "no effect" in err
    side = json.loads((out / "forecast.json").read_text())
    (sc,) = [s for s in side["scenarios"] if s["id"] == "future"]
    assert any("no effect" in w for w in sc["warnings"])
    assert any("no effect" in w for w in side["warnings"])


def test_multiply_by_one_and_empty_scenario_warn():
    (a, b) = scenarios_from_dict({"scenario": [
        {"id": "same", "change": [{"regions": ["ALL"], "multiply": 1}]}, {"id": "nothing"}]})
    assert a.warnings == ("<scenarios>: key scenario 'same'.change[0].multiply: multiplies by 1: it has no effect",)
    assert "baseline" in b.warnings[0]
    assert "warnings" in a.to_dict()


@pytest.mark.parametrize("sid", ["baseline", "BASELINE"])
def test_a_baseline_with_changes_is_an_error_naming_the_file_and_line(tmp_path, sid):
    """A scenario 'baseline' with multiply = 2 was read as the baseline: the baseline rows were the
    doubled forecast, exit 0, no word."""
    toml = tmp_path / "b.toml"
    toml.write_text(f'[[scenario]]\nid="{sid}"\n[[scenario.change]]\nregions=["ALL"]\nmultiply=2\n')
    with pytest.raises(DataError) as e:
        load_scenarios(toml)
    assert str(e.value) == (f"{toml}:2: key scenario '{sid}'.id: scenario '{sid}' has changes; the baseline is the "
                            "forecast with no change: give this scenario another id")
    with pytest.raises(DataError, match="has changes; the baseline is the forecast with no change"):
        Scenario.intensify(["ALL"], id="Baseline")  # built in code: the same rule


def test_the_baseline_id_is_spelled_baseline_in_any_case_it_is_written():
    """id = "BASELINE" kept its spelling: forecast.csv had no 'baseline' rows at all."""
    (b, x) = scenarios_from_dict({"scenario": [{"id": "BASELINE"}, {"id": "x", "change": [{"multiply": 2}]}]})
    assert b.id == "baseline" and b.warnings == ("<scenarios>: key scenario 'BASELINE'.id: id 'BASELINE' is the "
                                                 "baseline: it is written 'baseline' in the outputs",)
    assert with_baseline([b, x]) == ([b, x], False)
    assert Scenario("Baseline").id == "baseline"


def _monthly_obs(n=12):
    dates = pd.date_range("2019-01-01", periods=n, freq="MS")
    rows = [(d, "NWS01", s, 5.0) for d in dates for s in ("displaced", "strikes")]
    return pd.DataFrame(rows, columns=["date", "region", "series", "value"])


def test_weeks_on_monthly_data_is_an_error_months_and_periods_are_not(sim):
    obs = _monthly_obs()
    for unit, ok in (("weeks", False), ("months", True), ("periods", True)):
        sc = scenarios_from_dict({"scenario": [{"id": "x", "change": [
            {"regions": ["NWS01"], "multiply": 2, unit: 8}]}]}, sim.regions)
        if ok:
            assert check_scenarios(sc, obs, 3, regions=sim.regions)[0].changes[0].periods == 8
        else:
            with pytest.raises(DataError, match="weeks = 8 but the data are monthly; write periods = N"):
                check_scenarios(sc, obs, 3, regions=sim.regions, file="s.toml")
    # the same check where the scenario is applied (library route), and months on weekly data
    dates = pd.date_range("2020-01-01", periods=3, freq="MS")
    base = {"strikes": np.ones((2, len(sim.regions), 3))}
    (w,) = scenarios_from_dict({"scenario": [{"id": "w", "change": [{"multiply": 2, "weeks": 8}]}]})
    with pytest.raises(DataError, match="weeks = 8 but the data are monthly"):
        w.apply(base, sim.regions, dates)
    (m,) = scenarios_from_dict({"scenario": [{"id": "m", "change": [{"multiply": 2, "months": 2}]}]})
    with pytest.raises(DataError, match="months = 2 but the data are weekly"):
        m.apply(base, sim.regions, pd.date_range("2020-01-06", periods=3, freq="W-MON"))


def test_values_and_periods_past_the_horizon_are_named(sim, tmp_path):
    """8 values with --horizon 4: periods 5-8 were cut off with no note."""
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid="x"\n[[scenario.change]]\nregions=["NWS01"]\nvalues=[1,2,3,4,5,6,7,8]\n'
                    '[[scenario.change]]\nregions=["NWS02"]\nstart=3\nmultiply=2\nperiods=4\n'
                    '[[scenario.change]]\nregions=["NWS03"]\nmultiply=2\nperiods=4\n'
                    '[[scenario.change]]\nregions=["NWS04"]\nvalues=[1,2,3,4,5]\n')
    (sc,) = check_scenarios(load_scenarios(toml, sim.regions), _monthly_obs(), 4, regions=sim.regions,
                            file=str(toml))
    assert sc.warnings == (f"{toml}:5: key scenario 'x'.change[0].values: sets 8 periods; the horizon is 4: "
                           "periods 5-8 are not used",
                           f"{toml}:10: key scenario 'x'.change[1].periods: sets 4 periods (forecast periods 3-6); "
                           "the horizon is 4: periods 5-6 are not used",
                           f"{toml}:17: key scenario 'x'.change[3].values: sets 5 periods; the horizon is 4: period "
                           "5 is not used")


def test_a_change_after_the_horizon_names_its_line_and_its_start_once(sim, tmp_path):
    """'change[0] starts at forecast period 6 (6), after the horizon...': no file:line (its
    neighbours have one) and the period said twice."""
    toml = tmp_path / "s.toml"
    toml.write_text('[[scenario]]\nid="x"\n[[scenario.change]]\nregions=["NWS01"]\nstart=6\nmultiply=2\n')
    (sc,) = check_scenarios(load_scenarios(toml, sim.regions), _monthly_obs(), 4, regions=sim.regions,
                            file=str(toml))
    assert sc.warnings == (f"{toml}:5: key scenario 'x'.change[0].start: starts at forecast period 6, after the "
                           "horizon of 4 periods: the change has no effect on this forecast",)
    # a date start is still given beside the period it falls in
    toml.write_text('[[scenario]]\nid="x"\n[[scenario.change]]\nregions=["NWS01"]\nstart="2020-06-01"\n'
                    'multiply=2\n')
    (sc,) = check_scenarios(load_scenarios(toml, sim.regions), _monthly_obs(), 4, regions=sim.regions,
                            file=str(toml))
    assert sc.warnings == (f"{toml}:5: key scenario 'x'.change[0].start: starts at forecast period 6 (2020-06-01), "
                           "after the horizon of 4 periods: the change has no effect on this forecast",)


def test_date_starts_overlap_and_place_like_period_starts(sim):
    obs = sim.observations
    last = obs["date"].max()
    d = [str((last + pd.Timedelta(weeks=k)).date()) for k in (1, 3, 5)]
    def sc(*changes):
        return scenarios_from_dict({"scenario": [{"id": "x", "change": list(changes)}]}, sim.regions)
    with pytest.raises(DataError, match="overlaps change"):  # weeks 1-4 and week 3 onwards
        check_scenarios(sc({"regions": ["NWS01"], "multiply": 2, "start": d[0], "weeks": 4},
                           {"regions": ["NWS01"], "multiply": 3, "start": d[1]}), obs, 8, regions=sim.regions)
    with pytest.raises(DataError, match="overlaps change"):  # a date start against a period start
        check_scenarios(sc({"regions": ["South Idlib"], "multiply": 2, "start": 2},
                           {"regions": ["NWS01"], "multiply": 3, "start": d[2]}), obs, 8, regions=sim.regions)
    fine = sc({"regions": ["NWS01"], "multiply": 2, "start": d[0], "weeks": 2},
              {"regions": ["NWS01"], "multiply": 3, "start": d[1]})
    assert check_scenarios(fine, obs, 8, regions=sim.regions)[0].warnings == ()
    with pytest.raises(DataError, match="before the first forecast period"):  # the origin week itself
        check_scenarios(sc({"regions": ["NWS01"], "multiply": 0, "start": str(last.date())}), obs, 8)


def test_hold_plus_multiply_is_k_times_hold_path_by_path(fitted_nbdl, sim):
    """Under common random numbers (the same count noise), ``hold = 4, multiply = k`` equals k times
    ``hold = 4`` in every path, region and period it touches, and leaves the rest alone."""
    k = 2.5
    (hold, more) = scenarios_from_dict({"scenario": [
        {"id": "hold", "change": [{"regions": ["South Idlib"], "hold": 4, "start": 2, "periods": 5}]},
        {"id": "more", "change": [{"regions": ["South Idlib"], "hold": 4, "multiply": k, "start": 2, "periods": 5}]},
    ]}, sim.regions)
    dm, hist = fitted_nbdl.driver_model_, fitted_nbdl.panel_.series
    dates = fitted_nbdl.panel_.future_dates(8)
    base = dm.sample(8, 500, np.random.default_rng(0))
    noise = dm.count_noise(np.random.default_rng(1), base["strikes"].shape)
    counts = lambda s, m: noise[s].draw(slice(None), m)  # noqa: E731
    h, m = hold.apply(base, sim.regions, dates, hist, counts), more.apply(base, sim.regions, dates, hist, counts)
    south = [sim.regions.codes.index(c) for c in sim.regions.resolve(["South Idlib"])]
    for s in ("strikes", "flights"):
        np.testing.assert_array_equal(m[s][:, south, 1:6], k * h[s][:, south, 1:6])
        assert h[s][:, south, 1:6].std() > 0  # the held counts carry noise
        keep = np.ones(base[s].shape, bool)
        keep[:, south, 1:6] = False
        np.testing.assert_array_equal(m[s][keep], base[s][keep])
    # and through the model: above holding and above the baseline (medians of the total). Holding the
    # last 4 weeks is not above the baseline here: inside the escalation at the end of these data half
    # of the baseline's strike paths hold the last 2 weeks, which are higher (drivers.PERSISTENCE).
    res = fitted_nbdl.sample_scenarios(8, [Scenario.baseline(), hold, more], n_draws=400, seed=3)
    tot = {sid: float(p.sum(("region", "horizon")).median()) for sid, p in res.items()}
    assert tot["more"] > 1.2 * max(tot["hold"], tot["baseline"]), tot


def test_fixed_scenarios_say_they_leave_out_conflict_uncertainty():
    (c, v, h) = scenarios_from_dict({"scenario": [
        {"id": "ceasefire", "change": [{"multiply": 0}]},
        {"id": "given", "change": [{"series": ["strikes"], "values": [1, 2]}]},
        {"id": "held", "change": [{"hold": 2, "multiply": 0.5}]}]})
    assert "NOT included" in c.to_dict()["conflict_uncertainty"]
    assert "NOT included" in v.to_dict()["conflict_uncertainty"]
    assert "conflict_uncertainty" not in h.to_dict()


def test_hold_longer_than_history_is_an_error_when_applied(sim):
    (s,) = scenarios_from_dict({"scenario": [{"id": "h", "change": [{"regions": ["NWS01"], "hold": 50}]}]})
    hist = {"strikes": np.ones((len(sim.regions), 10))}
    base = {"strikes": np.ones((2, len(sim.regions), 3))}
    with pytest.raises(DataError, match="hold = 50 periods but the data hold only 10"):
        s.apply(base, sim.regions, pd.date_range("2020-01-06", periods=3, freq="W-MON"), hist)
