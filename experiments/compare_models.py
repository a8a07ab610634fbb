"""Compare registry models on the same data and scenarios: P(> threshold) and medians side by side.

    python experiments/compare_models.py                       # nb-dl, sarimax, last-value, climatology
    python experiments/compare_models.py --models nb-dl bayes-hierarchical --out out/compare.csv

Every model is fitted to the shipped synthetic NW-Syria data and forecasts the scenarios in
``experiments/scenarios/idlib.toml`` with the same seed. Models that ignore strikes and flights
(``last-value``, ``climatology``) give the same answer under every scenario - the table shows it.
Forecast skill comes from backtests: with ``--backtest`` a rolling-origin backtest
(``displacement_forecast.evaluate.backtest.run_backtest``, ``--backtest-origins`` latest origins,
``--backtest-horizon`` weeks ahead) is run and CRPS skill against last-value and interval coverage by
horizon (``summarise``) are printed after the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from displacement_forecast.brief import exceedance_table, total_summary
from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.data.io import write_csv_atomic
from displacement_forecast.forecast.run import run_forecast
from displacement_forecast.scenarios import load_scenarios

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic_nw_syria"


def compare(models: list[str], horizon: int, draws: int, seed: int, threshold: float) -> pd.DataFrame:
    """One row per (model, scenario): median and 90% interval over the horizon, P(> threshold) per window."""
    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    scenarios = load_scenarios(ROOT / "experiments" / "scenarios" / "idlib.toml", regions)
    windows = sorted({w for w in (4, 8, 12, horizon) if w <= horizon})
    rows = []
    for name in models:
        t0 = time.perf_counter()
        run = run_forecast(obs, regions, model=name, scenarios=scenarios, horizon=horizon, n_draws=draws, seed=seed)
        tot = total_summary(run.paths, horizon).rename(columns={"lo": "q05", "hi": "q95"})
        ex = exceedance_table(run.paths, threshold, windows)
        ex.columns = [f"P(>{threshold:,.0f}) {c}" for c in ex.columns]
        t = tot[["median", "q05", "q95"]].join(ex).reset_index()
        t.insert(0, "model", name)
        t["uses strikes"] = run.model.uses_drivers
        t["reliable"] = run.sidecar["reliable"]
        t["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(t)
    return pd.concat(rows, ignore_index=True)


def backtest_skill(models: list[str], *, n_origins: int = 12, horizon: int = 4, draws: int = 500,
                   seed: int = 2020, workers: int = 1) -> pd.DataFrame:
    """CRPS skill (vs last-value) and interval coverage by model, scope and horizon from a rolling-origin backtest.

    Runs :func:`displacement_forecast.evaluate.backtest.run_backtest` on the ``n_origins`` latest
    origins with ``horizon`` weeks observed after them (``last-value`` is added as the skill
    reference when it is not among ``models``) and returns the rows of
    :func:`~displacement_forecast.evaluate.backtest.summarise` for ``models``. Failed tasks are
    printed and listed in ``frame.attrs["failures"]``.
    """
    from displacement_forecast.evaluate.backtest import (
        REFERENCE,
        default_origins,
        of_target,
        run_backtest,
    )

    regions = load_regions(DATA / "regions.csv")
    obs = read_observations(DATA / "observations.csv", region_codes=regions.codes)
    dates = pd.DatetimeIndex(sorted(obs["date"].unique()))
    run = list(dict.fromkeys([*models, REFERENCE]))
    res = run_backtest(obs, regions, models=run, origins=default_origins(dates, horizon, n=n_origins),
                       horizon=horizon, n_draws=draws, seed=seed, workers=workers)
    for f in res.failures.itertuples():
        print(f"backtest task failed: {f.model} @ {pd.Timestamp(f.origin).date()}: {f.error}")
    summary = of_target(res.summary(reference=REFERENCE))  # each period's scores
    cols = ["model", "scope", "horizon", "skill", "crps", "cover_50", "cover_80", "cover_95", "n_origins"]
    out = summary[summary["model"].isin(models)][cols].reset_index(drop=True) if len(summary) else summary
    out.attrs["failures"] = res.failures.drop(columns="traceback").to_dict("records")
    out.attrs["settings"] = res.settings
    return out


def print_skill(skill: pd.DataFrame) -> None:
    """Skill and coverage by horizon, one block per scope (every region-week; the regional total)."""
    st = skill.attrs.get("settings", {})
    print(f"\nbacktest: {st.get('n_origins')} origins {st.get('first_origin')}..{st.get('last_origin')}, "
          f"{st.get('horizon')} weeks ahead, {st.get('n_draws')} draws; skill = 1 - CRPS / CRPS of last-value")
    if not len(skill):
        print("no backtest scores (every task failed)")
        return
    fmt = {"skill": lambda v: f"{v:+.2f}", "crps": lambda v: f"{v:,.0f}",
           **{c: (lambda p: f"{p:.0%}") for c in ("cover_50", "cover_80", "cover_95")}}
    for scope, g in skill.groupby("scope", sort=False):
        print(f"\n{'every region-week' if scope == 'regions' else 'regional total (ALL)'}:")
        print(g.drop(columns="scope").to_string(index=False, formatters=fmt))


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["nb-dl", "sarimax", "last-value", "climatology"])
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threshold", type=float, default=250_000)
    ap.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    ap.add_argument("--backtest", action="store_true", help="also print backtest skill and coverage by horizon (slow)")
    ap.add_argument("--backtest-origins", type=int, default=12, help="latest origins backtested (default 12)")
    ap.add_argument("--backtest-horizon", type=int, default=4, help="weeks ahead scored in the backtest (default 4)")
    ap.add_argument("--workers", type=int, default=1, help="backtest worker processes")
    a = ap.parse_args(argv)
    table = compare(a.models, a.horizon, a.draws, a.seed, a.threshold)
    fmt = {c: (lambda p: f"{p:.1%}") for c in table.columns if c.startswith("P(")}
    fmt.update({c: (lambda v: f"{v:,.0f}") for c in ("median", "q05", "q95")})
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, formatters=fmt))
    if a.out:
        write_csv_atomic(table, a.out)
        print(f"wrote {a.out}")
    if a.backtest:
        skill = backtest_skill(a.models, n_origins=a.backtest_origins, horizon=a.backtest_horizon,
                               draws=min(a.draws, 500), seed=a.seed, workers=a.workers)
        print_skill(skill)
    return table


if __name__ == "__main__":
    main()
