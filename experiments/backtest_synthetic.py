"""Backtest every classical model and the statsforecast peers on the shipped synthetic data.

Writes ``docs/backtest-results.md`` (every number in it comes from this run) and the raw
outputs (scores.csv, summary.csv, plots) into ``--out``. Usage::

    python experiments/backtest_synthetic.py [--workers 2] [--horizon 4] [--draws 500] [--other-seeds 1,2,3,4]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast._cli.backtest_command import write_outputs
from displacement_forecast.data.io import read_observations, write_text_atomic
from displacement_forecast.data.regions import load_regions
from displacement_forecast.data.simulate import simulate_nw_syria
from displacement_forecast.distributions import draw_nb
from displacement_forecast.evaluate.backtest import (
    ORACLE_SUFFIX,
    ModelSpec,
    default_origins,
    of_target,
    run_backtest,
    summarise,
    winners,
)
from displacement_forecast.models.base import Panel
from displacement_forecast.models.drivers import DriverForecaster
from displacement_forecast.models.glm import NBDistributedLag

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria"
MODELS = ["last-value", "climatology", "nb-dl", "sarimax", "statsforecast-autoets", "statsforecast-autoarima"]


def shipped_panel() -> Panel:
    """The shipped synthetic data (``data/synthetic_nw_syria``, ``simulate_nw_syria(seed=2022)``) as a panel."""
    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    return Panel.from_observations(obs, regions)


def final_offensive_start(sim) -> pd.Timestamp:
    """First week of the simulator's final (all-zone) offensive in the history ``sim``."""
    return pd.Timestamp(sim.escalations["start_date"].iloc[-1])


