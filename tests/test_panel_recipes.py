"""``displacement-forecast panel``: recipes for the real test bed and the quick flags (issue 18).

The real files sit beside the project in ``../shared/data/real``; tests that need them skip with
a reason when they are absent. Expected values are read from the raw files with the ``csv``
module, not with the loaders.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data import DataError, detect_frequency, load_regions
from displacement_forecast.data.recipe import build_panel, load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "data" / "recipes"
REAL = ROOT.parent / "shared" / "data" / "real"
FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def real() -> Path:
    if not REAL.exists():
        pytest.skip(f"real data folder {REAL} is absent (it sits beside the project in ../shared)")
    return REAL


@pytest.fixture(scope="module")
def somalia_csv(real, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("som") / "obs.csv"
    assert main(["panel", str(RECIPES / "somalia.toml"), "--out", str(out)]) == 0
    return pd.read_csv(out)


def test_somalia_recipe_acled_counts_equal_raw_rows(somalia_csv, real):
    regions = load_regions(ROOT / "data" / "somalia" / "regions.csv")
    with open(real / "somalia" / "00_ACLED_Somalia_2022-2023.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["admin1"].strip()]
    matched, unmatched = regions.match(sorted({r["admin1"] for r in rows}))
    assert unmatched == []
    want = Counter((matched[r["admin1"]], datetime.strptime(r["event_date"], "%d/%m/%Y").strftime("%Y-%m-01")) for r in rows)
    ev = somalia_csv[somalia_csv["series"] == "events"].set_index(["region", "date"])["value"]
    assert len(ev) == 18 * 24
    assert {k: v for k, v in ev.items() if v} == {k: float(v) for k, v in want.items()}
    strikes = Counter((matched[r["admin1"]], datetime.strptime(r["event_date"], "%d/%m/%Y").strftime("%Y-%m-01"))
                      for r in rows if r["sub_event_type"] == "Air/drone strike")
    got = somalia_csv[somalia_csv["series"] == "strikes"].set_index(["region", "date"])["value"]
    assert {k: v for k, v in got.items() if v} == {k: float(v) for k, v in strikes.items()}


def test_somalia_recipe_displaced_equals_prmn_tables(somalia_csv, real):
    regions = load_regions(ROOT / "data" / "somalia" / "regions.csv")
    disp = somalia_csv[somalia_csv["series"] == "displaced"].set_index(["region", "date"])["value"]
    assert len(disp) == 18 * 24 and disp.notna().all()
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for file, col, year in (("previous_regions_2022.csv", "PreviousRegion", 2022),
                            ("DERIVED_som_prmn_departures_by_previous_region_2023.csv", "admin1Name", 2023)):
        with open(real / "somalia" / file, encoding="utf-8-sig", newline="") as fh:
            table = list(csv.DictReader(fh))
        matched, unmatched = regions.match([r[col] for r in table])
        assert unmatched == []
        for r in table:
            for k, m in enumerate(months, start=1):
                assert disp[(matched[r[col]], f"{year}-{k:02d}-01")] == float(r[m]), (file, r[col], m)


def test_somalia_recipe_is_the_experiments_panel(real):
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "experiments" / "real_world"))
    try:
        som = importlib.import_module("somalia")
        panel = som.build_panel(real)
    finally:
        sys.path.remove(str(ROOT / "experiments" / "real_world"))
    obs, regions, _ = build_panel(RECIPES / "somalia.toml")
    assert panel.regions.codes == regions.codes and len(panel.dates) == obs["date"].nunique() == 24
    for s, arr in panel.series.items():
        wide = obs[obs["series"] == s].pivot(index="region", columns="date", values="value").reindex(regions.codes)
        np.testing.assert_array_equal(arr, wide.to_numpy())


@pytest.mark.slow
def test_somalia_panel_then_forecast_with_the_default_model(somalia_csv, tmp_path):
    """Issue 18's acceptance command: the recipe's panel, then `forecast` with the default model."""
    obs = tmp_path / "obs.csv"
    somalia_csv.to_csv(obs, index=False)
    assert main(["forecast", str(obs), "--regions", str(ROOT / "data" / "somalia" / "regions.csv"),
                 "--horizon", "3", "--out", str(tmp_path / "f")]) == 0
    f = pd.read_csv(tmp_path / "f" / "forecast.csv")
    assert set(f["horizon"]) == {1, 2, 3}


def test_nw_syria_recipe_reproduces_the_test_bed_panel(real):
    obs, regions, report = build_panel(RECIPES / "nw_syria.toml")
    derived = pd.read_csv(real / "nw_syria" / "DERIVED_nw_syria_panel_monthly_2018-06_2019-11.csv", parse_dates=["date"])
    derived = derived[derived["region"].isin(regions.codes)]
    m = obs.merge(derived, on=["date", "region", "series"], how="outer", suffixes=("", "_derived"))
    shared = m[m["series"] != "battles"]
    assert shared["value"].notna().sum() == shared["value_derived"].notna().sum() == 46 + 4 * 72
    np.testing.assert_allclose(shared["value"], shared["value_derived"], rtol=0, atol=1e-9)
    battles = obs[obs["series"] == "battles"]
    with open(real / "nw_syria" / "DERIVED_acled_battles_nw_2018-06_2020-03.csv", encoding="utf-8", newline="") as fh:
        n = sum(1 for r in csv.DictReader(fh) if datetime.strptime(r["event_date"], "%d %B %Y") <= datetime(2019, 11, 30))
    assert battles["value"].sum() == n
    assert set(report["from"]) == {"UCDP GED NW Syria", "ACLED battles NW Syria",
                                   "OCHA/ISMI IDP flows 2016-2019 (summary sheet)", "OCHA IDP Task Force reports 2019 (typed)"}


@pytest.mark.parametrize("name,rows", [("syria", 465), ("ukraine", 395)])  # ukraine: 19 April spread in
def test_other_recipes_build(real, name, rows):
    obs, _, _ = build_panel(RECIPES / f"{name}.toml")
    assert len(obs) == rows


# ------------------------------------------------------------------ recipe errors, atomic output


def _recipe(tmp_path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


BASE = f'regions = "{FIX / "regions_som_small.csv"}"\nfreq = "M"\ndata = "{FIX}"\n'


def test_recipe_problems_all_at_once(tmp_path):
    p = _recipe(tmp_path, BASE + 'colour = "red"\n[[sources]]\nformat = "acled"\npath = "acled_small.csv"\nwibble = 1\n'
                                 '[[sources]]\nformat = "excel"\npath = "x.csv"\n[[sources]]\nformat = "tidy"\npath = "nope.csv"\n')
    with pytest.raises(DataError) as e:
        load_recipe(p)
    keys = [pr.column for pr in e.value.problems]
    assert keys == ["colour"]  # top-level keys first: one pass per level
    p.write_text(p.read_text().replace('colour = "red"\n', ""))
    with pytest.raises(DataError) as e:
        load_recipe(p)
    msgs = " | ".join(str(pr) for pr in e.value.problems)
    assert "wibble" in msgs and "'excel'" in msgs and "nope.csv" in msgs and len(e.value.problems) == 3


def test_format_names_are_read_in_any_case(tmp_path, capsys):
    """A recipe's format = "ACLED" was refused ("expected one of tidy, acled, ...") for its case alone;
    so were --format ACLED and --displacement-format TIDY."""
    p = _recipe(tmp_path, BASE + '[[sources]]\nformat = "ACLED"\npath = "acled_small.csv"\n')
    (src,) = load_recipe(p).sources
    assert src.format == "acled"
    assert main(["validate", str(FIX / "acled_small.csv"), "--format", "ACLED", "--freq", "M"]) == 0
    disp = tmp_path / "disp.csv"
    disp.write_text("date,region,series,value\n2022-01-01,SO22,displaced,10\n")
    out = tmp_path / "obs.csv"
    assert main(["panel", "--events", str(FIX / "acled_small.csv"), "--events-format", "Acled", "--displacement",
                 str(disp), "--displacement-format", "TIDY", "--regions", str(FIX / "regions_som_small.csv"),
                 "--freq", "M", "--out", str(out)]) == 0
    assert out.exists()


def test_frequencies_are_read_in_any_case(tmp_path, capsys):
    """--freq m and a recipe's freq = "m" were refused while format names were read in any case."""
    p = _recipe(tmp_path, BASE.replace('freq = "M"', 'freq = "m"') + '[[sources]]\nformat = "acled"\n'
                'path = "acled_small.csv"\n')
    assert load_recipe(p).freq == "M"
    assert main(["validate", str(FIX / "acled_small.csv"), "--format", "acled", "--freq", "m"]) == 0
    disp = tmp_path / "disp.csv"
    disp.write_text("date,region,series,value\n2022-01-01,SO22,displaced,10\n")
    out = tmp_path / "obs.csv"
    assert main(["panel", "--events", str(FIX / "acled_small.csv"), "--events-format", "acled", "--displacement",
                 str(disp), "--regions", str(FIX / "regions_som_small.csv"), "--freq", "m", "--out", str(out)]) == 0
    assert out.exists()
    capsys.readouterr()  # a code that is none in any case is still refused
    assert main(["validate", str(FIX / "acled_small.csv"), "--format", "acled", "--freq", "q"]) == 2
    assert "invalid choice: 'Q'" in capsys.readouterr().err


