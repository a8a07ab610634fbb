"""Fuzzing the command line (issue 17): generated observation CSVs, region tables and scenario
TOMLs, valid and broken, through ``forecast`` in-process.

For every generated input: no traceback and no internal error (exit 0, 2, or 3 for an unreliable
fit); the output folder, which holds an earlier complete run, is afterwards either exactly as
it was or one complete new run (every data-package hash matches). The default suite tries a few
dozen inputs per kind; the slow suite (``pytest -m slow``) at least 1,000 per kind.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import run_problems, snapshot

from displacement_forecast.cli import main

FAST_EXAMPLES = 30
SLOW_EXAMPLES = 1000
CODES = ("NWS01", "NWS02")

# cells a hostile or careless file may hold
NASTY = ["", " ", "nan", "NaN", "inf", "-inf", "-1", "1e400", "1e12", "0.5", "=1+1", "+SUM(A1)", "@x", "-x",
         "\t=x", " =x", "2020-13-45", "06/01/2020", "2020-01-07", "2020-01-06T10:00", "NWSX", " NWS01 ",
         "displacement", "1,5", "12,000", "abc", "x\ry", "a\nb", '"', "é", "\x00", "🙂", "99999999999999999999"]


def valid_obs(n_weeks: int = 100, seed: int = 0, regions=CODES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-06", periods=n_weeks, freq="W-MON").strftime("%Y-%m-%d")
    rows = []
    for r in regions:
        strikes = rng.poisson(5, n_weeks)
        flights = rng.poisson(10, n_weeks)
        mean = 50 + 30 * strikes
        disp = rng.negative_binomial(2, 2 / (2 + mean))  # overdispersed, as displacement counts are
        for d, s, f, y in zip(dates, strikes, flights, disp, strict=True):
            rows += [(d, r, "strikes", s), (d, r, "flights", f), (d, r, "displaced", y)]
    return pd.DataFrame(rows, columns=["date", "region", "series", "value"])


REGIONS_CSV = "code,name,parent,population\nNWS01,One,P,1000000\nNWS02,Two,P,2000000\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Valid inputs and an earlier complete run in ``out`` (copied for every example)."""
    d = tmp_path_factory.mktemp("fuzzbase")
    valid_obs().to_csv(d / "obs.csv", index=False)
    (d / "regions.csv").write_text(REGIONS_CSV)
    rc = main(["forecast", str(d / "obs.csv"), "--regions", str(d / "regions.csv"), "--out", str(d / "out"),
               "--no-plots", "--draws", "20", "--horizon", "2", "--hxl"])
    assert rc == 0
    return d


def run_and_check(base: Path, obs_text: str | None = None, regions_text: str | None = None,
                  scenarios_text: str | None = None, model: str = "nb-dl") -> int:
    """Run ``forecast`` on the given texts (base files otherwise) and assert the properties."""
    import contextlib
    import io

    with tempfile.TemporaryDirectory(dir=base) as t:
        t = Path(t)
        obs = base / "obs.csv"
        if obs_text is not None:
            obs = t / "obs.csv"
            obs.write_text(obs_text, encoding="utf-8", newline="")
        reg = base / "regions.csv"
        if regions_text is not None:
            reg = t / "regions.csv"
            reg.write_text(regions_text, encoding="utf-8", newline="")
        out = t / "out"
        shutil.copytree(base / "out", out)
        before = snapshot(out)
        argv = ["forecast", str(obs), "--regions", str(reg), "--out", str(out), "--no-plots", "--draws", "20",
                "--horizon", "2", "--model", model]
        if scenarios_text is not None:
            (t / "s.toml").write_text(scenarios_text, encoding="utf-8", newline="")
            argv += ["--scenarios", str(t / "s.toml"), "--hxl"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(argv)
        msg = err.getvalue()
        assert "Traceback" not in msg and "internal error" not in msg, msg
        assert rc in (0, 2, 3), (rc, msg)
        if rc == 2:
            assert msg.splitlines() and all(
                ln.startswith(("error:", "note:", "WARNING", "fitting", "using the fit", "  - ", "!!!")) for ln in msg.splitlines()
            ), msg
            assert snapshot(out) == before
        else:
            assert run_problems(out) == []
        return rc


# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------

@st.composite
def observation_csvs(draw) -> str:
    n_weeks = draw(st.sampled_from([1, 3, 12, 40, 100, 100, 100, 100]))
    regions = draw(st.sampled_from([CODES, CODES[:1]]))
    df = valid_obs(n_weeks, draw(st.integers(0, 3)), regions).astype(str)
    drop_series = draw(st.sets(st.sampled_from(["strikes", "flights", "displaced"]), max_size=2))
    df = df[~df["series"].isin(drop_series)].reset_index(drop=True)
    for _ in range(draw(st.integers(0, 4))):
        if df.empty:
            break
        i = draw(st.integers(0, len(df) - 1))
        col = draw(st.sampled_from(list(df.columns)))
        df.loc[i, col] = draw(st.sampled_from(NASTY) | st.text(max_size=6))
    if draw(st.booleans()) and len(df):  # a duplicated row or a dropped block of rows
        k = draw(st.integers(0, len(df) - 1))
        df = pd.concat([df, df.iloc[[k]]]) if draw(st.booleans()) else df.drop(df.index[k: k + 5])
    header = list(df.columns)
    if draw(st.integers(0, 9)) == 0:
        header[draw(st.integers(0, 3))] = draw(st.sampled_from(["", "Date", "valeur", "series "]))
    lines = [",".join(header)] + [",".join(_csv_cell(c) for c in row) for row in df.itertuples(index=False)]
    if draw(st.integers(0, 9)) == 0 and len(lines) > 2:
        lines[draw(st.integers(1, len(lines) - 1))] += ",extra"
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))


