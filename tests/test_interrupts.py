"""Ctrl-C (SIGINT) at the edges of a run (polish2, item 4).

(a) An interrupt after every output folder was swapped in arrives when the run is done: exit 0 and
a note saying the folder holds the complete new run. (b) A command started with SIGINT ignored
(a shell's ``cmd &`` without job control; Python keeps an inherited ``SIG_IGN``) still stops on
``kill -INT`` with exit 130 and its one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from displacement_forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases" / "reliability"
pytestmark = pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")
SMALL = [str(CASES / "small_obs.csv"), "--regions", str(CASES / "small_regions.csv"), "--draws", "30",
         "--horizon", "2", "--model", "last-value", "--no-plots"]


def test_interrupt_after_the_swap_is_a_finished_run(tmp_path, capsys, monkeypatch):
    import displacement_forecast.brief as brief

    out = tmp_path / "out"
    assert main(["forecast", *SMALL, "--out", str(out), "--seed", "1"]) == 0

    def interrupted(*a, **k):  # the summary printed after the swap
        raise KeyboardInterrupt

    monkeypatch.setattr(brief, "fmt_prob", interrupted)
    rc = main(["forecast", *SMALL, "--out", str(out), "--seed", "2"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "interrupted after the run was complete" in err and f"{out} holds the complete new run" in err
    assert json.loads((out / "forecast.json").read_text())["forecast"]["seed"] == 2
    assert not list(tmp_path.glob(".out.staging-*"))  # the earlier run is gone too


def test_interrupt_before_the_swap_still_exits_130(tmp_path, capsys, monkeypatch):
    import displacement_forecast.forecast.run as run

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "write_outputs", interrupted)
    rc = main(["forecast", *SMALL, "--out", str(tmp_path / "out")])
    assert rc == 130 and "left as it was" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_sigint_stops_a_backtest_started_with_sigint_ignored(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "displacement_forecast", "backtest", str(CASES / "small_obs.csv"), "--regions",
           str(CASES / "small_regions.csv"), "--models", "last-value,nb-dl", "--horizon", "2",
           "--out", str(tmp_path / "bt")]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    line = p.stderr.readline()  # printed when the data are read and the backtest starts
    assert line.startswith("backtest of"), line
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted; ") and "complete" not in last, err
    assert not (tmp_path / "bt").exists()
