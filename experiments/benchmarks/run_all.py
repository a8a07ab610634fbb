"""Run every benchmark script in this folder (bench_*.py) and print their reports.

    make bench          # or: python experiments/benchmarks/run_all.py [name-filter]
Each benchmark reports ratios against a reference measured in the same run; none asserts a time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        if pattern not in script.stem:
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
