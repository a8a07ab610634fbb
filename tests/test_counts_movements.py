"""Counts of people deplete the population at risk; counts of movements do not (region table
``counts`` column, or counts that sum above the population)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.regions import load_regions, regions_from_frame
from displacement_forecast.data.schema import DataError
from displacement_forecast.models import get_model
from displacement_forecast.models.panel import Panel, cap_at_risk


def _panel(counts: list[str], T: int = 24, seed: int = 0) -> Panel:
    """Two regions of 1,000 people with the same history, 40 displaced a month (960 in 24 months:
    below the population, so only the table can say they are movements), and a strikes series."""
    rng = np.random.default_rng(seed)
    codes = ["A", "B"]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "P", "population": 1_000.0,
                                               "counts": counts}))
    d = np.tile(40.0 + 8.0 * (-1.0) ** np.arange(T), (2, 1))  # 48, 32, ...: 960 each, 40 left where people deplete
    s = rng.poisson(5.0, size=(2, T)).astype(float)
    return Panel(pd.date_range("2020-01-01", periods=T, freq="MS"), regions, "M", {"displaced": d, "strikes": s})


def test_a_region_table_declares_movements_and_the_data_still_prove_them():
    p = _panel(["people", "Movements "])
    np.testing.assert_array_equal(p.counts_movements(), [False, True])
    np.testing.assert_array_equal(p.at_risk_end(), [40, 1_000])
    np.testing.assert_array_equal(p.at_risk()[:, -1], [1_000 - 960 + p.target()[0, -1], 1_000])
    # a table saying people cannot overrule counts above the population: those are movements
    regions = regions_from_frame(pd.DataFrame({"code": ["A"], "name": ["a"], "population": [100.0],
                                               "counts": ["people"]}))
    q = Panel(pd.date_range("2020-01-01", periods=3, freq="MS"), regions, "M", {"displaced": np.array([[60.0, 60, 0]])})
    assert q.counts_movements().tolist() == [True]


def test_cap_keeps_every_period_within_the_population_where_counts_are_movements():
    paths = np.full((1, 2, 3), 30.0)
    out = cap_at_risk(paths, np.array([50.0, 50.0]), np.array([True, False]))
    np.testing.assert_array_equal(out[0], [[30, 20, 0], [30, 30, 30]])
    np.testing.assert_array_equal(cap_at_risk(np.full((1, 1, 2), 80.0), np.array([50.0]), np.array([False]))[0],
                                  [[50, 50]])


@pytest.mark.parametrize("name", ["dynamic", "last-value", "historic-average", "climatology", "arima", "sarimax",
                                  "nb-dl", "auto", "statsforecast-naive"])
def test_no_model_depletes_a_region_whose_counts_are_movements(name):
    """36 months ahead of 40 a month: where people deplete, A has 40 left and no path sums above
    it; B, declared movements, keeps its 1,000 at risk in every month and forecasts about
    36 x 40 = 1,440 in all, more than its population (depleted, it could not pass 1,000)."""
    p = _panel(["", "movements"])
    kw = {"drivers": ("strikes",)} if name in ("nb-dl",) else {}
    fit = get_model(name, **kw).fit(p)
    paths = fit.sample_paths(36, n_draws=200, seed=1).values
    total = paths.sum(axis=2)
    assert (total[:, 0] <= 40 + 1e-9).all()
    assert (paths[:, 1] <= 1_000 + 1e-9).all()
    assert np.median(total[:, 1]) > 1_100, np.median(total[:, 1])


def test_a_region_table_with_an_unknown_kind_of_count_is_one_line(tmp_path):
    f = tmp_path / "regions.csv"
    f.write_text("code,name,parent,population,counts\nA,a,P,100,people\nB,b,P,100,flows\nC,c,P,100,\n")
    with pytest.raises(DataError) as e:
        load_regions(f)
    (prob,) = e.value.problems
    assert (prob.file, prob.row, prob.column) == (str(f), 3, "counts")
    assert "'flows'" in prob.message and "expected people, movements or an empty cell" in prob.message
    f.write_text("code,name,parent,population,COUNTS\nA,a,P,100,people\nB,b,P,100,MOVEMENTS\nC,c,P,100,\n")
    assert load_regions(f).declared_movements.tolist() == [False, True, False]


def test_draws_with_a_hazard_keep_the_people_at_risk_of_regions_that_count_movements():
    """The Bayesian models' draws (``CommonNoiseNB.draw_depleting``): a hazard of 0.5 a month on
    100 people, 6 months. Depleted, the expected total is 100 x (1 - 0.5^6) = 98.4; as movements,
    6 x 50 = 300."""
    from displacement_forecast.distributions import CommonNoiseNB

    noise = CommonNoiseNB(np.random.default_rng(3), 1e-6, (400, 2, 6))  # alpha ~ 0: Poisson
    y = noise.draw_depleting(np.full((400, 2, 6), 0.5), np.array([100.0, 100.0]), np.array([True, False]))
    total = y.sum(axis=2)
    assert (total[:, 0] <= 100).all() and abs(total[:, 1].mean() - 300) < 3, total.mean(axis=0)


@pytest.mark.parametrize("name", ["bayes-hierarchical", "bayes-dynamic"])
def test_bayesian_draws_do_not_deplete_a_region_whose_counts_are_movements(name):
    """The Bayesian models hand :meth:`Panel.depletes` to their draws: a tiny fit (gate failures
    ignored), 36 months ahead, as for the other models."""
    import warnings

    p = _panel(["", "movements"])
    cfg = {"draws": 100, "tune": 150, "chains": 2, "seed": 1, "progress": False, "drivers": ["strikes"]}
    if name == "bayes-dynamic":
        cfg["max_chains"] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = get_model(name, config=cfg).fit(p)
    total = fit.sample_paths(36, n_draws=200, seed=1).values.sum(axis=2)
    assert (total[:, 0] <= 40 + 1e-9).all()
    assert np.median(total[:, 1]) > 1_100, np.median(total[:, 1])


def test_a_chunked_forecast_does_not_deplete_a_region_whose_counts_are_movements(tmp_path):
    """``forecast --chunk-regions`` simulates ``nb-dl`` chunk by chunk (forecast/streaming.py):
    each chunk's regions keep their own kind of count."""
    from displacement_forecast.forecast.streaming import stream_forecast

    p = _panel(["", "movements"])
    p = Panel(p.dates, regions_from_frame(pd.DataFrame({"code": ["A", "B"], "name": ["A", "B"], "parent": ["P", "Q"],
                                                          "population": 1_000.0, "counts": ["", "movements"]})),
              p.freq, p.series)
    fit = get_model("nb-dl", drivers=("strikes",)).fit(p)
    stream_forecast(fit, None, tmp_path / "f.csv", horizon=36, n_draws=200, chunk_regions=1)
    f = pd.read_csv(tmp_path / "f.csv")
    cum = f[(f["target"] == "cum_new_displaced") & (f["horizon"] == 36) & (f["output_type"] == "quantile")]
    med = cum[cum["output_type_id"] == 0.5].set_index("region")["value"]
    assert cum[cum["region"] == "A"]["value"].max() <= 40 + 1e-9
    assert med["B"] > 1_100, med["B"]


