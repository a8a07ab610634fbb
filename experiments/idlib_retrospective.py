"""Idlib retrospectives on the real NW Syria panel (data/nw_syria, monthly, four governorates).

    python experiments/idlib_retrospective.py [--draws 2000] [--seed 2019] [--out DIR] [--docs]

1. **As of 1 December 2019** (origin = November 2019): December 2019 - February 2020 under the
   scenarios of ``experiments/scenarios/nw_syria_2019.toml`` (baseline, offensive-continues,
   intensify), with P(more than 250,000 / 500,000 newly displaced), fan charts and exceedance
   curves (``--out``). What happened after November 2019 is not in the panel (held back on
   purpose), so this forecast is not scored here.
2. **The spring 2019 offensive** (origin = April 2019, the end of the last month before it):
   forecasts for May - November 2019 scored against the panel's later months where a figure was
   published (June, July, October, November; May, August and September are gaps): coverage of
   the 50/80/95% intervals, PIT values and CRPS, for the driver model, the same model given the
   strikes and shelling that really happened ("oracle"), and the naive baselines last-value and
   climatology. Losses are reported as such.

The model is ``nb-dl`` with the panel's ``strikes`` and ``shelling`` as drivers, chosen here in
code: the method whose spring-offensive record is scored. The command line's default model
(``auto``, every conflict series the panel has) answers the winter question with different
probabilities (README, "Quick start"). Both retrospectives use
``data.hindcast.truncate_at_origin``, the rule ``forecast --origin`` and ``backtest`` use.

``--docs`` replaces this script's own section at the end of ``docs/real-world-results.md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.brief import fmt_people, fmt_prob
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.data.hindcast import truncate_at_origin
from displacement_forecast.evaluate.backtest import oracle_scenario
from displacement_forecast.evaluate.scores import score_paths, skill
from displacement_forecast.forecast.run import ForecastRun, run_forecast
from displacement_forecast.forecast.summaries import prob_exceed_total, total_within
from displacement_forecast.models import Panel, get_model
from displacement_forecast.scenarios import Scenario, check_scenarios, load_scenarios

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "nw_syria"
PANEL = DATA / "panel.csv"
SCENARIOS = ROOT / "experiments" / "scenarios" / "nw_syria_2019.toml"
DOCS = ROOT / "docs" / "real-world-results.md"
DRIVERS = ("strikes", "shelling")
THRESHOLDS = (250_000, 500_000)
WINTER_ORIGIN, WINTER_HORIZON = "2019-11-01", 3
SPRING_ORIGIN, SPRING_HORIZON = "2019-04-30", 7
LEVELS = (50, 80, 95)
MARK_START, MARK_END = "<!-- idlib-retrospective:start -->", "<!-- idlib-retrospective:end -->"


def load() -> tuple[pd.DataFrame, object]:
    """The panel's observations and region table."""
    regions = load_regions(DATA / "regions.csv")
    return read_observations(PANEL, region_codes=regions.codes), regions


def driver_model():
    """``nb-dl`` on the panel's strikes and shelling (see the module docstring)."""
    return get_model("nb-dl", drivers=DRIVERS)


# -- 1. as of 1 December 2019 ----------------------------------------------------------------
def winter(n_draws: int = 2000, seed: int = 2019) -> tuple[ForecastRun, pd.DataFrame]:
    """Forecast December 2019 - February 2020 from the panel as it stood at November 2019.

    Returns
    -------
    (ForecastRun, pandas.DataFrame)
        The run (sidecar records the hindcast) and one row per scenario: median and 90%
        interval of the total over the three months and four governorates, and
        ``p_gt_<t>`` = P(total > t) for each threshold.
    """
    obs, regions = load()
    cut, origin, dropped = truncate_at_origin(obs, WINTER_ORIGIN, file=str(PANEL))
    scen = check_scenarios(load_scenarios(SCENARIOS, regions), cut, WINTER_HORIZON, regions=regions, file=str(SCENARIOS))
    run = run_forecast(cut, regions, model=driver_model(), scenarios=scen, horizon=WINTER_HORIZON, n_draws=n_draws,
                       seed=seed, thresholds=THRESHOLDS, data_files=[str(PANEL)])
    run.sidecar["forecast"]["hindcast"] = {"origin": str(origin.date()), "requested": WINTER_ORIGIN,
                                           "rows_ignored": dropped}
    rows = []
    for sid, p in run.paths.items():
        tot = total_within(p, WINTER_HORIZON)
        row = {"scenario": sid, "median": float(np.median(tot)), "lo90": float(np.quantile(tot, 0.05)),
               "hi90": float(np.quantile(tot, 0.95))}
        row.update({f"p_gt_{t}": prob_exceed_total(p, t, WINTER_HORIZON) for t in THRESHOLDS})
        rows.append(row)
    return run, pd.DataFrame(rows)


