"""Build the real NW Syria monthly panel (governorates Idleb, Aleppo, Hama, Lattakia) from the files
in ``../shared/data/real/nw_syria`` as they are, with the project's own loaders.

    python experiments/nw_syria_panel.py [--real ../shared/data/real] [--out data/nw_syria]

Writes (atomically) into ``--out``:

``panel.csv``
    tidy ``date, region, series, value, source``; first of each month, 2018-06 .. 2019-11:

    * ``events``, ``fatalities``: UCDP GED lethal events and best-estimate deaths per governorate
      (:func:`displacement_forecast.data.load_ucdp_ged`, ``adm_1``; an event recorded over several
      days is spread evenly over them, so monthly counts can be fractional).
    * ``strikes``, ``shelling``: the same loader on the UCDP events whose headline the file's
      ``kw_air`` / ``kw_shelling`` flag marks as mentioning air strikes / shelling (a keyword
      guess in the copy, not a UCDP classification; UCDP's ``type_of_violence`` does not separate
      air from ground attacks).
    * ``displaced``: people newly **arriving** in each governorate (OCHA IDP Task Force /
      ISMI): the summary sheet of the OCHA/ISMI IDP movement file for 2018-06 .. 2019-01, then the
      governorate ``idp_arrivals`` typed from the monthly reports for 2019-02 .. 2019-11. Arrivals
      are movements into a governorate, not people newly displaced from it; months no report gave
      are left out (missing, never 0): 2019-05, 2019-08, 2019-09, Aleppo 2019-03, Hama after
      2019-01 and Lattakia after 2019-01 except 2019-07.

``acled_battles.csv``
    ACLED battle events per governorate and month, 2018-06 .. 2020-03
    (:func:`displacement_forecast.data.load_acled` with ``{"Battles": "events"}``). The ACLED
    copy holds battles only (no strikes or shelling); it runs past November 2019, so it shows
    how the fighting went during the December 2019 - February 2020 forecast window. It is kept
    out of ``panel.csv`` so that a forecast from the panel never sees it.

The region table ``regions.csv`` in ``--out`` (code, name, parent, population, aliases and the
source of each population figure) is read, not written. ``README.md`` there says what the data
are and are not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from displacement_forecast.data import DataWarning, load_acled, load_regions, load_ucdp_ged
from displacement_forecast.data.io import write_csv_atomic

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
UCDP = "nw_syria/DERIVED_ucdp_ged_syria_nw_2018-06_2019-11.csv"
ACLED = "nw_syria/DERIVED_acled_battles_nw_2018-06_2020-03.csv"
TYPED = "nw_syria/DERIVED_published_idp_figures_nw_syria_2018-07_2019-11.csv"
SUMMARY = "syria/DERIVED_syria_idp_flow_by_governorate_monthly_2016-01_2019-01.csv"
START, END = "2018-06-01", "2019-11-30"


def _ucdp(real: Path, regions) -> pd.DataFrame:
    """events, fatalities, strikes, shelling per governorate and month from the UCDP extract."""
    path = real / UCDP
    out = [load_ucdp_ged(path, regions, freq="M", level="adm_1", start=START, end=END)
           .assign(source="UCDP GED (lethal events)")]
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for flag, series in (("kw_air", "strikes"), ("kw_shelling", "shelling")):
        with tempfile.TemporaryDirectory() as tmp:
            sub = Path(tmp) / f"ucdp_{series}.csv"
            raw[raw[flag].str.strip() == "1"].to_csv(sub, index=False)
            got = load_ucdp_ged(sub, regions, freq="M", level="adm_1", start=START, end=END)
        got = got[got["series"] == "events"].assign(series=series, source=f"UCDP GED events flagged {flag}")
        out.append(got)
    return pd.concat(out, ignore_index=True)


def _displaced(real: Path, regions) -> pd.DataFrame:
    """Arrivals per governorate: the summary sheet to 2019-01, typed OCHA figures from 2019-02."""
    matched = regions.name_map()
    summ = pd.read_csv(real / SUMMARY)
    summ["date"] = pd.to_datetime(summ["month"] + "-01")
    summ["region"] = summ["governorate_of_arrival"].map(lambda n: matched.get(_norm(n)))
    summ = summ[summ["region"].notna() & (summ["date"] >= START) & (summ["date"] <= "2019-01-01")]
    a = summ.assign(series="displaced", value=summ["idp_flow_estimate"].astype(float),
                    source="OCHA/ISMI IDP movement file, summary sheet (arrivals)")
    typed = pd.read_csv(real / TYPED)
    typed = typed[(typed["area_level"] == "governorate") & (typed["measure"] == "idp_arrivals")]
    typed = typed.assign(date=pd.to_datetime(typed["period_start"]), region=typed["area"].map(lambda n: matched.get(_norm(n))))
    typed = typed[typed["region"].notna() & (typed["date"] > "2019-01-01") & (typed["date"] <= END)]
    b = typed.assign(series="displaced", value=typed["value"].astype(float),
                     source="OCHA IDP Task Force monthly report (arrivals): " + typed["url"])
    cols = ["date", "region", "series", "value", "source"]
    return pd.concat([a[cols], b[cols]], ignore_index=True)


def _norm(name: str) -> str:
    from displacement_forecast.data.regions import normalise_name

    return normalise_name(name)


def build(real: Path = REAL, out: Path = ROOT / "data" / "nw_syria") -> tuple[Path, Path]:
    """Write ``panel.csv`` and ``acled_battles.csv`` into ``out``; return their paths."""
    regions = load_regions(out / "regions.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # UCDP/ACLED rows outside the four governorates: none here
        panel = pd.concat([_ucdp(real, regions), _displaced(real, regions)], ignore_index=True)
        battles = load_acled(real / ACLED, regions, freq="M", level="admin1", series_map={"Battles": "events"},
                             totals=(), start="2018-06-01", end="2020-03-31").assign(source="ACLED (battles only)")
    cols = ["date", "region", "series", "value", "source"]
    panel = panel[cols].sort_values(["series", "region", "date"]).reset_index(drop=True)
    panel["value"] = panel["value"].round(3)
    battles = battles[cols].sort_values(["region", "date"]).reset_index(drop=True)
    for f in (panel, battles):
        f["date"] = pd.to_datetime(f["date"]).dt.strftime("%Y-%m-%d")
    return write_csv_atomic(panel, out / "panel.csv"), write_csv_atomic(battles, out / "acled_battles.csv")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REAL, help="the shared real-data folder (default ../shared/data/real)")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "nw_syria", help="folder holding regions.csv")
    a = ap.parse_args(argv)
    if not (a.real / UCDP).exists():
        print(f"real data not found under {a.real}; nothing built", file=sys.stderr)
        return 2
    for p in build(a.real, a.out):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
