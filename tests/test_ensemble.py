"""The default model ``auto``: weights from a backtest on the user's data, whole-path mixture, scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.regions import regions_from_frame
from displacement_forecast.data.simulate import simulate_nw_syria
from displacement_forecast.models import DEFAULT_MODEL, get_model
from displacement_forecast.models.base import Panel
from displacement_forecast.models.ensemble import (
    _allocate,
    _far_tail_lift,
    _lower_factor,
    _simplex,
    _upper_tail_factor,
    choose_weights,
    horizon_factors,
    short_backtest,
    spread_paths,
    stretch_upper_tail,
)
from displacement_forecast.scenarios import Scenario


def _panel(z: np.ndarray, freq="MS") -> Panel:
    R, T = z.shape
    codes = [f"R{i}" for i in range(R)]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A", "population": 1e10}))
    return Panel(pd.date_range("2020-01-01", periods=T, freq=freq), regions, freq[0],
                 {"displaced": np.round(np.expm1(z))})


def test_allocation_and_simplex():
    assert _allocate(np.array([0.5, 0.3, 0.2]), 7).sum() == 7
    assert list(_allocate(np.array([1.0, 0.0]), 5)) == [5, 0]
    g = _simplex(3)
    assert len(g) == 66 and all(abs(w.sum() - 1) < 1e-12 for w in g)


@pytest.fixture(scope="module")
def stationary():
    rng = np.random.default_rng(0)
    return _panel(rng.normal(8, 0.8, (6, 30)))  # iid around a constant: the mean is the best forecast


@pytest.fixture(scope="module")
def random_walk():
    rng = np.random.default_rng(1)
    return _panel(6 + np.cumsum(rng.normal(0, 0.4, (6, 30)), axis=1))  # the last value is the best forecast


def test_weights_follow_the_evidence(stationary, random_walk):
    """iid data: no weight on last-value; a random walk: no weight on historic-average."""
    a = get_model("auto").fit(stationary)
    w = a.info_.diagnostics["auto"]["weights"]
    assert abs(sum(w.values()) - 1) < 1e-9 and w.get("last-value", 0) <= 0.2, w
    b = get_model("auto").fit(random_walk)
    wb = b.info_.diagnostics["auto"]["weights"]
    assert wb.get("historic-average", 0) <= 0.2, wb
    crps = b.info_.diagnostics["auto"]["backtest_mean_crps"]
    assert crps["mixture"] <= min(v for k, v in crps.items() if k != "mixture") + 1e-6


@pytest.mark.parametrize(("driver_shift", "chosen"), [(0.1, True), (1.0, False)])
def test_a_driver_model_within_the_margin_is_preferred_to_the_mixture(driver_shift, chosen):
    """Known truth: outcomes N(0, 1). A calibrated driver-free candidate N(0, 1) and a driver
    model N(shift, 1): shifted by 0.1 sd its CRPS is about 1% above the best mixture's (within
    the 10% margin: it alone is the forecast); by 1 sd it is far above (the grid's mixture, no
    weight on it). Without a driver model among the candidates the preference is not applied."""
    rng = np.random.default_rng(3)
    y = rng.standard_normal(4000)
    free = rng.standard_normal((400, y.size))
    drv = driver_shift + rng.standard_normal((400, y.size))
    w, mix, alone, pref = choose_weights([free, drv], y, [False, True], ["historic-average", "nb-dl"])
    assert pref["crps"] == round(alone[1], 2) and mix <= min(alone) + 1e-9, (alone, mix)
    assert pref["candidate"] == "nb-dl" and pref["chosen"] is chosen, pref
    assert pref["chosen_by"] == ("margin" if chosen else None), pref
    assert pref["best_mixture"] == round(mix, 2) and mix <= pref["crps"] + 1e-9, pref
    assert list(w) == ([0.0, 1.0] if chosen else [1.0, 0.0]), w
    w0, _, _, pref0 = choose_weights([free, drv], y, [False, False], ["historic-average", "last-value"])
    assert pref0 == {} and w0[0] >= 0.9, w0


@pytest.mark.parametrize(("where", "chosen"), [("one origin", True), ("every origin", False)])
def test_a_driver_model_behind_by_one_origins_worth_is_preferred(where, chosen):
    """Known truth for the one-standard-error rule: 8 backtest origins of 500 cells, outcomes
    N(0, 1); a driver-free candidate N(0, 1.3^2) and a driver model N(0, 1), except that the
    driver model is off by 3 sd at one origin (its mean CRPS is then 38% above the best mixture's,
    all of it from that origin: within one standard error of the origins' differences, so it
    alone is the forecast), or off by 0.6 sd at every origin (15% above, the same at every origin:
    a standard error near 0, so the mixture). Without the origins the 10% margin alone decides."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(8), 500)
    y = rng.standard_normal(groups.size)
    free = 1.3 * rng.standard_normal((400, y.size))
    shift = np.where(groups == 0, 3.0, 0.0) if where == "one origin" else np.full(y.size, 0.6)
    drv = shift + rng.standard_normal((400, y.size))
    w, mix, alone, pref = choose_weights([free, drv], y, [False, True], ["historic-average", "nb-dl"], groups)
    assert alone[1] > 1.1 * mix, (alone, mix)  # outside the 10% margin either way
    assert pref["chosen"] is chosen and (pref["se"] >= alone[1] - mix - 0.01) is chosen, pref
    assert pref["chosen_by"] == ("se" if chosen else None), pref
    assert (list(w) == [0.0, 1.0]) is chosen, w
    _, _, _, plain = choose_weights([free, drv], y, [False, True], ["historic-average", "nb-dl"])
    assert plain["chosen"] is False and plain["se"] == 0.0, plain


def test_paths_are_whole_member_paths_and_reproducible(stationary):
    a = get_model("auto", calibrate=False, persist=False).fit(stationary)
    p1 = a.sample_paths(4, n_draws=300, seed=3).values
    p2 = a.sample_paths(4, n_draws=300, seed=3).values
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (300, 6, 4) and (p1 >= 0).all()
    # whole paths: in every region the mixture's paths are exactly the members' own paths
    # (reordered across draws only), each member drawing its share of them
    draws = a._draw(4, 300, np.random.default_rng(7))
    members, _ = a._members(None, 4, 300, draws)
    out = a._paths(None, 4, 300, draws)
    assert a.spread_ == 1.0 and a.lower_spread_ == 1.0
    for r in range(out.shape[1]):
        assert sorted(map(tuple, out[:, r])) == sorted(map(tuple, members[:, r]))
    counts = np.bincount(draws["owner"], minlength=len(draws["names"]))
    np.testing.assert_array_equal(counts, _allocate(np.array([a.weights_[n] for n in draws["names"]]), 300))


def test_persistence_in_time_keeps_every_periods_values_and_ranks_draws_alike(stationary):
    """``persist`` (the default): in every region the driver-free draws hold exactly their values of
    each period, given in one order (the draw highest in one period is highest in every period), so
    the spread of the sum over periods grows (draws independent in time gave cumulative intervals
    too narrow: Somalia's 3-month all-region total covered 40% at 80%)."""
    from scipy.stats import spearmanr

    a = get_model("auto", calibrate=False, total_shock=False).fit(stationary)
    assert a.persist and a.persist_ and a.get_config()["persist"] is True
    draws = a._draw(6, 600, np.random.default_rng(7))
    members, free = a._members(None, 6, 600, draws)
    assert free.all()  # stationary: driver-free candidates only
    out = a._paths(None, 6, 600, draws)
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(members, axis=0))  # each cell's values
    kept = a._persist(members.copy(), free, draws)  # the step itself (the regions' reordering follows it)
    np.testing.assert_array_equal(np.sort(kept, axis=0), np.sort(members, axis=0))
    for r in range(kept.shape[1]):  # one order in every period (but for ties)
        assert spearmanr(kept[:, r]).statistic.min() > 0.99
    spread = lambda p: np.std(np.log1p(p.sum(axis=2)), axis=0)  # noqa: E731
    assert (spread(kept) > 1.5 * spread(members)).all(), (spread(kept), spread(members))


def test_persist_in_time_gives_the_kth_key_the_kth_values():
    """Exact semantics: in region r the draw with the k-th smallest (mean log1p, tiebreak) takes the
    k-th smallest value of every period; the input is not changed."""
    from displacement_forecast.models.ensemble import persist_in_time

    rng = np.random.default_rng(1)
    x = rng.poisson(50, (200, 3, 5)).astype(float)
    t = rng.random((200, 3))
    x0 = x.copy()
    y = persist_in_time(x, t)
    np.testing.assert_array_equal(x, x0)
    key = np.log1p(x).mean(axis=2)
    for r in range(3):
        o = np.lexsort((t[:, r], key[:, r]))
        np.testing.assert_array_equal(y[o, r, :], np.sort(x[:, r, :], axis=0))


def test_persistence_leaves_driver_paths_and_is_wired_into_the_backtest(monkeypatch):
    """Only driver-free draws are reordered in time: nb-dl's paths are the same with and without
    ``persist``; the internal backtest's totals are made the same way (its ``persist``)."""
    from displacement_forecast.models import ensemble as ens

    rng = np.random.default_rng(0)
    p, R = _strike_panel(rng), 4
    seen = []
    real = ens._backtest_totals
    monkeypatch.setattr(ens, "_backtest_totals", lambda *a, **k: seen.append(a[6]) or real(*a, **k))
    a = get_model("auto", candidates=[("historic-average", {}), ("last-value", {})], n_paths=20, n_origins=2).fit(p)
    assert seen == [True], seen
    a.weights_ = {"historic-average": 0.3, "last-value": 0.2, "nb-dl": 0.5}
    a.members_ = {n: a.members_.get(n) or get_model(n).fit(p) for n in a.weights_}
    a.total_shock_ = 0.0
    H, D = 4, 300
    base = {"strikes": rng.poisson(20, (D, R, H)).astype(float)}
    out = {}
    for on in (True, False):
        a.persist_ = on
        d = a._draw(H, D, np.random.default_rng(1), baseline=base)
        out[on] = (d["owner"], a._paths(base, H, D, d))
    driven = out[True][0] == list(a.weights_).index("nb-dl")
    np.testing.assert_array_equal(out[True][1][driven], out[False][1][driven])
    assert not np.array_equal(out[True][1][~driven], out[False][1][~driven])


