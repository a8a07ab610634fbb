"""Issue 16, synthetic acceptance: does the default model (`auto`) beat last-value on the synthetic data?

Acceptance line: "the default beats last-value (CRPS) at every horizon 1-4 on
experiments/backtest_synthetic.py and on other simulator seeds; the all-region 80% bands cover
72-88% at every horizon".

Rolling-origin backtest (``evaluate.backtest.run_backtest``) of ``auto``, ``last-value`` and
``nb-dl`` (reference) on the shipped data (data/synthetic_nw_syria = simulate_nw_syria(seed=2022))
and on ``simulate_nw_syria(seed=s)`` for other seeds. Writes
``experiments/results/auto_synthetic_check.md`` and the tidy scores per history into
``experiments/results/auto_synthetic_check/``. Usage::

    python experiments/auto_synthetic_check.py [--step 2] [--draws 300] [--seeds 1,2,...,15] [--workers 2]

``--step 2`` keeps every 2nd of backtest_synthetic.py's 52 weekly origins (26 origins, same span).
``--reuse`` rebuilds the markdown from saved scores without re-running the histories it has.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.conventions import TOTAL
from displacement_forecast.data.io import write_text_atomic
from displacement_forecast.data.simulate import simulate_nw_syria
from displacement_forecast.evaluate.backtest import (
    ModelSpec,
    coverage_interval,
    default_origins,
    of_target,
    run_backtest,
    summarise,
)
from displacement_forecast.models import get_model
from displacement_forecast.models.base import Panel
from displacement_forecast.models.ensemble import DRIVER_MARGIN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_synthetic import final_offensive_start, shipped_panel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["auto", "last-value", "nb-dl"]
#: auto's candidates on their own (dynamic without drivers, as inside auto), for reference.
MEMBERS = [ModelSpec("dynamic", {"drivers": None}), ModelSpec("historic-average")]
DEFAULT_OUT = ROOT / "experiments" / "results" / "auto_synthetic_check"
DEFAULT_DOC = ROOT / "experiments" / "results" / "auto_synthetic_check.md"


def _offensive_start(history: str) -> pd.Timestamp:
    """First week of the simulator's final (all-zone) offensive in this history."""
    return final_offensive_start(simulate_nw_syria(
        seed=2022 if history == "shipped" else int(history.removeprefix("seed"))))


def _panel(history: str) -> Panel:
    if history == "shipped":  # == simulate_nw_syria(seed=2022), checked by backtest_synthetic.py
        return shipped_panel()
    sim = simulate_nw_syria(seed=int(history.removeprefix("seed")))
    return Panel.from_observations(sim.observations, sim.regions)


