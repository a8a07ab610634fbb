"""Speed benchmark of the Bayesian hierarchical model against a straightforward centred PyMC model.

Fits 13 regions x 120 simulated weeks (``simulate_nw_syria(n_weeks=120, seed=1)``) with 8 lags,
2 chains x 1,000 draws after tuning, and reports for each implementation the wall time (model
build + compilation + sampling, caches warm), the minimum bulk ESS over every scalar of every
parameter, ESS per second, divergences and the largest R-hat; then the ratio of ESS/s of the
package's default to the reference, timed in the same run. Also a ladder of intermediate steps
(what each optimisation gave) and cold-start times (fresh process, empty PyTensor and numba
caches).

Usage::

    python experiments/benchmarks/bench_bayes.py            # full run (~10 min on 2 cores)
    python experiments/benchmarks/bench_bayes.py --no-ladder --no-cold

Writes ``experiments/benchmarks/results/bench_bayes.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

DRAWS, CHAINS, SEED = 1000, 2, 1


def _panel():
    from displacement_forecast.data.simulate import simulate_nw_syria
    from displacement_forecast.models.base import Panel

    sim = simulate_nw_syria(n_weeks=120, seed=SEED)
    return Panel.from_observations(sim.observations, sim.regions)


def run_reference(panel, tune=1000, draws=DRAWS, quiet=True):
    """Centred model, Python loop over lags, pm.NegativeBinomial, default ``pm.sample()``."""
    import pymc as pm
    from _reference_centred import build_reference

    t = time.perf_counter()
    model = build_reference(panel, n_lags=8)
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=CHAINS, random_seed=SEED, progressbar=False,
                          compute_convergence_checks=False)
    return idata, time.perf_counter() - t


def run_package(panel, tune=500, draws=DRAWS, **cfg):
    """The package's sampler path (Design + PyMC graph or numba log-density + nutpie/PyMC)."""
    from displacement_forecast.models.bayes import Design, build_model, merge_config, sample_model

    cfg = merge_config({"draws": draws, "tune": tune, "chains": CHAINS, "seed": SEED, "progress": False, **cfg})
    t = time.perf_counter()
    design = Design(panel, cfg["drivers"], 8)
    if cfg["sampler"] == "nutpie" and cfg["gradient"] == "numba":
        model = (design, panel.regions.codes)
    else:
        model = build_model(design, panel.regions.codes, cfg)
    idata, _ = sample_model(model, cfg)
    return idata, time.perf_counter() - t


def summarise(idata, wall):
    from displacement_forecast.models.bayes import diagnostics

    post = idata.posterior
    # the same named quantities for every implementation (no sampler-internal z / *_log__)
    names = [v for v in post.data_vars if v.split("_")[0] in ("mu", "sigma", "alpha", "beta", "decay", "nb")
             and not v.endswith("__") and v not in ("alpha_c", "mu_alpha_c", "sqrt_nb_alpha")]
    d = diagnostics(idata, names)
    ss = idata.sample_stats
    steps = None
    for k in ("n_steps", "tree_size"):
        if k in ss:
            steps = float(ss[k].mean())
    return {"wall_s": round(wall, 2), "ess_bulk_min": d["ess_bulk_min"], "ess_at": d["ess_bulk_min_at"],
            "ess_per_s": round(d["ess_bulk_min"] / wall, 1), "divergences": d["divergences"],
            "rhat_max": d["rhat_max"], "ess_tail_min": d["ess_tail_min"], "ebfmi_min": d["ebfmi_min"],
            "grad_evals_per_draw": None if steps is None else round(steps, 1), "vars": names}


LADDER = [
    # (label, kwargs for run_package)
    ("PyMC graph: vectorised lags + non-centred, pm.NegativeBinomial, pm.sample (2 processes), tune 1000",
     {"sampler": "pymc", "parametrisation": "noncentred", "center_drivers": False, "likelihood": "pymc", "tune": 1000}),
    ("+ nutpie (PyMC graph compiled to numba, in-process chains), tune 1000",
     {"sampler": "nutpie", "gradient": "pytensor", "parametrisation": "noncentred", "center_drivers": False,
      "likelihood": "pymc", "tune": 1000}),
    ("+ cheap NB log-density (Potential on the log-mean scale)",
     {"sampler": "nutpie", "gradient": "pytensor", "parametrisation": "noncentred", "center_drivers": False,
      "likelihood": "fast", "tune": 1000}),
    ("+ centred drivers (intercept at mean exposure)",
     {"sampler": "nutpie", "gradient": "pytensor", "parametrisation": "noncentred", "center_drivers": True,
      "likelihood": "fast", "tune": 1000}),
    ("+ per-region centring ('auto': centred where the data are strong)",
     {"sampler": "nutpie", "gradient": "pytensor", "parametrisation": "auto", "center_drivers": True,
      "likelihood": "fast", "tune": 1000}),
    ("+ hand-written numba log-density + gradient (disk-cached compile)",
     {"sampler": "nutpie", "gradient": "numba", "parametrisation": "auto", "tune": 1000}),
    ("+ fewer tuning steps: tune 500 (package default)", {}),
    ("  same, tune 300", {"tune": 300}),
    ("  default but forced non-centred everywhere", {"parametrisation": "noncentred"}),
]


