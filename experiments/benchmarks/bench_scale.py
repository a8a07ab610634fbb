"""Scale benchmark: 50, 500 and 5,000 regions x 160 weeks, 26 weeks ahead, 1,000 paths, 10 scenarios.

Each size runs in its own process (so its peak memory, ``ru_maxrss``, is its own): simulate a
weekly panel (strikes, flights, displaced; zones of 20 regions), fit ``nb-dl`` (displacement GLM
and the two driver autoregressions), then forecast 10 scenarios in region chunks with
:func:`displacement_forecast.forecast.streaming.stream_forecast` into one CSV. Reported: wall
time of each stage and end to end (fit + forecast + CSV), peak memory, the growth exponent
``log(t2/t1) / log(R2/R1)``, and, at the sizes where it is affordable (default 50 and 500), the
reference measured in the same run: the displacement GLM fitted the way the toolkit did before
(statsmodels ``NegativeBinomial`` with one dummy column per region, Poisson start then BFGS) on
the same rows, against the new fit of those rows. Writes
``experiments/benchmarks/results/bench_scale.md``.

    python experiments/benchmarks/bench_scale.py [--sizes 50,500,5000] [--reference 50,500]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "experiments" / "benchmarks" / "results" / "bench_scale.md"
WEEKS, HORIZON, DRAWS = 160, 26, 1000


def panel_regions(n: int):
    from displacement_forecast.data.regions import regions_from_frame

    rows = [(f"R{i:05d}", f"Region {i}", f"Z{i // 20:04d}", 80_000) for i in range(n)]
    return regions_from_frame(pd.DataFrame(rows, columns=["code", "name", "parent", "population"]))


def ten_scenarios(regions):
    from displacement_forecast.scenarios import Change, Scenario

    zones = sorted(set(regions.frame["parent"]))
    first = list(zones[: max(1, len(zones) // 10)])
    return [
        Scenario.baseline(),
        Scenario.intensify(first, 2.0, 4, id="intensify-first-zones"),
        Scenario.intensify(["ALL"], 1.5, id="intensify-all"),
        Scenario.intensify(["ALL"], 3.0, 2, id="surge-2-weeks"),
        Scenario.intensify(["ALL"], 0.5, id="de-escalation"),
        Scenario.ceasefire(),
        Scenario.ceasefire(first, id="local-ceasefire"),
        Scenario("hold-all", "conflict held at its last 4 weeks", (Change(("ALL",), hold=4),)),
        Scenario("hold-first-zones", "", (Change(tuple(first), periods=8, hold=4),)),
        Scenario("late-escalation", "", (Change(("ALL",), start=13, multiply=2.0),)),
    ]


def one_size(n: int, reference: bool, chunk: int, workers: int) -> dict:
    """Run one size in this process and return its measurements."""
    from displacement_forecast.data.simulate import simulate_nw_syria
    from displacement_forecast.forecast.streaming import stream_forecast
    from displacement_forecast.models import get_model
    from displacement_forecast.models._nb_fit import fit_nb2_groups, fit_statsmodels_reference
    from displacement_forecast.models.base import Panel

    rec: dict = {"regions": n}
    t = time.perf_counter()
    sim = simulate_nw_syria(n_weeks=WEEKS, seed=1, regions=panel_regions(n))
    panel = Panel.from_observations(sim.observations, sim.regions)
    rec["data_s"] = time.perf_counter() - t
    t = time.perf_counter()
    m = get_model("nb-dl").fit(panel)
    rec["fit_s"] = time.perf_counter() - t
    rec["converged"] = bool(m.info_.diagnostics["converged"])
    scen = ten_scenarios(sim.regions)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = stream_forecast(m, scen, Path(d) / "forecast.csv", horizon=HORIZON, n_draws=DRAWS, seed=0,
                              chunk_regions=chunk, workers=workers)
        rec["forecast_s"] = time.perf_counter() - t
        rec["csv_rows"] = res.n_rows
        rec["csv_mb"] = os.path.getsize(res.path) / 1e6
        rec["chunks"] = len(res.chunks)
    rec["end_to_end_s"] = rec["fit_s"] + rec["forecast_s"]
    use = resource.getrusage(resource.RUSAGE_SELF)
    rec["peak_rss_gb"] = use.ru_maxrss / 1e6  # kB on Linux; before the reference
    rec["cpu_s"] = use.ru_utime + use.ru_stime  # all threads, data to CSV
    if reference:  # the displacement GLM's rows, fitted both ways, timed back to back
        Y, X, g, off = m._design(panel, m.n_lags_, np.flatnonzero(m.active_))
        t = time.perf_counter()
        new = fit_nb2_groups(Y, X, g, m.n_active_, off, alpha0=0.3)
        rec["glm_new_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ref, _, res = fit_statsmodels_reference(Y, X, g, m.n_active_, off, polish=False)
        rec["glm_statsmodels_s"] = time.perf_counter() - t
        rec["glm_max_rel_diff"] = float(np.max(np.abs(new.params - ref) / np.maximum(np.abs(ref), 1e-3)))
    return rec


def _cpu(r: dict) -> str:
    return f"{r['cpu_s']:.0f}" if "cpu_s" in r else "not recorded"


def exponent(a: dict, b: dict, key: str) -> float:
    return math.log(b[key] / a[key]) / math.log(b["regions"] / a["regions"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,500,5000")
    ap.add_argument("--reference", default="50,500", help="sizes at which the statsmodels fit is also timed")
    ap.add_argument("--chunk", type=int, default=250, help="regions per chunk")
    ap.add_argument("--workers", type=int, default=2, help="chunks at a time (threads)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--note", default="", help="a sentence for the report about how the run went")
    a = ap.parse_args(argv)
    refs = {int(x) for x in a.reference.split(",") if x}
    if a.one is not None:
        print(json.dumps(one_size(a.one, a.one in refs, a.chunk, a.workers)))
        return 0
    recs = []
    for n in [int(x) for x in a.sizes.split(",")]:
        load = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--reference", a.reference,
                               "--chunk", str(a.chunk), "--workers", str(a.workers)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        rec = json.loads(proc.stdout.strip().splitlines()[-1])
        rec["load_before"], rec["load_after"] = load, os.getloadavg()[0]
        recs.append(rec)
        print(json.dumps(rec), flush=True)
    write_report(recs, a)
    return 0


def write_report(recs: list[dict], a) -> None:
    from displacement_forecast.data.io import write_text_atomic

    lines = [
        "# Scale benchmark", "",
        f"*Measured by `python experiments/benchmarks/bench_scale.py --sizes {a.sizes} --reference {a.reference} "
        f"--chunk {a.chunk} --workers {a.workers}`; do not edit by hand.*", "",
        f"Task per size, in its own process: a simulated weekly panel ({WEEKS} weeks; strikes, flights, displaced; "
        "zones of 20 regions); fit `nb-dl` (displacement GLM + two driver autoregressions); forecast "
        f"{HORIZON} weeks ahead, {DRAWS} paths, 10 scenarios (baseline, multiply, ceasefire, hold, ...) with "
        f"`stream_forecast` in chunks of about {a.chunk} regions ({a.workers} at a time) into one hub-style CSV "
        "(all regions and `ALL`). Peak memory is the process's maximum resident set size before the reference "
        "fit.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}. "
        "Shared with other sessions while measured: the 1-minute load average before and after each size is "
        "given (2.0 = both cores busy); wall times under load are longer than on an idle machine.", "",
        "| regions | data (s) | fit (s) | forecast + CSV (s) | end to end (s) | CPU time (s) | peak memory (GB) | "
        "CSV rows | CSV (MB) | load before / after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        lines.append(f"| {r['regions']:,} | {r['data_s']:.1f} | {r['fit_s']:.1f} | {r['forecast_s']:.1f} | "
                     f"{r['end_to_end_s']:.1f} | {_cpu(r)} | {r['peak_rss_gb']:.2f} | {r['csv_rows']:,} | "
                     f"{r['csv_mb']:.0f} | "
                     f"{r['load_before']:.1f} / {r['load_after']:.1f} |")
    lines += ["", "End to end = fit + forecast + CSV (the data are simulated and arranged before; column *data*). "
              "CPU time: user + system seconds of the process, all threads, from the start to the CSV (what the "
              "run would take on one idle core; wall time on a loaded machine is longer).", ""]
    if len(recs) >= 2:
        lines += ["Growth exponents `log(t2/t1) / log(R2/R1)` (1 = linear in regions):", "",
                  "| from | to | end to end | fit | forecast + CSV | time ratio |", "|---|---|---|---|---|---|"]
        for x, y in zip(recs[:-1], recs[1:], strict=True):
            lines.append(f"| {x['regions']:,} | {y['regions']:,} | {exponent(x, y, 'end_to_end_s'):.2f} | "
                         f"{exponent(x, y, 'fit_s'):.2f} | {exponent(x, y, 'forecast_s'):.2f} | "
                         f"{y['end_to_end_s'] / x['end_to_end_s']:.1f}x |")
        lines.append("")
    lines.append("Load at the end of the run (`uptime`): " + os.popen("uptime").read().strip() + "\n")
    if getattr(a, "note", ""):
        lines += [f"Note: {a.note}", ""]
    ref = [r for r in recs if "glm_statsmodels_s" in r]
    if ref:
        lines += ["Reference measured in the same run: the displacement GLM's rows fitted the way the toolkit did "
                  "before (statsmodels `NegativeBinomial`, one dummy column per region, Poisson start, BFGS) and "
                  "with the new block-Newton fit (`models/_nb_fit.py`), back to back:", "",
                  "| regions | statsmodels (s) | new (s) | speed-up | largest relative difference of the estimates |",
                  "|---|---|---|---|---|"]
        for r in ref:
            lines.append(f"| {r['regions']:,} | {r['glm_statsmodels_s']:.1f} | {r['glm_new_s']:.2f} | "
                         f"{r['glm_statsmodels_s'] / r['glm_new_s']:.0f}x | {r['glm_max_rel_diff']:.1e} |")
        lines += ["", "(The relative difference is taken against max(|estimate|, 0.001); statsmodels' BFGS stops "
                  "short of the exact maximum, which Newton's method reaches: see `tests/test_nb_fit.py` for the "
                  "comparison with statsmodels finished by Newton steps.)", ""]
    write_text_atomic("\n".join(lines), a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    sys.exit(main())
