"""Ukraine, Feb-May 2022, national and daily: do ACLED events help forecast refugee departures?

    python experiments/real_world/ukraine.py [--out DIR] [--draws 500]

Panel (one region, ``UKR``; days 2022-02-24 .. 2022-05-13, where both sources are observed):

* ``events``, ``strikes``, ``shelling``, ``fatalities``: the raw ACLED export counted per day for
  the whole country (:func:`load_acled` with ``level="country"``);
* ``displaced``: UNHCR daily refugee departures (``daily_individuals``) read by
  :func:`load_mapped` with ``data/configs/ukr_unhcr_refugees_daily.toml`` (dates written
  "February 24, 2022").

Kept daily (12 weeks are too few for weekly backtests): origins every 3 days from 2022-03-16,
horizons 1-14 days. ACLED's last event day in the export is 2022-05-13, so the panel stops there.

Population of Ukraine, 41,167,336 on 1 January 2022 (State Statistics Service of Ukraine,
estimate excluding Crimea and Sevastopol; typed from memory of the published figure, not
re-checked here). It sets the at-risk offset of ``nb-dl``: with about 6 million refugees by
mid-May it moves the hazard by a few percent, so a 10% error in it hardly matters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Spec, as_target, baselines, peers, recipe_observations, require_real  # noqa: E402

from displacement_forecast.data.regions import RegionTable, regions_from_frame  # noqa: E402
from displacement_forecast.models.base import Panel  # noqa: E402

ACLED = "ukraine/2022-02-15-2022-05-18-Ukraine.csv"
UNHCR = "ukraine/UNHCR_UKR_Date.csv"
#: State Statistics Service of Ukraine, population estimate on 1 January 2022 (excl. Crimea).
POPULATION = 41_167_336
START, END = "2022-02-24", "2022-05-13"
HORIZON = 14
FIRST_ORIGIN, EVERY = "2022-03-16", 3
N_LAGS = 7


def region_table() -> RegionTable:
    """One national region; its population is the figure cited in the module docstring."""
    return regions_from_frame(pd.DataFrame({"code": ["UKR"], "name": ["Ukraine"], "parent": [None],
                                            "population": [POPULATION]}))


def build_panel(real: Path | None = None) -> Panel:
    """Daily national panel, 2022-02-24 .. 2022-05-13 (79 days), target = UNHCR refugee departures."""
    real = require_real(real)
    regions = region_table()
    obs = as_target(recipe_observations("ukraine", real, regions)[0], "refugees")  # data/recipes/ukraine.toml
    return Panel.from_observations(obs, regions, freq="D")


def origins(panel: Panel) -> list[pd.Timestamp]:
    """Every third day from 2022-03-16 while at least one day ahead is observed."""
    return list(pd.date_range(FIRST_ORIGIN, panel.dates[-1] - pd.Timedelta(days=1), freq=f"{EVERY}D"))


def specs() -> list[Spec]:
    """Baselines, nb-dl and sarimax on ACLED events, and the statsforecast peers (weekly season)."""
    return baselines() + [
        # nb-dl's lags: its own rule (as many as 5 rows per coefficient allow, at most 14); a fixed
        # 7 could not be fitted at the 9 earliest origins (15-21 rows for 8 coefficients)
        Spec("nb-dl (events)", "nb-dl", {"drivers": ("events",)}, "project"),
        Spec("nb-dl (strikes)", "nb-dl", {"drivers": ("strikes",)}, "project"),
        Spec("sarimax (events)", "sarimax", {"driver": "events", "n_lags": N_LAGS}, "project"),
    ] + peers()


def main(argv: list[str] | None = None) -> None:
    """Run the Ukraine backtest and write its scores."""
    from _common import run_and_save

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "real_world")
    ap.add_argument("--draws", type=int, default=500)
    a = ap.parse_args(argv)
    panel = build_panel()
    meta = {"title": "Ukraine: UNHCR refugee departures vs ACLED events, national and daily, Feb-May 2022",
            "description": "Target: refugees leaving Ukraine per day (UNHCR). Drivers: ACLED events and "
                           "air/drone strikes per day, whole country. Population for the at-risk offset: "
                           f"{POPULATION:,} (State Statistics Service of Ukraine, 1 January 2022).",
            "unit": "people"}
    run_and_save("ukraine", panel, specs(), origins(panel), HORIZON, a.draws, a.out, meta=meta)


if __name__ == "__main__":
    main()
