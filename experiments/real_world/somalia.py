"""Somalia 2022-2023, region x month: do conflict counts help forecast PRMN displacement?

    python experiments/real_world/somalia.py [--out DIR] [--draws 500] [--no-bayes]

Panel (18 regions x 24 months, built from the real files, read unmodified, by the recipe
``data/recipes/somalia.toml``):

* ``events``, ``strikes`` (ACLED "Air/drone strike"), ``shelling``, ``fatalities``: the raw ACLED
  export counted per region and month by :func:`load_acled` with ``data/somalia/regions.csv``;
* ``displaced``: UNHCR PRMN departures by region of *origin* (previous region) read by
  :func:`load_mapped` with ``data/configs/som_prmn_departures_2022.toml`` and ``_2023.toml``.

PRMN counts people displaced for *every* reason - conflict, drought, floods - and 2022 was the
worst drought year in decades, so conflict can explain only part of it. Rolling-origin backtest:
one origin per month from 2022-09 (every fit sees at least 9 months) to 2023-11, horizons 1-3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CONFIGS, ROOT, Spec, baselines, peers, recipe_observations, require_real  # noqa: E402, F401 (CONFIGS: tests)

from displacement_forecast.data.regions import RegionTable, load_regions  # noqa: E402
from displacement_forecast.models.base import Panel  # noqa: E402

REGIONS = ROOT / "data" / "somalia" / "regions.csv"
ACLED = "somalia/00_ACLED_Somalia_2022-2023.csv"
PRMN = {  # file -> mapping config (departures by region of origin; the 2023 layout differs)
    "somalia/previous_regions_2022.csv": "som_prmn_departures_2022.toml",
    "somalia/DERIVED_som_prmn_departures_by_previous_region_2023.csv": "som_prmn_departures_2023.toml",
}
HORIZON = 3
FIRST_ORIGIN = "2022-09-01"
DRIVERS = ("events", "fatalities")


def load_observations(real: Path, regions: RegionTable) -> pd.DataFrame:
    """Tidy observations: ACLED monthly counts per region plus PRMN departures as ``displaced``.

    Parameters
    ----------
    real
        The real-data folder (``../shared/data/real``).
    regions
        The Somalia region table; every ACLED ``admin1`` and PRMN name must match it
        (``strict=True`` for PRMN; ACLED drops only its one event at sea, with a warning).

    Returns
    -------
    pandas.DataFrame
        Columns ``date, region, series, value, source``.
    """
    return recipe_observations("somalia", real, regions)[0]  # data/recipes/somalia.toml


def build_panel(real: Path | None = None) -> Panel:
    """The Somalia monthly panel, 18 regions x 24 months (2022-01 .. 2023-12).

    Missing cells stay NaN (none in these files); no gap is filled with zero.
    """
    real = require_real(real)
    regions = load_regions(REGIONS)
    return Panel.from_observations(load_observations(real, regions), regions, freq="M")


def origins(panel: Panel, first: str = FIRST_ORIGIN, horizon: int = HORIZON) -> list[pd.Timestamp]:
    """Monthly origins from ``first`` to the last month that still has one month ahead observed."""
    return [d for d in panel.dates if d >= pd.Timestamp(first) and d < panel.dates[-1]]


def specs(bayes: bool = True) -> list[Spec]:
    """Models compared on Somalia: baselines, the toolkit's driver models, statsforecast peers."""
    out = baselines() + [
        Spec("nb-dl (events, fatalities)", "nb-dl", {"drivers": DRIVERS}, "project"),
        Spec("nb-dl (strikes)", "nb-dl", {"drivers": ("strikes",)}, "project"),
        Spec("sarimax (events)", "sarimax", {"driver": "events", "n_lags": 3}, "project"),
    ]
    if bayes:
        out.append(Spec("bayes-hierarchical (events, fatalities)", "bayes-hierarchical",
                        {"drivers": list(DRIVERS), "draws": 500, "tune": 500, "progress": False}, "project"))
    return out + peers()


def in_sample(panel: Panel) -> str:
    """nb-dl fitted once on all 24 months: the summed lag coefficients of each driver with a 90% CI.

    An association check, not a forecast: it says whether months with more conflict in a region
    had more departures from it, given the region's own level.
    """
    import numpy as np

    from displacement_forecast.models import get_model

    m = get_model("nb-dl", drivers=DRIVERS).fit(panel)
    L, k = m.n_lags_, m.n_active_
    parts = []
    for i, s in enumerate(DRIVERS):
        sl = slice(k + i * L, k + (i + 1) * L)
        est = float(m.params_[sl].sum())
        se = float(np.sqrt(m.cov_[sl, sl].sum()))
        parts.append(f"{s} {est:+.2f} (90% CI {est - 1.645 * se:+.2f} to {est + 1.645 * se:+.2f})")
    return (f"nb-dl on all {len(panel.dates)} months, sum of the {L} lag coefficients on log1p(count) - "
            + "; ".join(parts) + f"; NB dispersion {float(m.params_[-1]):.2f}.")


def main(argv: list[str] | None = None) -> None:
    """Run the Somalia backtest and write its scores."""
    from _common import run_and_save

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "real_world")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--no-bayes", action="store_true", help="leave out bayes-hierarchical")
    a = ap.parse_args(argv)
    panel = build_panel()
    meta = {"title": "Somalia: PRMN departures by region of origin vs ACLED, monthly 2022-2023",
            "description": "Target: UNHCR PRMN people displaced from each of 18 regions per month (all causes: "
                           "conflict, drought, floods; 2022 was a severe drought year). Drivers: ACLED events, "
                           "fatalities and air/drone strikes per region and month.",
            "unit": "people", "in_sample": in_sample(panel)}
    run_and_save("somalia", panel, specs(not a.no_bayes), origins(panel), HORIZON, a.draws, a.out, meta=meta)


if __name__ == "__main__":
    main()