def test_levels_are_read_in_any_case(tmp_path, capsys):
    """A recipe's level = "Admin2" (and --level ADMIN2) was refused ("expected one of admin1, admin2,
    ...") for its case alone, while format, frequency and model names were read in any case."""
    p = _recipe(tmp_path, BASE + 'level = "Admin2"\n[[sources]]\nformat = "acled"\npath = "acled_small.csv"\n')
    (src,) = load_recipe(p).sources
    assert src.options["level"] == "admin2"
    p.write_text(BASE + 'level = " COUNTRY "\n[[sources]]\nformat = "ucdp"\npath = "acled_small.csv"\n')
    assert load_recipe(p).sources[0].options["level"] == "country"
    p.write_text(BASE + 'level = "province"\n[[sources]]\nformat = "acled"\npath = "acled_small.csv"\n')
    with pytest.raises(DataError, match="level = 'province'; expected one of admin1"):
        load_recipe(p)
    out = tmp_path / "obs.csv"
    assert main(["panel", *QUICK, "--level", "ADMIN1", "--out", str(out)]) == 0 and out.exists()


def test_a_recipe_key_in_the_wrong_table_is_said_to_belong_in_the_right_one(tmp_path):
    p = _recipe(tmp_path, BASE + 'format = "acled"\n[[sources]]\nformat = "acled"\npath = "acled_small.csv"\n')
    with pytest.raises(DataError) as e:
        load_recipe(p)
    assert [pr.message for pr in e.value.problems] == ["unknown key 'format' in the recipe; 'format' belongs under "
                                                       "[[sources]]"]
    p = _recipe(tmp_path, BASE + '[[sources]]\nformat = "acled"\npath = "acled_small.csv"\nregions = "r.csv"\n')
    with pytest.raises(DataError) as e:
        load_recipe(p)
    assert [pr.message for pr in e.value.problems] == ["[[sources]] #1: unknown key 'regions' for format 'acled'; "
                                                       "'regions' belongs at the top level of the recipe"]


