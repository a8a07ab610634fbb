"""Issue 16: what can a forecaster that knows the simulator reach on the synthetic acceptance lines?

The lines "the default beats last-value (CRPS) at every horizon 1-4 ... on other simulator seeds;
the all-region 80% bands cover 72-88% at every horizon" are checked by ``auto_synthetic_check.py``
on 52 weekly origins of each of 16 simulated histories. This script asks how far they are within
reach at all: it forecasts the same origins with the simulator's own process and true parameters
(:mod:`displacement_forecast.data.simulate`), so its intervals are calibrated by construction,
except for what the process itself cannot know in advance. Two forecasters:

- both know the true parameters, each region's latent strike intensity (AR(1) state) at the
  origin, the people still at risk and every escalation that has started by the origin;
- ``known ends`` also knows when each escalation going on at the origin ends (more than anyone
  could); ``unknown ends`` draws its length as the simulator draws them (3-8 weeks, equally
  likely) given the weeks it has lasted;
- neither knows escalations that start after the origin. They draw them as the simulator draws
  its random bursts, given how many of its 6 have begun by the origin: 3-8 weeks, a start
  uniform over the weeks where the burst ends 10 weeks before the history's end, a random zone,
  x3-x8. The scripted final offensive (x1.5-x12, all zones,
  its start fixed 9 weeks before the end, 9 weeks long) is not part of that process, so neither
  sees it coming: a forecast from before its start that reaches into it is the onset a history
  can only show, not forecast.

Per history it reports the all-region total's 80% coverage at horizons 1-4 on the same origins as
``auto_synthetic_check.py`` (``default_origins(dates, 4, n=52, step=1)``), with the same
moving-block interval, the regions' coverage as a check that the forecasters are calibrated, and
their CRPS skill against last-value beside auto's (from ``auto_synthetic_check.py``'s saved
scores). Writes ``experiments/results/synthetic_truth_forecaster.md``. Usage::

    python experiments/synthetic_truth_forecaster.py [--seeds 1,...,15] [--draws 2000] [--seed 0]

Runs in about two minutes (numpy only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.data.io import write_text_atomic
from displacement_forecast.data.simulate import (
    _ZONE_STRIKE_BASE,
    SimulatedData,
    displacement_mean,
    simulate_nw_syria,
)
from displacement_forecast.distributions import draw_nb
from displacement_forecast.evaluate.backtest import coverage_interval, default_origins
from displacement_forecast.evaluate.scores import crps_sample

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results" / "synthetic_truth_forecaster.md"
#: auto_synthetic_check.py's saved scores, shown beside the forecaster's where present
AUTO = ROOT / "experiments" / "results" / "auto_synthetic_check"
H = 4
#: simulate_nw_syria's defaults for the random bursts (3-8 weeks, x3-x8, 6 of them)
N_BURSTS, DUR, MULT = 6, (3, 9), (3.0, 8.0)


def _history(name: str) -> SimulatedData:
    return simulate_nw_syria(seed=2022 if name == "shipped" else int(name.removeprefix("seed")))


def _known_multiplier(sim: SimulatedData, origin: int, n: int, ends_known: bool
                      ) -> tuple[np.ndarray, list[tuple[np.ndarray, int]]]:
    """Escalation multiplier (R, n) of every burst that started by week ``origin``: for its whole
    length when ``ends_known``; else up to the origin, with the bursts still going on listed as
    ``(multiplier per region (R,), weeks elapsed)`` (bursts that start the same week are one: the
    final offensive's zones end together)."""
    zones = sim.regions.frame["parent"].to_numpy()
    mult = np.ones((len(zones), n))
    ongoing: dict[tuple[int, int], np.ndarray] = {}
    for z, start, weeks, k in sim.escalations[["zone", "start_week", "weeks", "multiplier"]].itertuples(index=False):
        if start > origin:
            continue
        end = start + weeks if ends_known else min(start + weeks, origin + 1)
        mult[zones == z, max(start, 0): end] *= k
        if not ends_known and start + weeks > origin:  # going on at the origin: it may end now or later
            ongoing.setdefault((start, weeks), np.ones(len(zones)))[zones == z] *= k
    return mult, [(k, origin - start + 1) for (start, _), k in ongoing.items()]


def _final(sim: SimulatedData, n: int) -> np.ndarray:
    """Which rows of ``sim.escalations`` are the scripted final offensive (9 weeks, to the end of ``n`` weeks)."""
    e = sim.escalations
    return ((e["weeks"] == 9) & (e["start_week"] == n - 9)).to_numpy()


def _later_bursts(sim: SimulatedData, origin: int, n: int, draws: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Start weeks and lengths ``(draws, m)`` of the ``m`` random bursts not begun by ``origin``.

    The simulator draws :data:`N_BURSTS` bursts, each a length of 3-8 weeks and then a start
    uniform over the weeks where it ends before the final offensive (``start + length <= n - 10``;
    ``<= n - 1`` without one). Those not begun by the origin start later: (length, start) drawn
    from that prior given ``start > origin``. None can when no such week is left."""
    final = _final(sim, n)
    m = N_BURSTS - int((sim.escalations.loc[~final, "start_week"] <= origin).sum())
    last_end = n - 10 if final.any() else n - 1
    pairs = [(t0, d, 1.0 / (last_end - d + 1)) for d in range(*DUR) for t0 in range(origin + 1, last_end - d + 1)]
    if m <= 0 or not pairs:
        return np.full((draws, 0), n), np.zeros((draws, 0), int)
    p = np.array([w for _, _, w in pairs])
    pick = rng.choice(len(pairs), size=(draws, m), p=p / p.sum())
    return np.array([t0 for t0, _, _ in pairs])[pick], np.array([d for _, d, _ in pairs])[pick]


def _wide(sim: SimulatedData) -> dict[str, np.ndarray]:
    """The history's strikes, flights and displaced as ``(region, week)`` arrays, regions in table order."""
    obs = sim.observations
    return {s: obs[obs.series == s].pivot(index="region", columns="date", values="value")
            .loc[sim.regions.codes].to_numpy() for s in ("strikes", "flights", "displaced")}


def forecast(sim: SimulatedData, wide: dict[str, np.ndarray], origin: int, draws: int, rng: np.random.Generator,
             ends_known: bool = True) -> np.ndarray:
    """Paths (draws, R, H) of displacement after week ``origin`` (0-based panel index) from the true
    process; ``wide``: :func:`_wide` of ``sim``.

    ``ends_known=False``: a burst going on at the origin lasts, per path, a length drawn as the
    simulator draws them (3-8 weeks, equally likely) given the weeks it has lasted, the origin's
    included; it may end at the origin (it does when it has lasted 8 or more)."""
    t = sim.truth
    R, n = wide["strikes"].shape
    zones = sim.regions.frame["parent"].to_numpy()
    zone_names = sorted(set(zones))
    base = np.array([_ZONE_STRIKE_BASE.get(z, 1.0) for z in zones])
    mult, ongoing = _known_multiplier(sim, origin, n + H, ends_known)
    z0 = np.log(sim.intensity["strikes"][:, origin] / (base * mult[:, origin]))  # the AR(1) state
    L = t.n_lags
    # future bursts, drawn per path: start, zone, length, multiplier
    fut = np.ones((draws, R, H))
    for k, elapsed in ongoing:
        left = np.arange(max(DUR[0], elapsed), DUR[1]) - elapsed  # weeks still to go, equally likely
        for d, r in enumerate(rng.choice(left, size=draws) if len(left) else np.zeros(draws, int)):
            fut[d, :, :r] *= k[:, None]
    starts, lengths = _later_bursts(sim, origin, n, draws, rng)  # (draws, bursts) each
    zi = rng.integers(len(zone_names), size=starts.shape)
    k = rng.uniform(*MULT, size=starts.shape)
    for d, b in zip(*np.nonzero(starts <= origin + H), strict=True):  # the few that start within the horizon
        w = starts[d, b] - origin - 1
        fut[d, zones == zone_names[zi[d, b]], w: w + lengths[d, b]] *= k[d, b]
    strikes = np.repeat(wide["strikes"][None, :, origin - L + 2: origin + 1], draws, axis=0)
    flights = np.repeat(wide["flights"][None, :, origin - L + 2: origin + 1], draws, axis=0)
    at_risk = np.repeat((sim.regions.population - wide["displaced"][:, : origin + 1].sum(axis=1))[None], draws, axis=0)
    z = np.repeat(z0[None], draws, axis=0)
    out = np.zeros((draws, R, H))
    for h in range(H):
        z = t.strike_ar * z + rng.normal(0.0, t.strike_sd, z.shape)
        lam = base * np.exp(z) * mult[:, origin + 1 + h] * fut[:, :, h]
        s = draw_nb(rng, lam, t.strike_nb_alpha)
        f = draw_nb(rng, t.flights_per_strike * lam, t.strike_nb_alpha)
        strikes = np.concatenate([strikes, s[:, :, None]], axis=2)
        flights = np.concatenate([flights, f[:, :, None]], axis=2)
        m = displacement_mean(strikes.reshape(-1, L), flights.reshape(-1, L), at_risk.reshape(-1),
                              np.tile(t.alpha, draws), t).reshape(draws, R)
        d = np.minimum(draw_nb(rng, m, t.nb_alpha), at_risk)
        out[:, :, h] = d
        at_risk = at_risk - d
        strikes, flights = strikes[:, :, 1:], flights[:, :, 1:]
    return out


def _onset(sim: SimulatedData, dates: pd.DatetimeIndex) -> pd.Timestamp | None:
    """First week of the scripted final offensive (9 weeks, every zone, to the end), None without one."""
    return dates[len(dates) - 9] if _final(sim, len(dates)).any() else None


#: the two forecasters: whether they know when a burst going on at the origin ends
FORECASTERS = {"known ends": True, "unknown ends": False}


def run(name: str, sim: SimulatedData, draws: int, seed: int, forecasters: dict[str, bool] = FORECASTERS
        ) -> pd.DataFrame:
    """Per forecaster, origin, horizon and scope (``ALL``: the total; ``regions``: their mean): the
    80% coverage, whether the cell is the final offensive's onset, the share above the band and the CRPS."""
    dates = pd.DatetimeIndex(sorted(sim.observations["date"].unique()))
    wide = _wide(sim)
    y = wide["displaced"]
    onset = _onset(sim, dates)
    rows = []
    for label, known in forecasters.items():
        rng = np.random.default_rng(np.random.SeedSequence([seed, sum(map(ord, name)), int(known)]))
        for o in default_origins(dates, H, n=52, step=1):
            i = dates.get_loc(o)
            paths = forecast(sim, wide, i, draws, rng, ends_known=known)
            for scope, p, obs in (("ALL", paths.sum(axis=1)[:, None, :], y[:, i + 1: i + 1 + H].sum(axis=0)[None]),
                                  ("regions", paths, y[:, i + 1: i + 1 + H])):
                lo, hi = np.quantile(p, [0.1, 0.9], axis=0)
                cov = ((obs >= lo) & (obs <= hi)).mean(axis=0)
                crps = crps_sample(p, obs).mean(axis=0)
                for h in range(H):
                    rows.append((label, name, o, h + 1, scope, cov[h],
                                 onset is not None and o < onset <= dates[i + 1 + h],
                                 float((obs[:, h] > hi[:, h]).mean()), crps[h]))
    return pd.DataFrame(rows, columns=["forecaster", "history", "origin", "horizon", "scope", "cover_80", "onset",
                                       "above", "crps"])


def _saved(history: str) -> pd.DataFrame | None:
    """From auto_synthetic_check.py's saved scores, per horizon: auto's all-region 80% coverage
    (``cover_80``) and the mean CRPS per region-week of auto and last-value, if saved."""
    f = AUTO / f"{history}_scores.csv.gz"
    if not f.exists():
        return None
    from displacement_forecast.evaluate.backtest import of_target

    s = of_target(pd.read_csv(f))  # each period's scores (files saved before 2026-12-02 hold no others)
    reg = s[s["region"] != "ALL"].groupby(["model", "horizon"])["crps"].mean().unstack(0)
    cov = s[(s["model"] == "auto") & (s["region"] == "ALL")].groupby("horizon")["cover_80"].mean()
    return pd.DataFrame({"cover_80": cov, "auto": reg["auto"], "last-value": reg["last-value"]})


def _verdict(df: pd.DataFrame, saved: dict[str, pd.DataFrame | None], hists: list[str]) -> list[str]:
    """How many histories meet each acceptance line, per forecaster and for auto."""
    tot = df[df.scope == "ALL"].groupby(["forecaster", "history", "horizon"])["cover_80"].mean()
    reg = df[df.scope == "regions"].groupby(["forecaster", "history", "horizon"])["crps"].mean()
    hs = range(1, H + 1)
    have = all(v is not None for v in saved.values())
    rows = ["## Verdict", "", f"Histories (of {len(hists)}) that meet each line at every horizon 1-{H}:", "",
            "| forecaster | ALL cov80 within 72-88% | CRPS skill vs last-value > 0 |", "|---|---|---|"]
    for f in dict.fromkeys(df["forecaster"]):
        cov = sum(all(0.72 <= tot[(f, n, h)] <= 0.88 for h in hs) for n in hists)
        skill = (str(sum(all(reg[(f, n, h)] < saved[n]["last-value"][h] for h in hs) for n in hists)) if have else "-")
        rows.append(f"| {f} | {cov} | {skill} |")
    if have:
        cov = sum(all(0.72 <= saved[n]["cover_80"][h] <= 0.88 for h in hs) for n in hists)
        skill = sum(all(saved[n]["auto"][h] < saved[n]["last-value"][h] for h in hs) for n in hists)
        rows.append(f"| auto | {cov} | {skill} |")
    return [*rows, ""]


def report(df: pd.DataFrame, cmd: str, wall: float) -> str:
    hists = list(dict.fromkeys(df["history"]))
    names = list(dict.fromkeys(df["forecaster"]))
    saved = {n: _saved(n) for n in hists}
    have = all(v is not None for v in saved.values())
    hs = range(1, H + 1)
    lines = [
        "# What a forecaster that knows the simulator reaches on the synthetic acceptance lines",
        "",
        f"*Generated by `{cmd}` in {wall:.0f} s; do not edit by hand.*",
        "",
        "Two forecasters run the simulator's own process with the true parameters "
        "(`experiments/synthetic_truth_forecaster.py`). Both know the latent strike intensity at the origin, the "
        "people at risk and the escalations begun by the origin, and draw later bursts as the simulator does. "
        "`known ends` also knows when each escalation going on at the origin ends (more than anyone could); "
        "`unknown ends` draws its length as the simulator draws them (3-8 weeks) given the weeks it has lasted. "
        "Neither can see the scripted final offensive before it starts, and `unknown ends` takes it for a burst "
        "of 3-8 weeks. Same 52 weekly origins per history as `auto_synthetic_check.py`; `onset` cells are "
        "forecasts from before the final offensive whose target week is inside it (1, 2, 3, 4 of the 52 at "
        "horizons 1-4). `auto`: the default model on the same origins, from the scores `auto_synthetic_check.py` "
        "saved (`experiments/results/auto_synthetic_check/`).",
        "",
        *_verdict(df, saved, hists),
        "## Pooled over the histories",
        "",
        "| forecaster | h | regions cov80 | ALL cov80 | ALL cov80, onset cells left out | ALL cov80 on onset cells | "
        "ALL share above the band |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in names:
        d = df[df.forecaster == f]
        for h in hs:
            a, r = d[(d.scope == "ALL") & (d.horizon == h)], d[(d.scope == "regions") & (d.horizon == h)]
            on = a[a.onset]
            lines.append(f"| {f} | {h} | {r.cover_80.mean():.1%} | {a.cover_80.mean():.1%} | "
                         f"{a[~a.onset].cover_80.mean():.1%} | "
                         + (f"{on.cover_80.mean():.0%} of {len(on)}" if len(on) else "-") + f" | {a.above.mean():.1%} |")
    if have:
        lines.append("| auto | 1-4 | - | " + " / ".join(f"{np.mean([saved[n]['cover_80'][h] for n in hists]):.1%}"
                                                     for h in hs) + " | - | - | - |")
    tot = df[df.scope == "ALL"]
    lines += ["", "## Per history: ALL cov80 (90% moving-block interval, blocks of 8 origins)", "",
              "| history | " + " | ".join(f"{f} h{h}" for h in hs for f in [*names, *(["auto"] if have else [])]) + " |",
              "|---|" + "---|" * (len(names) + have) * H]
    low = {(f, h): 0 for f in names for h in hs}
    for n in hists:
        cells = []
        for h in hs:
            for f in names:
                c = tot[(tot.forecaster == f) & (tot.history == n) & (tot.horizon == h)].sort_values("origin")
                c = c["cover_80"].to_numpy()
                lo, hi = coverage_interval(c, block=8)
                low[(f, h)] += c.mean() < 0.72
                cells.append(f"{c.mean():.0%} ({lo:.0%}-{hi:.0%})")
            if have:
                cells.append(f"{saved[n]['cover_80'][h]:.0%}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += [""] + [f"`{f}` below 72% (the acceptance line's floor): "
                     + ", ".join(f"{low[(f, h)]} of {len(hists)} histories at h{h}" for h in hs) + "." for f in names]
    if have:
        auto_low = [sum(saved[n]["cover_80"][h] < 0.72 for n in hists) for h in hs]
        lines += ["`auto` below 72%: " + ", ".join(f"{k} of {len(hists)} at h{h}" for k, h in zip(auto_low, hs, strict=True)) + ".",
                  "", "## Skill against last-value (per-region CRPS, the acceptance line's other half)", "",
                  "1 - CRPS / CRPS(last-value) per region-week on the same cells; last-value's and auto's CRPS from "
                  "`auto_synthetic_check.py`'s saved scores. The forecasters' skill is the headroom a model could "
                  "reach with the truth's parameters and state.", "",
                  "| history | " + " | ".join(f"{f} h{h}" for h in hs for f in [*names, "auto"]) + " |",
                  "|---|" + "---|" * (len(names) + 1) * H]
        reg = df[df.scope == "regions"].groupby(["forecaster", "history", "horizon"])["crps"].mean()
        for n in hists:
            lv = saved[n]["last-value"]
            lines.append(f"| {n} | " + " | ".join(
                " | ".join([*(f"{1 - reg[(f, n, h)] / lv[h]:+.1%}" for f in names),
                            f"{1 - saved[n]['auto'][h] / lv[h]:+.1%}"]) for h in hs) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default=",".join(str(s) for s in range(1, 16)), help="simulator seeds besides the shipped history")
    ap.add_argument("--draws", type=int, default=2000, help="sample paths per origin")
    ap.add_argument("--seed", type=int, default=0, help="seed of the forecaster's draws")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    names = ["shipped", *(f"seed{s}" for s in a.seeds.split(",") if s)]
    df = pd.concat([run(n, _history(n), a.draws, a.seed) for n in names], ignore_index=True)
    cmd = "python experiments/synthetic_truth_forecaster.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    write_text_atomic(report(df, cmd, time.perf_counter() - t0), OUT)
    print(OUT.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
