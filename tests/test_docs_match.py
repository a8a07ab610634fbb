"""The README and the user guide pages under docs/ say what the program does: every option, file, key
and snippet they document is checked against the program itself (a newcomer follows them literally).
README keeps the short guide; docs/forecast-files.md the files' schema and keys, docs/models.md the
models and auto's calibration, docs/accuracy.md the full "How good is it?" figures."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from displacement_forecast.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FILES = (ROOT / "docs" / "forecast-files.md").read_text(encoding="utf-8")  # for data consumers
MODELS = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
ACCURACY = (ROOT / "docs" / "accuracy.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of the same or a higher level."""
    level = len(heading.split(" ", 1)[0])
    lines = text[text.index(heading + "\n") + len(heading) + 1:].splitlines()
    fenced, out = False, []
    for ln in lines:
        fenced ^= ln.startswith("```")
        if not fenced and re.match(rf"#{{1,{level}}} ", ln):
            break
        out.append(ln)
    return "\n".join(out)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_line_option_is_in_the_readme_commands_section():
    commands = section(README, "## Commands")
    missing = {name: [o for a in sp._actions for o in a.option_strings
                      if o.startswith("--") and o != "--help" and f"`{o}" not in commands and f" {o}" not in commands]
               for name, sp in subcommands().items()}
    assert not {k: v for k, v in missing.items() if v}, "options in --help that README's Commands section does not name"


def _names_option(text: str, option: str) -> bool:
    return re.search(rf"`{re.escape(option)}\b|[ \[]{re.escape(option)}\b", text) is not None