def test_recipe_clash_between_sources_named_and_nothing_written(tmp_path):
    p = _recipe(tmp_path, BASE + '[[sources]]\nname = "one"\nformat = "acled"\npath = "acled_small.csv"\n'
                                 '[[sources]]\nname = "two"\nformat = "acled"\npath = "acled_small.csv"\n')
    out = tmp_path / "obs.csv"
    old = "date,region,series,value,source\n2022-01-01,SO11,events,1.0,earlier\n"  # an earlier panel's
    out.write_text(old)
    assert main(["panel", str(p), "--out", str(out)]) == 2
    assert out.read_text() == old  # an existing output is left as it was
    assert sorted(x.name for x in tmp_path.iterdir()) == ["obs.csv", "r.toml"]  # no temp file left


QUICK = ["--events", str(FIX / "acled_small.csv"), "--events-format", "acled", "--freq", "W",
         "--regions", str(FIX / "regions_som_small.csv")]


@pytest.mark.parametrize("content", [(FIX / "regions_som_small.csv").read_bytes(), b"my notes\n",
                                     b"date,region,series\n", b"\x00\x01\x02"],
                         ids=["region table", "text", "three columns", "binary"])
def test_out_that_is_not_an_earlier_panel_is_refused(tmp_path, capsys, content):
    """`panel --out <a copy of the region table>` was exit 0 and replaced it; now one line, the file
    as it was, nothing read or written."""
    out = tmp_path / "obs.csv"
    out.write_bytes(content)
    assert main(["panel", *QUICK, "--out", str(out)]) == 2
    cap = capsys.readouterr()
    (line,) = [ln for ln in cap.err.splitlines() if ln.startswith("error:")]
    assert str(out) in line and "--out" in line and "not an earlier panel output" in line
    assert "Traceback" not in cap.err and cap.out == ""  # refused before any source was read
    assert out.read_bytes() == content and [p.name for p in tmp_path.iterdir()] == ["obs.csv"]


@pytest.mark.parametrize("name", ["obs.csv", "obs.csv.gz"])
def test_an_earlier_panel_output_or_an_empty_file_is_replaced(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["panel", *QUICK, "--out", str(out)]) == 0
    first = out.read_bytes()
    out.write_bytes(first.replace(b"ACLED", b"older"))  # an earlier panel of other figures
    assert main(["panel", *QUICK, "--out", str(out)]) == 0
    assert out.read_bytes() == first
    if name == "obs.csv.gz":  # written compressed, as the name says; an earlier plain one is replaced too
        assert out.read_bytes()[:2] == b"\x1f\x8b"
        out.write_bytes(gzip.decompress(first))
    else:
        out.write_bytes(b"\xef\xbb\xbf" + first)  # saved again by a spreadsheet, with a BOM
    assert main(["panel", *QUICK, "--out", str(out)]) == 0 and out.read_bytes() == first
    out.write_bytes(b"")
    assert main(["panel", *QUICK, "--out", str(out)]) == 0 and out.read_bytes() == first