@pytest.mark.slow
def test_scenarios_move_the_default_on_synthetic_data(sim):
    """Scenario ordering holds under the default model: intensify >= baseline (cumulative, affected
    regions), ceasefire lower in total; untouched regions keep their baseline paths."""
    assert DEFAULT_MODEL == "auto"
    m = get_model("auto", n_origins=4).fit(sim.observations, sim.regions)
    res = m.sample_scenarios(8, [Scenario.baseline(), Scenario.intensify(["South Idlib"], 2.0), Scenario.ceasefire()],
                             n_draws=600, seed=5)
    b, i, c = (res[k] for k in ("baseline", "intensify", "ceasefire"))
    south = sim.regions.resolve(["South Idlib"])
    cb, ci = (x.cumsum("horizon").median("draw") for x in (b, i))
    assert (ci.sel(region=south) >= cb.sel(region=south)).all()
    assert float(ci.sel(region=south).sum()) > float(cb.sel(region=south).sum())
    assert float(c.median("draw").sum()) < float(b.median("draw").sum())
    again = m.sample_scenarios(8, [Scenario.baseline()], n_draws=600, seed=5)["baseline"]
    np.testing.assert_array_equal(again.values, b.values)
    assert "weights" in m.info_.diagnostics["auto"]


def test_a_forecast_of_driver_paths_alone_says_scenarios_move_them_directly(sim):
    """With every path a driver model's (the driver preference, or nb-dl the only candidate), the
    sidecar said scenarios multiply driver-free paths by the response model's ratio: there are
    none. It now names the driver model's own conflict paths, and the bands' list says no ratio."""
    m = get_model("auto", candidates=[("nb-dl", {})], n_paths=50).fit(sim.observations, sim.regions)
    assert m.weights_ == {"nb-dl": 1.0}
    assert m.info_.diagnostics["auto"]["scenario_response"].startswith("nb-dl through its own conflict paths")
    u = m.uncertainty_included()
    assert not any("driver-free paths are multiplied" in x for x in u), u
    # one model chosen, no driver-free path to reorder: neither a model choice nor a reordering in the bands
    assert not any(x.startswith(("model choice", "dependence between regions")) for x in u), u
    assert any(x.startswith("future conflict (strikes/flights paths") for x in u), u


def _with_strikes(panel: Panel, strikes: np.ndarray) -> Panel:
    return Panel(panel.dates, panel.regions, panel.freq, {"displaced": panel.target(), "strikes": strikes})


def _strike_panel(rng: np.random.Generator, noise: float = 0.0) -> Panel:
    """4 regions x 30 periods whose displacement responds to strikes (log-linear, ``noise`` sd of a
    period effect shared by the regions)."""
    strikes = rng.poisson(20, (4, 30)).astype(float)
    shock = noise * rng.standard_normal(30) if noise else 0.0
    disp = rng.poisson(np.exp(5 + 0.03 * strikes + shock)).astype(float)
    return _with_strikes(_panel(np.log1p(disp)), strikes)


def test_no_driver_model_alone_where_a_region_has_no_conflict_counts(stationary):
    """A driver model alone forecasts 0 in a region without conflict counts (fresh-eyes check,
    custom candidates): the preference is not applied there, the warning names what the region
    lacks, and does not claim driver models were left out when the user chose them."""
    y = stationary.target()
    strikes = np.round(y / 100)
    strikes[0] = np.nan  # R0: displacement but no strike counts
    a = get_model("auto", candidates=[("nb-dl", {}), ("last-value", {})], n_paths=50).fit(_with_strikes(stationary, strikes))
    assert a.info_.diagnostics["auto"]["driver_preference"] == {}
    w = [x for x in a.info_.warnings if x.startswith("region R0")]
    assert w == ["region R0 has no counts of strikes: scenarios do not move its forecast"], a.info_.warnings


def test_the_blind_region_warning_says_which_candidates_left_the_mixture(stationary):
    """Default candidates and a region without strike counts: the warning said "driver models were
    left out of the mixture" beside weights naming dynamic, a driver model elsewhere; inside auto
    dynamic runs without drivers and only nb-dl is left out."""
    y = stationary.target()
    strikes = np.round(y / 100)
    strikes[0] = np.nan
    a = get_model("auto", n_paths=50).fit(_with_strikes(stationary, strikes))
    assert "nb-dl" not in a.weights_
    w = [x for x in a.info_.warnings if x.startswith("region R0")]
    assert w == ["region R0 has no counts of strikes: scenarios do not move its forecast, and nb-dl was left out of "
                 "the mixture (its candidates, dynamic among them, run without drivers)"], a.info_.warnings


def test_driver_paths_beside_paths_no_scenario_moves_are_said(stationary):
    """drivers=None (no response model) with a driver candidate: scenarios move the driver
    model's paths only; the sidecar said every path was a driver model's."""
    y = stationary.target()
    panel = _with_strikes(stationary, np.round(y / 100))
    a = get_model("auto", drivers=None, candidates=[("nb-dl", {"drivers": ["strikes"]}), ("last-value", {})],
                  n_paths=50).fit(panel)
    a.weights_ = {"nb-dl": 0.7, "last-value": 0.3}  # a mixture, whatever the backtest chose here
    a.members_.setdefault("last-value", get_model("last-value").fit(panel))
    text = a._scenario_response()
    assert text.startswith("nb-dl paths through their own conflict paths; the last-value paths (30%) do not move"), text
    u = a.uncertainty_included()
    assert any(x.startswith("NOT scenario for the last-value paths") for x in u), u
    assert any(x.startswith("future conflict (strikes paths") for x in u), u  # the series named, not strike/flight
    assert any(x.startswith("model choice") for x in u), u


@pytest.mark.parametrize("freq,unit", [("D", "days"), ("W-MON", "weeks"), ("MS", "months")])
def test_the_scenario_response_text_names_the_datas_period(freq, unit):
    """Trial 19 item 16: the sidecar's scenario_response said "single months of single paths" on daily data."""
    from types import SimpleNamespace

    a = get_model("auto")
    a.response_, a.weights_, a.panel_ = object(), {"last-value": 1.0}, SimpleNamespace(freq=freq)
    a._ratio_members = a._free_members = lambda: ["last-value"]
    a._negative_members = lambda: {}
    text = a._scenario_response()
    assert f"(single {unit} of single paths can move either way" in text, text


def test_a_driver_model_lost_in_the_backtest_is_said():
    """Strikes in only the first 3 of 82 weeks: nb-dl cannot be fitted at the backtest's origins.
    It was left out in silence (a warning only with --lags); now the warning says so."""
    weekly = _panel(np.random.default_rng(5).normal(6, 0.5, (3, 82)), freq="W-MON")
    strikes = np.full(weekly.target().shape, np.nan)
    strikes[:, :3] = 5.0
    a = get_model("auto", n_paths=50).fit(_with_strikes(weekly, strikes))
    assert "nb-dl" in a.info_.diagnostics["auto"]["failed_candidates"]
    assert any(w.startswith("nb-dl could not be fitted in the internal backtest") for w in a.info_.warnings), \
        a.info_.warnings


def test_a_backtest_with_no_observed_outcome_falls_back_instead_of_crashing(stationary):
    """Displacement missing after every backtest origin (a trailing gap, given through Python):
    a ValueError from zip() deep in the weights; now the first candidate, and the reason recorded."""
    y = stationary.target().copy()
    y[:, -20:] = np.nan
    a = get_model("auto", n_paths=50).fit(Panel(stationary.dates, stationary.regions, stationary.freq,
                                                {"displaced": y}))
    d = a.info_.diagnostics["auto"]
    assert d["weights"] == {"dynamic": 1.0}, d["weights"]
    assert set(d["failed_candidates"].values()) == {"no observed outcome after any backtest origin"}


def test_auto_scenarios_are_monotone_in_conflict_on_the_real_nw_syria_panel():
    """On the real NW Syria panel the response model's fitted effects of shelling and events are
    negative (short, noisy panel): doubling conflict lowered the forecast until negative effects
    were read as none. Now twice the current level >= the current level path by path (the same
    held counts, doubled: common random numbers), and holding the current level (an offensive)
    sits above the baseline (whose conflict fades) in distribution."""
    from pathlib import Path

    from displacement_forecast.data import load_regions, read_observations
    from displacement_forecast.data.hindcast import truncate_at_origin
    from displacement_forecast.forecast import engine
    from displacement_forecast.models import get_model
    from displacement_forecast.scenarios import load_scenarios

    root = Path(__file__).resolve().parents[1]
    reg = load_regions(root / "data/nw_syria/regions.csv")
    obs = read_observations(root / "data/nw_syria/panel.csv", region_codes=reg.codes)
    obs, _, _ = truncate_at_origin(obs, "2019-11-01")
    # the driver-free candidates only: their paths take the response model's ratio (nb-dl's would
    # too here, its fitted shelling effect being negative, but it costs a fit per backtest origin)
    free = [("dynamic", {"drivers": None}), ("historic-average", {}), ("last-value", {})]
    m = engine.fit(get_model("auto", n_paths=100, candidates=free), obs, reg)
    assert (m.response_.est_["beta"] < 0).any()  # the case this test is about
    sc = load_scenarios(root / "experiments/scenarios/nw_syria_2019.toml", reg)
    p = engine.sample(m, 3, sc, n_draws=300, seed=4)
    tot = {k: v.sum(dim=("region", "horizon")).values for k, v in p.items()}
    assert (tot["intensify"] >= tot["offensive-continues"]).mean() > 0.95
    assert np.median(tot["offensive-continues"]) > np.median(tot["baseline"])
    assert "never lowers" in m.info_.diagnostics["auto"]["scenario_response"]


def test_reorder_keeps_each_region_and_follows_the_template():
    """Schaake shuffle of whole regional paths: each region keeps exactly its own paths (so its
    forecast and scores are unchanged) and the draws take the template's rank correlation."""
    from displacement_forecast.models.ensemble import reorder_regions

    rng = np.random.default_rng(0)
    D, R, H = 2000, 3, 4
    paths = rng.poisson(rng.gamma(2.0, 50.0, (D, R, 1)), (D, R, H)).astype(float)  # independent regions
    common = rng.standard_normal(D)
    template = np.column_stack([common + 0.3 * rng.standard_normal(D) for _ in range(R)])
    perm = reorder_regions(paths, template, rng.random((D, R)))
    out = paths[perm, np.arange(R)[None, :]]
    for r in range(R):  # the same multiset of whole paths per region
        np.testing.assert_array_equal(np.sort(out[:, r].sum(axis=1)), np.sort(paths[:, r].sum(axis=1)))
        assert sorted(map(tuple, out[:, r])) == sorted(map(tuple, paths[:, r]))
    key = pd.DataFrame(np.log1p(out).mean(axis=2))
    before = pd.DataFrame(np.log1p(paths).mean(axis=2)).corr("spearman").to_numpy()[np.triu_indices(R, 1)]
    after = key.corr("spearman").to_numpy()[np.triu_indices(R, 1)]
    want = pd.DataFrame(template).corr("spearman").to_numpy()[np.triu_indices(R, 1)]
    assert np.abs(before).max() < 0.1 and np.abs(after - want).max() < 0.05, (before, after, want)