def _csv_cell(c: str) -> str:
    return '"' + c.replace('"', '""') + '"' if any(x in c for x in ',"\n\r') else c


@st.composite
def region_tables(draw) -> str:
    rows = []
    for code in draw(st.lists(st.sampled_from(["NWS01", "NWS02", " NWS01", "NWS02 ", "", "=NWS01", "nws01", "X"]),
                              min_size=0, max_size=4)):
        pop = draw(st.sampled_from(["1000000", "2000000", "0", "-5", "inf", "nan", "", "0.5", "1e12", "abc", "1,000",
                                    "300", "1e7", "5000000.0"]))
        name = draw(st.sampled_from(["One", "", "=cmd", "Tw,o", "é"]))
        rows.append(",".join(_csv_cell(x) for x in (code, name, "P", pop)))
    header = draw(st.sampled_from(["code,name,parent,population", "code,name,population,parent", "code,name,parent",
                                   "Code,Name,Parent,Population"]))
    return "\n".join([header, *rows]) + "\n"


_IDS = ["baseline", "ceasefire", "intensify-south", "x", "", "=evil", "@x", "+1", "-1", "\tx", " x", "a/b", "a_b",
        "a\rb", "a\nb", "é", "a" * 80, "a b", "..", "CON", "baseline"]
_VALUES = st.one_of(
    st.integers(-10, 100), st.sampled_from([0, 1, 2, 4, 52, 10**9, -(10**9)]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["ALL", "NWS01", "South", "strikes", "flights", "2020-05-25", "", "=x"]),
    st.lists(st.one_of(st.integers(-5, 50), st.floats(allow_nan=True, allow_infinity=True, width=32),
                       st.sampled_from(["ALL", "NWS01", "NWS02", "P", "strikes", "flights", "nope"])), max_size=4),
)


@st.composite
def scenario_tomls(draw) -> str:
    if draw(st.integers(0, 19)) == 0:  # not TOML at all
        return draw(st.sampled_from(["[[scenario]\nid=", "id = 1\n", "", "\x00", "[[scenario]]\nid = 'a'\nid = 'b'\n"]))
    out = []
    for _ in range(draw(st.integers(0, 3))):
        lines = ["[[scenario]]"]
        if draw(st.integers(0, 9)):
            lines.append(f"id = {_toml(draw(st.sampled_from(_IDS)))}")
        if draw(st.booleans()):
            lines.append(f"description = {_toml(draw(st.text(max_size=10)))}")
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.integers(0, 9)) == 0:
                lines.append(f"change = {_toml(draw(_VALUES))}")
                continue
            lines.append("  [[scenario.change]]")
            keys = draw(st.sets(st.sampled_from(["regions", "series", "start", "periods", "weeks", "months",
                                                  "multiply", "values", "hold", "colour"]), max_size=4))
            for k in sorted(keys):
                lines.append(f"  {k} = {_toml(draw(_VALUES))}")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(float(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[:4].isdigit():
        return v  # a TOML local date
    return json.dumps(v)


_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large, HealthCheck.filter_too_much])


# ------------------------------------------------------------------------------------------
# tests: a few dozen per kind by default, >= 1,000 per kind in the slow suite
# ------------------------------------------------------------------------------------------

@settings(max_examples=FAST_EXAMPLES, **_SETTINGS)
@given(text=observation_csvs(), model=st.sampled_from(["nb-dl", "last-value"]))
def test_fuzz_observations(base, text, model):
    run_and_check(base, obs_text=text, model=model)


@settings(max_examples=FAST_EXAMPLES, **_SETTINGS)
@given(text=region_tables())
def test_fuzz_region_tables(base, text):
    run_and_check(base, regions_text=text)


@settings(max_examples=FAST_EXAMPLES, **_SETTINGS)
@given(text=scenario_tomls())
def test_fuzz_scenarios(base, text):
    run_and_check(base, scenarios_text=text)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **{**_SETTINGS, "derandomize": False})
@given(text=observation_csvs(), model=st.sampled_from(["nb-dl", "last-value"]))
def test_fuzz_observations_many(base, text, model):
    run_and_check(base, obs_text=text, model=model)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **{**_SETTINGS, "derandomize": False})
@given(text=region_tables())
def test_fuzz_region_tables_many(base, text):
    run_and_check(base, regions_text=text)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **{**_SETTINGS, "derandomize": False})
@given(text=scenario_tomls())
def test_fuzz_scenarios_many(base, text):
    run_and_check(base, scenarios_text=text)
