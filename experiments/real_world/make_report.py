"""Run the three real-world backtests and write ``docs/real-world-results.md`` from their scores.

    python experiments/real_world/make_report.py            # from scratch (about 5-10 min, 2 cores)
    python experiments/real_world/make_report.py --reuse    # re-render from reports/real_world/*.csv

Every number on the page is computed here from the scores this run wrote (or, with ``--reuse``,
from the score files of the last run, whose timestamps the page states). Nothing is typed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.evaluate.backtest import of_target

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LEVELS, ROOT, require_real  # noqa: E402

OUT = ROOT / "reports" / "real_world"
DOC = ROOT / "docs" / "real-world-results.md"
DATASETS = ("somalia", "syria", "ukraine")
# "project-ts": the toolkit's own driver-free model (arima); compared as a time-series model.
KIND_ORDER = {"baseline": 0, "peer": 1, "project-ts": 2, "project": 2, "oracle": 3}


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def by_horizon(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean CRPS, coverage of the 80/95% intervals and MAE of the median per model and horizon.

    Parameters
    ----------
    scores
        One row per model x origin x region x horizon with ``crps``, ``median``, ``observed`` and
        ``ae`` and ``cover_80``/``cover_95`` (from :func:`evaluate.scores.score_paths`); rows with no observation are left out.
    """
    s = scores[np.isfinite(scores["observed"]) & (scores["region"] != "ALL")]
    agg = {"crps": ("crps", "mean"), "mae": ("ae", "mean"), "n": ("crps", "size"),
           **{f"cov{lv}": (f"cover_{lv}", "mean") for lv in LEVELS}}
    out = s.groupby(["model", "kind", "horizon"]).agg(**agg).reset_index()
    return out