def _write_toy(tmp_path, counts: str | None) -> tuple[str, str]:
    """The two-region panel of :func:`_panel` as files, its table with or without ``counts``."""
    p = _panel(["", ""])
    rows = [(str(d.date()), code, s, p.series[s][i, t]) for s in p.series for i, code in enumerate(p.regions.codes)
            for t, d in enumerate(p.dates)]
    obs = tmp_path / "obs.csv"
    pd.DataFrame(rows, columns=["date", "region", "series", "value"]).to_csv(obs, index=False)
    reg = tmp_path / f"regions_{counts or 'none'}.csv"
    head, body = "code,name,parent,population", ["A,A,P,1000", "B,B,Q,1000"]
    if counts is not None:
        head, body = head + ",counts", [body[0] + ",", body[1] + f",{counts}"]
    reg.write_text("\n".join([head, *body]) + "\n")
    return str(obs), str(reg)


def test_a_saved_fit_is_not_forecast_with_another_kind_of_count(tmp_path, capsys):
    """``forecast --model-dir`` kept the region table the fit was saved with and silently ignored
    the one given: a fit saved before its table declared movements went on depleting them (and
    the sidecar named the new table). A table whose counts differ from the fit's is one error."""
    from displacement_forecast.cli import main

    obs, plain = _write_toy(tmp_path, None)
    _, declared = _write_toy(tmp_path, "movements")
    assert main(["fit", obs, "--regions", plain, "--model", "nb-dl", "--drivers", "strikes",
                 "--out", str(tmp_path / "fit")]) == 0
    capsys.readouterr()
    rc = main(["forecast", obs, "--regions", declared, "--model-dir", str(tmp_path / "fit"), "--horizon", "6",
               "--draws", "50", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0 and not (tmp_path / "out" / "forecast.csv").exists()
    (line,) = [ln for ln in err.splitlines() if "counts" in ln]
    assert declared in line and "refit" in line
    assert "this table says movements for B, unlike the one the saved fit was made with" in line, line
    # the table it was fitted with still forecasts
    assert main(["forecast", obs, "--regions", plain, "--model-dir", str(tmp_path / "fit"), "--horizon", "6",
                 "--draws", "50", "--out", str(tmp_path / "out2")]) == 0


def test_a_table_saying_people_is_overruled_by_counts_above_the_population_and_the_warning_says_so():
    """Counts that sum above the population are movements whatever the table says; the warning
    said to declare movements even where the table had said people, without naming the conflict."""
    from displacement_forecast._cli.checks import check_population

    obs = pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2020-02-01"] * 2), "region": ["A", "A", "B", "B"],
                        "series": "displaced", "value": [60.0, 60.0, 60.0, 60.0]})
    regions = regions_from_frame(pd.DataFrame({"code": ["A", "B"], "name": ["a", "b"], "population": [100.0, 100.0],
                                               "counts": ["people", ""]}))
    a, b = check_population(obs, regions, file="obs.csv", regions_file="regions.csv")
    assert a.startswith("regions.csv:2: ") and "its counts column says people, but they must include" in a
    assert "read as movements" in a and "says people" not in b
    assert "write movements in the region table's counts column" in b


def test_a_column_named_almost_like_counts_is_said_not_to_be_read(tmp_path):
    """`count` was kept out silently like any other column: the declaration went unread."""
    import warnings

    from displacement_forecast.data.schema import DataWarning

    f = tmp_path / "regions.csv"
    f.write_text("code,name,parent,population,count,pcode\nA,a,P,100,movements,X1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = load_regions(f)
    assert r.declared_movements.tolist() == [False]
    (w,) = [w for w in caught if issubclass(w.category, DataWarning)]  # pcode beside code: no warning
    assert f"{f}:1: column 'count' is not read; did you mean 'counts'?" in str(w.message)


def test_the_sidecar_says_which_regions_count_movements_and_why(tmp_path):
    import json

    from displacement_forecast.cli import main

    obs, declared = _write_toy(tmp_path, "movements")  # B says movements, A leaves it to the data
    assert main(["forecast", obs, "--regions", declared, "--model", "last-value", "--horizon", "3", "--draws", "50",
                 "--no-plots", "--out", str(tmp_path / "out")]) == 0
    sidecar = json.loads((tmp_path / "out" / "forecast.json").read_text())
    assert sidecar["data"]["regions_counting_movements"] == {"B": "region table"}
