"""The architecture's rules (docs/architecture.md): import contracts, no import cycle, one source of truth."""

from __future__ import annotations

import re

import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "displacement_forecast"
PKG = "displacement_forecast"

#: Cycles another branch removes; drop each entry once that branch is merged.
KNOWN_CYCLES: set[frozenset[str]] = set()


def _graph():
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph(PKG, exclude_type_checking_imports=True)


def cycles(graph) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on.add(v)
            nxt = edges.get(v, [])
            if i < len(nxt):
                work.append((v, i + 1))
                w = nxt[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def test_import_contracts_hold(capsys):
    """`lint-imports` with the contracts in pyproject.toml (models, forecast core, data, evaluate)."""
    pytest.importorskip("importlinter")
    from importlinter.cli import lint_imports

    rc = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert " 0 broken" in out and "kept" in out


def test_no_import_cycle_in_src():
    found = set(cycles(_graph()))
    assert found <= KNOWN_CYCLES, sorted(sorted(c) for c in found - KNOWN_CYCLES)


def test_cycle_finder_finds_a_cycle():
    """The check can fail: an import from the driver model back to the engine is a cycle."""
    g = _graph()
    g.add_import(importer=f"{PKG}.models.drivers", imported=f"{PKG}.forecast.engine")
    assert any({f"{PKG}.models.drivers", f"{PKG}.forecast.engine"} <= c for c in cycles(g))


def test_forecast_core_does_not_reach_matplotlib():
    """Not even indirectly: charts are a writer the registry imports by name."""
    grimp = pytest.importorskip("grimp")
    g = grimp.build_graph(PKG, include_external_packages=True, exclude_type_checking_imports=True)
    for core in (f"{PKG}.forecast.run", f"{PKG}.forecast.engine", f"{PKG}.evaluate.backtest"):
        assert g.find_shortest_chain(importer=core, imported="matplotlib") is None, core
    assert g.find_shortest_chain(importer=f"{PKG}.plot.writer", imported="matplotlib")  # the check can fail


# -- one source of truth ---------------------------------------------------------------------
def test_levels_are_consistent():
    from displacement_forecast.conventions import (
        BRIEF_LEVEL,
        COVERAGE_LEVELS,
        INTERVAL_LEVELS,
        QUANTILE_LEVELS,
        interval_quantiles,
        levels_text,
    )

    # every band drawn has its edges in the CSV, and backtests report the coverage of every level shown
    assert {round(q, 9) for q in interval_quantiles(INTERVAL_LEVELS)} <= {round(q, 9) for q in QUANTILE_LEVELS}
    assert {*INTERVAL_LEVELS, BRIEF_LEVEL} <= set(COVERAGE_LEVELS)
    assert levels_text((50, 80, 95)) == "50/80/95%"


#: Literals that belong in conventions.py only. scenarios/ and data/regions.py use "ALL" as a
#: selector keyword of their own files (owned by other rooms); they may import TOTAL later.
DUPLICATES = re.compile(r'\(50, 80, 95\)|\(95, 80, 50\)|\(50, 80, 90, 95\)|50/80/95|== "ALL"|= "ALL"\n'
                        r'|"W": "week"|"W": "W-MON"')
ALLOWED = {"conventions.py", "scenarios/__init__.py", "data/regions.py", "data/schema.py", "data/aggregate.py",
           "_cli/data_commands.py"}  # data/ and _cli/data_commands.py: the ingest room (GRID_FREQ is here for them)


def test_shared_facts_are_written_once():
    hits = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).as_posix()
        if rel in ALLOWED:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if DUPLICATES.search(line + "\n"):
                hits.append(f"{rel}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_caption_and_sidecar_use_the_shared_levels(fitted_nbdl):
    from displacement_forecast.conventions import levels_text
    from displacement_forecast.forecast.run import caption, run_forecast

    run = run_forecast(model=fitted_nbdl, horizon=2, n_draws=20, seed=0, thresholds=[1000])
    assert f"Bands: {levels_text()} intervals including parameters; process; future conflict" in caption(run.sidecar)
    assert run.sidecar["uncertainty_included"] == fitted_nbdl.uncertainty_included()
