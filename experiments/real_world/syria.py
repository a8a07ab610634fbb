"""Syria 2016-2019, governorate x month: IDP arrivals as a pure time series (no conflict counts).

    python experiments/real_world/syria.py [--out DIR] [--draws 500]

Panel: OCHA/ISMI IDP arrivals by governorate of arrival, Jan 2016 - Jan 2019 (14 governorates x
37 months), read unmodified by :func:`load_mapped` with
``data/configs/syr_ocha_idp_arrivals_governorate.toml``. Months a governorate does not report
are absent from the file and stay missing (NaN), never zero. Some values are fractional (the
source splits estimates), which the count models accept as they are.

The file has no event counts, so the toolkit's driver models (``nb-dl``, ``sarimax``,
``bayes-hierarchical`` all require at least one driver series) cannot run; the toolkit's
driver-free ``arima`` (per-region AR(1) on log1p counts) is compared with the baselines and the
statsforecast peers. Rolling origins every month from 2016-12 (every fit
sees 12 months), horizons 1-3.

Region table: the 14 governorate names as the file writes them. **Populations are placeholders**
(1,000,000 each, not a published figure): none of the models run here uses the population (it
only sets the at-risk offset of the driver models), so the placeholder changes no number below.
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

FILE = "syria/DERIVED_syria_idp_flow_by_governorate_monthly_2016-01_2019-01.csv"
CONFIG = "syr_ocha_idp_arrivals_governorate.toml"
GOVERNORATES = ("Al-Hasakeh", "Aleppo", "Ar-Raqqa", "As-Sweida", "Damascus", "Dar'a", "Deir-ez-Zor",
                "Hama", "Homs", "Idleb", "Lattakia", "Quneitra", "Rural Damascus", "Tartous")
#: NOT a population figure: a placeholder that no model in this script reads (see docstring).
PLACEHOLDER_POPULATION = 1_000_000
HORIZON = 3
FIRST_ORIGIN = "2016-12-01"


def region_table() -> RegionTable:
    """The 14 governorates, code = name as written in the OCHA file, placeholder populations."""
    return regions_from_frame(pd.DataFrame({"code": GOVERNORATES, "name": GOVERNORATES, "parent": "Syria",
                                            "population": PLACEHOLDER_POPULATION}))


def build_panel(real: Path | None = None) -> Panel:
    """Monthly governorate panel, Jan 2016 - Jan 2019; unreported months are NaN."""
    real = require_real(real)
    regions = region_table()
    obs = as_target(recipe_observations("syria", real, regions)[0], "arrivals")  # data/recipes/syria.toml
    return Panel.from_observations(obs, regions, freq="M")


def origins(panel: Panel) -> list[pd.Timestamp]:
    """Monthly origins from 2016-12 to the month before the last."""
    return [d for d in panel.dates if d >= pd.Timestamp(FIRST_ORIGIN) and d < panel.dates[-1]]


def specs() -> list[Spec]:
    """Only models that need no driver series: baselines, the toolkit's ``arima``, statsforecast peers."""
    return baselines() + [Spec("arima", "arima", {}, "project-ts")] + peers()


def main(argv: list[str] | None = None) -> None:
    """Run the Syria backtest and write its scores."""
    from _common import run_and_save

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "real_world")
    ap.add_argument("--draws", type=int, default=500)
    a = ap.parse_args(argv)
    panel = build_panel()
    meta = {"title": "Syria: OCHA IDP arrivals by governorate, monthly Jan 2016 - Jan 2019",
            "description": "Target: IDPs arriving in each of 14 governorates per month (OCHA/ISMI). No conflict "
                           "counts in this file: a pure time-series comparison. Unreported governorate-months "
                           "are missing, not zero, and are not scored.",
            "unit": "people"}
    run_and_save("syria", panel, specs(), origins(panel), HORIZON, a.draws, a.out, meta=meta)


if __name__ == "__main__":
    main()