# -- 2. the spring 2019 offensive, scored ------------------------------------------------------
@dataclass
class SpringResult:
    """Scores of each forecaster on the observed region-months after the spring origin."""

    cells: pd.DataFrame      # one row per forecaster x observed region-month: scores, interval bounds
    summary: pd.DataFrame    # one row per forecaster: mean CRPS, skill, coverage, mean PIT
    origin: pd.Timestamp
    n_draws: int


def spring(n_draws: int = 2000, seed: int = 2019) -> SpringResult:
    """Forecasts from April 2019 for May - November 2019, scored where the panel has the month."""
    obs, regions = load()
    cut, origin, _ = truncate_at_origin(obs, SPRING_ORIGIN, file=str(PANEL))
    truth = Panel.from_observations(obs, regions)
    after = truth.dates[truth.dates > origin][:SPRING_HORIZON]
    y = truth.series["displaced"][:, np.isin(truth.dates, after)]  # region x horizon, NaN = no report
    forecasters = {
        "nb-dl (strikes, shelling)": (driver_model, Scenario.baseline()),
        "nb-dl + observed conflict (oracle)": (driver_model, oracle_scenario(truth, origin, SPRING_HORIZON, DRIVERS)),
        "last-value": (lambda: get_model("last-value"), Scenario.baseline()),
        "climatology": (lambda: get_model("climatology"), Scenario.baseline()),
    }
    rng = np.random.default_rng(seed)
    cells = []
    for name, (make, sc) in forecasters.items():
        run = run_forecast(cut, regions, model=make(), scenarios=[sc], horizon=SPRING_HORIZON, n_draws=n_draws, seed=seed)
        x = run.paths[sc.id].values  # draw x region x horizon
        s = score_paths(x, y, rng, levels=LEVELS)
        for r, code in enumerate(regions.codes):
            for h in range(SPRING_HORIZON):
                if np.isfinite(y[r, h]):
                    cells.append({"forecaster": name, "region": code, "month": str(after[h].date())[:7], "horizon": h + 1,
                                  **{k: float(v[r, h]) for k, v in s.items()}})
    cells = pd.DataFrame(cells)
    cells["median_below_observed"] = (cells["median"] < cells["observed"]).astype(float)
    g = cells.groupby("forecaster", sort=False)
    summary = pd.DataFrame({"crps": g["crps"].mean(), "pit_mean": g["pit"].mean(), "n": g.size(),
                            **{f"cover_{lv}": g[f"cover_{lv}"].mean() for lv in LEVELS},
                            "median_below_observed": g["median_below_observed"].mean()})
    for ref in ("last-value", "climatology"):
        summary[f"skill_vs_{ref}"] = [skill(c, summary.loc[ref, "crps"]) for c in summary["crps"]]
    return SpringResult(cells, summary.reset_index(), origin, n_draws)


# -- text ----------------------------------------------------------------------------------------
def winter_lines(table: pd.DataFrame, n_draws: int) -> list[str]:
    """One line per scenario: median, 90% interval and the threshold probabilities."""
    out = []
    for r in table.itertuples(index=False):
        probs = "; ".join(f"P(> {t:,}) {fmt_prob(getattr(r, f'p_gt_{t}'), n_draws)}" for t in THRESHOLDS)
        out.append(f"{r.scenario}: median {fmt_people(r.median)} newly displaced in December - February "
                   f"(90% interval {fmt_people(r.lo90)} - {fmt_people(r.hi90)}); {probs}")
    return out