def test_each_command_documents_its_own_options_in_the_readme_row_and_in_commands_md():
    """Trial 19 item 16: `backtest` needs `--regions` (or regions.csv beside DATA) but neither its README
    row nor its docs/commands.md section named it (the test above looks at the whole Commands section,
    where other commands' rows name it). Every option of a command's parser is in its own row(s) of
    the README's Commands table and in its own section of docs/commands.md."""
    readme = section(README, "## Commands").splitlines()
    commands_md = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    missing = {}
    for name, sp in subcommands().items():
        options = [o for a in sp._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
        row = "\n".join(ln for ln in readme if ln.startswith(f"| `displacement-forecast {name}"))
        own = section(commands_md, f"## `{name}`")
        for where, text in (("README", row), ("docs/commands.md", own)):
            lacking = [o for o in options if not _names_option(text, o)]
            if lacking:
                missing[f"{name} ({where})"] = lacking
    assert not missing, f"options a command's own documentation does not name: {missing}"


def test_the_scenario_page_lists_every_key_the_scenario_reader_accepts():
    """Trial 19 item 16: docs/scenarios.md documented `weeks` / `periods` but not `months`, nor the list
    form of `series`; every key of a scenario and of a change, and every series a change may name."""
    from displacement_forecast.data.schema import DRIVER_SERIES
    from displacement_forecast.scenarios import _CHANGE_KEYS, _DURATION_KEYS, _SCENARIO_KEYS

    page = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    for key in sorted({*_SCENARIO_KEYS, *_CHANGE_KEYS, *_DURATION_KEYS, *DRIVER_SERIES}):
        assert f"`{key}`" in page, key
    assert '`"strikes"` or `["strikes", "flights"]`' in page  # a string or a list
    assert "months = 3" in page


def test_fit_and_forecast_share_their_default_model_and_say_so():
    """`fit` defaulted to bayes-hierarchical, which failed its gate at every Somalia origin, while
    `forecast` defaults to auto: `fit` then `forecast --model-dir` gave another model than `forecast`."""
    (fit,) = [a for a in subcommands()["fit"]._actions if "--model" in a.option_strings]
    (fc,) = [a for a in subcommands()["forecast"]._actions if "--model" in a.option_strings]
    assert fit.default == fc.default == "auto" and fit.default in fit.help
    assert "Without `--model` it fits `auto`" in section(README, "## Commands")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A forecast folder and a hub, written by the command line from the shipped synthetic data."""
    from displacement_forecast.cli import main

    d = tmp_path_factory.mktemp("run")
    data = ROOT / "data" / "synthetic_nw_syria"
    rc = main(["forecast", str(data / "observations.csv"), "--model", "last-value", "--draws", "30", "--horizon", "2",
               "--no-plots", "--out", str(d / "out"), "--hub", str(d / "hub")])
    assert rc == 0
    return d


def test_the_readme_python_line_opens_the_hub(run_dir, monkeypatch):
    hubdata = pytest.importorskip("hubdata")
    (line,) = re.findall(r"`(hubdata\.connect_hub\(.*?\)\.get_dataset\(\))`", FILES.replace("\n", " "))
    monkeypatch.chdir(run_dir)  # the reader's hub is where they are, named as the page names it
    dataset = eval(line.replace("path/to/hub", "hub"), {"hubdata": hubdata, "Path": Path})  # noqa: S307 (our docs)
    assert dataset.to_table().num_rows > 0


def tables(text: str) -> list[list[list[str]]]:
    """Cells of the body rows of each markdown table in ``text`` (header and separator left out)."""
    found: list[list[str]] = []
    prev = False
    for ln in text.splitlines():
        row = ln.startswith("|")
        if row and not prev:
            found.append([])
        if row:
            found[-1].append(ln)
        prev = row
    return [[[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]] for rows in found]


def table_rows(text: str) -> list[list[str]]:
    """Cells of the body rows of the first markdown table in ``text``."""
    return tables(text)[0]


def keys_in_tables(text: str) -> dict[str, str]:
    """First cell (backticks stripped) -> second cell, over every table in ``text``: one key per row."""
    return {r[0].strip("`"): r[1] for rows in tables(text) for r in rows}


def test_the_data_package_profile_is_the_one_the_docs_state(run_dir):
    """Trial 19 item 16: forecast-files.md implied CSV runs are a `tabular-data-package`; every run lists
    its JSON sidecar, so by the Frictionless rule (every resource tabular) it is a plain `data-package`."""
    import json

    pkg = json.loads((run_dir / "out" / "datapackage.json").read_text())
    assert pkg["profile"] == "data-package"
    assert {r["path"]: r["profile"] for r in pkg["resources"]}["forecast.json"] == "data-resource"
    assert {r["path"]: r["profile"] for r in pkg["resources"]}["forecast.csv"] == "tabular-data-resource"
    assert 'CSV or parquet, has `"profile": "data-package"`' in FILES


@pytest.fixture(params=["command line", "python"])
def sidecar(request, run_dir):
    """The sidecar of a command-line run, and of a run made in Python as the README shows."""
    import json

    if request.param == "command line":
        return json.loads((run_dir / "out" / "forecast.json").read_text())
    from displacement_forecast.data import load_regions, read_observations
    from displacement_forecast.forecast.run import run_forecast, write_run

    regions = load_regions(ROOT / "data" / "synthetic_nw_syria" / "regions.csv")
    obs = read_observations(ROOT / "data" / "synthetic_nw_syria" / "observations.csv", region_codes=regions.codes)
    run = run_forecast(obs, regions, model="last-value", horizon=2, n_draws=30, seed=1)
    write_run(run, run_dir / "python", plots=False)
    return json.loads((run_dir / "python" / "forecast.json").read_text())


def test_the_sidecar_keys_are_those_the_docs_list(sidecar):
    rows = {r[0].strip("`"): r[1] for r in table_rows(section(FILES, "## Keys of `forecast.json`"))}
    optional = {k for k, v in rows.items() if v.startswith("optional")}
    assert set(sidecar) <= set(rows), f"keys written but not documented: {set(sidecar) - set(rows)}"
    assert set(rows) - set(sidecar) <= optional, f"keys documented but not written: {set(rows) - set(sidecar) - optional}"
    for key in ("software", "model", "data", "forecast", "marks"):
        assert all(f"`{sub}`" in rows[key] for sub in sidecar[key]), (key, sidecar[key].keys())


def test_the_observation_table_lists_every_series_the_validator_accepts():
    """`battles` (accepted, written by data/recipes/nw_syria.toml) was missing from the list."""
    from displacement_forecast.data.schema import KNOWN_SERIES

    rows = {r[0].strip("`"): r[1] for r in table_rows(section(README, "## Observations: the one input format"))}
    assert re.findall(r"`(\w+)`", rows["series"]) == list(KNOWN_SERIES)


def test_the_csv_schema_table_is_the_file(run_dir):
    import pandas as pd

    rows = table_rows(section(FILES, "## Schema of `forecast.csv`"))
    documented = [r[0].strip("`") for r in rows]
    fc = pd.read_csv(run_dir / "out" / "forecast.csv", dtype={"output_type_id": str})
    assert documented == [*fc.columns, "mark"]  # mark only in a marked run
    assert set(fc["output_type"]) == set(re.findall(r"`(\w+)`", dict((r[0].strip("`"), r[1]) for r in rows)["output_type"]))
    n_levels = fc.loc[fc["output_type"] == "quantile", "output_type_id"].nunique()
    assert f"{n_levels} levels" in dict((r[0].strip("`"), r[2]) for r in rows)["output_type_id"]


def test_what_the_texts_say_of_the_default_model_on_the_nw_syria_panel_is_true():
    """Notebook 04 and the retrospective said the default model needs flight counts, which the NW
    Syria panel lacks; the default (`auto`) uses every conflict series a panel has."""
    import numpy as np
    import pandas as pd

    from displacement_forecast.models.driver_choice import available_drivers

    (forecast,) = [a for a in subcommands()["forecast"]._actions if "--model" in a.option_strings]
    assert forecast.default == "auto"
    obs = pd.read_csv(ROOT / "data" / "nw_syria" / "panel.csv")
    series = {s: np.asarray(g["value"], float) for s, g in obs.groupby("series")}
    assert available_drivers(series) and "flights" not in series
    texts = [*(ROOT / "notebooks").glob("*.py"), *(ROOT / "experiments").glob("*.py"), *(ROOT / "docs").glob("*.md"),
             ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    wrong = [(p.name, m.group(0)) for p in texts
             for m in re.finditer(r"default model[^.]{0,60}(flights|flight counts)", p.read_text(encoding="utf-8"))]
    assert not wrong


def test_forecast_help_and_the_quick_start_name_every_file_a_run_writes(run_dir):
    import displacement_forecast.plot.writer as writer

    written = {p.name for p in (run_dir / "out").iterdir()}
    charts = set(re.findall(r"``(\w+(?:_<scenario>)?\.png)``", writer.__doc__))
    assert {"fan_<scenario>.png", "cumulative_<scenario>.png", "exceedance.png"} <= charts
    description = subcommands()["forecast"].description
    (quick,) = [ln for ln in section(README, "## Quick start").splitlines() if ln.startswith("# -> ")]
    for text in (description, quick):
        assert all(name in text for name in written | charts), (text, written | charts)


def test_the_hub_validates_against_its_own_config(run_dir):
    """export-hub's files against the schemas it writes: model metadata against
    hub-config/model-metadata-schema.json; every model-output row against its round in tasks.json."""
    import json

    import pandas as pd

    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")
    hub = run_dir / "hub"
    schema = json.loads((hub / "hub-config" / "model-metadata-schema.json").read_text())
    (meta,) = (hub / "model-metadata").glob("*.yml")
    jsonschema.validate(yaml.safe_load(meta.read_text()), schema)
    tasks = json.loads((hub / "hub-config" / "tasks.json").read_text())
    (out,) = (hub / "model-output").glob("*/*.csv")
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    (rnd,) = [r for r in tasks["rounds"] if r["round_name"] == out.name[:10]]
    (task,) = rnd["model_tasks"]
    for col, spec in task["task_ids"].items():
        allowed = {str(v) for v in (spec["required"] or []) + (spec["optional"] or [])}
        assert set(rows[col]) <= allowed, col
    assert set(rows["output_type"]) == set(task["output_type"])
    for kind, spec in task["output_type"].items():
        sub = rows[rows["output_type"] == kind]
        required = spec["output_type_id"]["required"]
        if required is None:
            assert (sub["output_type_id"] == "").all(), kind
        else:
            assert {float(x) for x in sub["output_type_id"]} == {float(x) for x in required}, kind
        values = sub["value"].astype(float)
        assert values.ge(spec["value"].get("minimum", -float("inf"))).all()
        assert values.le(spec["value"].get("maximum", float("inf"))).all()


def test_the_docs_name_the_sidecar_keys_of_autos_tail_calibration():
    """The README said the sidecar holds 'the backtest's rates below the 10% / 2.5% quantiles
    before and after' the lower factor without naming where: they are under
    `diagnostics.auto.backtest_coverage`, and that is empty (factor 1) on a mostly-zero file.
    docs/forecast-files.md lists them, one key per row, in the tables of "Keys of `diagnostics`"."""
    import numpy as np

    from displacement_forecast.models.ensemble import (
        _far_tail_lift,
        _lower_factor,
        _upper_tail_factor,
    )

    rng = np.random.default_rng(0)
    pooled = rng.poisson(50.0, (200, 60)).astype(float)
    y = rng.poisson(50.0, 60).astype(float)
    rates = {**_lower_factor(pooled, y)[1], **_upper_tail_factor(pooled, y)[1], **_far_tail_lift(pooled, y)[1]}
    assert len(rates) == 10, "a panel with positive quantiles gets rates on both sides"
    assert _lower_factor(np.zeros((200, 60)), np.zeros(60))[1] == {}
    assert _upper_tail_factor(np.zeros((200, 60)), np.zeros(60))[1] == {}
    diag = section(FILES, "### Keys of `diagnostics`")
    rows = keys_in_tables(diag)
    assert all(k in rows for k in ("lower_spread_factor", "upper_tail_factor", "far_tail_lift",
                                   "backtest_coverage")), sorted(rows)
    coverage = section(diag, "#### `backtest_coverage` (under `auto`)")
    assert all(k in keys_in_tables(coverage) for k in rates), (sorted(rates), coverage)
    assert "empty" in coverage, "the page says when the rates are missing"


def test_the_docs_say_how_to_keep_nbdls_lags():
    """The README said nb-dl's lags are cut to what the data identify but not how an analyst gets
    them back; then it said the command line had no lag option. Now `--lags N` exists on forecast,
    fit and backtest: the nb-dl row of docs/models.md names it and the Python call (which keeps the
    lags asked for), the README's nb-dl row names the option, and each command's row of the README
    names the option and, for forecast, every model that takes it."""
    from displacement_forecast._cli.drivers_arg import LAG_MODELS
    from displacement_forecast.models import get_model

    row = next(r for r in table_rows(section(MODELS, "## The models")) if r[0].strip("`") == "nb-dl")
    m = re.search(r'`(get_model\("nb-dl", n_lags=(\d+)\))`', row[1])
    assert m, row[1]
    assert get_model("nb-dl", n_lags=int(m.group(2))).n_lags == int(m.group(2))
    assert "`--lags N`" in row[1] and all(f"`{c}`" in row[1] for c in ("forecast", "fit", "backtest")), row[1]
    short = next(r for r in table_rows(section(README, "## Models")) if r[0].strip("`") == "nb-dl")
    assert "`--lags N`" in " ".join(short), short
    lines = section(README, "## Commands").splitlines()
    for name in ("forecast", "fit", "backtest"):
        assert "--lags" in {o for a in subcommands()[name]._actions for o in a.option_strings}, name
        (line,) = [ln for ln in lines if ln.startswith(f"| `displacement-forecast {name} ") and "`--lags N`" in ln]
        if name == "forecast":
            assert all(f"`{m}`" in line.split("`--lags N`")[1] for m in LAG_MODELS), line


def test_the_models_table_is_one_table():
    """A paragraph sat between the `climatology` and `nb-dl` rows of the models table, so markdown
    ended the table there and showed nb-dl, sarimax, arima, the Bayesian models and the peers as
    loose text with pipes."""
    for text in (section(README, "## Models"), section(MODELS, "## The models")):
        lines = text.splitlines()
        rows = [i for i, ln in enumerate(lines) if ln.startswith("|")]
        assert rows == list(range(rows[0], rows[-1] + 1)), [ln for ln in lines[rows[0]:rows[-1]] if not ln.startswith("|")]


def test_the_docs_explain_every_diagnostics_key_of_auto_and_last_value():
    """`fit --model last-value` printed `median_alpha_h1`, `alpha_h1_range`, `alpha_common_h1`,
    `tau_log_alpha_h1`, `alpha_pooled_h1`, `median_alpha_h23` and the sidecar of `auto` held
    `spread_factor` and `last-value.*` keys that the README's table of `forecast.json` did not
    name: every key of an `auto` fit's block, and every key of last-value's (its last horizon
    written `hH`), is a row of the tables of "Keys of `diagnostics`" (docs/forecast-files.md),
    which names the `<member>.<key>` form."""
    import numpy as np
    import pandas as pd

    from displacement_forecast.data.regions import regions_from_frame
    from displacement_forecast.models import get_model
    from displacement_forecast.models.base import Panel

    rng = np.random.default_rng(1)
    codes = [f"R{i}" for i in range(6)]
    regions = regions_from_frame(pd.DataFrame({"code": codes, "name": codes, "parent": "A", "population": 1e10}))
    y = np.round(np.expm1(6 + np.cumsum(rng.normal(0, 0.4, (6, 30)), axis=1)))
    panel = Panel(pd.date_range("2020-01-01", periods=30, freq="MS"), regions, "M", {"displaced": y})
    d = get_model("auto").fit(panel).info_.diagnostics
    diag = section(FILES, "### Keys of `diagnostics`")
    assert "`<member>.<key>`" in diag, diag
    auto_rows = keys_in_tables(section(diag, "#### `auto`"))
    missing = [k for k in d["auto"] if k not in auto_rows]
    lv = get_model("last-value").fit(panel).info_.diagnostics
    lv_rows = keys_in_tables(section(diag, "#### `last-value`"))
    missing += [k for k in (re.sub(r"_h(\d+)$", lambda m: "_h1" if m.group(1) == "1" else "_hH", k) for k in lv)
                if k not in lv_rows]
    assert not missing, f"diagnostics keys the docs do not give a row: {missing}"


@pytest.mark.slow
def test_the_quick_starts_figures_for_auto_are_what_it_gives():
    """The README said auto's baseline P(more than 250,000) within 12 weeks on the quick start's
    synthetic data is 70%; since auto stretches its far upper tail it prints the figure the README
    names. The figure and the weights it names are measured here, as the
    quick start runs them (default seed 0, 1,000 paths). ~45 s."""
    from displacement_forecast.data import load_regions, read_observations
    from displacement_forecast.forecast.run import run_forecast

    text = section(README, "## Quick start").replace("\n", " ")
    named, pct = re.search(r"its weights go to (.+?) and its\s+baseline P\(more than 250,000\) within 12 weeks is "
                           r"(\d+)%", text).groups()
    weights = {m: float(w) for m, w in re.findall(r"([\w-]+) \((\d\.\d+)\)", named)}
    regions = load_regions(ROOT / "data" / "synthetic_nw_syria" / "regions.csv")
    obs = read_observations(ROOT / "data" / "synthetic_nw_syria" / "observations.csv", region_codes=regions.codes)
    run = run_forecast(obs, regions, model="auto", horizon=12, seed=0)
    assert weights and run.model.info_.diagnostics["auto"]["weights"] == weights
    assert round(100 * run.prob_exceed(250_000, within=12)["baseline"]) == int(pct)
    # the far tail's lift: Atareb's weekly 97.5% quantile at 4 weeks and 12-week 90% quantile, as
    # docs/models.md gives them (its population, 290,016, with the factor the lift replaced)
    how = section(MODELS, "### The far tail's lift").replace("\n", " ")
    lift, wk, cum = re.search(r"with the lift \(([\d.]+)\), ([\d,]+) and ([\d,]+)\.", how).groups()
    f = run.frame
    q = f[(f["region"] == "NWS12") & (f["output_type"] == "quantile") & (f["scenario"] == "baseline")]
    level = q["output_type_id"].astype(float)
    week4 = q[(q["target"] == "new_displaced") & (level == 0.975) & (q["horizon"] == 4)]["value"].item()
    total12 = q[(q["target"] == "cum_new_displaced") & (level == 0.9) & (q["horizon"] == 12)]["value"].item()
    assert run.model.info_.diagnostics["auto"]["far_tail_lift"] == float(lift)
    assert (round(week4), round(total12)) == (int(wk.replace(",", "")), int(cum.replace(",", "")))
    assert total12 < 0.5 * regions.population[list(regions.codes).index("NWS12")]


def test_fit_points_to_where_its_diagnostics_are_explained(tmp_path, capsys):
    """`fit --model last-value` printed `median_alpha_h1: 4.0198 ... tau_log_alpha_h1: 1.2169`
    with nothing saying what they are: it now names the page and section (which exist and
    explain them: docs/forecast-files.md since the README became a short guide) and the file
    they are saved in."""
    from displacement_forecast.cli import main

    data = ROOT / "data" / "synthetic_nw_syria" / "observations.csv"
    assert main(["fit", str(data), "--model", "last-value", "--out", str(tmp_path / "fit")]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "what each key means" in ln]
    page, title = re.search(r"(docs/[\w-]+\.md), '(Keys of diagnostics)'", line).groups()
    text = (ROOT / page).read_text(encoding="utf-8")
    (heading,) = re.findall(r"^#+ Keys of `diagnostics`$", text, re.M)
    assert "median_alpha_h1" in keys_in_tables(section(text, heading))
    assert str(tmp_path / "fit" / "diagnostics.json") in line


@pytest.mark.slow
def test_the_nw_syria_hindcasts_figures_are_what_the_command_prints(tmp_path, capsys):
    """README's real NW Syria hindcast (as of 1 December 2019) names the probabilities the
    default model prints for its three scenarios; they move with the model (14 / 46 / 74%, then
    16 / 45 / 75% with the dependence factor on both sides, 14 / 46 / 74% again with it on the
    upper side only, 23 / 44 / 79% once 30% of the strike paths hold the current intensity, 23 / 52 / 91%
    once nb-dl's negative shelling effect hands its scenario response to the ratio, 23 / 50 / 81% with
    the response model's ratio taken without depletion, 26 / 50 / 79% with the persistence in time,
    32 / 55 / 84% with the region table reading the arrivals as movements, 32 / 55 / 83% with the held
    strike paths at the current regime's level)
    and must move with the README. ~15 s."""
    from displacement_forecast.cli import main

    text = section(README, "## Quick start").replace("\n", " ")
    want = re.search(r"prints P\(more than 250,000\) of (\d+)% / (\d+)% / (\d+)% for", text).groups()
    d = ROOT / "data" / "nw_syria"
    assert main(["forecast", str(d / "panel.csv"), "--regions", str(d / "regions.csv"), "--origin", "2019-11-01",
                 "--horizon", "3", "--scenarios", str(ROOT / "experiments" / "scenarios" / "nw_syria_2019.toml"),
                 "--thresholds", "250000,500000", "--no-plots", "--out", str(tmp_path / "out")]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("P(more than 250,000"))
    got = re.search(r"baseline (\d+)%, offensive-continues (\d+)%, intensify (\d+)%", line).groups()
    assert got == want, (line, want)


@pytest.mark.slow
def test_the_somalia_total_bands_the_readme_names_are_what_auto_gives():
    """docs/models.md says how the chosen dependence moves the all-region total's band on the Somalia
    recipe's panel (origin December 2023): the strength, the 90% and 10% quantiles of the January
    total against `dependence=0`, and the quietest month, which the 10% quantile fell below with
    the persistence in time (it stayed above it before; with the factor on both sides it fell to
    24,700). Measured as the README's command runs them (seed 0, 1,000 paths). ~25 s."""
    import numpy as np

    from displacement_forecast.data.recipe import build_panel
    from displacement_forecast.models import get_model

    if not (ROOT.parent / "shared" / "data" / "real").exists():
        pytest.skip("real data folder ../shared/data/real is absent")
    text = section(MODELS, "### Dependence between regions").replace("\n", " ")
    said = re.search(r"strength (\d) chosen\) the all-region January total has a 90% quantile of ([\d,]+) people "
                     r"against ([\d,]+) with `dependence=0`, and a 10% quantile of ([\d,]+) \(([\d,]+)\), below "
                     r"the quietest of the 24 months observed \(([\d,]+)\)", text)
    assert said, "docs/models.md's Somalia band sentence not found"
    strength, hi_chosen, hi_zero, lo_chosen, lo_zero, quietest = (float(x.replace(",", "")) for x in said.groups())
    obs, regions, _ = build_panel(ROOT / "data" / "recipes" / "somalia.toml")
    monthly = obs[obs["series"] == "displaced"].groupby("date")["value"].sum()
    assert len(monthly) == 24 and monthly.min() == quietest
    got = {}
    for dep in (None, 0.0):
        m = get_model("auto", **({} if dep is None else {"dependence": dep})).fit(obs, regions)
        if dep is None:
            assert m.info_.diagnostics["auto"]["dependence"] == strength
        tot = np.asarray(m.sample_paths(3, n_draws=1000, seed=0).sum("region"))[:, 0]
        got[dep] = tuple(round(float(np.quantile(tot, q)), -2) for q in (0.9, 0.1))
    assert (got[None], got[0.0]) == ((hi_chosen, lo_chosen), (hi_zero, lo_zero)), got
    assert lo_chosen < quietest


def test_the_demos_coverage_interval_in_the_readme_is_the_shipped_backtests():
    """README's `make demo` line quotes the shipped synthetic backtest's all-region 80% coverage
    and its interval (experiments/results/backtest_synthetic/backtest.json, regenerated by
    experiments/backtest_synthetic.py): they must move together."""
    import json

    text = README.replace("\n  ", " ")
    got = re.search(r"its total's 80% band covered (\d+)% \((\d+)-(\d+)%\) at (\d+) origins", text).groups()
    cov = json.loads((ROOT / "experiments" / "results" / "backtest_synthetic" / "backtest.json").read_text())
    nb = cov["coverage_total"]["nb-dl"]
    lo, hi = nb["interval_90"]["80%"]
    want = (f"{nb['nominal_vs_observed']['80%']:.0%}", f"{lo:.0%}", f"{hi:.0%}", str(nb["interval_origins"]))
    assert tuple(g + "%" if i < 3 else g for i, g in enumerate(got)) == want, (got, want)


def test_the_truth_forecaster_figures_are_the_reports():
    """The figures docs/accuracy.md ("All-region totals") gives for the simulator's own process and
    auto's onset-free coverage are those of experiments/results/synthetic_truth_forecaster.md and
    auto_synthetic_check.md."""
    doc = (ROOT / "experiments" / "results" / "synthetic_truth_forecaster.md").read_text(encoding="utf-8")
    text = " ".join(section(ACCURACY, "## All-region totals").split())

    def pooled(f: str) -> str:
        rates = [re.search(rf"^\| {f} \| {h} \| [\d.]+% \| ([\d.]+)% \|", doc, re.M).group(1) for h in range(1, 5)]
        return " / ".join(f"{float(r):.0f}" for r in rates) + "%"

    verdict = dict(re.findall(r"^\| (known ends|unknown ends|auto) \| (\d+) \| \d+ \|$", doc, re.M))
    skill = dict(re.findall(r"^\| (known ends|unknown ends|auto) \| \d+ \| (\d+) \|$", doc, re.M))
    assert f"it covers the total {pooled('unknown ends')} and beats last-value at every horizon on " \
           f"{skill['unknown ends']} of the 16 histories" in text
    assert f"within 72-88% at every horizon on {verdict['unknown ends']} of them (`auto`: {skill['auto']} and " \
           f"{verdict['auto']})" in text
    assert f"it covers {pooled('known ends')} and is within 72-88% on {verdict['known ends']}" in text
    auto = (ROOT / "experiments" / "results" / "auto_synthetic_check.md").read_text(encoding="utf-8")
    onset_free = re.findall(r"\d+", re.search(r"4 of each history's 52 origins at 1-4 weeks\): ([\d% /]+);", auto).group(1))
    assert f"`auto`'s total covers {' / '.join(onset_free)}%" in text


def test_the_readmes_python_example_prints_what_the_readme_shows(monkeypatch):
    """The README's "In Python" example ends with `run.prob_exceed(...)` and, in a comment, the dict it
    gives. No test ran it, and the comment stayed at `{'baseline': 0.557, ...}` while the snippet gave
    0.705: the snippet is run here as written (from the repository root, its paths relative) and its
    last line's value must equal the dict the README shows, parsed from the README. ~5 s."""
    import ast

    block = re.search(r"\nIn Python:\n\n```python\n(.*?)\n```", README, re.S).group(1)
    *body, last = block.splitlines()
    expr, _, shown = last.partition("#")
    want = ast.literal_eval(shown.strip())
    assert isinstance(want, dict) and want, f"the README's comment is not a dict: {shown!r}"
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    exec("\n".join(body), ns)  # noqa: S102 (our README)
    got = eval(expr, ns)  # noqa: S307 (our README)
    assert {k: round(v, 3) for k, v in got.items()} == want


@pytest.mark.slow
def test_the_example_forecast_rows_are_those_the_demo_writes(tmp_path):
    """The example rows (docs/forecast-files.md), "copied from the demo run", had the nine hub columns while the demo's
    forecast.csv has a tenth, `mark`, on every row (its backtest record marks the bands): each row
    shown, header included, must be a line of the CSV that `make demo` writes. ~25 s."""
    import os
    import subprocess
    import sys

    text = FILES[FILES.index("Example rows, copied from the demo run"):]
    block = text[text.index("```csv\n") + len("```csv\n"):]
    shown = block[:block.index("```")].strip().splitlines()
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(ROOT / "experiments" / "idlib_question.py"), "--out", str(out)],
                   check=True, capture_output=True, env=env)
    written = (out / "forecast.csv").read_text(encoding="utf-8").splitlines()
    assert shown[0] == written[0]
    assert [r for r in shown[1:] if r not in set(written)] == []


def test_the_cumulative_figures_are_the_real_world_results():
    """The coverage of Somalia's 3-month sums, with and without the persistence in time, that
    docs/models.md ("Persistence in time") gives is that of the "Cumulative counts" section of
    docs/real-world-results.md (cumulative_check.py)."""
    doc = (ROOT / "docs" / "real-world-results.md").read_text(encoding="utf-8")
    text = " ".join(section(MODELS, "### Persistence in time").split())

    def row(model: str, scope: str) -> tuple[str, str]:
        m = re.search(rf"^\| somalia \(18 regions, 3 months\) \| {re.escape(model)} \| {scope} \| \d+ \| [\d,]+ \| "
                      r"(\d+)% \| (\d+)% \|", doc, re.M)
        return m.group(1), m.group(2)

    (t80, t95), (_, r95) = row("auto, periods independent (persist=False)", "ALL"), \
        row("auto, periods independent (persist=False)", "regions")
    (p80, p95), (_, pr95) = row("auto (persistence in time, default)", "ALL"), \
        row("auto (persistence in time, default)", "regions")
    assert f"all-region total covered {t80}% at 80% and {t95}% at 95%, its regions {r95}% at 95%" in text
    assert f"with the persistence {p80}% / {p95}% and {pr95}%" in text