class TrueIntensityDrivers:
    """Strike/flight 'forecasts' drawn around the simulator's true future intensity.

    Not a forecast anyone could make: it knows when escalations start and end and misses only
    the count noise. nb-dl driven by it is the ceiling for any strike forecaster.
    """

    def __init__(self, intensity: dict[str, np.ndarray], dates: pd.DatetimeIndex, origin: pd.Timestamp,
                 nb_alpha: float):
        self.intensity, self.nb_alpha = intensity, nb_alpha
        self.after = np.flatnonzero(dates > origin)

    def sample(self, horizon: int, n_draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        idx = self.after[np.minimum(np.arange(horizon), len(self.after) - 1)]
        return {s: draw_nb(rng, np.broadcast_to(lam[:, idx], (n_draws, lam.shape[0], horizon)), self.nb_alpha)
                for s, lam in self.intensity.items()}


class NBDLTrueIntensity(NBDistributedLag):
    """nb-dl whose driver paths come from :class:`TrueIntensityDrivers` (the ceiling run)."""

    name = "nb-dl+true-intensity"

    def __init__(self, intensity: dict[str, np.ndarray], dates: pd.DatetimeIndex, nb_alpha: float):
        super().__init__()
        self._oracle = (intensity, dates, nb_alpha)

    def fit(self, observations, regions=None, **kw):
        super().fit(observations, regions, **kw)
        intensity, dates, nb_alpha = self._oracle
        self.driver_model_ = TrueIntensityDrivers(intensity, dates, self.panel_.origin, nb_alpha)
        return self


def _ceiling(panel: Panel, origins: pd.DatetimeIndex, scores: pd.DataFrame, a: argparse.Namespace) -> list[str]:
    """Doc section: how far a perfect strike forecast could take nb-dl, and why 20% is out of reach."""
    sim = simulate_nw_syria(seed=2022)
    sim_panel = Panel.from_observations(sim.observations, sim.regions)
    if not np.array_equal(sim_panel.series["strikes"], panel.series["strikes"]):
        raise SystemExit("the shipped data are not simulate_nw_syria(seed=2022): no true intensity for them")
    spec = ModelSpec("nb-dl+true-intensity", factory=NBDLTrueIntensity,
                     config={"intensity": sim.intensity, "dates": panel.dates,
                             "nb_alpha": sim.truth.strike_nb_alpha})
    res = run_backtest(panel, models=["last-value", spec], origins=origins, horizon=a.horizon, n_draws=a.draws,
                       seed=a.seed, workers=a.workers, progress=True)
    models = [m for m in ("nb-dl", "nb-dl" + ORACLE_SUFFIX) if m in set(scores["model"])]
    peers = [m for m in ("statsforecast-autoets",) if m in set(scores["model"])]
    both = pd.concat([scores[scores["model"].isin(["last-value", *models, *peers])],
                      of_target(res.scores).query("model == 'nb-dl+true-intensity'")], ignore_index=True)
    summ = summarise(both)
    reg = summ[summ["scope"] == "regions"].set_index(["model", "horizon"])
    cols = [*models, "nb-dl+true-intensity"]
    # Origins whose horizon reaches into the final offensive's first week: its onset is unannounced.
    start = final_offensive_start(sim)
    pos = panel.dates.get_indexer(origins)
    onset = [o for o, i in zip(origins, pos, strict=True) if start in panel.dates[i + 1 : i + 1 + a.horizon]]
    h = min(4, a.horizon)
    cell = both[(both["region"] != "ALL") & (both["horizon"] == h)]
    crps = cell.pivot_table(index=["origin", "region"], columns="model", values="crps")
    lv = crps["last-value"]
    at_onset = crps.index.get_level_values("origin").isin(onset)
    inside = crps.index.get_level_values("origin") >= start
    mixed = crps["nb-dl+true-intensity"].where(~at_onset, crps["nb-dl"])
    lines = [
        "## How far could a better strike forecast go? (ceiling)",
        "",
        "`nb-dl+true-intensity` is nb-dl fitted as usual, but its future strikes and flights are drawn "
        "around the intensity the simulator really used (`SimulatedData.intensity`): it knows when every "
        "escalation starts and ends and misses only the count noise. No forecast can do better through its "
        "strike model; `+oracle` (the counts that happened) is better still only because it also knows the noise.",
        "",
        "| weeks ahead | " + " | ".join(f"{m} skill" for m in cols) + " |",
        "|---|" + "---|" * len(cols),
        *(f"| {hh} | " + " | ".join(f"{reg.loc[(m, hh), 'skill']:+.1%}" for m in cols) + " |"
          for hh in range(1, a.horizon + 1)),
        "",
    ]
    if onset:
        share = lv[at_onset].sum() / lv.sum()
        lines += [
            f"{len(onset)} of the {len(origins)} origins ({onset[0].date()} .. {onset[-1].date()}) forecast "
            f"{h} weeks into the first week of the final offensive, which nothing in the data announces; at "
            f"{h} weeks they hold {share:.0%} of last-value's CRPS. Scoring those origins with nb-dl's own "
            "strike forecast and every other origin with the true intensity gives a skill at "
            f"{h} weeks of **{1 - mixed.mean() / lv.mean():+.1%}**: about the most nb-dl could reach on this "
            "data with any strike forecaster, and that one would have to know how long every escalation lasts.",
            "",
        ]
        lines += _where_the_crps_is(crps, ~at_onset & ~inside, at_onset, inside, h)
    lines += _fitting_history(sim, panel, [o for o in origins if o >= start], a)
    return lines


def _where_the_crps_is(crps: pd.DataFrame, before: np.ndarray, onset: np.ndarray, inside: np.ndarray,
                       h: int) -> list[str]:
    """Doc section: CRPS at horizon ``h`` split by where the origin lies relative to the final offensive
    (row masks of ``crps``), and what a model would need inside the offensive to reach +20% overall."""
    models = [m for m in ("last-value", "nb-dl", "statsforecast-autoets", "nb-dl+true-intensity") if m in crps]
    total = crps["last-value"].sum()
    lines = [
        "## Where the CRPS is",
        "",
        f"CRPS at {h} weeks ahead, mean per region-week, by where the origin lies relative to the final "
        "offensive. `share` is the group's part of last-value's total CRPS.",
        "",
        "| origins | n | share | " + " | ".join(models) + " |",
        "|---|---|---|" + "---|" * len(models),
    ]
    groups = {"before the offensive": before, "onset (horizon reaches its first week)": onset,
              "inside the offensive": inside}
    for name, sel in groups.items():
        n = crps[sel].index.get_level_values("origin").nunique()
        lines.append(f"| {name} | {n} | {crps.loc[sel, 'last-value'].sum() / total:.0%} | "
                     + " | ".join(f"{crps.loc[sel, m].mean():,.1f}" for m in models) + " |")
    # A model as good as nb-dl before the offensive and at its onset (no model beats last-value there
    # by much): how much better than last-value must it be inside the offensive for +20% overall?
    need = 0.8 * total - crps.loc[before, "nb-dl"].sum() - crps.loc[onset, "nb-dl"].sum()
    lv_in = crps.loc[inside, "last-value"].sum()
    got = {m: 1 - crps.loc[inside, m].sum() / lv_in for m in models if m != "last-value"}
    lines += [
        "",
        f"For +20% at {h} weeks, a model as good as nb-dl before the offensive and at its onset would have to "
        f"beat last-value by **{1 - need / lv_in:+.0%}** on the origins inside the offensive. There, "
        + ", ".join(f"{m} reaches {v:+.0%}" for m, v in got.items())
        + ": only knowing the simulator's true strike intensity gets there.",
        "",
    ]
    return lines


def _fitting_history(sim, panel: Panel, inside: list[pd.Timestamp], a: argparse.Namespace) -> list[str]:
    """Doc section: the escalations a model could learn from versus the final offensive, and what
    nb-dl's strike forecast expects inside it."""
    esc = sim.escalations
    start = esc["start_date"].iloc[-1]
    final, earlier = esc[esc["start_date"] == start], esc[esc["start_date"] < start]
    lines = [
        "## What the fitting data hold",
        "",
        "Escalations the simulator put into the data (`SimulatedData.escalations`; multiplier on the strike "
        "intensity). Every model learns how escalations behave from the earlier ones; the final offensive "
        "is scored.",
        "",
        "| zone | start | weeks | multiplier | |",
        "|---|---|---|---|---|",
        *(f"| {r.zone} | {r.start_date} | {r.weeks} | x{r.multiplier:.1f} | "
          f"{'final offensive (scored)' if r.start_date == start else 'in the fitting data'} |"
          for r in esc.sort_values(["start_date", "zone"]).itertuples()),
        "",
        f"Before the final offensive the data hold {len(earlier)} escalations of x{earlier['multiplier'].min():.1f}"
        f"-x{earlier['multiplier'].max():.1f} lasting {earlier['weeks'].min()}-{earlier['weeks'].max()} weeks, "
        "each in one zone. The final offensive hits all "
        f"{len(final)} zones at once, up to x{final['multiplier'].max():.0f} for {final['weeks'].max()} weeks: "
        "stronger and longer than anything a model fitted on the earlier weeks has seen.",
        "",
    ]
    zone = str(final.sort_values("multiplier")["zone"].iloc[-1])
    in_zone = (panel.regions.frame["parent"] == zone).to_numpy()
    rows = []
    for o in inside:
        i = panel.dates.get_loc(o)
        paths = DriverForecaster().fit(panel.truncate(o)).sample(
            a.horizon, a.draws, np.random.default_rng(a.seed))["strikes"][:, in_zone].sum(axis=1)
        true = sim.intensity["strikes"][in_zone, i + 1 : i + 1 + a.horizon].sum(axis=0)
        med = np.median(paths, axis=0)
        rows.append(f"| {o.date()} | " + " | ".join(f"{m:,.0f} / {t:,.0f}" for m, t in zip(med, true, strict=True))
                    + f" | {panel.series['strikes'][in_zone, i].sum():,.0f} |")
    if rows:
        lines += [
            f"nb-dl's strike forecast (the baseline driver paths) for {zone} inside the offensive: median of the "
            "zone's weekly strikes / the simulator's true expected strikes, and the strikes observed in the "
            "origin week. Fitted on the earlier weeks, it expects the offensive to fade.",
            "",
            "| origin | " + " | ".join(f"h{hh}" for hh in range(1, a.horizon + 1)) + " | observed at origin |",
            "|---|" + "---|" * (a.horizon + 1),
            *rows,
            "",
        ]
    return lines


def _table(s: pd.DataFrame) -> str:
    cols = ["model", "horizon", "crps", "wis", "cover_50", "cover_80", "cover_90", "cover_95", "mae", "mape",
            "ignorance", "skill", "n"]
    head = "| " + " | ".join(c.replace("cover_", "cov ") + ("%" if c.startswith("cover") else "") for c in cols) + " |"
    lines = [head, "|" + "---|" * len(cols)]
    for r in s[cols].itertuples(index=False):
        d = r._asdict()
        cells = [d["model"], str(d["horizon"]), f"{d['crps']:,.1f}", f"{d['wis']:,.1f}",
                 *(f"{d[c]:.0%}" for c in cols if c.startswith("cover")), f"{d['mae']:,.1f}",
                 f"{d['mape']:.0f}%", f"{d['ignorance']:.2f}", f"{d['skill']:+.1%}", str(d["n"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _other_seeds(seeds: list[int], a: argparse.Namespace) -> list[str]:
    """Doc section: the same backtest on other simulated histories, so one history's luck shows."""
    models = [m for m in ("nb-dl", "statsforecast-autoets") if m in a.models]
    rows, finals = [], set()
    for seed in seeds:
        sim = simulate_nw_syria(seed=seed)
        panel = Panel.from_observations(sim.observations, sim.regions)
        origins = default_origins(panel.dates, a.horizon, n=a.origins)
        res = run_backtest(panel, models=["last-value", *models], origins=origins, horizon=a.horizon,
                           n_draws=a.draws, seed=a.seed, workers=a.workers, progress=False)
        summ = of_target(res.summary())  # each period's scores
        reg = summ[summ["scope"] == "regions"]
        esc = sim.escalations
        earlier = esc[esc["start_date"] < esc["start_date"].iloc[-1]]
        hist = f"x{earlier['multiplier'].max():.1f}, {earlier['weeks'].max()} weeks"
        final = esc[esc["start_date"] == esc["start_date"].iloc[-1]]
        finals.add(f"x{final['multiplier'].max():.0f} for {final['weeks'].max()} weeks")
        for m in models:
            r = reg[reg["model"] == m].sort_values("horizon")
            rows.append(f"| {seed} | {hist} | {m} | " + " | ".join(f"{x:+.1%}" for x in r["skill"])
                        + f" | {r['cover_80'].iloc[-1]:.0%} |")
    hs = range(1, a.horizon + 1)
    return [
        "## Other simulated histories",
        "",
        f"The same backtest ({a.origins} weekly origins, up to the final offensive) on `simulate_nw_syria(seed=s)` "
        "for other seeds: different random escalations, region effects and noise. CRPS skill vs last-value per "
        "region and week, and the 80% coverage at the last horizon. One history decides little: read the "
        "spread. `largest earlier escalation`: the strongest multiplier and the longest duration among the "
        f"escalations before the final offensive (which is {' / '.join(sorted(finals))} in these seeds).",
        "",
        "| seed | largest earlier escalation | model | " + " | ".join(f"skill h{h}" for h in hs)
        + f" | 80% coverage h{a.horizon} |",
        "|---|---|---|" + "---|" * (len(hs) + 1),
        *rows,
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--horizon", type=int, default=4)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--origins", type=int, default=52, help="number of weekly origins (latest with a full horizon)")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--models", type=lambda v: v.split(","), default=MODELS, help="comma-separated models")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the true-intensity ceiling run")
    ap.add_argument("--other-seeds", type=lambda v: [int(x) for x in v.split(",") if x], default=[1, 2, 3, 4],
                    help="simulator seeds for the 'other simulated histories' section ('' to skip)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "backtest_synthetic")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "backtest-results.md")
    a = ap.parse_args(argv)

    panel = shipped_panel()
    origins = default_origins(panel.dates, a.horizon, n=a.origins)
    t0 = time.perf_counter()
    res = run_backtest(panel, models=a.models, origins=origins, horizon=a.horizon, n_draws=a.draws, seed=a.seed,
                       oracle_drivers=True, workers=a.workers, progress=True)
    wall = time.perf_counter() - t0
    res.settings["freq"] = panel.freq
    src = "synthetic NW-Syria data (data/synthetic_nw_syria, simulate_nw_syria(seed=2022))"
    write_outputs(res, a.out, source=src)
    summ = of_target(res.summary())  # each period's scores (summary.csv holds the cumulative ones too)
    reg = summ[summ["scope"] == "regions"]
    tot = summ[summ["scope"] == "ALL"]
    forecasts = reg[~reg["model"].str.endswith(ORACLE_SUFFIX)]
    mean_crps = forecasts.groupby("model")["crps"].mean().sort_values()
    best = mean_crps.index[0]
    h4 = min(4, a.horizon)
    b4 = reg[(reg["model"] == best) & (reg["horizon"] == h4)].iloc[0]
    best4 = forecasts[forecasts["horizon"] == h4].sort_values("crps").iloc[0]
    w = winners(summ)
    st = res.settings
    ok_skill, ok_cov = b4["skill"] >= 0.20, 0.75 <= b4["cover_80"] <= 0.85

    lines = [
        "# Backtest results on the shipped synthetic data",
        "",
        "*Generated by `python experiments/backtest_synthetic.py` "
        f"(`--workers {a.workers} --horizon {a.horizon} --draws {a.draws} --origins {a.origins} --seed {a.seed}`); "
        "do not edit by hand. Raw scores, summary and plots: "
        f"`{a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}`.*",
        "",
        f"Data: {src}, {len(panel.regions)} regions, weekly, {panel.dates[0].date()} .. {panel.origin.date()}. "
        f"Rolling origins: {st['n_origins']} weekly origins {st['first_origin']} .. {st['last_origin']} "
        f"(the latest with {a.horizon} weeks of observations after them; they include the final "
        "nine-week offensive). From each origin every model is fitted on the data up to that week only and "
        f"draws {a.draws} sample paths for 1..{a.horizon} weeks ahead under the baseline scenario (strikes and "
        "flights forecast by the model's own driver model). `+oracle` rows re-run the driver models with the "
        "strikes and flights that really happened: not a forecast anyone could make, but the gap to the plain "
        "row is the error due to not knowing the future conflict.",
        "",
        "Scores (see `displacement_forecast.evaluate.scores`): CRPS = fair sample estimator, people per region "
        "and week; WIS = Bracher et al. (2021) from 23 quantiles of the paths; `cov X%` = share of outcomes "
        "inside the central X% interval; MAE/MAPE of the median (MAPE over weeks with displacement > 0); "
        "ignorance = -log2 p(observed bin), VIEWS bins with +1 pseudo-count; skill = 1 - CRPS/CRPS(last-value) "
        "on the same cells. statsforecast peers: per region on log1p counts, Gaussian intervals turned into "
        "sample paths (see `models/peers.py`).",
        "",
        f"Run: {wall / 60:.1f} min wall on {a.workers} worker(s), {platform.machine()}, "
        f"{len(res.failures)} failed task(s).",
        "",
        "## Which model is best",
        "",
        f"Lowest mean CRPS per region-week over horizons 1..{a.horizon} (oracle runs excluded): "
        + ", ".join(f"**{m}** {v:,.1f}" if m == best else f"{m} {v:,.1f}" for m, v in mean_crps.items()) + ".",
        "",
        f"**Best model: `{best}`.** At {h4} weeks ahead its CRPS skill vs last-value is **{b4['skill']:+.1%}** "
        f"and its 80% intervals cover **{b4['cover_80']:.0%}** of outcomes (50%: {b4['cover_50']:.0%}, "
        f"90%: {b4['cover_90']:.0%}, 95%: {b4['cover_95']:.0%}; n = {b4['n']} region-weeks).",
        "",
        "Acceptance (issue 6): best model beats last-value by >= 20% CRPS at 4 weeks ahead: "
        f"**{'MET' if ok_skill else 'NOT MET'}** ({b4['skill']:+.1%}); its 80% intervals cover 75-85%: "
        f"**{'MET' if ok_cov else 'NOT MET'}** ({b4['cover_80']:.0%}). "
        f"(Best model at exactly h={h4}: `{best4['model']}`, skill {best4['skill']:+.1%}, 80% coverage "
        f"{best4['cover_80']:.0%}.)",
        "",
        "## Winner per horizon (lowest CRPS; oracle runs excluded)",
        "",
        "| scope | weeks ahead | best | CRPS | skill vs last-value | 80% coverage | runner-up | runner-up CRPS |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r.scope} | {r.horizon} | {r.best} | {r.crps:,.1f} | {r.skill:+.1%} | {r.cover_80:.0%} | "
          f"{r.runner_up} | {r.runner_up_crps:,.1f} |" for r in w.itertuples()),
        "",
        "## Per region and week (mean over regions and origins)",
        "",
        _table(reg),
        "",
        "## Regional total (ALL = paths summed over regions draw by draw)",
        "",
        _table(tot),
        "",
    ]
    if not a.no_ceiling and "nb-dl" in a.models:
        lines += _ceiling(panel, origins, of_target(res.scores), a)
    if a.other_seeds:
        lines += _other_seeds(a.other_seeds, a)
    if len(res.failures):
        lines += ["## Failed tasks", "", *(f"- {r.model} @ {pd.Timestamp(r.origin).date()}: {r.error}"
                                          for r in res.failures.itertuples()), ""]
    write_text_atomic("\n".join(lines), a.doc)
    print("\n".join(lines))
    print(f"wrote {a.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