@pytest.mark.parametrize("name", ["obs.csv.gz", "obs.csv.xz", "obs.zip"])
def test_a_compressed_panel_is_written_compressed_and_next_says_how_to_read_it(tmp_path, capsys, name, monkeypatch):
    """`panel --out obs.csv.gz` wrote plain text into a file named .gz; now it is gzip, and the
    `next:` command (whose readers take plain text and advise decompressing) decompresses it first:
    pasted as is, it works."""
    import shlex
    import shutil
    import subprocess

    monkeypatch.chdir(tmp_path)
    rec = _recipe(tmp_path, f'regions = "{FIX / "regions_som_small.csv"}"\nfreq = "M"\n'
                            '[[sources]]\nname = "PRMN"\nformat = "tidy"\npath = "obs_in.csv"\n')
    (tmp_path / "obs_in.csv").write_text("date,region,series,value\n" + "".join(
        f"2021-{m:02d}-01,{r},displaced,{10 * m + k}\n" for m in range(1, 13) for k, r in enumerate(["SO22", "SO19"])))
    assert main(["panel", str(rec), "--out", name]) == 0
    err = capsys.readouterr().err
    assert pd.read_csv(tmp_path / name)["series"].eq("displaced").all()  # pandas infers from the name
    assert f"wrote {name} (" in err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("next: ")]
    undo, _, command = line.removeprefix("next: ").partition(" && ")
    assert shlex.split(undo)[-2:] == [">", "obs.csv"], line
    assert main(["validate", name]) == 2 and " it first (" in capsys.readouterr().err  # the advice
    if shutil.which(shlex.split(undo)[0]) is None:
        pytest.skip(f"{shlex.split(undo)[0]} is not installed")
    subprocess.run(undo, shell=True, check=True, cwd=tmp_path)
    words = shlex.split(command)
    words[words.index("DIR")] = "f"
    assert words[2] == "obs.csv"
    assert main([*words[1:], "--model", "historic-average", "--horizon", "2", "--draws", "40", "--no-plots"]) == 0


@pytest.mark.parametrize("out, existing, copy", [
    ("regions.zip", {}, "regions_panel.csv"),  # the region table the panel was built with
    ("obs_in.csv.gz", {}, "obs_in_panel.csv"),  # its source (`--out <data>/previous_regions_2022.csv.gz`)
    ("notes.zip", {"notes.csv": "my notes\n"}, "notes_panel.csv"),  # a file of the user's, no input
    ("notes.zip", {"notes.csv": "my notes\n", "notes_panel.csv": "more\n"}, "notes_panel_2.csv"),
    ("obs.zip", {"obs.csv": "date,region,series,value\n"}, "obs.csv"),  # an earlier panel output: replaced
])
def test_the_next_command_never_decompresses_over_an_input_or_a_file_of_the_users(tmp_path, capsys, monkeypatch,
                                                                                   out, existing, copy):
    """`panel --out regions.zip` printed `unzip -p regions.zip > regions.csv && ...`: pasted, it
    wrote the panel over the region table it was built from (so too a source, or any file of that
    name). The copy is now the plain name only when that is free or an earlier panel output, else
    `<stem>_panel.csv` (numbered when taken); pasted, nothing of the user's changes."""
    import shlex
    import subprocess

    monkeypatch.chdir(tmp_path)
    (tmp_path / "regions.csv").write_bytes((FIX / "regions_som_small.csv").read_bytes())
    (tmp_path / "obs_in.csv").write_text("date,region,series,value\n" + "".join(
        f"2021-{m:02d}-01,{r},displaced,{10 * m + k}\n" for m in range(1, 13) for k, r in enumerate(["SO22", "SO19"])))
    for name, text in existing.items():
        (tmp_path / name).write_text(text)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["panel", "--displacement", "obs_in.csv", "--regions", "regions.csv", "--freq", "M",
                 "--out", out]) == 0
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("next: ")]
    undo, _, command = line.removeprefix("next: ").partition(" && ")
    assert shlex.split(undo)[-2:] == [">", copy] and shlex.split(command)[2] == copy, line
    subprocess.run(undo, shell=True, check=True, cwd=tmp_path)
    assert pd.read_csv(tmp_path / copy)["series"].eq("displaced").all()
    for name, data in before.items():
        if name != copy:  # only an earlier panel output is replaced
            assert (tmp_path / name).read_bytes() == data, name