def markdown_table(tab: pd.DataFrame, horizons: list[int], unit: str) -> str:
    """One row per model: CRPS | cov80 | cov95 | MAE for each horizon; best CRPS/MAE per horizon in bold."""
    models = (tab[["model", "kind"]].drop_duplicates()
              .sort_values(["kind", "model"], key=lambda c: c.map(KIND_ORDER) if c.name == "kind" else c))
    head = ["model", "kind"] + [f"{m} h{h}" for h in horizons for m in ("CRPS", "80%", "95%", "MAE")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best = {h: tab[tab["horizon"] == h].set_index("model")[["crps", "mae"]].idxmin() for h in horizons}
    for model, kind in models.itertuples(index=False):
        row = [model, kind]
        for h in horizons:
            r = tab[(tab["model"] == model) & (tab["horizon"] == h)]
            if r.empty:
                row += ["-"] * 4
                continue
            r = r.iloc[0]
            crps = f"{r['crps']:,.0f}"
            mae = f"{r['mae']:,.0f}"
            row += [f"**{crps}**" if best[h]["crps"] == model else crps,
                    f"{r['cov80']:.0%}", f"{r['cov95']:.0%}",
                    f"**{mae}**" if best[h]["mae"] == model else mae]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + f"\n\nCRPS and MAE in {unit} per region and period (lower is better; best per horizon in bold); 80%/95% = share of outcomes inside the central interval."


def paired_difference(scores: pd.DataFrame, a: str, b: str, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean CRPS of ``a`` minus ``b`` per horizon, with a 90% bootstrap interval over origins.

    Origins are resampled as blocks (all regions of one origin together) because forecasts made at
    one origin share the same history and errors; negative = ``a`` better.
    """
    rng = np.random.default_rng(seed)
    s = scores[np.isfinite(scores["observed"]) & scores["model"].isin([a, b]) & (scores["region"] != "ALL")]
    rows = []
    for h, g in s.groupby("horizon"):
        w = g.pivot_table(index=["origin", "region"], columns="model", values="crps").dropna()
        if a not in w or b not in w or w.empty:
            continue
        per_origin = (w[a] - w[b]).groupby(level="origin").agg(["sum", "size"])
        k = len(per_origin)
        idx = rng.integers(0, k, size=(n_boot, k))
        boot = per_origin["sum"].to_numpy()[idx].sum(1) / per_origin["size"].to_numpy()[idx].sum(1)
        rows.append({"horizon": h, "diff": float((w[a] - w[b]).mean()), "lo": float(np.quantile(boot, 0.05)),
                     "hi": float(np.quantile(boot, 0.95)), "origins": k,
                     "a_wins": float((per_origin["sum"] < 0).mean())})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Findings written from the numbers
# ---------------------------------------------------------------------------------------------


def _best(tab: pd.DataFrame, kinds: tuple[str, ...], h: int) -> tuple[str, float]:
    t = tab[(tab["horizon"] == h) & tab["kind"].isin(kinds)]
    r = t.loc[t["crps"].idxmin()]
    return str(r["model"]), float(r["crps"])


def findings(name: str, scores: pd.DataFrame, tab: pd.DataFrame, horizons: list[int]) -> list[str]:
    """Sentences computed from one dataset's table: who wins, how project models fare, drivers."""
    out = []
    for h in horizons:
        m, c = _best(tab, ("baseline", "peer", "project-ts", "project"), h)
        out.append(f"- Horizon {h}: lowest mean CRPS **{m}** ({c:,.0f}).")
    own_ts = sorted(tab.loc[tab["kind"] == "project-ts", "model"].unique())
    for m in own_ts:
        best_other = [_best(tab, ("baseline", "peer"), h) for h in horizons]
        mine = tab[tab["model"] == m].set_index("horizon")["crps"]
        out.append(f"- {m} (the toolkit's driver-free model): CRPS relative to the best baseline or peer - "
                   + "; ".join(f"h{h} {mine.get(h, float('nan')) / c:.2f}x (vs {b})"
                               for h, (b, c) in zip(horizons, best_other, strict=True)) + ".")
    project = sorted(tab.loc[tab["kind"] == "project", "model"].unique())
    if not project:
        out.append("- No toolkit driver model ran here: each needs a driver series and this file has none.")
        return out
    ts = ("baseline", "peer", "project-ts")
    for m in project:
        parts = []
        for h in horizons:
            ref, rc = _best(tab, ts, h)
            mc = tab[(tab["model"] == m) & (tab["horizon"] == h)]["crps"]
            if mc.empty:
                continue
            ratio = float(mc.iloc[0]) / rc
            parts.append(f"h{h} {ratio:.2f}x ({'beats' if ratio < 1 else 'loses to'} {ref})")
        out.append(f"- {m}: CRPS relative to the best pure time-series model - " + "; ".join(parts) + ".")
    # Drivers: the best driver model against the best pure time-series model, paired by origin.
    sub = scores[scores["horizon"].isin(horizons)]
    best_ts, _ = _best(tab, ts, horizons[0])
    for kinds, what in ((("project",), "forecast conflict"), (("oracle",), "the conflict that really happened")):
        if not tab["kind"].isin(kinds).any():
            continue
        best_driver, _ = _best(tab, kinds, horizons[0])
        d = paired_difference(sub, best_driver, best_ts)
        if d.empty:
            continue
        txt = "; ".join(f"h{int(r.horizon)} {r.diff:+,.0f} (90% CI {r.lo:+,.0f} to {r.hi:+,.0f}, "
                        f"better at {r.a_wins:.0%} of {r.origins} origins)" for r in d.itertuples())
        verdict = ("adds skill" if (d["hi"] < 0).all() else
                   "does worse" if (d["lo"] > 0).all() else "shows no clear difference")
        out.append(f"- **Do conflict drivers add skill ({what})?** Mean CRPS of the best such driver model at "
                   f"h{horizons[0]} (**{best_driver}**) minus that of the best pure time-series model "
                   f"(**{best_ts}**), per region and period, origins resampled in a block bootstrap: {txt}. "
                   f"Verdict from these intervals: the driver model {verdict}.")
    return out


def coverage_notes(tab: pd.DataFrame) -> str:
    """Which models' 80% intervals held 70-90% of outcomes (averaged over horizons)."""
    cov = tab.groupby("model")["cov80"].mean()
    ok = [f"{m} ({v:.0%})" for m, v in cov.items() if 0.7 <= v <= 0.9]
    low = [f"{m} ({v:.0%})" for m, v in cov.items() if v < 0.7]
    high = [f"{m} ({v:.0%})" for m, v in cov.items() if v > 0.9]
    parts = []
    if ok:
        parts.append("near nominal (70-90%): " + ", ".join(ok))
    if low:
        parts.append("too narrow (< 70%): " + ", ".join(low))
    if high:
        parts.append("too wide (> 90%): " + ", ".join(high))
    return "- 80% interval coverage averaged over horizons - " + "; ".join(parts) + "."


# ---------------------------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------------------------

#: Days at each end of the Ukraine series compared in the data facts and the interpretation.
UKR_WINDOW = 14


def context(name: str, p) -> str:
    """Facts about the data that bear on why models win or lose, computed from the panel ``p``."""
    y = p.target()
    if name == "somalia":
        flat = np.sort(np.nan_to_num(y).ravel())[::-1]
        top = int(np.ceil(0.05 * flat.size))
        r, t = np.unravel_index(np.argsort(np.nan_to_num(y), axis=None)[::-1][:3], y.shape)
        cells = ", ".join(f"{p.regions.frame['name'].iloc[i]} "
                          f"{p.dates[j]:%b %Y} ({y[i, j]:,.0f})" for i, j in zip(r, t, strict=True))
        ev = p.series["events"]
        within = [np.corrcoef(np.log1p(ev[i]), np.log1p(y[i]))[0, 1] for i in range(len(y)) if np.std(ev[i]) > 0]
        return (f"The {top} largest of {flat.size} region-months ({top / flat.size:.0%}) hold "
                f"{flat[:top].sum() / flat.sum():.0%} of all departures; the three largest are {cells}. "
                f"Within regions, the median correlation of log events with log departures month by month is "
                f"{np.median(within):+.2f} (range {min(within):+.2f} to {max(within):+.2f}).")
    if name == "ukraine":
        ev = p.series["events"][0]
        first, last = slice(0, UKR_WINDOW), slice(-UKR_WINDOW, None)
        return (f"Mean daily departures fell from {np.nanmean(y[0, first]):,.0f} in the first {UKR_WINDOW} days "
                f"({p.dates[0]:%d %b}) to {np.nanmean(y[0, last]):,.0f} in the last {UKR_WINDOW} (to {p.dates[-1]:%d %b}), "
                f"while mean daily ACLED events went from {ev[first].mean():,.0f} to {ev[last].mean():,.0f}.")
    share = np.isnan(y).mean()
    return f"{share:.0%} of governorate-months are unreported (missing) and are not scored."


def _fits_per_origin(panel, meta: dict) -> tuple[int, int]:
    """Fewest and most periods of data any fit saw (the first and the last origin)."""
    n = [int(panel.dates.searchsorted(pd.Timestamp(o), side="right")) for o in meta["origins"]]
    return min(n), max(n)


def _calibration(tab: pd.DataFrame) -> tuple[float, float]:
    """Mean 80% coverage of the toolkit's (forecast-conflict) models and of the naive baselines."""
    return (float(tab.loc[tab["kind"] == "project", "cov80"].mean()),
            float(tab.loc[tab["kind"] == "baseline", "cov80"].mean()))


def why(name: str, panel, scores: pd.DataFrame, tab: pd.DataFrame, meta: dict, horizons: list[int]) -> str:
    """The interpretation paragraph; every number in it is computed from the panel and the scores."""
    project = sorted(tab.loc[tab["kind"] == "project", "model"].unique())
    if not project:
        own = tab[tab["kind"] == "project-ts"]
        if own.empty:
            return ("No driver series exists in this file, so the toolkit's driver models were not run; the "
                    "comparison is between the naive baselines and the statsforecast peers.")
        m = own["model"].iloc[0]
        cov = float(own["cov80"].mean())
        others = tab[tab["kind"].isin(["baseline", "peer"])]
        ratio = {h: float(own.loc[own["horizon"] == h, "crps"].iloc[0] / others.loc[others["horizon"] == h, "crps"].min())
                 for h in horizons}
        lost = [h for h in horizons if ratio[h] >= 1]
        text = (f"No driver series exists in this file, so of the toolkit's models only its driver-free {m} ran. "
                "Its CRPS relative to the best naive baseline or peer: "
                + ", ".join(f"h{h} {ratio[h]:.2f}x" for h in horizons) + f"; its 80% intervals held {cov:.0%} of "
                "outcomes" + (" (too narrow)" if cov < 0.7 else "") + ".")
        if lost:
            text += (f" Where it loses (h{', h'.join(map(str, lost))}), an AR(1) on log counts with a constant "
                     "reverts to each governorate's mean, while arrivals here come in bursts that a naive "
                     "last-value or climatology forecast follows better.")
        return text
    y = panel.target()
    unit = {"M": "months", "D": "days", "W": "weeks"}.get(str(meta.get("freq", ""))[:1], "periods")
    lo, hi = _fits_per_origin(panel, meta)
    cov_p, cov_b = _calibration(tab)
    calib = (f"The toolkit models' 80% intervals held {cov_p:.0%} of outcomes on average against {cov_b:.0%} for "
             f"the naive baselines (horizons {', '.join(map(str, horizons))})")
    calib += (", so they are better calibrated, which is most of what they buy here."
              if abs(cov_p - 0.8) < abs(cov_b - 0.8) else ", so they are not better calibrated either.")
    if name == "somalia":
        text = ("PRMN departures are all-cause (the reason column is not in the snapshot, so conflict-driven "
                "movement cannot be separated), and a few region-months carry a large share of the people (see the "
                "data facts above). Monthly ACLED counts per region move slowly and are at best weakly related to "
                "departures month by month, so a model whose mean follows them cannot anticipate a one-month surge; "
                "having seen surges, its negative-binomial dispersion is large, which widens every interval. ")
        sarimax = [m for m in project if m.startswith("sarimax")]
        for m in sarimax:
            ts = tab[tab["kind"].isin(("baseline", "peer"))].groupby("horizon")["crps"].min()
            mine = tab[tab["model"] == m].set_index("horizon")["crps"]
            ratio = (mine / ts).dropna()
            h = int(ratio.idxmax())
            c = scores[(scores["model"] == m) & (scores["horizon"] == h) & (scores["region"] != "ALL")
                       & np.isfinite(scores["observed"])]
            k = max(1, int(np.ceil(0.02 * len(c))))
            share = c["crps"].nlargest(k).sum() / c["crps"].sum()
            text += (f"With {lo}-{hi} {unit} per fit, per-region SARIMAX estimates a constant, a driver effect, an "
                     f"AR coefficient and a variance from very little data, and its parameter draws (exponentiated "
                     f"from the log scale) occasionally produce enormous paths: at horizon {h}, where its CRPS is "
                     f"{ratio[h]:.2f}x that of the best time-series model, its {k} worst of {len(c)} scored "
                     f"region-{unit[:-1]}s carry {share:.0%} of its summed CRPS, and the upper end of its 95% "
                     f"interval reached {c['hi_95'].max():,.0f} against at most {c['observed'].max():,.0f} observed. ")
        return text + calib
    if name == "ukraine":
        ev = panel.series["events"][0]
        first, last = slice(0, UKR_WINDOW), slice(-UKR_WINDOW, None)
        fold = np.nanmean(y[0, first]) / np.nanmean(y[0, last])
        ev_fold = ev[first].mean() / ev[last].mean()
        pop = float(panel.regions.population.sum())
        gone = float(np.nansum(y))
        s = scores[scores["model"].isin(project) & (scores["region"] != "ALL") & np.isfinite(scores["observed"])]
        late = s[s["origin"] >= sorted(s["origin"].unique())[len(s["origin"].unique()) // 2]]
        over = float((late["median"] > late["observed"]).mean())
        n_reg = len(panel.regions)
        offset_fold = 1 / (1 - gone / pop)
        ev_txt = (f"ACLED event counts fell only {ev_fold:.1f}-fold" if ev_fold >= 1
                  else f"ACLED event counts rose {1 / ev_fold:.1f}-fold")
        over_txt = (f"so the association the driver models learn from the first weeks (many events, many departures) "
                    f"over-predicts later: from the later half of the origins their median forecast was above the "
                    f"observed count in {over:.0%} of the scored {unit}." if over > 0.5 else
                    f"yet from the later half of the origins the driver models' median forecast was above the "
                    f"observed count in only {over:.0%} of the scored {unit}, so over-prediction is not what "
                    f"costs them here.")
        offset_txt = (f"The models have no term for the exhaustion of the people able and willing to leave beyond "
                      f"the at-risk offset, and that offset can fall only by the share already gone: the "
                      f"{gone / 1e6:,.1f} million departures of the whole period are {gone / pop:.1%} of the "
                      f"population of {pop / 1e6:,.1f} million, at most a {offset_fold:.2f}-fold reduction against "
                      f"the {fold:.1f}-fold fall in departures. " if offset_fold < fold else "")
        return (f"Departures fell {fold:.1f}-fold between the first and the last {UKR_WINDOW} days while {ev_txt} "
                f"(see the data facts above), {over_txt} {offset_txt}A last-value forecast tracks the decline "
                f"directly. "
                + ("One national series also gives the regression a single region's worth of information. "
                   if n_reg == 1 else "")
                + calib)
    return calib


def reliability(scores: pd.DataFrame) -> str:
    """How many fits of each model failed the model's own diagnostics gate (``info_.reliable`` False)."""
    if "reliable" not in scores:
        return ("Whether each fit passed its model's own diagnostics gate was not recorded in these scores "
                "(they predate the `reliable` column; rerun without `--reuse`).")
    s = scores[scores["kind"] != "oracle"]
    per_fit = s.groupby(["model", "origin"], sort=False)["reliable"].all().astype(bool)
    t = per_fit.groupby(level="model", sort=False).agg(failed=lambda v: int((~v).sum()), n="size")
    t = t.loc[sorted(t.index, key=lambda m: (KIND_ORDER.get(s.loc[s["model"] == m, "kind"].iloc[0], 9), m))]
    bad = t[t["failed"] > 0]
    counts = "; ".join(f"{m} {r.failed} of {r.n}" for m, r in t.iterrows())
    if bad.empty:
        return (f"Every fit passed its model's own diagnostics gate (`info_.reliable`; models without a gate "
                f"always pass): {counts}.")
    return ("**Fits that failed the model's own diagnostics gate** (`info_.reliable` False; their scores are "
            "kept in the table and findings, the '+oracle' rows reuse the same fits): "
            + "; ".join(f"**{m}: {r.failed} of {r.n}**" for m, r in bad.iterrows())
            + "".join(f" - every {m} fit failed, so its rows are those of a sampler that had not converged, "
                      f"not a test of the model" for m, r in bad.iterrows() if r.failed == r.n)
            + f". Per model (failed of fitted origins): {counts}.")


def render(results: dict[str, dict], elapsed: dict[str, float], started: str) -> str:
    """The markdown page from each dataset's scores and metadata."""
    lines = [
        "# Real-world results",
        "",
        "Generated by `python experiments/real_world/make_report.py` "
        f"(run started {started}); every figure on this page is computed by that script from the "
        "backtest scores it wrote to `reports/real_world/<dataset>_scores.csv`. Real files are read from "
        "`../shared/data/real` unmodified (sources and terms: `../shared/data/real/SOURCES.md`).",
        "",
        "Method: rolling-origin backtests - at each origin every model is fitted to the data up to that "
        "origin only and forecasts horizons 1..H as sample paths (future conflict for the driver models is "
        "itself forecast, not the observed future). Scores per region, origin and horizon: CRPS (sample "
        "estimator), coverage of the central 80% and 95% intervals, absolute error of the median. Rows '+oracle' "
        "are the same driver models fed the conflict counts that really happened after the origin (not "
        "available in real time): they bound what better conflict forecasts could buy. Kinds: baseline "
        "(naive rules), peer (Nixtla statsforecast), project (this toolkit), oracle.",
        "",
    ]
    for name, res in results.items():
        meta, scores = res["meta"], res["scores"]
        tab = by_horizon(scores)
        horizons = sorted(tab["horizon"].unique())
        show = horizons if len(horizons) <= 3 else [h for h in (1, 7, 14) if h in horizons]
        lines += [f"## {meta['title']}", "", meta["description"], "",
                  f"{meta['n_regions']} region(s) x {meta['n_periods']} periods ({meta['first']} .. {meta['last']}); "
                  f"{meta['n_origins']} origins ({meta['origins'][0]} .. {meta['origins'][-1]}), horizons 1-"
                  f"{max(horizons)}, {meta['n_draws']} paths; runtime {elapsed.get(name, float('nan')):.0f} s.", ""]
        if meta.get("failures"):
            lines += ["Fits that failed (scored rows left out): " + "; ".join(meta["failures"][:10]), ""]
        lines += [markdown_table(tab, show, meta["unit"]), "", reliability(scores), ""]
        if len(show) < len(horizons):
            lines += [f"(Horizons {', '.join(map(str, show))} shown; all are in the scores CSV.)", ""]
        lines += ["### Findings", "", *findings(name, scores, tab, show), coverage_notes(tab[tab['horizon'].isin(show)]), ""]
        if meta.get("in_sample"):
            lines += [f"- In-sample check: {meta['in_sample']}", ""]
        panel = importlib.import_module(name).build_panel()
        lines += ["### Data facts (computed)", "", context(name, panel), "",
                  "### Why the toolkit's models lose where they lose (interpretation)", "",
                  why(name, panel, scores, tab[tab["horizon"].isin(show)], meta, show), ""]
    return "\n".join(lines)


def kept_sections(old: str) -> str:
    """The sections other scripts write into the page (``<!-- name:start -->`` .. ``<!-- name:end -->``:
    cv_peers.py, idlib_retrospective.py --docs, totals_check.py), in their order, each after a blank line."""
    marked = re.finditer(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", old, flags=re.S)
    return "".join(f"\n{m.group(0)}\n" for m in marked)


def main(argv: list[str] | None = None) -> None:
    """Run (or reuse) the three backtests and write the results page."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", action="store_true", help="re-render from the last run's score files")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--doc", type=Path, default=DOC)
    ap.add_argument("--only", nargs="*", choices=DATASETS, default=list(DATASETS),
                    help="run these backtests only; the page still shows every other dataset from its saved "
                         "scores (it dropped them before)")
    a = ap.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M")
    elapsed: dict[str, float] = {}
    results = {}
    if not a.reuse:
        require_real()
    for name in DATASETS:
        if name not in a.only and not (a.out / f"{name}_scores.csv").exists():
            continue  # not asked for and never run: left off the page
        if not a.reuse and name in a.only:
            t0 = time.perf_counter()
            importlib.import_module(name).main(["--out", str(a.out), "--draws", str(a.draws)])
            elapsed[name] = time.perf_counter() - t0
            print(f"{name}: {elapsed[name]:.0f} s", file=sys.stderr)
        meta = json.loads((a.out / f"{name}_meta.json").read_text())
        elapsed.setdefault(name, meta.get("seconds", float("nan")))
        # each period's scores (_common.backtest writes no others; a file with a target column is read as such)
        results[name] = {"meta": meta, "scores": of_target(pd.read_csv(a.out / f"{name}_scores.csv"))}
    if a.reuse:  # the page states when the scores it shows were written, not when it was re-rendered
        written = min((a.out / f"{name}_scores.csv").stat().st_mtime for name in results)
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(written))
    a.doc.parent.mkdir(parents=True, exist_ok=True)
    text = render(results, elapsed, started)
    a.doc.write_text(text.rstrip("\n") + "\n" + kept_sections(a.doc.read_text() if a.doc.exists() else ""))
    print(f"wrote {a.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