def spring_markdown(res: SpringResult) -> str:
    """The scores table and the losses, as markdown."""
    s = res.summary
    cols = ["forecaster", "n", "crps", "skill_vs_last-value", "skill_vs_climatology",
            *[f"cover_{lv}" for lv in LEVELS], "pit_mean", "median_below_observed"]
    head = ("| forecaster | scored region-months | mean CRPS | skill vs last-value | skill vs climatology | "
            + " | ".join(f"{lv}% covered" for lv in LEVELS) + " | mean PIT | median below outcome |")
    lines = [head, "|" + "---|" * len(cols)]
    for r in s[cols].itertuples(index=False):
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:,.0f} | {r[3]:+.0%} | {r[4]:+.0%} | "
                     + " | ".join(f"{v:.0%}" for v in r[5:5 + len(LEVELS)]) + f" | {r[-2]:.2f} | {r[-1]:.0%} |")
    model = "nb-dl (strikes, shelling)"
    c = res.cells.pivot_table(index=["region", "month"], columns="forecaster", values="crps")
    lost = c[c[model] > c["last-value"]]
    worst = res.cells[res.cells["forecaster"] == model].sort_values("crps").iloc[-1]
    lines += ["", f"Losses: the driver model's CRPS is worse than last-value's in {len(lost)} of {len(c)} scored "
              f"region-months ({', '.join(f'{r} {m}' for r, m in lost.index)}). Its worst month is {worst['region']} "
              f"{worst['month']}: observed {worst['observed']:,.0f}, median forecast {worst['median']:,.0f}, "
              f"80% interval {worst['lo_80']:,.0f} - {worst['hi_80']:,.0f}."]
    return "\n".join(lines)


def docs_section(table: pd.DataFrame, res: SpringResult, n_draws: int, seed: int) -> str:
    """This script's section of docs/real-world-results.md (generated; every figure computed)."""
    return "\n".join([
        MARK_START,
        "## NW Syria retrospectives (real panel, monthly, four governorates)",
        "",
        f"Generated by `python experiments/idlib_retrospective.py --docs` ({n_draws:,} paths, seed {seed}); the planner "
        "notebook `notebooks/04_idlib_retrospective.py` computes the same. Data: `data/nw_syria/panel.csv` "
        "(built by `experiments/nw_syria_panel.py`; `displaced` = OCHA/ISMI arrivals per governorate, with gaps; "
        "strikes/shelling = UCDP lethal events flagged by headline keywords). Model: `nb-dl` with drivers "
        f"{', '.join(DRIVERS)} (passed explicitly; the default model `auto` uses every conflict series and gives different figures, "
        "see the README's quick start).",
        "",
        f"### Spring 2019 offensive: forecasts from {res.origin:%B %Y} scored against May - November 2019",
        "",
        "Scored where a monthly figure was published (no report for May, August, September 2019; Hama after "
        "January 2019; Lattakia except July): few region-months, so every number here is fragile.",
        "",
        spring_markdown(res),
        "",
        "CRPS in people per governorate and month (lower is better); skill = 1 - CRPS / CRPS of the reference "
        "(negative = worse than the reference); coverage = share of outcomes inside the central interval; a "
        "calibrated forecast has mean PIT near 0.5.",
        "",
        "### As of 1 December 2019: December 2019 - February 2020 (not scored: outcomes held back)",
        "",
        *[f"- {line}" for line in winter_lines(table, n_draws)],
        MARK_END,
    ])


def write_docs(section: str, path: Path = DOCS) -> Path:
    """Replace this script's marked section of ``path`` where it stands (append it if absent)."""
    from displacement_forecast.data.io import write_text_atomic

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if MARK_START in text and MARK_END in text:
        a, b = text.index(MARK_START), text.index(MARK_END) + len(MARK_END)
        return write_text_atomic(text[:a] + section.strip("\n") + text[b:], path)
    return write_text_atomic(text.rstrip("\n") + "\n\n" + section + "\n", path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2019)
    ap.add_argument("--out", type=Path, help="write the December 2019 forecast folder (CSV, sidecar, charts) here")
    ap.add_argument("--docs", action="store_true", help="update this script's section of docs/real-world-results.md")
    a = ap.parse_args(argv)
    run, table = winter(a.draws, a.seed)
    print("As of 1 December 2019 (origin November 2019):")
    for line in winter_lines(table, a.draws):
        print("  " + line)
    res = spring(a.draws, a.seed)
    print(f"\nSpring 2019 (origin {res.origin:%B %Y}), scored May - November 2019:\n")
    print(spring_markdown(res))
    if a.out:
        from displacement_forecast.forecast.run import write_run

        for p in write_run(run, a.out):
            print(f"wrote {p}")
    if a.docs:
        print(f"wrote {write_docs(docs_section(table, res, a.draws, a.seed))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
