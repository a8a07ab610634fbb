"""The real-world test bed (experiments/real_world): panels built from the real files, tiny backtests.

Skipped, with the reason printed, when ``../shared/data/real`` is absent.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "real_world"))

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def som(request):
    real = ROOT.parent / "shared" / "data" / "real"
    if not real.exists():
        pytest.skip(f"real data folder {real} is absent (it sits beside the project in ../shared)")
    return importlib.import_module("somalia")


@pytest.fixture(scope="module")
def som_panel(som):
    return som.build_panel()


def test_somalia_panel_shape_and_series(som_panel):
    p = som_panel
    assert p.target().shape == (18, 24)
    assert p.dates[0] == pd.Timestamp("2022-01-01") and p.dates[-1] == pd.Timestamp("2023-12-01")
    assert {"displaced", "events", "fatalities", "strikes"} <= set(p.series)
    for s, v in p.series.items():
        assert v.shape == (18, 24), s
        assert np.isfinite(v).all(), f"{s} has gaps: the real files have none"
    assert p.series["events"].sum() == 6557 - 1  # every ACLED event but the one at sea


def test_somalia_displaced_equals_prmn_cells(som_panel, real_dir):
    """Every panel cell is the PRMN file's cell for that region and month - no zero put in for a gap."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for year, (file, col) in {2022: ("previous_regions_2022.csv", "PreviousRegion"),
                              2023: ("DERIVED_som_prmn_departures_by_previous_region_2023.csv", "admin1Name")}.items():
        raw = pd.read_csv(real_dir / "somalia" / file)
        matched, unmatched = som_panel.regions.match(raw[col])
        assert unmatched == []
        raw.index = raw[col].map(matched)
        want = raw.loc[som_panel.regions.codes, months].to_numpy(float)
        got = som_panel.target()[:, som_panel.dates.year == year]
        np.testing.assert_array_equal(got, want)


def test_somalia_missing_prmn_cell_stays_missing(som, real_dir, tmp_path):
    """A blank PRMN cell becomes NaN in the panel, not 0 (checked on a scratch copy with one blank)."""
    from displacement_forecast.data.loaders import load_mapped
    from displacement_forecast.data.regions import load_regions
    from displacement_forecast.models.base import Panel

    regions = load_regions(som.REGIONS)
    raw = pd.read_csv(real_dir / "somalia" / "previous_regions_2022.csv")
    raw.loc[raw["PreviousRegion"] == "Bay", "Mar"] = np.nan
    raw["total_origin"] = raw[[c for c in raw.columns if c not in ("PreviousRegion", "total_origin")]].sum(axis=1)
    raw.to_csv(tmp_path / "prmn.csv", index=False)
    obs = load_mapped(tmp_path / "prmn.csv", som.CONFIGS / "som_prmn_departures_2022.toml", regions)
    y = Panel.from_observations(obs, regions, freq="M").target()
    bay = regions.codes.index(regions.match(["Bay"])[0]["Bay"])
    assert np.isnan(y[bay, 2]) and np.isfinite(np.delete(y.ravel(), bay * 12 + 2)).all()


def test_region_names_reconcile_acled_prmn(som, real_dir):
    """ACLED admin1 and both PRMN name columns map onto exactly the 18 regions of the table."""
    from displacement_forecast.data.regions import load_regions

    regions = load_regions(som.REGIONS)
    cols = {"00_ACLED_Somalia_2022-2023.csv": "admin1", "previous_regions_2022.csv": "PreviousRegion",
            "DERIVED_som_prmn_departures_by_previous_region_2023.csv": "admin1Name"}
    for file, col in cols.items():
        names = pd.read_csv(real_dir / "somalia" / file, usecols=[col])[col].dropna().unique()
        matched, unmatched = regions.match(names)
        assert unmatched == [], f"{file}: {unmatched}"
        assert sorted(set(matched.values())) == sorted(regions.codes), file


def test_syria_and_ukraine_panels(real_dir):
    syr = importlib.import_module("syria").build_panel(real_dir)
    assert syr.target().shape == (14, 37)
    assert np.isnan(syr.target()).sum() == 14 * 37 - 465  # months a governorate did not report stay NaN
    ukr = importlib.import_module("ukraine").build_panel(real_dir)
    assert ukr.target().shape == (1, 79) and ukr.dates[0] == pd.Timestamp("2022-02-24")
    # UNHCR_UKR_Date.csv has 82 of the 83 days; its 20 April count covers 19 April too and is spread
    assert np.isnan(ukr.target()).sum() == 0
    assert np.isfinite(ukr.series["events"]).all()


def test_tiny_backtest_on_somalia(som, som_panel, tmp_path):
    """Two origins x two models on the real Somalia panel: scores for every region and horizon."""
    from _common import Spec, run_and_save

    specs = [Spec("last-value", "last-value", {}, "baseline"),
             Spec("nb-dl (events, fatalities)", "nb-dl", {"drivers": som.DRIVERS}, "project")]
    orig = som.origins(som_panel)[-3:-1]
    scores = run_and_save("somalia", som_panel, specs, orig, 3, 200, tmp_path)
    assert set(scores["kind"]) == {"baseline", "project", "oracle"}  # nb-dl also runs on observed conflict
    scores = scores[(scores["kind"] != "oracle") & (scores["region"] != "ALL")]
    assert len(scores) == 2 * 18 * (3 + 2)  # origins Sep and Oct 2023: 3 and 2 months ahead observed
    assert set(scores["model"]) == {s.label for s in specs}
    assert np.isfinite(scores["observed"]).all()  # periods after the data's end are not scored
    assert np.isfinite(scores["crps"]).all() and (scores["crps"] >= 0).all()
    assert {"cover_80", "cover_95", "ae", "median", "observed"} <= set(scores.columns)
    assert (tmp_path / "somalia_scores.csv").exists() and (tmp_path / "somalia_meta.json").exists()


