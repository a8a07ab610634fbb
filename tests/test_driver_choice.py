"""Drivers from the data (issue 16 item 1): the default rule, --drivers, and the two clear errors.

Cases ``../shared/cases/ingest/13_*`` (strikes but no flights; an all-zero region, a late
starter, a gap) and ``13b_*`` (a quiet neighbour in the same zone) stand for every panel whose
conflict series are not the synthetic strikes + flights.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from displacement_forecast.cli import main
from displacement_forecast.data.schema import DataError
from displacement_forecast.models.driver_choice import available_drivers, resolve_drivers

CASE = SHARED / "cases" / "ingest"


def _case(name: str, regions: str):
    f, r = CASE / name, CASE / regions
    if not f.exists():
        pytest.skip(f"case {f} is absent (it sits beside the project in ../shared)")
    return str(f), str(r)


def _medians(out) -> pd.DataFrame:
    f = pd.read_csv(out / "forecast.csv")
    f = f[(f["target"] == "new_displaced") & (f["output_type"] == "quantile")
          & np.isclose(f["output_type_id"].astype(float), 0.5)]
    return f.pivot_table(index="region", columns="horizon", values="value")


def test_default_rule_order_and_all_zero_series():
    s = {"displaced": np.ones(3), "events": np.array([1.0, 0, 2]), "flights": np.zeros(3),
         "strikes": np.array([np.nan, 1.0, 0])}
    assert available_drivers(s) == ("strikes", "events")
    assert resolve_drivers("auto", s, "nb-dl", max_n=1) == ("strikes",)
    with pytest.raises(DataError, match="driver series shelling not in the data"):
        resolve_drivers(["shelling"], s, "nb-dl")
    with pytest.raises(DataError, match="use a model without drivers: .*dynamic"):
        resolve_drivers("auto", {"displaced": np.ones(3)}, "nb-dl")


@pytest.mark.parametrize("model", ["nb-dl", "dynamic", "sarimax", None])
def test_case13_forecast_with_strikes_but_no_flights(tmp_path, model):
    """Every driver model (and the default) runs on strikes only; the all-zero region stays near 0;
    the sidecar records the drivers used and the rule."""
    data, regions = _case("13_weekly_zero_late_gap.csv", "13_regions.csv")
    out = tmp_path / "o"
    args = ["forecast", data, "--regions", regions, "--horizon", "4", "--draws", "200", "--no-plots", "--out", str(out)]
    assert main(args + (["--model", model] if model else [])) == 0
    med = _medians(out)
    assert (med.loc["R2"] <= 5).all()
    assert (med.loc[["R1", "R3", "R4"]] > 20).all().all()
    side = json.loads((out / "forecast.json").read_text())
    if model in ("nb-dl", "dynamic"):
        assert side["model"]["config"]["drivers"] == ["strikes"]
        assert "strikes, shelling, flights" in side["model"]["config"]["driver_rule"]


def test_case13b_quiet_neighbour_no_singular_fit(tmp_path):
    data, regions = _case("13b_quiet_neighbour_with_flights.csv", "13b_regions.csv")
    for model in ("nb-dl", "dynamic"):
        out = tmp_path / model
        assert main(["forecast", data, "--regions", regions, "--model", model, "--horizon", "3", "--draws", "200",
                     "--no-plots", "--out", str(out)]) == 0
        assert (_medians(out).loc["R2"] <= 5).all()


def test_drivers_option_and_errors(tmp_path, capsys):
    data, regions = _case("13b_quiet_neighbour_with_flights.csv", "13b_regions.csv")
    base = ["forecast", data, "--regions", regions, "--horizon", "2", "--draws", "100", "--no-plots"]
    assert main(base + ["--model", "nb-dl", "--drivers", "flights", "--out", str(tmp_path / "a")]) == 0
    side = json.loads((tmp_path / "a" / "forecast.json").read_text())
    assert side["model"]["config"]["drivers"] == ["flights"]
    capsys.readouterr()
    assert main(base + ["--model", "nb-dl", "--drivers", "events", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error")]
    assert len(lines) == 1 and "events not in the data" in lines[0] and "Traceback" not in err
    assert main(base + ["--model", "last-value", "--drivers", "strikes", "--out", str(tmp_path / "c")]) == 2
    assert "uses no driver series" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("command", ["forecast", "fit", "backtest"])
def test_drivers_help_lists_every_series_the_option_accepts(capsys, command):
    """The help listed strikes, shelling, flights, events, fatalities; battles was accepted too. It
    lists the one list --drivers checks against (schema.DRIVER_SERIES)."""
    from displacement_forecast._cli.drivers_arg import parse_drivers
    from displacement_forecast.data.schema import DRIVER_SERIES

    try:
        assert main([command, "--help"]) == 0
    except SystemExit as e:
        assert e.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"--drivers A,B conflict series the driver models use, any of {', '.join(DRIVER_SERIES)} (what --drivers " \
           "accepts); default:" in text, text
    assert "battles" in DRIVER_SERIES and parse_drivers(",".join(DRIVER_SERIES)) == DRIVER_SERIES


def test_no_driver_at_all_names_the_driver_free_models(tmp_path, capsys):
    data, regions = _case("14_log_ar1_around_10000.csv", "14_regions.csv")
    assert main(["forecast", data, "--regions", regions, "--model", "nb-dl", "--horizon", "2", "--draws", "50",
                 "--no-plots", "--out", str(tmp_path / "o")]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "the data have none" in err[0] and "historic-average" in err[0]

def test_the_cli_names_the_same_driver_free_models_as_the_driver_rule():
    """Two lists had grown: the driver rule's DRIVER_FREE and the CLI's, derived from the classes'
    ``uses_drivers``, which left out auto, dynamic and arima (they decide per fit)."""
    from displacement_forecast._cli.checks import driver_free_models
    from displacement_forecast.models.driver_choice import DRIVER_FREE

    free = driver_free_models()
    assert {"auto", "dynamic", "arima", "historic-average"} <= set(free), free
    assert set(free) <= set(DRIVER_FREE)


def test_backtest_drivers_option(tmp_path):
    data, regions = _case("13_weekly_zero_late_gap.csv", "13_regions.csv")
    out = tmp_path / "bt"
    assert main(["backtest", data, "--regions", regions, "--models", "nb-dl,dynamic", "--drivers", "strikes",
                 "--horizon", "2", "--origins", "2019-08-19:2019-09-30:3", "--draws", "100", "--no-plots",
                 "--no-progress", "--out", str(out)]) == 0
    scores = pd.read_csv(next(out.glob("*scores*.csv")))
    assert {"nb-dl", "dynamic"} <= set(scores["model"])


def _daily_national(T: int, seed: int = 0):
    """One region, daily, four conflict series: the shape of the Ukraine panel (refugees from
    a whole country), with a known response: log E[y] = log(60,000) + 0.3 (log1p(strikes) - 2)."""
    from displacement_forecast.data.regions import regions_from_frame
    from displacement_forecast.models.base import Panel

    rng = np.random.default_rng(seed)
    conflict = {s: rng.poisson(8.0, (1, T)).astype(float) for s in ("strikes", "shelling", "events", "fatalities")}
    mean = 60_000 * np.exp(0.3 * (np.log1p(conflict["strikes"]) - 2))
    y = rng.negative_binomial(20, 20 / (20 + mean)).astype(float)
    regions = regions_from_frame(pd.DataFrame({"code": ["UA"], "name": ["Ukraine"], "parent": "",
                                               "population": [41_000_000]}))
    return Panel(pd.date_range("2022-02-24", periods=T, freq="D"), regions, "D", {"displaced": y, **conflict})


def test_nbdl_shortens_its_lags_to_the_data_and_stays_on_scale():
    """4 series x 14 daily lags = 57 coefficients from 16-65 rows: the fit could not converge and
    forecast 18 million people for the next day on the Ukraine panel (about 60,000 a day). The
    default lags are now shortened to 5 rows per coefficient, said in a warning, and the median
    stays near the true daily mean."""
    from displacement_forecast.models import get_model

    m = get_model("nb-dl").fit(_daily_national(30))
    assert m.n_lags_ == 1 and m.info_.diagnostics["n_lags"] == 1
    assert any("lags shortened from the default for daily data, 14 days, to 1:" in w for w in m.info_.warnings)
    med = np.median(m.sample_paths(14, n_draws=400, seed=1).values, axis=0)
    assert (med > 20_000).all() and (med < 180_000).all(), med
    assert get_model("nb-dl").fit(_daily_national(200)).n_lags_ == 9  # 9 x 4 + 1 = 37 coefficients, 186 rows


def test_nbdl_too_short_for_its_series_is_one_clear_error():
    """Lags given by the user are kept; too few rows for them is an error that says what to do."""
    from displacement_forecast.models import get_model

    with pytest.raises(ValueError, match=r"nb-dl: \d+ rows of data for 4 driver series x 7 lag\(s\).*--drivers"):
        get_model("nb-dl", n_lags=7).fit(_daily_national(60))
    assert get_model("nb-dl", n_lags=7, drivers=["strikes"]).fit(_daily_national(60)).n_lags_ == 7


def _daily_files(tmp_path, T: int):
    """:func:`_daily_national` as the observation file and region table an analyst would give."""
    p = _daily_national(T)
    rows = [(d.date(), "UA", s, int(v)) for s, x in p.series.items() for d, v in zip(p.dates, x[0], strict=True)]
    data = tmp_path / "obs.csv"
    pd.DataFrame(rows, columns=["date", "region", "series", "value"]).to_csv(data, index=False)
    regions = tmp_path / "regions.csv"
    regions.write_text("code,name,parent,population\nUA,Ukraine,,41000000\n")
    return data, regions


def test_nbdl_history_error_names_the_default_model(tmp_path, capsys):
    """3 weeks of daily counts with 4 conflict series: too few rows for nb-dl's one lag. The one
    error line told the analyst to use last-value, climatology ... and the statsforecast peers,
    but not `auto`, the default, which forecasts this file (it leaves nb-dl out of its mixture)."""
    data, regions = _daily_files(tmp_path, 21)
    base = ["forecast", str(data), "--regions", str(regions), "--horizon", "7", "--draws", "50", "--no-plots"]
    assert main(base + ["--model", "nb-dl", "--out", str(tmp_path / "o")]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "shared coefficients" in err[0], err
    assert re.search(r"(?<![-\w])auto(?![-\w])", err[0]), err  # not the "auto" of statsforecast-autoets
    assert main(base + ["--out", str(tmp_path / "a")]) == 0


def test_fit_says_on_screen_that_nbdl_shortened_its_lags(tmp_path, capsys):
    """`forecast` printed 'WARNING: lags shortened ...' but `fit` only wrote it into
    diagnostics.json: the analyst saving a fit for --model-dir never saw it."""
    data, regions = _daily_files(tmp_path, 56)
    assert main(["fit", str(data), "--regions", str(regions), "--model", "nb-dl", "--out", str(tmp_path / "f")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum(x.startswith("WARNING: lags shortened from the default for daily data, 14 days, to") for x in err) == 1, err


def test_nbdl_short_history_with_one_series_fits_with_fewer_lags():
    """15 days and one conflict series: one or two lags are identified (5 rows per coefficient),
    so nb-dl fits instead of asking for the 14 + 4 days its default lags would need."""
    from displacement_forecast.models import get_model

    m = get_model("nb-dl", drivers=["strikes"]).fit(_daily_national(15))
    assert 1 <= m.n_lags_ <= 2 and any("lags shortened" in w for w in m.info_.warnings)
    assert np.isfinite(m.sample_paths(3, n_draws=200, seed=0).values).all()
    with pytest.raises(ValueError, match="needs at least 12 periods"):
        get_model("nb-dl", n_lags=8).fit(_daily_national(11))  # lags given: kept, and they need 8 + 4


def test_backtest_reports_the_fits_that_shortened_their_lags(tmp_path, capsys, monkeypatch):
    """Each fit's warnings reach backtest.json ('fit_warnings') and one screen line per model:
    nb-dl's shortened lags were visible in a forecast but not in a backtest. The list is
    gathered once for both (it was computed twice)."""
    from displacement_forecast._cli import backtest_command

    calls = []
    real = backtest_command.fit_warnings
    monkeypatch.setattr(backtest_command, "fit_warnings", lambda tasks: calls.append(1) or real(tasks))
    p = _daily_national(40)
    rows = [(d.date(), "UA", s, v[0, t]) for s, v in p.series.items() for t, d in enumerate(p.dates)]
    data = tmp_path / "ua.csv"
    pd.DataFrame(rows, columns=["date", "region", "series", "value"]).to_csv(data, index=False)
    regions = tmp_path / "regions.csv"
    pd.DataFrame({"code": ["UA"], "name": ["Ukraine"], "parent": [""], "population": [41_000_000]}).to_csv(
        regions, index=False)
    out = tmp_path / "bt"
    rc = main(["backtest", str(data), "--regions", str(regions), "--models", "nb-dl", "--drivers", "strikes",
               "--horizon", "3", "--draws", "40", "--origins", "2022-03-20:2022-03-25:5", "--out", str(out),
               "--no-plots", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    meta = json.loads((out / "backtest.json").read_text())
    assert [w["origin"] for w in meta["fit_warnings"]] == ["2022-03-20", "2022-03-25"]
    assert all("lags shortened from the default for daily data, 14 days" in w["warnings"][0] for w in meta["fit_warnings"])
    line = [ln for ln in err.splitlines() if ln.startswith("warning: nb-dl: 2 of 2 fits warned")]
    assert len(line) == 1 and "lags shortened" in line[0], err
    assert len(calls) == 1