def test_totals_carry_shared_shocks():
    """Known truth: 8 regions share a log-scale shock each month (sd 0.6; own noise sd 0.2). The
    total's true 80% interval is wide; independent regional paths make it far too narrow, the
    reordered paths (auto's default) recover its width while every region's forecast is unchanged."""
    rng = np.random.default_rng(11)
    R, T = 8, 48
    mu = rng.uniform(6.5, 8.0, R)
    z = mu[:, None] + 0.6 * rng.standard_normal(T)[None, :] + 0.2 * rng.standard_normal((R, T))
    panel = _panel(z)
    truth = np.expm1(mu[None, :] + 0.6 * rng.standard_normal((20000, 1)) + 0.2 * rng.standard_normal((20000, R)))
    lo, hi = np.quantile(truth.sum(axis=1), [0.1, 0.9])
    fit = {k: get_model("auto", reorder=k, candidates=[("historic-average", {})], n_paths=100,
                        total_shock=False).fit(panel) for k in (True, False)}
    p = {k: m.sample_paths(1, n_draws=4000, seed=1).values for k, m in fit.items()}
    np.testing.assert_array_equal(np.sort(p[True], axis=0), np.sort(p[False], axis=0))  # regions unchanged
    width = {k: np.subtract(*np.quantile(v.sum(axis=1)[:, 0], [0.9, 0.1])) for k, v in p.items()}
    assert width[False] < 0.6 * (hi - lo), (width, hi - lo)
    assert 0.75 * (hi - lo) < width[True] < 1.35 * (hi - lo), (width, hi - lo)
    # without the reordering, the all-region shock (default on) sees the backtest's totals cover
    # far less than 80% and adds a shared random walk: the total regains most of its true width
    shocked = get_model("auto", reorder=False, candidates=[("historic-average", {})], n_paths=100).fit(panel)
    d = shocked.info_.diagnostics["auto"]
    assert d["backtest_coverage"]["total_cov80_before"] < 0.5 and d["total_shock_sd"] >= 0.3, d
    w = np.subtract(*np.quantile(shocked.sample_paths(1, n_draws=4000, seed=1).values.sum(axis=1)[:, 0], [0.9, 0.1]))
    assert 0.7 * (hi - lo) < w < 1.35 * (hi - lo), (w, width, hi - lo)  # independent: 0.36 of it


def test_driver_models_join_the_candidates_only_with_conflict_series(stationary):
    from displacement_forecast.models.ensemble import AutoEnsemble

    a = AutoEnsemble()
    assert [n for n, _ in a._candidates(stationary)] == ["dynamic", "historic-average", "last-value"]
    y = stationary.target()
    with_conflict = Panel(stationary.dates, stationary.regions, stationary.freq,
                          {"displaced": y, "strikes": np.round(y / 100)})
    names = [n for n, _ in a._candidates(with_conflict)]
    assert names[-1] == "nb-dl" and len(names) == 4
    assert [n for n, _ in AutoEnsemble(drivers=None)._candidates(with_conflict)] == names[:3]


def test_uncertainty_says_how_conflict_enters(stationary):
    """Without conflict series the sidecar must not claim future conflict is in the bands."""
    from displacement_forecast.models.base import CONFLICT, NOT_SCENARIO

    a = get_model("auto", n_paths=50).fit(stationary)
    u = a.uncertainty_included()
    assert CONFLICT not in " ".join(u) and NOT_SCENARIO in u and any(u_.startswith("model choice") for u_ in u)


def test_a_scenario_simulates_only_the_driver_members_again():
    """Under a scenario only the driver members see other conflict paths: the driver-free
    members' paths are the baseline's (same seeds), not simulated a second time, and the
    result is what simulating every member afresh gives."""
    rng = np.random.default_rng(0)
    p, R = _strike_panel(rng), 4
    a = get_model("auto", candidates=[("historic-average", {})], n_paths=20, n_origins=2).fit(p)
    a.weights_ = {"historic-average": 0.5, "nb-dl": 0.5}
    a.members_ = {n: get_model(n).fit(p) for n in a.weights_}
    calls = {n: 0 for n in a.weights_}
    for n, m in a.members_.items():
        def counted(*args, _n=n, _f=m._simulate):
            calls[_n] += 1
            return _f(*args)
        m._simulate = counted
    H, D = 3, 60
    base = {"strikes": rng.poisson(20, (D, R, H)).astype(float)}
    more = {"strikes": 2 * base["strikes"]}
    draws = a._draw(H, D, np.random.default_rng(1), baseline=base)
    response_calls = []
    resp_sim = a.response_._simulate
    a.response_._simulate = lambda *args: response_calls.append(1) or resp_sim(*args)
    out = a._paths(more, H, D, draws)
    assert calls == {"historic-average": 1, "nb-dl": 2} and len(response_calls) == 2
    # further scenarios of the same call reuse the baseline's member and response paths
    a._paths(base, H, D, draws)
    assert calls == {"historic-average": 1, "nb-dl": 2} and len(response_calls) == 2
    again = a._paths({"strikes": 3 * base["strikes"]}, H, D, draws)
    assert calls == {"historic-average": 1, "nb-dl": 3} and len(response_calls) == 3
    fresh = a._draw(H, D, np.random.default_rng(1), baseline=base)  # the same draws, nothing kept
    np.testing.assert_array_equal(again, a._paths({"strikes": 3 * base["strikes"]}, H, D, fresh))
    np.testing.assert_array_equal(out, a._paths(more, H, D, draws))
    full, free = a._members(more, H, D, draws)  # every member afresh under the scenario
    same, free_b = a._members(more, H, D, draws, base=a._members(base, H, D, draws)[0])
    np.testing.assert_array_equal(same, full)
    np.testing.assert_array_equal(free, free_b)
    assert free.any() and not free.all()
    assert not np.array_equal(out, a._paths(None, H, D, draws))  # the scenario moved the forecast


def _lognormal_cells(rng, n_cells=400, n_paths=401, sd_low=0.5, sd_high=0.5):
    """Known truth for the lower-tail calibration: outcomes log1p(y) ~ N(mu, 0.5) in each cell (an odd
    number of paths, so the median is one path);
    paths from N(mu, sd_low) below the median and N(mu, sd_high) above it (a split normal)."""
    mu = rng.uniform(4, 9, n_cells)
    y = np.round(np.expm1(mu + 0.5 * rng.standard_normal(n_cells)))
    e = rng.standard_normal((n_paths, n_cells))
    paths = np.round(np.expm1(mu + np.where(e < 0, sd_low, sd_high) * e))
    return paths, y


def test_lower_factor_recovers_a_too_heavy_lower_tail():
    """Paths whose lower side is twice as wide as the truth's: the factor found is ~0.5 and the
    outcomes then fall below the 10% / 2.5% quantiles at about those rates; upper quantiles and
    medians are unchanged."""
    rng = np.random.default_rng(1)
    paths, y = _lognormal_cells(rng, sd_low=1.0)
    f, info = _lower_factor(paths, y)
    assert 0.4 <= f <= 0.6, (f, info)
    assert info["below10_before"] < 0.05 and abs(info["below10_after"] - 0.10) < 0.04
    assert info["below2.5_after"] <= 0.025
    out = spread_paths(paths, 1.0, f)
    np.testing.assert_array_equal(np.quantile(out, [0.5, 0.9, 0.975], axis=0),
                                  np.quantile(paths, [0.5, 0.9, 0.975], axis=0))
    assert (np.quantile(out, 0.1, axis=0) >= np.quantile(paths, 0.1, axis=0)).all()


