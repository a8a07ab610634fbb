"""Benchmark: ``displacement-forecast panel`` on a 1,000,000-row ACLED export vs ``pandas.read_csv``.

    python experiments/benchmarks/bench_panel.py [--rows 1000000] [--repeat 3]

Writes a synthetic ACLED-format CSV (all 31 export columns, free-text notes with commas,
day-first dates; the generator of ``bench_load_acled.py``) and a recipe naming it, then times,
in the same run and on the same file:

* the reference: ``pandas.read_csv(file)`` (every column, default options);
* ``displacement-forecast panel recipe.toml --out obs.csv`` end to end (recipe checks, strict
  reading, date detection, region matching, weekly counts, schema validation, atomic write).

Each is the best of ``--repeat`` runs (the file is in the page cache after generation). The
ratio panel / read_csv is the figure to compare across machines (issue 18 target: <= 3).
Results: ``experiments/benchmarks/results/bench_panel.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_load_acled import make_file  # noqa: E402

from displacement_forecast.cli import main as cli_main  # noqa: E402

RESULTS = HERE / "results" / "bench_panel.md"


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update the results file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "acled.csv"
        t0 = time.perf_counter()
        make_file(data, args.rows)
        gen = time.perf_counter() - t0
        regions = tmp / "regions.csv"
        regions.write_text("code,name,parent,population\n" + "".join(f"R{i:02d},Region {i:02d},All,1000000\n" for i in range(40)))
        recipe = tmp / "recipe.toml"
        recipe.write_text(f'regions = "regions.csv"\nfreq = "W"\n[[sources]]\nformat = "acled"\npath = "{data.name}"\n')
        out = tmp / "obs.csv"

        def run_panel():
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                rc = cli_main(["panel", str(recipe), "--out", str(out)])
            assert rc == 0, rc

        ref = _best(lambda: pd.read_csv(data), args.repeat)
        panel = _best(run_panel, args.repeat)
        rows_out = len(pd.read_csv(out))
    ratio = panel / ref
    lines = [
        "# bench_panel: `displacement-forecast panel` vs `pandas.read_csv`, same file, same run",
        "",
        f"Synthetic ACLED export: {args.rows:,} rows x 31 columns (generated in {gen:.1f} s); recipe: one ACLED "
        f"source, 40 regions, weekly counts -> {rows_out:,} observation rows. Best of {args.repeat} runs each.",
        "",
        "| step | seconds | ratio to read_csv |",
        "|---|---:|---:|",
        f"| `pandas.read_csv(file)` (reference) | {ref:.2f} | 1.00 |",
        f"| `displacement-forecast panel recipe.toml --out obs.csv` | {panel:.2f} | {ratio:.2f} |",
        "",
        f"Target (issue 18): ratio <= 3. {'Met' if ratio <= 3 else 'NOT met'}.",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, pandas {pd.__version__}; "
        f"shared with other jobs, so compare ratios, not seconds.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