def _run(history: str, a: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    panel = _panel(history)
    origins = default_origins(panel.dates, a.horizon, n=-(-52 // a.step), step=a.step)
    t0 = time.perf_counter()
    res = run_backtest(panel, models=[*MODELS, *MEMBERS], origins=origins, horizon=a.horizon, n_draws=a.draws,
                       seed=a.seed, workers=a.workers, progress=False)
    wall = time.perf_counter() - t0
    tasks = res.tasks.groupby("model")["seconds"].agg(["mean", "sum"]).round(1)
    meta = {"history": history, "wall_s": round(wall, 1), "n_origins": len(origins),
            "first": str(origins[0].date()), "last": str(origins[-1].date()),
            "failures": len(res.failures),
            "task_s": "; ".join(f"{m} {r['mean']:.1f} s/origin" for m, r in tasks.iterrows())}
    if len(res.failures):
        meta["errors"] = "; ".join(f"{r.model}@{pd.Timestamp(r.origin).date()}: {r.error}"
                                   for r in res.failures.itertuples())[:500]
    # auto's weights at the origins whose 4-week horizon reaches the final offensive
    start = _offensive_start(history)
    pos = panel.dates.get_indexer(origins)
    late = [o for o, i in zip(origins, pos, strict=True) if panel.dates[min(i + a.horizon, len(panel.dates) - 1)] >= start]
    meta["offensive_start"] = str(start.date())
    meta["weights_at_offensive"] = {}
    for o in late:
        d = get_model("auto").fit(panel.truncate(o)).info_.diagnostics["auto"]
        meta["weights_at_offensive"][str(o.date())] = {"weights": d["weights"], "inner_crps": d["backtest_mean_crps"]}
    return of_target(res.scores), meta  # each period's scores


def _section(history: str, scores: pd.DataFrame, meta: dict, a: argparse.Namespace) -> tuple[list[str], dict]:
    summ = summarise(scores)
    get = summ.set_index(["model", "scope", "horizon"])
    hs = range(1, a.horizon + 1)
    label = {"shipped": "shipped data (data/synthetic_nw_syria, simulate_nw_syria(seed=2022))"}.get(
        history, f"simulate_nw_syria(seed={history.removeprefix('seed')})")
    lines = [f"## {label}", "",
             f"{meta['n_origins']} weekly origins {meta['first']} .. {meta['last']}; "
             f"wall {meta['wall_s'] / 60:.1f} min; {meta['failures']} failed task(s); {meta['task_s']}.", "",
             "CRPS = mean per region-week (regions) or per week (ALL); skill = 1 - CRPS/CRPS(last-value) on "
             "the same cells; cov80 = share of outcomes inside the central 80% interval.", "",
             "| h | CRPS auto | CRPS last-value | CRPS nb-dl | skill auto | skill nb-dl | "
             "ALL CRPS auto | ALL CRPS last-value | ALL skill auto | ALL cov80 auto | ALL cov80 last-value | "
             "ALL cov80 nb-dl | regions cov80 auto | regions cov80 nb-dl |",
             "|---|" + "---|" * 13]
    verdict = {"skill": [], "skill_all": [], "covered_all": [], "onset": []}
    start = pd.Timestamp(meta["offensive_start"])
    for h in hs:
        total = scores[(scores["model"] == "auto") & (scores["region"] == TOTAL) & (scores["horizon"] == h)]
        total = total.sort_values("origin")
        verdict["covered_all"].append(total["cover_80"].to_numpy(float))
        # forecasts from before the final offensive whose target week is inside it: its onset
        verdict["onset"].append(((total["origin"] < start) & (total["target_date"] >= start)).to_numpy())
        r = {m: get.loc[(m, "regions", h)] for m in MODELS}
        t = {m: get.loc[(m, TOTAL, h)] for m in MODELS}
        verdict["skill"].append(r["auto"]["skill"])
        verdict["skill_all"].append(t["auto"]["skill"])
        lines.append(f"| {h} | {r['auto']['crps']:,.1f} | {r['last-value']['crps']:,.1f} | {r['nb-dl']['crps']:,.1f} | "
                     f"{r['auto']['skill']:+.1%} | {r['nb-dl']['skill']:+.1%} | {t['auto']['crps']:,.0f} | "
                     f"{t['last-value']['crps']:,.0f} | {t['auto']['skill']:+.1%} | {t['auto']['cover_80']:.0%} | "
                     f"{t['last-value']['cover_80']:.0%} | {t['nb-dl']['cover_80']:.0%} | "
                     f"{r['auto']['cover_80']:.0%} | {r['nb-dl']['cover_80']:.0%} |")
    # the members on their own, and where the CRPS is: targets before vs inside the final offensive
    reg = scores[scores["region"] != TOTAL]
    members = [m.name for m in MEMBERS if m.name in set(reg["model"])]
    lines += ["", f"Skill (per-region CRPS vs last-value) of auto's candidates alone, and of auto split by whether "
              f"the target week is before or inside the final offensive (starts {start.date()}); `share inside` = "
              "part of last-value's CRPS on target weeks inside it.", "",
              "| h | " + " | ".join(f"skill {m}" for m in members) + " | auto skill, targets before | "
              "auto skill, targets inside | share inside | origins auto worse than last-value |",
              "|---|" + "---|" * (len(members) + 4)]
    for h in hs:
        c = reg[reg["horizon"] == h].pivot_table(index=["origin", "target_date", "region"], columns="model",
                                                 values="crps")
        inside = c.index.get_level_values("target_date") >= start
        def sk(m: str, sel, c: pd.DataFrame = c) -> float:
            return 1 - c.loc[sel, m].mean() / c.loc[sel, "last-value"].mean()

        by_o = c.groupby(level="origin")[["auto", "last-value"]].sum()
        lines.append(f"| {h} | " + " | ".join(f"{sk(m, slice(None)):+.1%}" for m in members)
                     + f" | {sk('auto', ~inside):+.1%} | {sk('auto', inside):+.1%} | "
                     f"{c.loc[inside, 'last-value'].sum() / c['last-value'].sum():.0%} | "
                     f"{int((by_o['auto'] > by_o['last-value']).sum())} of {len(by_o)} |")
    w = meta.get("weights_at_offensive") or {}
    if w:
        lines += ["", "auto's weights (from its inner backtest: 8 origins 4 weeks apart; nb-dl alone when it "
                  f"scores within {DRIVER_MARGIN:.0%} or one standard error of the best mixture, whose CRPS is `mixture`) at the "
                  "origins whose horizon reaches the final offensive:", "", "| origin | weights | inner-backtest mean CRPS |", "|---|---|---|",
                  *(f"| {o} | " + ", ".join(f"{k} {v:.1f}" for k, v in d["weights"].items()) + " | "
                    + ", ".join(f"{k} {v:,.1f}" for k, v in d["inner_crps"].items()) + " |" for o, d in w.items())]
    # per-region 80% coverage of auto by horizon
    s = scores[(scores["model"] == "auto") & (scores["region"] != TOTAL)]
    cov = s.pivot_table(index="region", columns="horizon", values="cover_80", aggfunc="mean")
    cov = cov.reindex([c for c in dict.fromkeys(s["region"])])
    n_or = s["origin"].nunique()
    lines += ["", f"80% coverage of `auto` per region (share of the {n_or} origins; 1 origin = "
              f"{1 / max(n_or, 1):.0%}):", "",
              "| region | " + " | ".join(f"h{h}" for h in hs) + " |", "|---|" + "---|" * len(hs),
              *(f"| {reg} | " + " | ".join(f"{cov.loc[reg, h]:.0%}" for h in hs) + " |" for reg in cov.index), ""]
    if "errors" in meta:
        lines += [f"Failures: {meta['errors']}", ""]
    return lines, verdict


def _paths_args(a: argparse.Namespace) -> str:
    """``--out``/``--doc`` as given, when not the defaults (so the header is the command that made the file)."""
    parts = []
    for flag, value, default in (("--out", a.out, DEFAULT_OUT), ("--doc", a.doc, DEFAULT_DOC)):
        path = Path(value).resolve()
        if path != default:
            parts.append(f" {flag} {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", type=int, default=2, help="keep every STEP-th of the 52 weekly origins")
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--horizon", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",") if x], default=list(range(1, 16)))
    ap.add_argument("--reuse", action="store_true", help="reuse saved scores of histories already run")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    histories = ["shipped", *(f"seed{s}" for s in a.seeds)]
    t_all = time.perf_counter()
    body, verdicts, metas = [], {}, []
    for hist in histories:
        f, fm = a.out / f"{hist}_scores.csv.gz", a.out / f"{hist}_meta.json"
        if a.reuse and f.exists() and fm.exists():
            scores = of_target(pd.read_csv(f, parse_dates=["origin", "target_date"]))
            meta = pd.read_json(fm, typ="series").to_dict()
        else:
            scores, meta = _run(hist, a)
            scores.to_csv(f, index=False)
            pd.Series(meta).to_json(fm)
        print(f"{hist}: {meta}", flush=True)
        lines, verdicts[hist] = _section(hist, scores, meta, a)
        body += lines
        metas.append(meta)
    hs = range(1, a.horizon + 1)
    ok_skill = all(v > 0 for d in verdicts.values() for v in d["skill"])
    ok_cov = all(0.72 <= np.nanmean(c) <= 0.88 for d in verdicts.values() for c in d["covered_all"])
    pooled = [float(np.nanmean(np.concatenate([d["covered_all"][i] for d in verdicts.values()])))
              for i in range(a.horizon)]
    no_onset = [float(np.nanmean(np.concatenate([d["covered_all"][i][~d["onset"][i]] for d in verdicts.values()])))
                for i in range(a.horizon)]
    at_onset = [np.concatenate([d["covered_all"][i][d["onset"][i]] for d in verdicts.values()]) for i in range(a.horizon)]
    # blocks spanning twice the horizon: origins closer than it share target weeks, so misses come in runs
    block = -(-2 * a.horizon // a.step)

    def band(covered: np.ndarray | list[np.ndarray]) -> str:
        lo, hi = coverage_interval(covered, block=block)
        x = np.concatenate(covered) if isinstance(covered, list) else covered
        return f"{np.nanmean(x):.0%} ({lo:.0%}-{hi:.0%})"

    summary = ["| history | " + " | ".join(f"skill h{h}" for h in hs) + " | "
               + " | ".join(f"ALL cov80 h{h}" for h in hs) + " |", "|---|" + "---|" * (2 * len(hs)),
               *(f"| {k} | " + " | ".join(f"{x:+.1%}" for x in d["skill"]) + " | "
                 + " | ".join(band(c) for c in d["covered_all"]) + " |" for k, d in verdicts.items()),
               f"| all {len(verdicts)} pooled | " + " | ".join("-" for _ in hs) + " | "
               + " | ".join(band([d["covered_all"][i] for d in verdicts.values()]) for i in range(len(hs))) + " |",
               "", f"ALL cov80 in brackets: a 90% interval for the coverage rate, moving blocks of {block} consecutive "
               "origins resampled (`evaluate.backtest.coverage_interval`: weekly origins share target weeks, so an "
               "escalation no forecast foresaw is missed from every origin whose window reaches it, and 52 origins "
               "hold far fewer independent checks). Approximate and, if anything, too narrow (its test: 90% intervals "
               "held the true rate 76% of the time). The pooled row resamples each history on its own."]
    runtime = sum(m["wall_s"] for m in metas)
    head = [
        "# Issue 16 synthetic acceptance: the default model `auto` on the synthetic data",
        "",
        "*Generated by `python experiments/auto_synthetic_check.py "
        f"--step {a.step} --draws {a.draws} --horizon {a.horizon} --seed {a.seed} --workers {a.workers} "
        f"--seeds {','.join(map(str, a.seeds))}{_paths_args(a)}`; do not edit by hand.*",
        "",
        "Acceptance (issue 16): \"the default beats last-value (CRPS) at every horizon 1-4 on "
        "experiments/backtest_synthetic.py and on other simulator seeds; the all-region 80% bands cover "
        "72-88% at every horizon\".",
        "",
        f"Settings: models {', '.join(MODELS)} (registry defaults; `auto` = mixture of dynamic / "
        "historic-average / last-value / nb-dl paths weighted by its inner backtest of 8 origins 4 weeks apart, "
        f"nb-dl alone when it scores within {DRIVER_MARGIN:.0%} or one standard error of the best mixture there), rolling weekly "
        "origins "
        + ("= all 52 latest origins with a full horizon " if a.step == 1
           else f"= every {a.step}-th of the 52 latest origins with a full horizon ")
        +
        f"(`default_origins(dates, {a.horizon}, n={-(-52 // a.step)}, step={a.step})`; backtest_synthetic.py "
        f"uses all 52 at 500 draws), {a.draws} sample paths, base seed {a.seed}, horizons 1..{a.horizon} weeks, "
        "baseline scenario (nb-dl forecasts its own strikes/flights). Skill is on the per-region CRPS, as in "
        "backtest_synthetic.py.",
        "",
        f"Backtest wall time {runtime / 60:.1f} min on {a.workers} joblib worker(s) ({platform.machine()}, "
        "2 shared cores).",
        "",
        "## Verdict",
        "",
        f"- auto beats last-value (per-region CRPS) at every horizon on every history: "
        f"**{'MET' if ok_skill else 'NOT MET'}**",
        f"- all-region (ALL) 80% bands of auto cover 72-88% at every horizon on every history: "
        f"**{'MET' if ok_cov else 'NOT MET'}**",
        f"- the same, all {len(verdicts)} histories pooled: " + " / ".join(f"{x:.0%}" for x in pooled)
        + f" at 1-{a.horizon} weeks (**{'within' if all(0.72 <= x <= 0.88 for x in pooled) else 'outside'} 72-88%**; "
        "not the acceptance line, which asks it of every history)",
        "- the same, pooled, leaving out the final offensive's onset (forecasts from before its start whose target "
        "week is inside it: " + ", ".join(str(len(x) // max(len(verdicts), 1)) for x in at_onset)
        + f" of each history's {len(next(iter(verdicts.values()))['covered_all'][0])} origins at 1-{a.horizon} "
        "weeks): " + " / ".join(f"{x:.0%}" for x in no_onset)
        + "; the onset cells themselves: " + " / ".join(f"{np.nanmean(x):.0%}" if len(x) else "-" for x in at_onset)
        + ". What a forecaster that knows the simulator reaches on the same origins: "
        "`experiments/results/synthetic_truth_forecaster.md`",
        "",
        *summary,
        "",
    ]
    write_text_atomic("\n".join(head + body), a.doc)
    print("\n".join(head + body))
    print(f"wrote {a.doc} ({(time.perf_counter() - t_all) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