def test_lower_factor_never_pushes_the_far_tail_past_nominal():
    """Below the 10% quantile too rarely but below the 2.5% quantile already too often (a lower
    tail too wide in the middle, too short at its end): narrowing would make the 95% interval
    worse, so the factor stays 1."""
    rng = np.random.default_rng(3)
    paths, y = _lognormal_cells(rng, sd_low=0.8)
    y = y.copy()
    low = rng.choice(len(y), size=len(y) // 20, replace=False)  # 5% of outcomes far below everything
    y[low] = 0
    f, info = _lower_factor(paths, y)
    assert info["below2.5_before"] > 0.025 and f == 1.0, (f, info)


def test_upper_tail_factor_recovers_a_compressed_far_tail():
    """Paths drawn from the truth with their excess over each cell's 90% quantile halved: the
    factor found is ~2, the outcomes then fall above the 95% / 97.5% quantiles at about those
    rates, and the 80% interval and median are unchanged."""
    rng = np.random.default_rng(4)
    paths, y = _lognormal_cells(rng, n_cells=800)
    short = stretch_upper_tail(paths, 0.5)
    g, info = _upper_tail_factor(short, y)
    assert 1.5 <= g <= 2.5, (g, info)
    assert info["above2.5_before"] > 0.05 and abs(info["above2.5_after"] - 0.025) < 0.015
    assert abs(info["above5_after"] - 0.05) < 0.02
    out = spread_paths(short, 1.0, 1.0, g)
    np.testing.assert_array_equal(np.quantile(out, [0.1, 0.5, 0.9], axis=0),
                                  np.quantile(short, [0.1, 0.5, 0.9], axis=0))
    assert (np.quantile(out, 0.975, axis=0) >= np.quantile(short, 0.975, axis=0)).all()


@pytest.mark.parametrize("factor, side, sd, seed, lo, hi", [
    pytest.param(_lower_factor, "sd_low", 0.5, 2, 0.9, 1.0, id="lower-calibrated"),
    pytest.param(_lower_factor, "sd_low", 0.3, 2, 1.0, 1.0, id="lower-too-narrow"),
    pytest.param(_upper_tail_factor, "sd_high", 0.5, 5, 1.0, 1.25, id="upper-calibrated"),
    pytest.param(_upper_tail_factor, "sd_high", 0.8, 5, 1.0, 1.0, id="upper-too-wide"),
])
def test_tail_factors_leave_calibrated_tails_and_never_move_one_the_wrong_way(factor, side, sd, seed, lo, hi):
    """A calibrated tail stays (factor ~1); a lower tail too narrow is never widened (lower factor
    1), an upper tail too wide never narrowed (upper-tail factor 1)."""
    paths, y = _lognormal_cells(np.random.default_rng(seed), **{side: sd})
    f, info = factor(paths, y)
    assert lo <= f <= hi, (f, info)


def test_auto_tails_stretches_only_beyond_the_90_quantile():
    """``calibrate="tails"`` on a history with surges (one period in ten 6 times the usual level):
    the lower side as ``"lower"``, and beyond each cell's 90% quantile the paths stretched by the
    factor reported, which is above 1 (the mixture's upper tail is too light there)."""
    rng = np.random.default_rng(0)
    surges = _panel(rng.normal(8, 0.5, (6, 30)) + np.log(6) * (rng.random((6, 30)) < 0.1))
    a = get_model("auto", calibrate="tails", dependence=0.5).fit(surges)  # one reordering for both
    lo = get_model("auto", calibrate="lower", dependence=0.5).fit(surges)
    assert get_model("auto").calibrate == "tails"  # the default
    d = a.info_.diagnostics["auto"]
    assert d["upper_tail_factor"] == a.upper_tail_ and len(a.upper_tail_) == 3  # one per backtest month
    assert max(a.upper_tail_) > 1.0 and a.lower_spread_ == lo.lower_spread_
    assert {"above5_before", "above2.5_after"} <= set(d["backtest_coverage"])
    p = a.sample_paths(5, n_draws=200, seed=1).values
    q = lo.sample_paths(5, n_draws=200, seed=1).values
    g = horizon_factors(a.upper_tail_, 5)  # months 4 and 5 take month 3's factor
    assert list(g) == [*a.upper_tail_, a.upper_tail_[-1], a.upper_tail_[-1]]
    np.testing.assert_array_equal(p, spread_paths(q, 1.0, 1.0, g, far_lift=a.far_lift_))


def test_far_tail_lift_restores_the_97_5_quantile_of_a_too_light_far_tail():
    """Known truth: paths drawn from the truth with their excess over each cell's 95% quantile cut
    to a third, so 4% of outcomes fall above the 97.5% quantile (not 2.5%). The lift found is
    near what the cut took from the 97.5% quantile (log1p, the median over cells: 2/3 of the
    truth's excess there), brings that share back to one a binomial test cannot tell from 2.5%,
    and leaves the median and the 80% interval as they were."""
    rng = np.random.default_rng(6)
    paths, y = _lognormal_cells(rng, n_cells=800)
    short = stretch_upper_tail(paths, 1 / 3, 0.95)
    c, info = _far_tail_lift(short, y)
    lz, sz = np.log1p(paths), np.log1p(short)
    taken = np.median(np.quantile(lz, 0.975, axis=0) - np.quantile(sz, 0.975, axis=0))
    assert 0.5 * taken <= c <= 1.5 * taken, (c, taken, info)
    assert info["far_above2.5_before"] >= 0.04 and info["far_above2.5_after"] <= 0.035, info
    out = spread_paths(short, 1.0, 1.0, 1.0, far_lift=c)
    np.testing.assert_array_equal(np.quantile(out, [0.1, 0.5, 0.9], axis=0),
                                  np.quantile(short, [0.1, 0.5, 0.9], axis=0))
    # every cell's 97.5% quantile rises by the lift (log1p; integer counts round)
    rise = np.quantile(np.log1p(out), 0.975, axis=0) - np.quantile(sz, 0.975, axis=0)
    assert np.allclose(rise, c, atol=0.02), (rise.min(), rise.max(), c)


def test_far_tail_lift_leaves_calibrated_and_too_wide_tails():
    """Paths drawn from the truth: the lift is 0 unless the test errs (5% of the time: at most
    3 of 20 histories); paths wider than the truth: always 0 (it never narrows, never widens
    without evidence)."""
    calibrated = [_far_tail_lift(*_lognormal_cells(np.random.default_rng(k)))[0] for k in range(20)]
    assert sum(c > 0 for c in calibrated) <= 3, calibrated
    wide = [_far_tail_lift(*_lognormal_cells(np.random.default_rng(k), sd_high=0.8))[0] for k in range(5)]
    assert wide == [0.0] * 5


def test_far_tail_lift_does_not_stretch_wide_cells_most():
    """The shipped NW Syria forecast's failure, in known truth: one factor on each cell's log1p
    excess over its 95% quantile (as until 2026-12-02) multiplied the tails that were already
    widest, so a cell ten times wider (log1p sd 1.0 against 0.1) had its 97.5% quantile raised
    ten times as far. The lift raises both by the same amount."""
    from displacement_forecast.models.ensemble import _log_map

    e = np.random.default_rng(2).standard_normal((401, 2))
    paths = np.round(np.expm1(6 + e * np.array([0.1, 1.0])))
    lz = np.log1p(paths)
    q95, q975 = np.quantile(lz, [0.95, 0.975], axis=0)
    old = np.log1p(_log_map(q975, q95, 4.75)) - q975  # the old map's rise of the 97.5% quantile
    assert old[1] > 5 * old[0], old
    rise = np.quantile(np.log1p(spread_paths(paths, 1.0, 1.0, 1.0, far_lift=1.4)), 0.975, axis=0) - q975
    np.testing.assert_allclose(rise, 1.4, atol=0.02)


def test_far_tail_lift_is_judged_on_the_cells_it_can_move():
    """Cells whose 97.5% quantile equals their 95% quantile (mostly zeros) cannot be lifted: their
    misses must not raise the lift of the others. Known truth: 300 calibrated cells and 300
    all-zero cells whose outcome is 5 (every one a miss): the lift is 0, as on the calibrated
    cells alone."""
    rng = np.random.default_rng(8)
    paths, y = _lognormal_cells(rng, n_cells=300)
    zeros = np.zeros((paths.shape[0], 300))
    c, info = _far_tail_lift(np.concatenate([paths, zeros], axis=1), np.concatenate([y, np.full(300, 5.0)]))
    assert c == _far_tail_lift(paths, y)[0] == 0.0, (c, info)


def test_far_tail_lift_follows_the_binomial_boundary():
    """The lift is 0 exactly while P(X >= k | n, 2.5%) > 5% for the k outcomes above the 97.5%
    quantile: at the largest such k it stays 0, one more and it rises (an off-by-one in the test
    moves that boundary)."""
    from scipy.stats import binom

    n = 400
    k_ok = max(k for k in range(n) if binom.sf(k - 1, n, 0.025) > 0.05)
    base = np.round(np.expm1(np.linspace(4, 6, 401)))[:, None] * np.ones((1, n))  # every cell alike
    for k, lifted in ((k_ok, False), (k_ok + 1, True)):
        y = np.where(np.arange(n) < k, 1e6, np.median(base, axis=0))  # k far above, the rest at the median
        c, info = _far_tail_lift(base, y)
        assert (c > 0) == lifted, (k, c, info)


def test_a_refit_drops_a_loaded_fits_far_tail_factor():
    """A 2026-12-01 fit carries a factor (``far_tail_``); refitted, it must forecast as a fresh
    fit does, not keep that factor where the new lift is 0."""
    rng = np.random.default_rng(9)
    panel = _panel(rng.normal(8, 0.3, (4, 30)))
    fresh = get_model("auto").fit(panel)
    old = get_model("auto").fit(panel)
    old.far_tail_ = 3.0  # as a fit saved on 2026-12-01 loads
    old.fit(panel)
    assert not hasattr(old, "far_tail_")
    np.testing.assert_array_equal(old.sample_paths(3, n_draws=200, seed=1).values,
                                  fresh.sample_paths(3, n_draws=200, seed=1).values)


def test_far_tail_factor_of_fits_saved_before_the_lift_is_still_applied():
    """Fits saved on 2026-12-01 stored a factor (``far_tail_``), not a lift: their forecasts keep
    the map they were fitted with."""
    from displacement_forecast.models.ensemble import _log_map

    rng = np.random.default_rng(5)
    paths = np.round(np.expm1(rng.uniform(4, 9, 50) + 0.5 * rng.standard_normal((401, 50))))
    lz = np.log1p(paths)
    q95, q975 = np.quantile(lz, [0.95, 0.975], axis=0)
    out = spread_paths(paths, 1.0, 1.0, 1.0, 2.0)
    np.testing.assert_allclose(np.quantile(np.log1p(out), 0.975, axis=0), np.log1p(_log_map(q975, q95, 2.0)),
                               atol=0.02)


@pytest.mark.parametrize("which, start, top", [("upper", 0.9, 0.99), ("far", 0.95, 0.975)])
def test_tail_stretches_stop_at_the_level_their_backtest_judged(which, start, top):
    """Each stretch moves quantiles up to the highest level its factor was chosen on (the upper
    tail's quantile loss: 99%; the far tail's binomial test: 97.5%) exactly as an unbounded
    stretch does; beyond that level a path keeps its own log1p distance from it (shifted, not
    stretched), so heavy-tailed members do not turn into surges no backtest asked for (Somalia,
    Banadir: a 3-month 99% quantile of 509,211 people with the stretch unbounded)."""
    from displacement_forecast.models.ensemble import _log_map

    rng = np.random.default_rng(3)
    mu = rng.uniform(4, 9, 300)
    z = mu + 0.5 * rng.standard_t(3, (401, 300))  # heavy-tailed log1p paths, 401: quantiles are paths
    paths = np.round(np.expm1(np.maximum(z, 0.0)))
    g = 3.0
    args = (1.0, 1.0, g, 1.0) if which == "upper" else (1.0, 1.0, 1.0, g)
    out = spread_paths(paths, *args)
    lz = np.log1p(paths)
    q, t = np.quantile(lz, start, axis=0), np.quantile(lz, top, axis=0)
    unbounded = np.where(lz > q, _log_map(lz, q, g), paths)
    levels = [0.1, 0.5, start, top]
    np.testing.assert_array_equal(np.quantile(out, levels, axis=0), np.quantile(unbounded, levels, axis=0))
    beyond = lz > t
    moved_top = np.broadcast_to(np.log1p(_log_map(t, q, g)), lz.shape)
    np.testing.assert_allclose(np.log1p(out)[beyond] - moved_top[beyond], (lz - t)[beyond],
                               atol=0.02)  # integer counts: rounding
    assert (out <= unbounded).all() and (out[beyond] < unbounded[beyond]).mean() > 0.9
    # the farthest paths: the unbounded stretch multiplied their log excess by 3
    far = np.quantile(np.log1p(unbounded), 0.999, axis=0) - np.quantile(np.log1p(out), 0.999, axis=0)
    assert np.median(far) > 1.0, np.median(far)


def test_upper_tail_factor_per_horizon():
    """Known truth: too few cells at horizon 1 (it takes the factor of all cells), paths right at
    horizon 2, their far upper tail halved at horizon 3. Horizon h's factor is chosen on the cells
    of horizons 1..h: ~1 at horizon 2, and at the last horizon the factor of all cells (> 1)."""
    from displacement_forecast.models.ensemble import _upper_tail_by_horizon

    rng = np.random.default_rng(4)
    p1, y1 = _lognormal_cells(rng, n_cells=10)
    p2, y2 = _lognormal_cells(rng, n_cells=300)
    p3, y3 = _lognormal_cells(rng, n_cells=1500)
    pooled = np.concatenate([p1, p2, stretch_upper_tail(p3, 0.5)], axis=1)
    y, hz = np.concatenate([y1, y2, y3]), np.repeat([0, 1, 2], [10, 300, 1500])
    g, info = _upper_tail_by_horizon(pooled, y, hz, 3)
    overall, _ = _upper_tail_factor(pooled, y)
    assert overall >= 1.5 and g[0] == g[2] == overall and g[1] <= 1.25, (g, overall)
    assert info["above2.5_after"] < info["above2.5_before"]


def test_total_shock_restores_the_coverage_of_too_narrow_totals():
    """Known truth for :func:`_total_shock`: 40 backtest totals at horizons 1-4 whose log errors
    have a random-walk part (variance 0.05 per period) the forecast's paths lack. The variance
    found lifts their 80% coverage from far below 80% to at least 80% and is near the truth; totals
    drawn from the forecast's own distribution get at most a small one (no dead band: their 80%
    coverage, 31 of 40 here, falls below 80% by chance about half the time)."""
    from displacement_forecast.models.ensemble import _total_shock

    rng = np.random.default_rng(5)
    n, D = 40, 400
    hz = np.tile(np.arange(4), n // 4)
    m = rng.uniform(8, 10, n)
    paths = np.expm1(m + 0.2 * rng.standard_normal((D, n)))
    narrow = np.expm1(m + 0.2 * rng.standard_normal(n) + np.sqrt(0.05 * (hz + 1)) * rng.standard_normal(n))
    v, info = _total_shock([(narrow, paths, hz)], seed=0)
    assert info["total_cov80_before"] < 0.7 and info["total_cov80_after"] >= 0.8, info
    assert 0.02 <= v <= 0.1, v
    fine = np.expm1(m + 0.2 * rng.standard_normal(n))
    assert _total_shock([(fine, paths, hz)], seed=0)[0] <= 0.005  # at most a step or two of the grid
    assert _total_shock([(fine[:5], paths[:, :5], hz[:5])], seed=0) == (0.0, {})  # too few totals


def test_total_shock_grows_up_to_the_backtest_horizon_and_holds(stationary):
    """The shared walk multiplies every region of a draw alike, grows for the backtest's horizon
    (3 months) and holds beyond it: the log ratio of shocked to unshocked paths (same random
    numbers: the walk's steps are drawn last) has a variance ~v h up to month 3 and ~3 v after,
    and is the same in every region of a draw."""
    a = get_model("auto", n_paths=100).fit(stationary)
    a.total_shock_, a.total_shock_h_ = 0.0, 3
    base = a.sample_paths(8, n_draws=2000, seed=4).values
    a.total_shock_ = 0.04
    shocked = a.sample_paths(8, n_draws=2000, seed=4).values
    ok = (base > 50) & (shocked > 50)  # away from rounding
    r = np.where(ok, np.log(np.where(ok, shocked, 1) / np.where(ok, base, 1)), np.nan)
    var = np.nanvar(r[:, 0, :], axis=0)
    np.testing.assert_allclose(var[:3], 0.04 * np.arange(1, 4), rtol=0.15)
    np.testing.assert_allclose(var[3:], 0.12, rtol=0.15)
    spread = np.nanmax(r, axis=1) - np.nanmin(r, axis=1)  # across regions, per draw and month
    assert np.nanmax(spread) < 0.05, np.nanmax(spread)


def test_auto_reports_its_lower_factor():
    """A near-constant count (3,000 +- 5%) with rare large upward spikes: the NB members' dispersion,
    set by the spikes, makes the mixture's lower tail far too wide (no backtest outcome falls below
    its 10% quantile), so the factor narrows it. (The lognormal ``stationary`` panel served here
    until last-value's dispersion became per region: its lower tail is no longer too wide there.)"""
    rng = np.random.default_rng(1)
    v = 3000 * (1 + 0.05 * rng.standard_normal((6, 30))) + rng.exponential(3000, (6, 30)) * (rng.random((6, 30)) < 0.2)
    stationary = _panel(np.log1p(v))
    a = get_model("auto", calibrate="lower", total_shock=False, dependence=0.5).fit(stationary)
    d = a.info_.diagnostics["auto"]
    lo = np.asarray(a.lower_spread_)  # one per backtest horizon (3 months), h1 first
    assert d["lower_spread_factor"] == a.lower_spread_ and lo.shape == (3,) and ((lo >= 0.5) & (lo <= 1.0)).all()
    assert (lo < 1.0).all()  # this panel's lower tail is narrowed: the checks below can fail
    cells = {"below10_before", "below2.5_before", "below10_after", "below2.5_after"}
    assert cells <= set(d["backtest_coverage"]) and set(d["backtest_coverage"]) - cells <= {
        "total_cov80_before", "total_cov80_after"}
    p = a.sample_paths(3, n_draws=200, seed=1).values
    q = get_model("auto", calibrate=False, total_shock=False, dependence=0.5).fit(stationary).sample_paths(
        3, n_draws=200, seed=1).values
    # the upper half of each cell's paths is the same as without calibration
    np.testing.assert_array_equal(np.quantile(p, 0.9, axis=0), np.quantile(q, 0.9, axis=0))
    # and the lower half is the uncalibrated one narrowed by the factor reported
    np.testing.assert_array_equal(p, spread_paths(q, 1.0, horizon_factors(a.lower_spread_, 3)))
    assert (np.quantile(p, 0.1, axis=0) >= np.quantile(q, 0.1, axis=0)).all() and not np.array_equal(p, q)


@pytest.mark.parametrize("calibrate", [True, "narrow"])
def test_symmetric_calibration_spreads_both_sides(random_walk, calibrate):
    """``calibrate=True`` / ``"narrow"`` scale both sides of each cell's paths by the one factor
    the backtest found (the lower side too, as before the lower-tail option existed)."""
    a = get_model("auto", calibrate=calibrate, dependence=0.5).fit(random_walk)  # the same reordering for both
    assert a.spread_ != 1.0 and a.lower_spread_ == a.spread_
    assert a.info_.diagnostics["auto"]["lower_spread_factor"] == a.spread_
    p = a.sample_paths(3, n_draws=200, seed=1).values
    q = get_model("auto", calibrate=False, dependence=0.5).fit(random_walk).sample_paths(3, n_draws=200, seed=1).values
    np.testing.assert_array_equal(p, spread_paths(q, a.spread_))


def test_an_unknown_calibrate_option_is_refused():
    """A misspelt option ran the symmetric spread without a word (any truthy value did)."""
    with pytest.raises(ValueError, match="calibrate"):
        get_model("auto", calibrate="Lower")
    for ok in (False, True, "lower", "narrow"):
        assert get_model("auto", calibrate=ok).calibrate == ok


def test_zeros_stay_zero_and_zero_heavy_cells_do_not_drive_the_lower_factor():
    """Half the cells are mostly zeros (60%: no displacement), forecast by the true law, like the
    other half: the forecast is calibrated, so the factor stays ~1 (cells whose 10% quantile is 0
    read as 'never below it' and pushed the factor down before). Narrowing keeps every cell's
    share of zeros (it lifted them to expm1((1 - f) median) before)."""
    rng = np.random.default_rng(4)
    paths, y = _lognormal_cells(rng, sd_low=0.5)
    n = paths.shape[1] // 2
    mu = rng.uniform(1.0, 3.0, n)

    def sparse(shape, share):
        counts = np.maximum(np.round(np.expm1(mu + 0.5 * rng.standard_normal(shape))), 0)
        return np.where(rng.random(shape) < share, 0.0, counts)

    paths[:, :n], y[:n] = sparse(paths[:, :n].shape, 0.6), sparse(n, 0.6)
    f, info = _lower_factor(paths, y)
    assert f >= 0.95, (f, info)  # 0.9 before
    paths[:, :n] = sparse(paths[:, :n].shape, 0.3)  # zeros below the median: narrowing reaches them
    out = spread_paths(paths, 1.0, 0.5)
    np.testing.assert_array_equal(out == 0, paths == 0)
    assert (out >= 0).all() and np.array_equal(out, np.round(out))


def test_fit_prints_autos_diagnostics_as_lines_a_reader_reads(random_walk):
    """`displacement-forecast fit --model auto` printed the whole `auto` block as one Python dict
    literal (`auto: {'weights': {...}, 'backtest_coverage': {...}}`) and booleans as `True`: each
    setting is now its own `key: value` line, nested blocks indented under their key."""
    from displacement_forecast.models.base import diagnostic_lines

    text = get_model("auto").fit(random_walk).summary()
    assert "{" not in text and "'" not in text, text
    lines = text.splitlines()
    assert "  auto:" in lines, text
    assert any(ln.startswith("    upper_tail_factor: ") for ln in lines), text
    assert any(ln.startswith("    weights: ") and "last-value" in ln for ln in lines), text
    assert diagnostic_lines({"ok": True, "rates": {"a": 0.1, "b": {"c": [1, 2]}}, "none": {}}) == [
        "  ok: yes", "  rates:", "    a: 0.1", "    b:", "      c: 1, 2", "  none: -"]


def test_fit_screen_says_what_the_new_auto_keys_are():
    """`fit` printed `upper_tail_factor: 2.0, 2.25, 2.0` (which factor is which?) and
    `backtest_total_crps: 0 231239.39, 0.25 228721.34` (two bare numbers in a row): each now says
    what it is, and a mapping keyed by numbers prints `key: value` items; the file keeps bare values."""
    from displacement_forecast.models.base import diagnostic_lines

    lines = diagnostic_lines({"upper_tail_factor": [2.0, 2.25], "dependence": 1.0,
                              "backtest_total_crps": {"0": 231239.39, "1": 223889.32},
                              "weights": {"last-value": 0.2}, "empty_crps": {}})
    assert lines[0].startswith("  upper_tail_factor: 2.0, 2.25  (one per horizon"), lines
    assert "common to all regions" in lines[1], lines
    assert lines[2].startswith("  backtest_total_crps: 0: 231239.39, 1: 223889.32  (strength: "), lines
    assert lines[3] == "  weights: last-value 0.2" and lines[4] == "  empty_crps: -", lines
    assert diagnostic_lines({"backtest_total_crps": {}}) == ["  backtest_total_crps: -"]
    (head, *_) = diagnostic_lines({"backtest_coverage": {"below10_before": 0.03, "above5_after": 0.081}})
    assert head.startswith("  backtest_coverage: ") and "(shares of backtest outcomes" in head and "0.05" in head, head


def test_autos_sidecar_carries_its_members_list_diagnostics(random_walk):
    """last-value's `alpha_h1_range` (the smallest and largest region dispersion at h = 1) was
    dropped from `auto`'s diagnostics, which kept numbers and words only: a user of the default
    model saw the median dispersion but not how far the regions' went."""
    a = get_model("auto").fit(random_walk)
    d = a.info_.diagnostics
    assert "last-value" in d["auto"]["weights"], d["auto"]["weights"]
    assert d["last-value.alpha_h1_range"] == a.members_["last-value"].info_.diagnostics["alpha_h1_range"]
    lo, hi = d["last-value.alpha_h1_range"]
    assert lo <= d["last-value.median_alpha_h1"] <= hi


def test_the_upper_tail_stretch_keeps_cell_medians_but_raises_the_totals_and_the_docs_say_so():
    """docs/models.md (the README then) said the far-upper-tail stretch leaves 'the median and 80% interval' as they are:
    true of every cell, not of sums of cells. A total of many right-skewed cells takes part of its
    median from their upper tails, so the stretch raises the all-region total's median (measured
    2026-11-30: ``auto`` fitted on the panel of ``displacement-forecast panel data/recipes/somalia.toml``,
    1000 paths, seed 0, 3 months, factor 2: median of the 3-month total 470,000 -> 593,000,
    90% quantile 802,000 -> 1,117,000 against ``calibrate="lower"``)."""
    import re
    from pathlib import Path

    rng = np.random.default_rng(0)
    paths = np.round(np.expm1(rng.normal(8, 1.5, (2000, 12, 3))))  # iid log-normal cells, 12 regions
    out = stretch_upper_tail(paths, 2.0)
    np.testing.assert_allclose(np.quantile(out, [0.1, 0.5, 0.9], axis=0), np.quantile(paths, [0.1, 0.5, 0.9], axis=0),
                               rtol=5e-3)  # the 90% quantile: interpolation to the next path
    before, after = np.median(paths.sum(axis=(1, 2))), np.median(out.sum(axis=(1, 2)))
    assert after > 1.05 * before, (before, after)
    models = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text(encoding="utf-8").replace("\n", " ")
    said = re.search(r"stretches each cell's upper tail.*?\)\.", models).group(0)  # to the sentence's end
    assert "`ALL`" in said and "higher median" in said, said


def test_dependence_template_spans_history_to_comonotone():
    """rho = 0 keeps the history's rank order (the reordering before the common factor existed);
    rho = 1 ranks every region's paths alike; regional paths never change."""
    from displacement_forecast.models.ensemble import dependence_template, reorder_regions

    rng = np.random.default_rng(3)
    D, R, H = 500, 4, 3
    paths = rng.poisson(rng.gamma(2.0, 50.0, (D, R, 1)), (D, R, H)).astype(float)
    rows = rng.standard_normal((D, R))
    rows[rng.random((D, R)) < 0.1] = np.nan
    tie, common = rng.random((D, R)), rng.standard_normal(D)
    np.testing.assert_array_equal(reorder_regions(paths, dependence_template(rows, tie, common, 0.0), tie),
                                  reorder_regions(paths, rows, tie))
    perm = reorder_regions(paths, dependence_template(rows, tie, common, 1.0), tie)
    out = paths[perm, np.arange(R)[None, :]]
    key = pd.DataFrame(np.log1p(out).mean(axis=2))
    up = common > 0  # the factor's upper half: comonotone there (ties aside), the history's order elsewhere
    rho = key[up].corr("spearman").to_numpy()[np.triu_indices(R, 1)]
    assert rho.min() > 0.999, rho
    low = key[~up].rank().corr("spearman").to_numpy()[np.triu_indices(R, 1)]
    assert np.abs(low).max() < 0.2, low  # the history's windows here are independent across regions
    for r in range(R):
        assert sorted(map(tuple, out[:, r])) == sorted(map(tuple, paths[:, r]))


@pytest.mark.parametrize("shared, want", [(True, 1.0), (False, 0.0)])
def test_dependence_choice_follows_the_outcomes(shared, want):
    """Known truth: regional forecasts are right in each region; when the outcomes of the 6
    regions move together (one shock per origin), the backtest's totals ask for the comonotone
    reordering; when they are independent, for the history's alone (no common factor)."""
    from displacement_forecast.models.ensemble import _backtest_totals, _dependence_choice

    rng = np.random.default_rng(5 if shared else 6)
    R, m, h = 6, 300, 2
    mu = rng.uniform(4.0, 6.0, R)
    cases = []
    for _ in range(40):
        hist = np.expm1(mu[:, None] + 0.3 * rng.standard_normal((R, 30)))  # independent history
        paths = np.expm1(mu[None, :, None] + 0.5 * rng.standard_normal((m, R, h)))
        shock = 0.5 * rng.standard_normal(h) if shared else 0.5 * rng.standard_normal((R, h))
        y = np.expm1(mu[:, None] + shock)
        cases.append((hist, [paths], y))
    rho, scores, _ = _dependence_choice(_backtest_totals(cases, np.array([m]), [False], seed=0))
    assert rho == want, scores
    assert set(scores) == {"0", "0.25", "0.5", "0.75", "1"}


def test_auto_records_its_dependence_choice(stationary):
    m = get_model("auto", n_paths=60).fit(stationary)
    d = m.info_.diagnostics["auto"]
    assert d["dependence"] in (0.0, 0.25, 0.5, 0.75, 1.0) and d["dependence"] == m.dependence_
    assert set(d["backtest_total_crps"]) == {"0", "0.25", "0.5", "0.75", "1"} and d["dependence_se"] >= 0
    off = get_model("auto", n_paths=60, reorder=False).fit(stationary)
    assert off.dependence_ == 0.0 and off.info_.diagnostics["auto"]["backtest_total_crps"] == {}


def test_dependence_can_be_fixed(stationary):
    with pytest.raises(ValueError, match="dependence must be between 0 and 1"):
        get_model("auto", dependence=1.5)
    m = get_model("auto", n_paths=60, dependence=1.0).fit(stationary)
    assert m.dependence_ == 1.0 and m.get_config()["dependence"] == 1.0
    p = m.sample_paths(2, n_draws=400, seed=0).values
    key = pd.DataFrame(np.log1p(p).mean(axis=2))
    free = [n for n in m.weights_ if not (m.members_[n].uses_drivers and m.members_[n].drivers)]
    assert free  # the stationary panel has no conflict series: every path is reordered
    k0 = pd.DataFrame(np.log1p(get_model("auto", n_paths=60, dependence=0.0).fit(stationary)
                               .sample_paths(2, n_draws=400, seed=0).values).mean(axis=2))

    def top(k: pd.DataFrame) -> float:  # draws in the top decile of every region
        return float((k > k.quantile(0.9)).all(axis=1).mean())

    def bottom(k: pd.DataFrame) -> float:  # draws in the bottom decile of every region
        return float((k < k.quantile(0.1)).all(axis=1).mean())

    # the factor's upper half is comonotone: more draws in the top decile of every region than the
    # history gives (0 here; 10% at most); the quietest draws not aligned beyond the history's
    assert top(key) > top(k0) + 0.03, (top(key), top(k0))
    assert bottom(key) < bottom(k0) + 0.03, (bottom(key), bottom(k0))


def test_the_common_factor_moves_only_the_total_and_leaves_dependence_0_as_before():
    """Known truth of a permutation within regions: for every strength the baseline's regional
    paths are the same set of paths (only the totals change); the common factor is the last
    draw of ``_draw`` and made only when used, so every earlier random number (seeds, owners,
    windows, tie-breaks) is the same for any strength and a fit with strength 0 - or one saved
    before the factor existed (no ``dependence_``) - keeps its former paths bit for bit, under
    every scenario; a scenario of more conflict stays above the baseline in every region."""
    from displacement_forecast.models.ensemble import DEPENDENCE

    rng = np.random.default_rng(0)
    p, R = _strike_panel(rng, noise=0.5), 4
    a = get_model("auto", candidates=[("historic-average", {}), ("last-value", {})], n_paths=30, n_origins=2,
                  dependence=0.0).fit(p)
    a.weights_ = {"historic-average": 0.3, "last-value": 0.3, "nb-dl": 0.4}
    a.members_ = {n: get_model(n).fit(p) for n in a.weights_}
    H, D = 3, 400
    base = {"strikes": rng.poisson(20, (D, R, H)).astype(float)}
    more = {"strikes": 2 * base["strikes"]}

    def run(dep):
        if dep is None:
            del a.dependence_
        else:
            a.dependence_ = dep
        g = np.random.default_rng(1)
        draws = a._draw(H, D, g, baseline=base)
        return draws, g.bit_generator.state, a._paths(base, H, D, draws), a._paths(more, H, D, draws)

    d0, end0, b0, m0 = run(0.0)
    assert d0["common"] is None
    dn, endn, bn, mn = run(None)  # a fit saved before the common factor existed
    np.testing.assert_array_equal(bn, b0)
    np.testing.assert_array_equal(mn, m0)
    assert endn == end0
    totals = {}
    for dep in DEPENDENCE[1:]:
        d, end, b, m = run(dep)
        for key in ("seeds", "owner", "window", "tiebreak"):
            np.testing.assert_array_equal(d[key], d0[key])
        g = np.random.default_rng(1)
        g.bit_generator.state = end0
        np.testing.assert_array_equal(g.standard_normal(D), d["common"])  # drawn last, nothing after it
        assert g.bit_generator.state == end
        np.testing.assert_array_equal(np.sort(b, axis=0), np.sort(b0, axis=0))
        assert (m.sum(axis=(0, 2)) >= b.sum(axis=(0, 2))).all()
        totals[dep] = b.sum(axis=(1, 2)).std()
    assert totals[1.0] > b0.sum(axis=(1, 2)).std(), totals  # the total widens toward comonotone


def test_dependence_choice_scores_the_observed_regions_total_through_gaps():
    """Known truth with gaps (one region unobserved at every period, as on the NW Syria panel):
    the outcomes of the observed regions move together, and the total of the observed regions
    still asks for the comonotone reordering; a period with fewer than two observed regions
    is not scored, and with none left nothing is (factor 0)."""
    from displacement_forecast.models.ensemble import _backtest_totals, _dependence_choice

    rng = np.random.default_rng(2)
    R, m, h = 4, 300, 3
    mu = rng.uniform(4.0, 6.0, R)
    cases = []
    for _ in range(30):
        hist = np.expm1(mu[:, None] + 0.3 * rng.standard_normal((R, 30)))  # independent history
        y = np.expm1(mu[:, None] + 0.5 * rng.standard_normal(h))  # one shock shared by all regions
        y[rng.integers(0, R, h), np.arange(h)] = np.nan
        cases.append((hist, [np.expm1(mu[None, :, None] + 0.5 * rng.standard_normal((m, R, h)))], y))
    rho, scores, _ = _dependence_choice(_backtest_totals(cases, np.array([m]), [False], seed=0))
    assert rho == 1.0 and set(scores) == {"0", "0.25", "0.5", "0.75", "1"}, scores
    for _, _, y in cases:
        y[1:] = np.nan  # one region observed: no total to score
    assert _dependence_choice(_backtest_totals(cases, np.array([m]), [False], seed=0)) == (0.0, {}, None)


@pytest.mark.parametrize("noise, want, want_se", [(0.0, 0.0, 0.0), (3.0, 1.0, 1.134), (1.5, 0.0, 0.567)])
def test_dependence_choice_keeps_the_full_strength_unless_clearly_beaten(noise, want, want_se):
    """Known truth on point forecasts (the CRPS of a point mass is its absolute error): strength 0
    is 1 closer to the outcome than the full strength on average over 8 origins. Steadily so
    (no noise), it is chosen; when the difference swings by +-3 from one origin to the next, its
    standard error (cluster-robust, origins as clusters: sqrt(8/7 x 8 x 6^2) / 16 = 1.134) is
    larger than the gap and the full strength stays; swinging by +-1.5 (standard error 0.567,
    the gap between one and two of them) strength 0 is chosen again."""
    from displacement_forecast.models.ensemble import DEPENDENCE, _dependence_choice

    swing = noise * np.array([1, -1, 1, -1, 1, -1, 1, -1])
    totals = []
    for j in range(8):
        obs = np.array([100.0, 100.0])
        paths = {r: np.full((5, 2), 100.0 + 2.0 + (r > 0) * 1.0 + (r == 1.0) * swing[j]) for r in DEPENDENCE}
        paths[0.0] = np.full((5, 2), 102.0)
        totals.append((True, obs, paths, np.arange(2)))
    rho, scores, se = _dependence_choice(totals)
    assert scores["0"] == 2.0 and scores["1"] == 3.0, scores
    assert rho == want and se == pytest.approx(want_se, abs=0.005), (rho, se)  # reported to 2 decimals
    # fewer than 3 origins give no standard error: the full strength, however the scores fall
    rho, scores, se = _dependence_choice(totals[:2])
    assert rho == 1.0 and se is None and scores["0"] < scores["1"], scores


def test_dependence_needs_the_reordering():
    with pytest.raises(ValueError, match="needs reorder=True"):
        get_model("auto", reorder=False, dependence=0.5)


def test_dependence_choice_scores_the_calibrated_paths():
    """The choice scores the totals the forecast gives: the paths after the interval calibration
    it is handed. A calibration that sets every path to 0 leaves every strength the same score,
    the mean observed total (the CRPS of a point mass at 0): nothing beats the full strength."""
    from displacement_forecast.models.ensemble import _backtest_totals, _dependence_choice

    rng = np.random.default_rng(1)
    R, m, h = 3, 50, 2
    cases = [(np.expm1(5 + 0.3 * rng.standard_normal((R, 30))), [np.expm1(5 + rng.standard_normal((m, R, h)))],
              np.expm1(5 + 0.3 * rng.standard_normal((R, h)))) for _ in range(5)]
    rho, scores, se = _dependence_choice(_backtest_totals(cases, np.array([m]), [False], seed=0,
                                                          calibrate=lambda p: 0 * p))
    want = round(float(np.mean([y.sum(axis=0) for _, _, y in cases])), 2)
    assert rho == 1.0 and se is not None and set(scores.values()) == {want}, (scores, want)
    assert _dependence_choice(_backtest_totals(cases, np.array([m]), [False], seed=0))[1]["0"] != want


@pytest.mark.parametrize("months, step", [(30, 3), (20, 2), (16, 1)])
def test_internal_origins_are_a_horizon_apart_and_closer_on_short_histories(months, step):
    """Default: 2 h origins h periods apart (forecast windows that tile the span), the latest the
    period before the last; a history too short for that keeps its 2 h origins closer together."""
    rng = np.random.default_rng(3)
    p = _panel(rng.normal(8, 0.5, (2, months)))
    a = get_model("auto", candidates=[("historic-average", {})], n_paths=20).fit(p)
    got = pd.DatetimeIndex(a.info_.diagnostics["auto"]["backtest_origins"])
    want = p.dates[[months - 2 - step * k for k in range(5, -1, -1)]]
    assert list(got) == list(want)


def test_auto_whose_every_candidate_fails_says_why_for_each():
    """A custom candidate list that cannot run on the panel (driver models, no conflict series):
    one ValueError naming auto and every candidate's reason, not the first member's own error."""
    sim = simulate_nw_syria(n_weeks=60, seed=1)
    obs = sim.observations[sim.observations["series"] == "displaced"]
    panel = Panel.from_observations(obs, sim.regions)
    with pytest.raises(ValueError, match=r"auto: no candidate model could be fitted \(nb-dl: DataError: .*conflict "
                                         r"series.*; bayes-hierarchical: ") as e:
        get_model("auto", candidates=["nb-dl", ("bayes-hierarchical", {})]).fit(panel)  # a bare name is a candidate
    assert str(e.value).count("nb-dl:") == 1 and str(e.value).endswith(")"), str(e.value)
    with pytest.raises(ValueError, match="registry names or"):
        get_model("auto", candidates=[("nb-dl", {}, 3)])


def test_a_driver_member_with_a_negative_effect_is_moved_by_the_ratio(stationary):
    """Known truth: strikes that fall when displacement rises (a confounded series) give nb-dl a
    negative lag sum, and through its own conflict paths a ceasefire raises its forecast. In auto
    its paths are moved by the response model's ratio instead (whose effects are never below 0):
    the ceasefire's mean is not above the baseline's in any region, and the sidecar says why."""
    y = stationary.target()
    strikes = np.round(2e5 / y)  # more strikes in the periods with less displacement
    panel = _with_strikes(stationary, strikes)
    scenarios = [Scenario.baseline(), Scenario.ceasefire()]
    alone = get_model("nb-dl").fit(panel)
    assert alone.negative_effects() == ["strikes"], alone.info_.diagnostics["lag_sums"]
    assert any(w.startswith("fitted effect below 0 of strikes (lag sum -") and "a ceasefire raises it" in w
               for w in alone.info_.warnings), alone.info_.warnings
    dyn = get_model("dynamic", drivers=["strikes"]).fit(panel)  # the same for dynamic's beta, unless clipped
    assert dyn.negative_effects() == ["strikes"] and any(w.startswith("fitted effect below 0 of strikes (beta -")
                                                         for w in dyn.info_.warnings), dyn.info_.warnings
    clipped = get_model("dynamic", drivers=["strikes"], nonnegative_effects=True).fit(panel)
    assert clipped.negative_effects() == [] and not any("below 0" in w for w in clipped.info_.warnings)
    r = alone.sample_scenarios(4, scenarios, n_draws=400, seed=3)
    rises = r["ceasefire"].sum("horizon").mean("draw") - r["baseline"].sum("horizon").mean("draw")
    assert float(rises.min()) > 0  # the member alone: a ceasefire raises displacement everywhere
    a = get_model("auto", candidates=[("nb-dl", {})], n_paths=50).fit(panel)
    assert a._negative_members() == {"nb-dl": ["strikes"]} and not a._responds("nb-dl")
    # the refusal carries every key of a preference, and says why
    pref = a.info_.diagnostics["auto"]["driver_preference"]
    assert set(pref) == {"candidate", "crps", "best_mixture", "margin", "se", "chosen", "chosen_by", "why_not"}, pref
    assert pref["chosen"] is False and pref["chosen_by"] is None and "strikes" in pref["why_not"], pref
    r = a.sample_scenarios(4, scenarios, n_draws=400, seed=3)
    moved = r["ceasefire"].sum("horizon").mean("draw") - r["baseline"].sum("horizon").mean("draw")
    assert float(moved.max()) <= 0, moved.values
    assert "nb-dl's paths by the ratio too: its fitted effects of strikes are negative" in a._scenario_response()


def test_a_scenarios_paths_are_calibrated_with_the_baselines_quantiles():
    """Known truth: a scenario that lowers every path (a ceasefire) must not raise any after the
    interval calibration. With its own quantiles the tail stretch starts lower for the scenario
    and lifted paths it had not changed above their baseline values; with the baseline's as
    ``reference`` the map is one monotone function per cell, so the order of each pair holds."""
    rng = np.random.default_rng(4)
    base = rng.negative_binomial(2, 0.002, size=(400, 3, 2)).astype(float)
    lowered = np.where(rng.random(base.shape) < 0.7, np.floor(base * 0.3), base)  # 30% of cells untouched
    args = (1.0, 0.6, np.array([1.5, 2.0]), 2.5)
    b = spread_paths(base, *args)
    own = spread_paths(lowered, *args)
    assert (own > b).any()  # the failure the reference mends: untouched paths stretched past the baseline's
    ref = spread_paths(lowered, *args, reference=base)
    assert (ref <= b).all()
    np.testing.assert_array_equal(spread_paths(base, *args, reference=base), b)  # the baseline itself: unchanged


def test_a_forecast_whose_scenarios_are_reversed_is_marked(stationary):
    """nb-dl alone with a negative fitted effect: a run with a conflict scenario carries the mark
    (sidecar ``marks.scenarios_reversed`` and the one-line mark every file repeats); a baseline-only
    run does not (its numbers do not depend on the sign), nor does auto (it moves such members by
    its response model)."""
    from displacement_forecast.forecast.marks import mark_text
    from displacement_forecast.forecast.run import run_forecast

    panel = _with_strikes(stationary, np.round(2e5 / stationary.target()))
    nb = get_model("nb-dl").fit(panel)
    marked = run_forecast(model=nb, scenarios=[Scenario.baseline(), Scenario.ceasefire()], horizon=2, n_draws=50).sidecar
    assert marked["negative_effects"] == ["strikes"] and marked["marks"]["scenarios_reversed"] == ["strikes"]
    assert "SCENARIO ROWS MAY RUN THE WRONG WAY: this model fitted less displacement with more strikes" \
        in mark_text(marked)
    plain = run_forecast(model=nb, horizon=2, n_draws=50).sidecar
    assert plain["marks"]["scenarios_reversed"] == [] and "WRONG WAY" not in mark_text(plain)
    # only the series a scenario changes (a change without `series` changes them all)
    from displacement_forecast.forecast.marks import _reversed

    neg = {"negative_effects": ["shelling", "events"]}
    assert _reversed({**neg, "scenarios": [{"change": [{"series": ["fatalities"], "multiply": 0.5}]}]}) == []
    assert _reversed({**neg, "scenarios": [{"change": [{"series": ["events"], "multiply": 2}]}]}) == ["events"]
    assert _reversed({**neg, "scenarios": [{"change": []}, {"change": [{"multiply": 0}]}]}) == ["shelling", "events"]
    a = get_model("auto", candidates=[("nb-dl", {})], n_paths=50).fit(panel)
    side = run_forecast(model=a, scenarios=[Scenario.baseline(), Scenario.ceasefire()], horizon=2, n_draws=50).sidecar
    assert side["negative_effects"] == [] and "WRONG WAY" not in mark_text(side)


def test_the_forecasts_screen_line_says_which_bound_chose_the_driver_model():
    """The CLI names the bound that held: the 4% margin, or one standard error (with the gap)."""
    from displacement_forecast._cli.forecast_command import preference_note

    base = {"candidate": "nb-dl", "margin": 0.04, "chosen": True}
    margin = preference_note({**base, "crps": 102.0, "best_mixture": 100.0, "se": 0.0, "chosen_by": "margin"})
    assert "within 4% of the best mixture's 100.0" in margin and "standard error" not in margin
    se = preference_note({**base, "crps": 16_500.0, "best_mixture": 12_000.0, "se": 4_800.0, "chosen_by": "se"})
    assert "4,500.0 above the best mixture's, less than one standard error, 4,800.0" in se and "e+" not in se
    assert preference_note({**base, "chosen": False, "crps": 1.0, "best_mixture": 1.0}) == ""
    # a fit saved before the rule records no bound: it was chosen by the margin
    assert "within 4%" in preference_note({**base, "crps": 102.0, "best_mixture": 100.0})


def test_fits_saved_before_the_persistence_keep_their_paths(stationary):
    """A fit saved before 2026-12-02 has no ``persist_``: it forecasts as it did (no persistence in
    time, the same random numbers), not as a fresh fit does, until it is refitted."""
    a = get_model("auto").fit(stationary)
    fresh = a.sample_paths(4, n_draws=300, seed=2).values
    a.persist_ = False
    without = a.sample_paths(4, n_draws=300, seed=2).values
    del a.persist_  # as such a fit loads
    np.testing.assert_array_equal(a.sample_paths(4, n_draws=300, seed=2).values, without)
    assert not np.array_equal(fresh, without)
    a.fit(stationary)
    np.testing.assert_array_equal(a.sample_paths(4, n_draws=300, seed=2).values, fresh)


def test_a_backtest_spanning_less_than_two_horizons_is_said_to_be_short(sim):
    """Weights fitted where the internal backtest's outcomes span fewer than two of its horizons
    rest on one stretch of data: the fit says so, naming the weights and the span."""
    panel = Panel.from_observations(sim.observations, sim.regions)
    H = 4
    bt = {"horizon": H, "origins": [str(panel.dates[-1 - 7].date())]}  # outcomes span 7 weeks < 8
    msg = short_backtest(panel, bt, {"last-value": 0.6, "dynamic": 0.4})
    assert msg.startswith("the weights (last-value 0.6, dynamic 0.4) rest on a short internal backtest")
    assert ("span 7 weeks, fewer than two of its internal backtest's 4-week windows (auto scores its "
            "candidates 4 weeks ahead, whatever the forecast's horizon)") in msg
    assert short_backtest(panel, {**bt, "origins": [str(panel.dates[-1 - 8].date())]}, {"a": 0.5, "b": 0.5}) is None
    # one model alone rests on the same short backtest (review 19: Ukraine from 2022-03-20, last-value 1, silent)
    one = short_backtest(panel, bt, {"last-value": 1.0})
    assert one.startswith("auto's choice of last-value alone rests on a short internal backtest: its outcomes span 7 weeks")
    # a span shorter than one window is not "fewer than two"
    less = short_backtest(panel, {**bt, "origins": [str(panel.dates[-1 - 3].date())]}, {"last-value": 1.0})
    assert "span 3 weeks, less than one of its internal backtest's 4-week windows" in less
    assert short_backtest(panel, {**bt, "origins": [str(panel.dates[-1 - 1].date())]}, {"a": 1.0}).count(
        "span 1 week, less than one") == 1


def test_the_fit_reports_a_short_backtest(sim, monkeypatch):
    """Wiring: what :func:`short_backtest` says about the fit's own backtest is among its warnings."""
    import displacement_forecast.models.ensemble as ens

    seen = {}

    def spy(panel, bt, weights):
        seen.update(bt=bt, weights=weights)
        return "SHORT"

    monkeypatch.setattr(ens, "short_backtest", spy)
    panel = Panel.from_observations(sim.observations, sim.regions)
    m = get_model(DEFAULT_MODEL, candidates=[("last-value", {}), ("historic-average", {})], n_paths=50)
    m.fit(panel.truncate(panel.dates[20]))
    assert "SHORT" in m.info_.warnings
    assert seen["weights"] == m.weights_ and seen["bt"]["origins"]


def test_sarimax_reports_a_negative_strike_effect_as_nb_dl_does(stationary):
    """Known truth: strikes that fall when displacement rises give sarimax's strike coefficient a
    median below 0 over the regions; it is the one check every driver model feeds
    (``negative_effects``, the fit warning, the sidecar's ``scenarios_reversed``), as nb-dl's."""
    from displacement_forecast.forecast.run import run_forecast

    panel = _with_strikes(stationary, np.round(2e5 / stationary.target()))
    m = get_model("sarimax", drivers=("strikes",)).fit(panel)
    effect = m.driver_effects()["strikes"]
    assert effect == pytest.approx(np.median(m.params_[:, 1])) and effect < 0
    assert m.negative_effects() == ["strikes"]
    assert any(w.startswith("fitted effect below 0 of strikes (median over regions of b -") for w in m.info_.warnings)
    side = run_forecast(model=m, scenarios=[Scenario.baseline(), Scenario.ceasefire()], horizon=2, n_draws=50).sidecar
    assert side["marks"]["scenarios_reversed"] == ["strikes"]
    plain = get_model("sarimax", drivers=("strikes",)).fit(_with_strikes(stationary, np.round(stationary.target() / 50)))
    assert plain.negative_effects() == [] and not any("below 0" in w for w in plain.info_.warnings)


def test_a_scenario_that_ran_the_wrong_way_is_marked_from_its_paths(stationary):
    """Known truth: strikes that fall when displacement rises; dynamic's fitted beta is below 0, so
    its ceasefire raises the forecast. The check on the paths (``marks.wrong_way``, whatever the model
    says of its effects) marks it: ``scenarios_ran_the_wrong_way`` and the mark line; auto, which moves
    such members by its response model, is not marked; a scenario whose level may lie either side of
    the baseline (``hold``) is not checked."""
    from displacement_forecast.forecast.marks import mark_text, scenario_direction, wrong_way
    from displacement_forecast.forecast.run import run_forecast

    assert scenario_direction({"change": [{"multiply": 0}]}) == -1
    assert scenario_direction({"change": [{"multiply": 2}, {"multiply": 1.5}]}) == 1
    assert scenario_direction({"change": [{"multiply": 2, "hold": 4}]}) == 0
    assert scenario_direction({"change": [{"multiply": 0.5}, {"multiply": 2}]}) == 0
    assert scenario_direction({"change": []}) == 0
    base = np.arange(100.0)
    lowered = {"id": "cease", "change": [{"multiply": 0}]}
    assert wrong_way({"baseline": base, "cease": base * 0.9}, [lowered]) == {}
    assert list(wrong_way({"baseline": base, "cease": base * 1.5 + 1}, [lowered])) == ["cease"]
    assert wrong_way({"baseline": base, "cease": base + 0.1}, [lowered]) == {}  # a move within 1%: noise
    # a level (hold) may lie on either side of the baseline's conflict: not checked, however far it moves
    held = {"id": "h", "change": [{"multiply": 0, "hold": 4}]}
    assert wrong_way({"baseline": base, "h": base * 1.5 + 1}, [held]) == {}
    panel = _with_strikes(stationary, np.round(2e5 / stationary.target()))
    scenarios = [Scenario.baseline(), Scenario.ceasefire()]
    dyn = get_model("dynamic", drivers=["strikes"]).fit(panel)
    side = run_forecast(model=dyn, scenarios=scenarios, horizon=3, n_draws=200).sidecar
    why = side["scenarios_ran_the_wrong_way"]["ceasefire"]
    assert why.startswith("it lowers the conflict, yet its total over the horizon is above the baseline's in ")
    assert side["marks"]["scenarios_ran_the_wrong_way"] == {"ceasefire": why}
    assert f"SCENARIO ROWS RAN THE WRONG WAY: ceasefire ({why})" in mark_text(side)
    a = get_model("auto", candidates=[("nb-dl", {})], n_paths=50).fit(panel)
    side = run_forecast(model=a, scenarios=scenarios, horizon=3, n_draws=200).sidecar
    assert side["scenarios_ran_the_wrong_way"] == {} and "RAN THE WRONG WAY" not in mark_text(side)


def test_the_lower_factor_is_chosen_per_horizon_on_the_cells_up_to_it():
    """Known truth: backtest cells whose 1-period outcomes fall inside the paths' lower tail as
    stated (no narrowing needed) and longer horizons whose outcomes never fall below the 10%
    quantile (narrowing needed): the first horizon's factor stays 1, the last one's narrows, and
    a horizon with too few cells takes the factor of all cells."""
    from displacement_forecast.models.ensemble import _lower_by_horizon, _lower_factor

    rng = np.random.default_rng(3)
    n, cells = 400, 300
    z = rng.normal(8.0, 1.0, (n, cells))  # each cell's paths: log1p counts around 8
    hz = np.repeat([0, 1, 2], cells // 3)
    pit = np.where(hz == 0, rng.uniform(0, 1, cells), rng.uniform(0.3, 1, cells))  # h2-3: none below 30%
    y = np.round(np.expm1(8.0 + 1.0 * __import__("scipy").stats.norm.ppf(pit)))
    paths = np.round(np.expm1(z))
    f, rates = _lower_by_horizon(paths, y, hz, 3)
    assert f[0] == 1.0 and f[2] < 0.9 and f[2] == _lower_factor(paths, y)[0]
    assert f[1] == _lower_factor(paths[:, hz <= 1], y[hz <= 1])[0]  # h2: chosen on the cells of h1-h2
    assert rates == _lower_factor(paths, y)[1]
    few = np.where(hz == 0)[0][:5]  # 5 cells at h1: too few, h1 takes the factor of all cells
    keep = np.r_[few, np.where(hz > 0)[0]]
    g, _ = _lower_by_horizon(paths[:, keep], y[keep], hz[keep], 3)
    assert g[0] == _lower_factor(paths[:, keep], y[keep])[0]