def test_report_renders_from_scores(som, som_panel, tmp_path):
    """make_report turns a scores file into the page; every table number comes from the scores."""
    from _common import Spec, run_and_save
    from make_report import by_horizon, render

    specs = [Spec("climatology", "climatology", {}, "baseline"),
             Spec("nb-dl (strikes)", "nb-dl", {"drivers": ("strikes",)}, "project")]
    scores = run_and_save("somalia", som_panel, specs, som.origins(som_panel)[-3:-1], 3, 100, tmp_path,
                          meta={"title": "t", "description": "d", "unit": "people"})
    import json

    meta = json.loads((tmp_path / "somalia_meta.json").read_text())
    page = render({"somalia": {"meta": meta, "scores": scores}}, {"somalia": 1.0}, "now")
    tab = by_horizon(scores)
    crps = tab[(tab["model"] == "climatology") & (tab["horizon"] == 1)]["crps"].item()
    assert f"{crps:,.0f}" in page and "ALL" not in set(tab["model"]) and "Do conflict drivers add skill (forecast conflict)?" in page
    assert "Every fit passed its model's own diagnostics gate" in page and "nb-dl (strikes) 0 of 2" in page


def test_report_counts_fits_that_failed_their_diagnostics_gate():
    """The page says how many fits of each model failed ``info_.reliable``, from the scores' ``reliable`` column."""
    from make_report import reliability

    rows = [{"model": m, "kind": k, "origin": o, "region": r, "reliable": ok}
            for m, k, bad in (("bayes-hierarchical", "project", {"2023-01-01"}), ("last-value", "baseline", set()),
                              ("bayes-hierarchical+oracle", "oracle", {"2023-01-01"}))
            for o in ("2023-01-01", "2023-02-01", "2023-03-01") for r in ("A", "B", "ALL")
            for ok in [o not in bad]]
    text = reliability(pd.DataFrame(rows))
    assert "**bayes-hierarchical: 1 of 3**" in text and "last-value 0 of 3" in text and "+oracle:" not in text
    assert "not recorded" in reliability(pd.DataFrame(rows).drop(columns="reliable"))


def test_interpretation_numbers_come_from_the_run(som, som_panel, tmp_path):
    """The 'why' paragraph is computed: its fit lengths and SARIMAX tail figures follow the scores."""
    from _common import Spec, run_and_save
    from make_report import by_horizon, why

    specs = [Spec("climatology", "climatology", {}, "baseline"),
             Spec("sarimax (events)", "sarimax", {"driver": "events", "n_lags": 3}, "project")]
    orig = som.origins(som_panel)[-3:-1]
    scores = run_and_save("somalia", som_panel, specs, orig, 3, 100, tmp_path)
    import json

    meta = json.loads((tmp_path / "somalia_meta.json").read_text())
    tab = by_horizon(scores)
    text = why("somalia", som_panel, scores, tab, meta, [1, 2, 3])
    n = [som_panel.dates.get_loc(o) + 1 for o in orig]
    assert f"With {min(n)}-{max(n)} months per fit" in text
    s = scores[(scores["model"] == "sarimax (events)") & (scores["region"] != "ALL")]
    assert any(f"{v:,.0f}" in text for v in s.groupby("horizon")["hi_95"].max())
    cov = tab.loc[tab["kind"] == "project", "cov80"].mean()
    assert f"held {cov:.0%} of outcomes" in text


def test_report_keeps_the_sections_other_scripts_write():
    """make_report rewrote the page and dropped the retrospective and totals sections (only the
    cv_peers one was kept): every marked section now survives, in its order."""
    from make_report import kept_sections

    old = ("# page\nold text\n<!-- cv-peers:start -->\nA\n<!-- cv-peers:end -->\n\n"
           "<!-- idlib-retrospective:start -->\nB\n<!-- idlib-retrospective:end -->\nx\n"
           "<!-- totals:start -->\nC\n<!-- totals:end -->\n")
    kept = kept_sections(old)
    assert "old text" not in kept and kept.count(":start -->") == 3
    assert kept.index("A") < kept.index("B") < kept.index("C")
    assert kept_sections("# no sections\n") == ""


def test_report_for_one_dataset_keeps_the_others(som, som_panel, tmp_path):
    """`make_report.py --only ukraine` rewrote the page with Ukraine alone (Somalia and Syria
    vanished); the others now come from their saved scores."""
    import json
    import shutil

    from _common import Spec, run_and_save
    from make_report import main as make_report

    run_and_save("somalia", som_panel, [Spec("climatology", "climatology", {}, "baseline")],
                 som.origins(som_panel)[-3:-1], 3, 50, tmp_path,
                 meta={"title": "Somalia page", "description": "d", "unit": "people"})
    shutil.copy(tmp_path / "somalia_scores.csv", tmp_path / "ukraine_scores.csv")
    meta = json.loads((tmp_path / "somalia_meta.json").read_text())
    (tmp_path / "ukraine_meta.json").write_text(json.dumps({**meta, "title": "Ukraine page"}))
    page = tmp_path / "page.md"
    make_report(["--reuse", "--only", "ukraine", "--out", str(tmp_path), "--doc", str(page)])
    text = page.read_text()
    assert "Ukraine page" in text and "Somalia page" in text
