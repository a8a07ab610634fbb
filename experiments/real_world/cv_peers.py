"""Toolkit models against statsforecast peers on statsforecast's own cross-validation origins.

    python experiments/real_world/cv_peers.py [--datasets somalia,syria,ukraine] [--models a,b]
                                              [--draws 500] [--reuse-peers] [--no-doc]

The harness of issue 16, on every real panel:

* **Origins**: those of ``StatsForecast.cross_validation(h=H, step_size=1, n_windows=T // 2 - 2)``
  (T periods; H = 3 months on the monthly panels, 14 days on Ukraine). Every origin has all H
  periods after it observed, so each horizon is scored on the same number of region-periods.
* **Peers**: statsforecast ``Naive``, ``HistoricAverage``, ``AutoETS`` and ``AutoARIMA`` (season
  7 for the two automatic models on the daily Ukraine series), run through statsforecast's own
  ``cross_validation`` on the raw counts with ``level=`` the 11 hub intervals; their bounds are
  clipped at 0 (counts are never negative; this is what issue 16's reference figures did -
  without the clip HistoricAverage's Somalia WIS is 420 higher at every horizon, the width of the
  intervals' parts below 0). Their CRPS is that of the Gaussian with the 80% interval's sigma,
  censored at 0 (2,000 draws, fixed seed).
* **Toolkit models**: fitted at the same origins on the data up to each origin
  (:func:`displacement_forecast.evaluate.backtest.run_backtest`), scored from their sample paths.
* **Scores** per region, origin and horizon: WIS over the median and the central intervals at
  ``alpha = 0.02, 0.05, 0.1, 0.2, ..., 0.9`` (hub standard, :func:`evaluate.scores.wis`), CRPS,
  coverage of the central 80% and 95% intervals. Syria keeps only the governorates with every
  month reported (statsforecast needs complete series).

Results are cached in ``reports/real_world/cv/<dataset>_<model>.csv``; the page section
"Against statsforecast on its own cross-validation origins" of ``docs/real-world-results.md``
is rewritten from every cached file (``--no-doc`` skips it).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, require_real  # noqa: E402

from displacement_forecast.evaluate.scores import WIS_ALPHAS, crps_sample, wis_intervals  # noqa: E402
from displacement_forecast.models.base import Panel  # noqa: E402

OUT = ROOT / "reports" / "real_world" / "cv"
DOC = ROOT / "docs" / "real-world-results.md"
START, END = "<!-- cv-peers:start -->", "<!-- cv-peers:end -->"
PEERS = ("Naive", "HistoricAverage", "AutoETS", "AutoARIMA")
COLUMNS = ["model", "kind", "origin", "region", "horizon", "target_date", "observed", "wis", "crps",
           "cover_80", "cover_95"]


@dataclass(frozen=True)
class Dataset:
    """A real panel and its cross-validation settings."""

    name: str
    title: str
    horizon: int
    shown: tuple[int, ...]
    season_length: int
    drivers: tuple[str, ...]
    build: Any = field(repr=False)
    #: Replace the region table's populations (Syria: placeholders, see :func:`datasets`).
    population: float | None = None
    #: Interpolate isolated missing periods so statsforecast can run (never scored).
    fill_gaps: bool = False


def datasets() -> dict[str, Dataset]:
    import somalia
    import syria
    import ukraine

    return {
        "somalia": Dataset("somalia", "Somalia (PRMN departures, 18 regions x 24 months)", 3, (1, 2, 3), 1,
                           ("events", "fatalities", "strikes"), somalia.build_panel),
        # Arrivals with placeholder populations (1,000,000 each, syria.py): the toolkit's models
        # would deplete and cap them at 1% of that; 1e9 keeps the population out of the forecast.
        "syria": Dataset("syria", "Syria (OCHA arrivals, complete governorates, 37 months)", 3, (1, 2, 3), 1,
                         (), syria.build_panel, population=1e9),
        # One day (2022-04-19) is missing: interpolated for fitting, not scored.
        "ukraine": Dataset("ukraine", "Ukraine (UNHCR departures, national, 79 days)", 14, (1, 7, 14), 7,
                           ("events", "strikes"), ukraine.build_panel, fill_gaps=True),
    }


def complete_regions(panel: Panel, population: float | None = None, fill_gaps: bool = False) -> tuple[Panel, np.ndarray]:
    """The panel restricted to regions whose target has no missing period, and the gap mask.

    ``fill_gaps``: isolated missing periods inside a series are linearly interpolated first
    (the returned mask marks them; they are not scored). ``population`` replaces the populations;
    the table's ``counts`` column (people or movements) is kept.
    """
    from displacement_forecast.data.regions import regions_from_frame

    y = panel.target()
    gaps = np.zeros(y.shape, bool)
    series = dict(panel.series)
    if fill_gaps:
        filled = pd.DataFrame(y.T).interpolate(limit=1, limit_area="inside").to_numpy().T
        gaps = np.isnan(y) & np.isfinite(filled)
        series["displaced"] = filled
    keep = np.isfinite(series["displaced"]).all(axis=1)
    rt = panel.regions
    frame = rt.frame.reset_index(drop=True)[keep].copy() if hasattr(rt, "frame") else None
    codes = [c for c, k in zip(rt.codes, keep, strict=True) if k]
    pop = rt.population[keep] if population is None else np.full(keep.sum(), float(population))
    frame = pd.DataFrame({"code": codes, "name": codes,
                          "parent": list(frame["parent"]) if frame is not None and "parent" in frame else "-",
                          "population": pop,
                          # how the source counts (Somalia's PRMN: movements, data/somalia/regions.csv)
                          "counts": list(frame["counts"]) if frame is not None and "counts" in frame else ""})
    return (Panel(panel.dates, regions_from_frame(frame), panel.freq, {k: v[keep] for k, v in series.items()}),
            gaps[keep])


def drop_gaps(scores: pd.DataFrame, panel: Panel, gaps: np.ndarray) -> pd.DataFrame:
    """Scores without the (region, date) cells that were interpolated."""
    if not gaps.any():
        return scores
    bad = {(panel.regions.codes[r], panel.dates[t]) for r, t in zip(*np.nonzero(gaps), strict=True)}
    key = list(zip(scores["region"], pd.to_datetime(scores["target_date"]), strict=True))
    return scores[[k not in bad for k in key]].reset_index(drop=True)


def n_windows(panel: Panel) -> int:
    """``T // 2 - 2`` cross-validation windows (issue 16: months / 2 - 2)."""
    return len(panel.dates) // 2 - 2