def _warm(fn, panel, **kw):
    """Populate compile caches (PyTensor C cache, numba cache) with a tiny run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(panel, tune=10, draws=10, **kw)


def cold_start(which: str) -> float:
    """Wall time of a fresh process with empty PyTensor and numba caches (imports included)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={tmp}/pt", "NUMBA_CACHE_DIR": f"{tmp}/nb",
               "PYTHONWARNINGS": "ignore"}
        code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_bayes as b; "
                f"p = b._panel(); b.{'run_reference' if which == 'reference' else 'run_package'}(p)")
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-ladder", action="store_true", help="only the reference and the default")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start subprocesses")
    ap.add_argument("--out", default=str(HERE / "results" / "bench_bayes.md"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    panel = _panel()
    rows = {}

    print("warming caches ...", flush=True)
    _warm(run_reference, panel)
    _warm(run_package, panel)
    print("reference (centred, loop over lags, pm.sample defaults) ...", flush=True)
    rows["reference"] = summarise(*run_reference(panel))
    print(" ", rows["reference"], flush=True)
    print("package default ...", flush=True)
    rows["default"] = summarise(*run_package(panel))
    print(" ", rows["default"], flush=True)
    ratio = rows["default"]["ess_per_s"] / rows["reference"]["ess_per_s"]
    print(f"ESS/s ratio default / reference: {ratio:.1f}x", flush=True)

    ladder = []
    if not args.no_ladder:
        for label, kw in LADDER:
            _warm(run_package, panel, **{k: v for k, v in kw.items() if k != "tune"})
            r = summarise(*run_package(panel, **kw))
            ladder.append((label, r))
            print(f"{label}: {r}", flush=True)

    cold = {}
    if not args.no_cold:
        for which in ("reference", "default"):
            cold[which] = round(cold_start(which), 1)
            print(f"cold start {which}: {cold[which]} s", flush=True)

    write_report(Path(args.out), rows, ratio, ladder, cold)
    print(f"wrote {args.out}")
    return 0


def _row(label, r):
    return (f"| {label} | {r['wall_s']} | {r['ess_bulk_min']} ({r['ess_at']}) | {r['ess_per_s']} | "
            f"{r['divergences']} | {r['rhat_max']} | {r['grad_evals_per_draw']} |")


def write_report(path: Path, rows, ratio, ladder, cold):
    import arviz
    import nutpie
    import pymc

    path.parent.mkdir(parents=True, exist_ok=True)
    head = "| implementation | wall s | min bulk ESS (at) | ESS/s | divergences | max R-hat | grad evals / draw |\n|---|---|---|---|---|---|---|"
    lines = [
        "# Benchmark: Bayesian hierarchical model vs a straightforward centred PyMC model",
        "",
        f"Measured {date.today().isoformat()} by `experiments/benchmarks/bench_bayes.py` on "
        f"{platform.machine()} ({os.cpu_count()} cores, {platform.processor() or 'cpu'}), Python {platform.python_version()}, "
        f"PyMC {pymc.__version__}, nutpie {nutpie.__version__}, ArviZ {arviz.__version__}.",
        "",
        "Data: `simulate_nw_syria(n_weeks=120, seed=1)`: 13 regions x 120 weeks, 8 lags (1,469 observed "
        "region-weeks in the likelihood), 2 chains x 1,000 draws after tuning. Wall time = model build + "
        "compilation + sampling with warm caches; ESS = minimum bulk ESS over every scalar of mu_alpha, "
        "sigma_alpha, alpha[r], beta, decay, nb_alpha.",
        "",
        head,
        _row("reference: centred, loop over lags, pm.NegativeBinomial, `pm.sample()` defaults (tune 1000)", rows["reference"]),
        _row("**package default**: hand-written numba log-density, nutpie, auto centring, tune 500", rows["default"]),
        "",
        f"**ESS/s ratio (default / reference): {ratio:.1f}x** (target >= 3x).",
        "",
    ]
    if cold:
        lines += [f"Cold start (fresh process, empty PyTensor compiledir and numba cache, imports included): "
                  f"reference {cold['reference']} s, package default {cold['default']} s.", ""]
    if ladder:
        lines += ["## What each step gave (one run each, same data and seed)", "", head]
        lines += [_row(label, r) for label, r in ladder]
        lines.append("")
    lines += ["Raw figures:", "", "```json", json.dumps({"rows": rows, "ladder": ladder, "cold": cold}, indent=1), "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
