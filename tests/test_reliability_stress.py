"""Issue 17 under stress: forecasts killed at random moments, two runs into one folder.

Both run the real command in a subprocess (the only way to kill it); both are slow.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import run_problems, snapshot

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases" / "reliability"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CASES.exists(), reason=f"cases folder {CASES} is absent (../shared)")]


def command(out: Path, seed: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "displacement_forecast", "forecast", str(CASES / "small_obs.csv"),
            "--regions", str(CASES / "small_regions.csv"), "--out", str(out), "--draws", "100", "--horizon", "4",
            "--seed", str(seed), *extra]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}


def test_killed_at_random_moments_leaves_old_or_complete(tmp_path):
    """>= 50 kills (SIGKILL and SIGINT) at random moments, plots and extra files on."""
    out = tmp_path / "out"
    full = ["--hxl", "--write-draws"]
    t0 = time.monotonic()
    assert subprocess.run(command(out, 0, *full), env=env(), capture_output=True).returncode == 0
    duration = time.monotonic() - t0
    assert run_problems(out) == []
    rng = random.Random(17)
    outcomes = {"old": 0, "new": 0}
    for trial in range(50):
        before = snapshot(out)
        extra = full if trial % 2 else []  # alternate: with and without the extra files
        p = subprocess.Popen(command(out, trial + 1, *extra), env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.2, duration * 1.1))
        sig = signal.SIGKILL if trial % 3 else signal.SIGINT
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
        assert "Traceback" not in err, err
        after = snapshot(out)
        if after == before:
            outcomes["old"] += 1
            if sig == signal.SIGINT and p.returncode == 130:
                assert "left as it was" in err or "nothing written" in err, err
        else:
            assert run_problems(out) == [], (trial, sorted(after))
            assert json.loads((out / "forecast.json").read_text())["forecast"]["seed"] == trial + 1
            outcomes["new"] += 1
            if sig == signal.SIGINT and p.returncode == 130:
                assert "holds the complete new run" in err, err
    assert sum(outcomes.values()) == 50
    # both outcomes happen, or the kills did not land at random moments
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes


def test_two_runs_into_one_folder(tmp_path):
    """Started together: one wins cleanly and the other is refused (or waits its turn), never a mix."""
    for trial in range(6):
        out = tmp_path / f"out{trial}"
        procs = [subprocess.Popen(command(out, seed, "--hxl"), env=env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
        res = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
        codes = sorted(r[2] for r in res)
        for _, err, rc in res:
            assert "Traceback" not in err
            if rc == 2:
                assert "another run is writing this folder" in err
        assert codes in ([0, 0], [0, 2]), res
        assert run_problems(out) == []
