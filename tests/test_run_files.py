"""A new run into an earlier run's folder leaves none of the earlier run's files (polish2, item 1).

The names a run may write come from one list (``forecast.writers.FILES`` / ``OTHER_FILES``); the
staging folder drops every earlier file of such a name and keeps only the user's own files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from displacement_forecast.cli import main
from displacement_forecast.forecast import staging, writers

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "reliability"
needs_cases = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
SMALL = [str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), "--draws", "30",
         "--horizon", "2", "--model", "last-value"]


@needs_cases
def test_charts_of_a_scenario_the_new_run_lacks_are_gone(tmp_path, capsys, monkeypatch):
    import matplotlib.pyplot as plt

    import displacement_forecast.plot.writer as plot_writer

    def save(fig, path):  # the chart files exist, unrendered: which files a run leaves is the point here
        path.write_bytes(b"")
        plt.close(fig)

    monkeypatch.setattr(plot_writer, "save_figure", save)
    out = tmp_path / "out"
    assert main(["forecast", *SMALL, "--out", str(out), "--scenarios", str(CASES / "scen/k3_two_scenarios.toml")]) == 0
    assert (out / "cumulative_ceasefire.png").exists() and (out / "fan_ceasefire.png").exists()
    (out / "my_notes.txt").write_text("mine")
    assert main(["forecast", *SMALL, "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert not {n for n in names if "ceasefire" in n}, names
    assert "cumulative_baseline.png" in names and "my_notes.txt" in names


@needs_cases
def test_a_streamed_parquet_forecast_does_not_survive_a_normal_run(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    assert main(["forecast", *SMALL, "--out", str(out), "--chunk-regions", "2", "--format", "parquet"]) == 0
    assert (out / "forecast.parquet").exists()
    assert main(["forecast", *SMALL, "--out", str(out), "--no-plots"]) == 0
    assert not (out / "forecast.parquet").exists()
    assert (out / "forecast.csv").exists()


def test_every_name_a_writer_declares_is_a_run_file_and_user_names_are_not():
    for name, pats in writers.FILES.items():
        assert name in writers.REGISTRY
        for pat in pats:
            assert writers.is_run_file(pat.replace("*", "x")), pat
    assert set(writers.REGISTRY) == set(writers.FILES)  # a registered writer declares its files
    for mine in ("notes.txt", "my_forecast.csv", "README.md"):
        assert not writers.is_run_file(mine)


def test_a_run_writing_an_undeclared_file_is_not_swapped_in(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="stray.csv"), staging.staged_folder(out) as stage:
        (stage / "forecast.csv").write_text("x\n")
        (stage / "stray.csv").write_text("x\n")
    assert not out.exists() and not list(tmp_path.glob(".out.staging-*"))