def cv_origins(panel: Panel, horizon: int) -> pd.DatetimeIndex:
    """statsforecast's cutoffs for ``h=horizon, step_size=1, n_windows=T//2-2``."""
    T, n = len(panel.dates), n_windows(panel)
    return panel.dates[T - horizon - n: T - horizon]


def _long(panel: Panel) -> pd.DataFrame:
    R, T = panel.target().shape
    return pd.DataFrame({"unique_id": np.repeat(panel.regions.codes, T), "ds": np.tile(panel.dates, R),
                         "y": panel.target().ravel()})


def peer_cv(panel: Panel, horizon: int, season_length: int, seed: int = 0,
            peers: tuple[str, ...] = PEERS) -> pd.DataFrame:
    """statsforecast's own cross-validation of the peers, scored per region, origin, horizon."""
    from scipy import stats
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, HistoricAverage, Naive

    levels = sorted({round(100 * (1 - a)) for a in WIS_ALPHAS})
    freq = {"M": "MS", "D": "D", "W": "W-MON"}.get(panel.freq, panel.freq)
    make = {"Naive": Naive, "HistoricAverage": HistoricAverage,
            "AutoETS": lambda: AutoETS(season_length=season_length),
            "AutoARIMA": lambda: AutoARIMA(season_length=season_length)}
    models = [make[m]() for m in peers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = StatsForecast(models=models, freq=freq, n_jobs=1).cross_validation(
            df=_long(panel), h=horizon, step_size=1, n_windows=n_windows(panel), level=levels)
    cv = cv.sort_values(["unique_id", "cutoff", "ds"]).reset_index(drop=True)
    want = cv_origins(panel, horizon)
    got = pd.DatetimeIndex(sorted(cv["cutoff"].unique()))
    if not got.equals(want):
        raise RuntimeError(f"statsforecast cutoffs {list(got.date)} differ from {list(want.date)}")
    cv["horizon"] = cv.groupby(["unique_id", "cutoff"]).cumcount() + 1
    y = cv["y"].to_numpy(float)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(2000)
    frames = []
    for m in peers:
        lo = np.stack([np.maximum(cv[f"{m}-lo-{round(100 * (1 - a))}"].to_numpy(float), 0) for a in WIS_ALPHAS])
        hi = np.stack([np.maximum(cv[f"{m}-hi-{round(100 * (1 - a))}"].to_numpy(float), 0) for a in WIS_ALPHAS])
        mu = cv[m].to_numpy(float)
        sd = (cv[f"{m}-hi-80"].to_numpy(float) - cv[f"{m}-lo-80"].to_numpy(float)) / (2 * stats.norm.ppf(0.9))
        draws = np.maximum(mu[None] + sd[None] * z[:, None], 0)
        lo_l = {lv: np.maximum(cv[f"{m}-lo-{lv}"].to_numpy(float), 0) for lv in (80, 95)}
        hi_l = {lv: np.maximum(cv[f"{m}-hi-{lv}"].to_numpy(float), 0) for lv in (80, 95)}
        frames.append(pd.DataFrame({
            "model": f"statsforecast {m}", "kind": "peer", "origin": cv["cutoff"], "region": cv["unique_id"],
            "horizon": cv["horizon"], "target_date": cv["ds"], "observed": y,
            "wis": wis_intervals(np.maximum(mu, 0), lo, hi, y), "crps": crps_sample(draws, y),
            **{f"cover_{lv}": ((y >= lo_l[lv]) & (y <= hi_l[lv])).astype(float) for lv in (80, 95)}}))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def toolkit_cv(panel: Panel, label: str, name: str, kwargs: dict[str, Any], horizon: int, n_draws: int,
               seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """A toolkit model at the cross-validation origins (fitted on the data up to each)."""
    from functools import partial

    from displacement_forecast.evaluate.backtest import ModelSpec, of_target, run_backtest
    from displacement_forecast.models import get_model

    spec = ModelSpec(label, dict(kwargs), partial(get_model, name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_backtest(panel, models=[spec], origins=cv_origins(panel, horizon), horizon=horizon,
                           n_draws=n_draws, seed=seed, workers=1, progress=False)
    s = of_target(res.scores)  # each period's scores
    s = s[(s["region"] != "ALL") & (s["drivers"] == "forecast")].assign(kind="toolkit")
    fails = [f"{label} @ {pd.Timestamp(r.origin).date()}: {str(r.error)[:200]}" for r in res.failures.itertuples()]
    return s[COLUMNS].reset_index(drop=True), fails


def toolkit_specs(ds: Dataset, names: list[str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, registry name, kwargs)`` of the toolkit models run on ``ds``."""
    from displacement_forecast.models import DEFAULT_MODEL

    out = [("historic-average", "historic-average", {}), ("last-value", "last-value", {}),
           ("climatology", "climatology", {}), ("arima", "arima", {})]
    if ds.drivers:
        out += [("sarimax", "sarimax", {}), ("nb-dl", "nb-dl", {}), ("dynamic", "dynamic", {})]
    out.append(("dynamic (no drivers)", "dynamic", {"drivers": None}))
    out.append((f"default ({DEFAULT_MODEL})", DEFAULT_MODEL, {}))
    if names:
        out = [o for o in out if o[0] in names or o[1] in names]
    return out


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean WIS, CRPS and 80/95% coverage per model and horizon."""
    return (scores.groupby(["model", "kind", "horizon"])
            .agg(wis=("wis", "mean"), crps=("crps", "mean"), cov80=("cover_80", "mean"),
                 cov95=("cover_95", "mean"), n=("wis", "size")).reset_index())


def ratios(tab: pd.DataFrame) -> pd.DataFrame:
    """Each model's mean WIS over that of the best peer at the same horizon (``best_peer`` named)."""
    peers = tab[tab["kind"] == "peer"]
    best = peers.loc[peers.groupby("horizon")["wis"].idxmin(), ["horizon", "model", "wis"]]
    best = best.rename(columns={"model": "best_peer", "wis": "best_wis"})
    out = tab.merge(best, on="horizon")
    out["ratio"] = out["wis"] / out["best_wis"]
    return out


def common_misses(scores: pd.DataFrame, default: str) -> pd.DataFrame:
    """Per horizon, how much of the WIS comes from cells every model missed (outside every 95% interval).

    Columns: ``horizon, n, n_missed, peer, P`` (best peer's mean WIS), ``D`` (the default's),
    ``F_p``/``F_d`` (their WIS on the commonly missed cells, per scored cell), ``rest`` (the
    default's ratio on the other cells) and ``needed`` (the ratio the default would need on the
    other cells for 0.85 overall, the missed cells unchanged).
    """
    key = ["origin", "region", "horizon"]
    miss = scores.groupby(key)["cover_95"].max().eq(0).rename("missed").reset_index()
    tab = ratios(summary(scores))
    rows = []
    for h, g in scores.merge(miss, on=key).groupby("horizon"):
        best = tab[(tab["horizon"] == h)].iloc[0]["best_peer"]
        p, d = g[g["model"] == best], g[g["model"] == default]
        if d.empty:
            continue
        n = len(p)
        P, D = p["wis"].mean(), d["wis"].mean()
        Fp, Fd = p.loc[p["missed"], "wis"].sum() / n, d.loc[d["missed"], "wis"].sum() / n
        rows.append({"horizon": h, "n": n, "n_missed": int(p["missed"].sum()), "peer": best, "P": P, "D": D,
                     "F_p": Fp, "F_d": Fd, "rest": (D - Fd) / (P - Fp), "needed": (0.85 * P - Fd) / (P - Fp)})
    return pd.DataFrame(rows)


def section(ds: Dataset, scores: pd.DataFrame, meta: dict[str, Any]) -> str:
    """Markdown for one dataset: WIS | CRPS | ratio per shown horizon, coverage pooled over horizons."""
    tab = ratios(summary(scores))
    tab = tab[tab["horizon"].isin(ds.shown)]
    head = ["model"] + [f"{k} h{h}" for h in ds.shown for k in ("WIS", "CRPS", "x best peer")] + ["80%", "95%"]
    lines = [f"### {ds.title}", "",
             f"{meta['n_regions']} region(s); {meta['n_origins']} origins {meta['first']} .. {meta['last']} "
             f"(n_windows = {meta['n_origins']}), horizons 1-{ds.horizon}; toolkit models {meta['draws']} paths. "
             "Best peer per horizon: " + ", ".join(
                 f"h{r.horizon} {r.best_peer} ({r.best_wis:,.0f})" for r in
                 tab.drop_duplicates("horizon").sort_values("horizon").itertuples()) + ".", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cov = scores.groupby("model")[["cover_80", "cover_95"]].mean()
    order = tab[["model", "kind"]].drop_duplicates()
    order = order.assign(k=order["kind"].map({"peer": 0, "toolkit": 1})).sort_values(["k", "model"])
    for model in order["model"]:
        row = [model]
        for h in ds.shown:
            r = tab[(tab["model"] == model) & (tab["horizon"] == h)]
            if r.empty:
                row += ["-", "-", "-"]
                continue
            r = r.iloc[0]
            row += [f"{r.wis:,.0f}", f"{r.crps:,.0f}", f"{r.ratio:.2f}"]
        row += [f"{cov.loc[model, 'cover_80']:.0%}", f"{cov.loc[model, 'cover_95']:.0%}"]
        lines.append("| " + " | ".join(row) + " |")
    default = next((m for m in order["model"] if m.startswith("default")), None)
    if default is not None:
        cm = common_misses(scores, default)
        cm = cm[cm["horizon"].isin(ds.shown)]
        if len(cm):
            lines += ["", f"Cells every model missed (outside all {scores['model'].nunique()} models' 95% intervals) "
                      f"and what they leave for {default}: " + "; ".join(
                          f"h{r.horizon}: {r.n_missed} of {r.n} cells carry {r.F_p / r.P:.0%} of the best peer's "
                          f"WIS ({r.F_p:,.0f} of {r.P:,.0f}) and {r.F_d / r.D:.0%} of the default's; on the other "
                          f"cells the default scores {r.rest:.2f}x the peer (0.85x overall would need {r.needed:.2f}x)"
                          for r in cm.itertuples()) + "."]
    if meta.get("failures"):
        lines += ["", "Failed fits: " + "; ".join(meta["failures"][:10])]
    else:
        lines += ["", "No toolkit fit failed."]
    return "\n".join(lines)


def section_main(argv: list[str] | None, doc: str, table, render, start: str, end: str) -> None:
    """The command line of a script that writes one section of the results page: ``--datasets``,
    ``--draws``, ``--no-doc``; ``table(name, draws)`` gives a dataset's rows, ``render(rows, draws)``
    the section's text, written between ``start`` and ``end`` (:func:`write_doc`)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--datasets", default="somalia,syria")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--no-doc", action="store_true")
    a = ap.parse_args(argv)
    require_real()
    t0 = time.time()
    tab = pd.concat([table(n, a.draws) for n in a.datasets.split(",") if n], ignore_index=True)
    text = render(tab, a.draws)
    print(text)
    print(f"({time.time() - t0:.0f} s)")
    if not a.no_doc:
        write_doc(text, start=start, end=end)


def write_doc(text: str, doc: Path = DOC, start: str = START, end: str = END) -> None:
    """Put ``text`` between the ``start``/``end`` markers of the results page (appended the first time)."""
    page = doc.read_text() if doc.exists() else "# Real-world results\n"
    block = f"{start}\n{text}\n{end}"
    if start in page and end in page:
        page = page[: page.index(start)] + block + page[page.index(end) + len(end):]
    else:
        page = page.rstrip("\n") + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(doc)


def render(names: list[str]) -> str:
    """The whole section from the cached files."""
    import json

    all_ds = datasets()
    parts = ["## Against statsforecast on its own cross-validation origins", "",
             "Generated by `python experiments/real_world/cv_peers.py` from `reports/real_world/cv/*.csv`. "
             "Origins and peers exactly as issue 16 specifies (see the script's docstring): statsforecast "
             "`cross_validation(h, step_size=1, n_windows=T//2-2)`, peers with their own `level=` intervals "
             "(clipped at 0), toolkit models fitted at the same origins. WIS over the median and the 11 central "
             "intervals alpha = 0.02 ... 0.9 (hub standard), CRPS beside it, in people per region and period; "
             "'x best peer' = the model's mean WIS over that of the best of the four peers at that horizon; "
             "80%/95% = coverage pooled over all horizons.", "",
             "**Matching issue 16's reference figures** (measured 2026-11-30 while building this harness; not "
             "re-run by the script). statsforecast HistoricAverage on Somalia scores WIS 7,396 / 11,949 / 11,350 "
             "(h1-h3) exactly when its interval bounds are clipped at 0 (`test_cv_peers.py` checks it); unclipped "
             "it scores 7,816 / 12,369 / 11,770, 420 more at every horizon - the width of the intervals below 0, "
             "which no count can fall into. The issue's toolkit `arima` ratios (3.4x / 1.6x / 1.6x) are reproduced "
             "by the pre-fix `arima` (commit 47d5750) only when the all-region total `ALL` is averaged with the "
             "regions (WIS 25,106 / 18,879 / 17,962, i.e. 3.39x / 1.58x / 1.58x): the peers have no `ALL` row, so "
             "that comparison mixed a total 18 times larger into the toolkit's mean. On regions only, the pre-fix "
             "`arima` scored 15,856 / 12,363 / 11,483 (2.14x / 1.03x / 1.01x); the fixed one is in the tables "
             "below. Every table here scores regions only, for peers and toolkit alike."]
    for n in names:
        f = OUT / f"{n}_meta.json"
        files = sorted(OUT.glob(f"{n}__*.csv"))
        if not f.exists() or not files:
            continue
        meta = json.loads(f.read_text())
        fails = []
        for g in sorted(OUT.glob(f"{n}__*.fail.json")):
            fails += json.loads(g.read_text())
        meta["failures"] = fails
        scores = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
        parts += ["", section(all_ds[n], scores, meta)]
    return "\n".join(parts)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def run(names: list[str], models: list[str] | None, draws: int, reuse_peers: bool, seed: int = 0) -> None:
    """Run peers and toolkit models on each dataset, caching one CSV per model."""
    import json

    require_real()
    OUT.mkdir(parents=True, exist_ok=True)
    all_ds = datasets()
    for n in names:
        ds = all_ds[n]
        panel, gaps = complete_regions(ds.build(), ds.population, ds.fill_gaps)
        orig = cv_origins(panel, ds.horizon)
        meta = {"n_regions": len(panel.regions), "n_origins": len(orig), "first": str(orig[0].date()),
                "last": str(orig[-1].date()), "draws": draws, "seed": seed}
        (OUT / f"{n}_meta.json").write_text(json.dumps(meta, indent=1))
        peer_file = OUT / f"{n}__peers.csv"
        if not (reuse_peers and peer_file.exists()):
            t0 = time.perf_counter()
            drop_gaps(peer_cv(panel, ds.horizon, ds.season_length, seed), panel, gaps).to_csv(peer_file, index=False)
            print(f"{n}: peers {time.perf_counter() - t0:.0f} s", flush=True)
        for label, name, kw in toolkit_specs(ds, models):
            t0 = time.perf_counter()
            sc, fails = toolkit_cv(panel, label, name, kw, ds.horizon, draws, seed)
            sc = drop_gaps(sc, panel, gaps)
            sc.to_csv(OUT / f"{n}__{_slug(label)}.csv", index=False)
            (OUT / f"{n}__{_slug(label)}.fail.json").write_text(json.dumps(fails))
            w = sc.groupby("horizon")["wis"].mean()
            print(f"{n}: {label} {time.perf_counter() - t0:.0f} s; WIS "
                  + " / ".join(f"{w.get(h, np.nan):,.0f}" for h in ds.shown)
                  + (f"; {len(fails)} failed" if fails else ""), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="somalia,syria,ukraine")
    ap.add_argument("--models", help="comma-separated toolkit labels or registry names (default: all)")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse-peers", action="store_true", help="keep the cached peer scores")
    ap.add_argument("--render-only", action="store_true", help="only rewrite the page from the cache")
    ap.add_argument("--no-doc", action="store_true")
    a = ap.parse_args(argv)
    names = [s.strip() for s in a.datasets.split(",") if s.strip()]
    if not a.render_only:
        run(names, a.models.split(",") if a.models else None, a.draws, a.reuse_peers, a.seed)
    if not a.no_doc:
        write_doc(render(list(datasets())))


if __name__ == "__main__":
    main()