@pytest.mark.parametrize("where", ["in_a_file", "unwritable"])
def test_an_out_that_cannot_be_written_is_refused_before_any_source_is_read(tmp_path, capsys, monkeypatch, where):
    """`--out som.csv/x.zip` (som.csv a file) said 'som.csv: File exists', `--out /proc/x.csv.gz`
    '/proc/.x.csv.gz.75c2w4hq.tmp: No such file or directory' (a temporary name), both after every
    source was read; now one line naming --out and the problem, before any source is read."""
    import displacement_forecast._cli.panel_command as pc

    monkeypatch.setattr(pc, "build_panel", lambda *a, **k: pytest.fail("a source was read"))
    (som := tmp_path / "som.csv").write_text("x\n")
    if where == "in_a_file":
        out, folder, said = som / "a" / "x.zip", som, "is a file, so the output cannot be made inside it; expected --out in a folder"
    else:
        if not Path("/proc").is_dir():
            pytest.skip("no /proc")
        out = folder = Path("/proc/x.csv.gz")
        said = "cannot write here (no file can be made in /proc); expected the output in a folder you can write to"
    assert main(["panel", *QUICK, "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert cap.err.splitlines() == [f"error: {folder}: option --out: {said}"] and cap.out == ""
    assert som.read_text() == "x\n"


def test_a_zst_panel_without_zstandard_is_refused_before_any_source_is_read(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert main(["panel", *QUICK, "--out", str(tmp_path / "obs.csv.zst")]) == 2
    cap = capsys.readouterr()
    (line,) = cap.err.splitlines()
    assert line.startswith(f"error: {tmp_path / 'obs.csv.zst'}: ") and "zstandard" in line and cap.out == ""
    assert list(tmp_path.iterdir()) == []


def test_recipe_panel_writes_atomically_and_reports(tmp_path, capsys):
    p = _recipe(tmp_path, BASE + 'complete_periods = true\n[[sources]]\nname = "ACLED"\nformat = "acled"\npath = "acled_small.csv"\n')
    out = tmp_path / "obs.csv"
    assert main(["panel", str(p), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ACLED" in printed and "events" in printed and "fatalities" in printed
    obs = pd.read_csv(out)
    assert list(obs.columns) == ["date", "region", "series", "value", "source"]
    assert sorted(obs["date"].unique()) == ["2022-01-01"]  # the partial December 2021 dropped
    assert main(["validate", str(out), "--regions", str(FIX / "regions_som_small.csv")]) == 0


def test_quick_flags(tmp_path, capsys):
    out = tmp_path / "obs.csv"
    assert main(["panel", "--events", str(FIX / "acled_small.csv"), "--events-format", "acled", "--freq", "W",
                 "--regions", str(FIX / "regions_som_small.csv"), "--out", str(out)]) == 0
    obs = pd.read_csv(out)
    assert set(obs["series"]) == {"events", "fatalities", "strikes", "shelling"}
    assert "next: " not in capsys.readouterr().err  # no displaced series: no forecast command to suggest
    assert main(["panel", "--events", str(FIX / "acled_small.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--regions" in err and "--freq" in err
    assert main(["panel", str(tmp_path), "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES.glob("*.toml")))
def test_every_shipped_recipe_goes_straight_into_forecast(real, tmp_path, capsys, recipe):
    """panel RECIPE --out x.csv, then forecast x.csv: every shipped recipe names its forecast target
    `displaced` (syria's and ukraine's used to write `arrivals` / `refugees`, which forecast refused)."""
    rec = load_recipe(RECIPES / f"{recipe}.toml")
    obs = tmp_path / "obs.csv"
    assert main(["panel", str(RECIPES / f"{recipe}.toml"), "--out", str(obs)]) == 0
    err = capsys.readouterr().err
    assert "holds no 'displaced' series" not in err
    panel = pd.read_csv(obs)
    assert panel["series"].eq("displaced").any()
    renamed = panel.loc[panel["series"] == "displaced", "source"].str.contains("read as 'displaced'")
    assert renamed.all() or not renamed.any()  # a target read under another name says so on every row
    decimals = ["--decimals"] if "--decimals" in err else []  # the panel says when its source splits estimates
    rc = main(["forecast", str(obs), "--regions", str(rec.regions), "--model", "historic-average", "--horizon", "2",
               "--draws", "40", "--no-plots", "--out", str(tmp_path / "f"), *decimals])
    out, err = capsys.readouterr()
    assert rc == 0, err
    fc = pd.read_csv(tmp_path / "f" / "forecast.csv")
    assert set(fc["horizon"]) == {1, 2} and fc["value"].notna().all()


def test_missing_periods_are_counted_on_the_grid(real, tmp_path):
    """Ukraine: UNHCR has 78 daily rows over the 79 days 2022-02-24 .. 2022-05-13 (2022-04-19 absent):
    missing 1, not 0 (a period with no row is missing too). Read without the cumulative column (the
    shipped config spreads the 20 April count, which covers 19 April, over both days)."""
    config = tmp_path / "ukr.toml"
    config.write_text((ROOT / "data" / "configs" / "ukr_unhcr_refugees_daily.toml").read_text()
                      .replace('after_gap = "spread"', "").replace('cumulative = "cumulative_individuals"', ""))
    recipe = tmp_path / "ukraine.toml"
    recipe.write_text((RECIPES / "ukraine.toml").read_text()
                      .replace('regions = "../ukraine/regions.csv"', f'regions = "{ROOT / "data" / "ukraine" / "regions.csv"}"')
                      .replace('data = "../../../shared/data/real"', f'data = "{real}"')
                      .replace('config = "../configs/ukr_unhcr_refugees_daily.toml"', f'config = "{config}"'))
    obs, _, report = build_panel(recipe)
    row = report.set_index("series").loc["displaced"]
    days = pd.date_range(row["first"], row["last"], freq="D")
    have = set(obs.loc[obs["series"] == "displaced", "date"])
    assert row["missing"] == len([d for d in days if d not in have]) == 1
    assert pd.Timestamp("2022-04-19") not in have
    assert detect_frequency(obs["date"]).label == "daily"  # the missing day is not a weekly grid
    assert (report.set_index("series").drop(index="displaced")["missing"] == 0).all()


def test_partial_period_warnings_name_only_periods_the_panel_holds(real):
    """NW Syria ends 2019-11-30: the UCDP file's partly covered 2019-12-01 is cut, so no warning."""
    import warnings

    from displacement_forecast.data.loaders.common import PartialPeriodWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obs, _, _ = build_panel(RECIPES / "nw_syria.toml")
    assert obs["date"].max() == pd.Timestamp("2019-11-01")
    assert not [w for w in caught if "partly covered" in str(w.message)], [str(w.message) for w in caught]
    w = PartialPeriodWarning("f.csv", pd.Timestamp("2018-06-03"), pd.Timestamp("2019-12-05"),
                             [pd.Timestamp("2018-06-01"), pd.Timestamp("2019-12-01")])
    kept = w.only(lambda p: p <= pd.Timestamp("2019-11-30"))
    assert kept.periods == [pd.Timestamp("2018-06-01")] and "2019-12-01" not in str(kept)
    assert w.only(lambda p: False) is None


def test_nw_syria_recipe_panel_differs_from_the_shipped_panel_as_its_readme_says(real):
    """data/nw_syria/README.md said the recipe builds 'the same panel'; it builds a near copy."""
    obs, _, _ = build_panel(RECIPES / "nw_syria.toml")
    shipped = pd.read_csv(ROOT / "data" / "nw_syria" / "panel.csv", parse_dates=["date"])
    m = obs.merge(shipped, on=["date", "region", "series"], how="outer", suffixes=("", "_shipped"), indicator=True)
    assert set(m.loc[m["_merge"] == "left_only", "series"]) == {"battles"}
    assert (m["_merge"] != "right_only").all()
    both = m[m["_merge"] == "both"]
    differ = both[~np.isclose(both["value"], both["value_shipped"], rtol=0, atol=1e-9)
                  & ~(both["value"].isna() & both["value_shipped"].isna())]
    assert set(differ["series"]) == {"events", "fatalities", "strikes", "shelling"}
    assert set(differ["region"]) == {"Idleb", "Lattakia"}
    readme = (ROOT / "data" / "nw_syria" / "README.md").read_text(encoding="utf-8")
    assert "The same panel can be built" not in readme
    assert f"{len(differ)} `events`, `fatalities`, `strikes` or\n  `shelling` values" in readme


def test_panel_prints_the_forecast_command_that_reads_it(real, tmp_path, capsys):
    """A newcomer's first forecast of a recipe panel failed twice (no regions.csv beside it, then
    non-whole counts): `panel` now ends with the command that works, which is pasted here as is."""
    import shlex

    obs = tmp_path / "obs.csv"
    assert main(["panel", str(RECIPES / "nw_syria.toml"), "--out", str(obs)]) == 0
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("next: ")]
    words = shlex.split(line.removeprefix("next: "))
    assert words[:3] == ["displacement-forecast", "forecast", str(obs)] and "--regions" in words and "--decimals" in words
    words[words.index("DIR")] = str(tmp_path / "f")
    rc = main([*words[1:], "--model", "historic-average", "--horizon", "2", "--draws", "40", "--no-plots"])
    assert rc == 0, capsys.readouterr().err


@pytest.mark.parametrize("which", ["events", "regions", "recipe"])
def test_panel_refuses_to_write_over_a_file_it_reads(tmp_path, capsys, which):
    """panel --events F --out F replaced the agency export with the panel built from it."""
    import shutil

    src, reg = tmp_path / "acled.csv", tmp_path / "regions.csv"
    shutil.copy(FIX / "acled_small.csv", src)
    shutil.copy(FIX / "regions_som_small.csv", reg)
    before = {p: p.read_bytes() for p in (src, reg)}
    if which == "recipe":
        p = _recipe(tmp_path, f'regions = "{reg}"\nfreq = "M"\n[[sources]]\nformat = "acled"\npath = "{src}"\n')
        args, out = [str(p)], p
    else:
        args, out = ["--events", str(src), "--events-format", "acled", "--freq", "W", "--regions", str(reg)], \
            {"events": src, "regions": reg}[which]
    text = out.read_bytes()
    assert main(["panel", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {out}: option --out: is one of the files this panel is built from" in err
    assert out.read_bytes() == text and all(p.read_bytes() == b for p, b in before.items())


@pytest.mark.parametrize("line, key", [('path = ["acled_small.csv"]', "path"), ("path = 5", "path"),
                                       ("path = true", "path"), ("name = 5", "name")])
def test_recipe_source_keys_of_the_wrong_type_are_one_line(tmp_path, line, key):
    """path = [...] (or a number) was an internal error: the list was joined to the data folder."""
    text = BASE + '[[sources]]\nformat = "acled"\npath = "acled_small.csv"\n'
    text = text.replace('path = "acled_small.csv"', line) if key == "path" else text + line + "\n"
    with pytest.raises(DataError) as e:
        load_recipe(_recipe(tmp_path, text))
    (prob,) = e.value.problems
    assert prob.column == key and "has the wrong type; expected text" in prob.message and prob.row



THREE = ('[[sources]]\nformat = "acled"\npath = "acled_small.csv"\n[[sources]]\nformat = "tidy"\npath = "a.csv"\n'
         '[[sources]]\nformat = "tidy"\npath = "b.csv"\n')


def test_a_data_folder_that_is_not_there_is_said_once_with_data_dir(tmp_path, capsys):
    """A clone not beside ../shared: 'source file .../shared/data/real/... not found' once per source
    (three lines) and not a word of --data-dir, the option that reads them from elsewhere."""
    from displacement_forecast.cli import main

    text = BASE.replace(f'data = "{FIX}"', 'data = "../nowhere/real"') + THREE
    p = _recipe(tmp_path, text)
    rc = main(["panel", str(p), "--out", str(tmp_path / "obs.csv")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and not (tmp_path / "obs.csv").exists()
    assert err == [f"error: {p}:3: key data: data folder {(tmp_path.parent / 'nowhere' / 'real').resolve()} not found "
                   "(data = '../nowhere/real' in the recipe, relative to its folder), so none of the 3 source files "
                   "can be read; give the folder that holds them with --data-dir DIR"], err
    rc = main(["panel", str(p), "--out", str(tmp_path / "obs.csv"), "--data-dir", str(tmp_path / "absent")])
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and line == (f"error: command line: option --data-dir: folder {tmp_path / 'absent'} not found; "
                                "expected the folder the recipe's source paths are relative to")
    # one source: the file cannot be read (the message had said "so the source file can be read")
    one = _recipe(tmp_path, BASE.replace(f'data = "{FIX}"', 'data = "../nowhere/real"')
                  + '[[sources]]\nformat = "tidy"\npath = "a.csv"\n')
    assert main(["panel", str(one), "--out", str(tmp_path / "obs.csv")]) == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert line.endswith("relative to its folder), so the source file cannot be read; give the folder that holds "
                         "them with --data-dir DIR"), line
    # a file given as the folder was 'folder ... not found', though it is there
    (tmp_path / "som.csv").write_text("x\n")
    rc = main(["panel", str(p), "--out", str(tmp_path / "obs.csv"), "--data-dir", str(tmp_path / "som.csv")])
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and line == (f"error: command line: option --data-dir: {tmp_path / 'som.csv'} is a file, not a "
                                "folder; expected the folder the recipe's source paths are relative to")
    assert not (tmp_path / "obs.csv").exists()


def test_a_data_folder_holding_none_of_the_sources_is_said_once(tmp_path):
    """Every source missing from a folder that is there: the wrong folder, one line (one per file
    when only some are missing)."""
    (tmp_path / "empty").mkdir()
    p = _recipe(tmp_path, BASE.replace(f'data = "{FIX}"', 'data = "empty"') + THREE)
    with pytest.raises(DataError) as e:
        load_recipe(p)
    (prob,) = e.value.problems
    assert prob.column == "data" and prob.row == 3 and prob.message == (
        f"none of the 3 source files is in data folder {tmp_path / 'empty'} (the first, acled_small.csv, at {p}:6); "
        "give the folder that holds them with --data-dir DIR")
    with pytest.raises(DataError) as e:  # two of three missing: each named
        load_recipe(_recipe(tmp_path, BASE + THREE))
    assert [pr.column for pr in e.value.problems] == ["path", "path"]
    assert all("source file" in pr.message and "not found" in pr.message for pr in e.value.problems)


def test_daily_counts_in_a_weekly_panel_are_summed_by_whole_weeks(tmp_path, capsys):
    """Trial 19 item 6: `panel --displacement <daily table> --freq W` was refused ("are daily but --freq
    W asks for week periods") while events were summed into weeks. Daily counts are now summed into
    whole weeks, with a note; edge weeks covered in part are left out, a week lacking a day is
    missing, never summed in part. The no-displaced note gives the quick flag, not a recipe key."""
    (tmp_path / "regions.csv").write_text("code,name,parent,population\nR1,R1 name,,1000000\n")
    days = pd.date_range("2024-01-03", "2024-02-06")  # Wed 3 Jan .. Tue 6 Feb: weeks of 1 Jan and 5 Feb in part
    table = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "people": np.arange(1, len(days) + 1)})
    table = table[table["day"] != "2024-01-17"]  # a day without a row inside the week of 15 January
    table.to_csv(tmp_path / "daily.csv", index=False)
    (tmp_path / "daily.toml").write_text('series = "refugees"\nregion = "R1"\n[columns]\ndate = "day"\nvalue = "people"\n')
    flags = ["panel", "--displacement", str(tmp_path / "daily.csv"), "--displacement-format", "mapped",
             "--displacement-config", str(tmp_path / "daily.toml"), "--freq", "W",
             "--regions", str(tmp_path / "regions.csv"), "--out", str(tmp_path / "w.csv")]
    assert main(flags) == 0
    err = capsys.readouterr().err
    (note,) = [ln for ln in err.splitlines() if "summed" in ln]
    assert note == (f"note: {tmp_path / 'daily.csv'}: daily counts summed into the panel's weeks (--freq W; 7 days "
                    "each); a week missing a day is left missing, never summed in part; 2 weeks at the edges the file "
                    "covers only in part left out (2024-01-01, 2024-02-05); 1 week kept missing (2024-01-15)")
    got = pd.read_csv(tmp_path / "w.csv").set_index("date")["value"]
    n = table.set_index("day")["people"]
    assert got.index.tolist() == ["2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29"]
    assert got["2024-01-08"] == n["2024-01-08":"2024-01-14"].sum() and np.isnan(got["2024-01-15"])
    assert got["2024-01-29"] == n["2024-01-29":"2024-02-04"].sum()
    assert err.splitlines()[-1].endswith("if refugees is the target, read it as displaced with "
                                         "--rename refugees=displaced")
    assert main([*flags, "--rename", "refugees=displaced"]) == 0
    assert set(pd.read_csv(tmp_path / "w.csv")["series"]) == {"displaced"}
    assert main([*flags, "--rename", "refugees=displace"]) == 2
    assert "error: command line: option --rename: --rename 'refugees=displace'; expected SERIES=NEW" in capsys.readouterr().err


def test_rename_of_a_series_no_file_holds_is_one_error_and_nothing_written(tmp_path, capsys):
    """``--rename foo=displaced`` with no series 'foo' was ignored: exit 0, the panel written, only
    the trailing note hinting the rename did nothing (review 19). One error naming 'foo' and the
    series the --displacement files hold; no file written."""
    (tmp_path / "regions.csv").write_text("code,name,parent,population\nR1,R1 name,,1000000\n")
    days = pd.date_range("2024-01-01", "2024-01-20")
    pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "people": np.arange(1, 21)}).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.toml").write_text('series = "refugees"\nregion = "R1"\n[columns]\ndate = "day"\nvalue = "people"\n')
    out = tmp_path / "p.csv"
    rc = main(["panel", "--displacement", str(tmp_path / "d.csv"), "--displacement-format", "mapped",
               "--displacement-config", str(tmp_path / "d.toml"), "--freq", "D", "--regions",
               str(tmp_path / "regions.csv"), "--rename", "foo=displaced", "--out", str(out)])
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and errors == ["error: command line: option --rename: --rename foo=displaced: no series 'foo' in "
                                  "the --displacement files (series: refugees)"], err
    assert not out.exists()


def test_a_panel_of_conflict_series_only_is_told_to_add_a_displacement_table(tmp_path, capsys):
    """An ACLED-only panel (events, fatalities) was told "if one of events, fatalities is the target,
    read it as displaced with --rename arrivals=displaced" (review 19): no 'arrivals' series, and
    --rename applies to --displacement files only. It is now told to add a displacement table."""
    out = tmp_path / "obs.csv"
    assert main(["panel", "--events", str(FIX / "acled_small.csv"), "--events-format", "acled",
                 "--regions", str(FIX / "regions_som_small.csv"), "--freq", "M", "--out", str(out)]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "holds no 'displaced' series" in ln]
    assert len(notes) == 1 and "--rename" not in notes[0], notes
    assert notes[0].endswith("it holds conflict series only (events, fatalities, shelling, strikes): add a "
                             "displacement table (--displacement FILE --displacement-format FORMAT)"), notes
