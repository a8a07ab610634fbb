"""What a run may write into, and what the folders it writes look like (new-user trial, fixC).

``--hub`` takes a new folder, an empty one or an existing hub, never a folder of the user's own
files (it wrote hub-config/, model-metadata/ and model-output/ beside a report.docx, and into the
project's own data/ folder), as ``--out`` refuses a folder of other files.

A folder replaced by a new run keeps its permissions: a ``chmod 750`` output folder came back 755
(the staging folder, made with the umask's mode, took its place), readable by everyone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from displacement_forecast.cli import main

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "reliability"
pytestmark = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
SMALL = [str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), "--draws", "30",
         "--horizon", "2", "--no-plots"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in folder.rglob("*")}


def _error(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.fixture
def forecast_dir(tmp_path):
    out = tmp_path / "fc"
    assert main(["forecast", *SMALL, "--model", "last-value", "--out", str(out)]) == 0
    return out


def test_hub_into_a_folder_of_other_files_is_refused_with_nothing_written(tmp_path, capsys, forecast_dir):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.docx").write_text("years of work")
    (mine / "data").mkdir()
    (mine / "data" / "obs.csv").write_text("date,value\n")
    before = _tree(mine)
    beside = sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    want = (f"error: {mine}: option --hub: folder holds other files and is not a hubverse hub (no hub-config); "
            "give a new or empty folder, or an existing hubverse hub")
    for argv in (["export-hub", str(forecast_dir), "--hub", str(mine)],
                 ["forecast", *SMALL, "--model", "last-value", "--out", str(tmp_path / "fc2"), "--hub", str(mine)]):
        assert main(argv) == 2, argv
        assert _error(capsys) == [want], argv
        assert _tree(mine) == before, argv
        assert sorted(p.name for p in tmp_path.iterdir()) == beside, argv  # no --out, lock or staging folder


def test_hub_into_an_empty_folder_or_an_existing_hub_is_accepted(tmp_path, capsys, forecast_dir):
    hub = tmp_path / "hub"
    hub.mkdir()
    assert main(["export-hub", str(forecast_dir), "--hub", str(hub)]) == 0
    assert (hub / "hub-config" / "tasks.json").is_file()
    (hub / "README.md").write_text("our hub")  # a hub's own notes do not make it someone else's folder
    # a second model into the existing hub, by both commands
    assert main(["export-hub", str(forecast_dir), "--hub", str(hub), "--model", "second"]) == 0
    assert main(["forecast", *SMALL, "--model", "historic-average", "--out", str(tmp_path / "ha"),
                 "--hub", str(hub)]) == 0
    assert {p.name for p in (hub / "model-output").iterdir()} == {
        "dfcast-last_value", "dfcast-second", "dfcast-historic_average"}
    assert (hub / "README.md").read_text() == "our hub"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_private_output_folder_stays_private_when_a_run_replaces_it(tmp_path, capsys, umask_022):
    out = tmp_path / "out"
    argv = ["forecast", *SMALL, "--model", "last-value", "--out", str(out)]
    assert main(argv) == 0
    out.chmod(0o750)
    for _ in range(2):
        assert main(argv) == 0
        assert _mode(out) == 0o750
    assert _mode(out / "forecast.csv") == 0o644  # the files are made as any new file


def test_a_file_chmod_ed_in_an_output_folder_keeps_its_mode_across_runs(tmp_path, capsys, umask_022):
    """A forecast.csv set to 640 came back 644 after a rerun into the same --out."""
    out = tmp_path / "out"
    argv = ["forecast", *SMALL, "--model", "last-value", "--out", str(out)]
    assert main(argv) == 0
    (out / "forecast.csv").chmod(0o640)
    for _ in range(2):
        assert main(argv) == 0
        assert _mode(out / "forecast.csv") == 0o640
        assert _mode(out / "forecast.json") == 0o644  # the files left alone are made as any new file


def test_a_private_hub_stays_private_when_a_run_updates_it(tmp_path, capsys, forecast_dir, umask_022):
    hub = tmp_path / "hub"
    assert main(["export-hub", str(forecast_dir), "--hub", str(hub)]) == 0
    hub.chmod(0o700)
    assert main(["export-hub", str(forecast_dir), "--hub", str(hub), "--model", "second"]) == 0
    assert main(["forecast", *SMALL, "--model", "historic-average", "--out", str(tmp_path / "ha"),
                 "--hub", str(hub)]) == 0
    assert _mode(hub) == 0o700


def test_a_new_folder_gets_the_umask_mode(tmp_path, capsys):
    from displacement_forecast.forecast import staging

    old = os.umask(0o027)
    try:
        with staging.staged_folder(tmp_path / "new") as stage:
            (stage / "forecast.json").write_text("{}")
        assert main(["forecast", *SMALL, "--model", "last-value", "--out", str(tmp_path / "fc")]) == 0
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new") == 0o750 and _mode(tmp_path / "fc") == 0o750
    # and a run into it, umask or not, keeps it so
    with staging.staged_folder(tmp_path / "new") as stage:
        (stage / "forecast.json").write_text("{}")
    assert _mode(tmp_path / "new") == 0o750


def test_a_replaced_folder_keeps_its_mode_in_python(tmp_path):
    """The fit and backtest commands share staged_folder: any replaced folder keeps its mode."""
    from displacement_forecast.forecast import staging

    out = tmp_path / "fit"
    for i, mode in enumerate((0o700, 0o750, 0o755, 0o2770)):
        with staging.staged_folder(out, kind="fit") as stage:
            (stage / "model.json").write_text(str(i))
        out.chmod(mode)
        with staging.staged_folder(out, kind="fit") as stage:
            (stage / "model.json").write_text(str(i))
        assert _mode(out) == mode, oct(mode)
