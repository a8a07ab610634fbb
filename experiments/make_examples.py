"""Regenerate the small SYNTHETIC example files in data/examples/ (used by notebook 03).

    python experiments/make_examples.py

From the last weeks of the shipped synthetic NW-Syria data it writes, with a fixed seed:

* ``acled_export_synthetic.csv`` - one row per event in the column layout of an ACLED export
  (air strikes = the synthetic strike counts, plus some shelling), dates spread over each week,
  sub-district names spelt as ACLED tends to spell them;
* ``idp_report_synthetic.csv`` + ``idp_report_synthetic.toml`` - a weekly displacement report in a
  wide "one column per week" layout, with a few cells left blank (not reported), and the mapping
  that reads it;
* ``regions.csv`` - the region table, with the other spellings as ``aliases``.

Every event and figure in these files is made up; the notes column says so on every row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.data import load_regions, read_observations
from displacement_forecast.data.io import write_csv_atomic, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "data" / "synthetic_nw_syria"

# code -> (ACLED-style admin1, admin2, admin3 spelling, lat, lon); names differ on purpose.
ADMIN = {
    "NWS01": ("Idleb", "Ma'arrat An-Nu'man", "Ma'arrat An-Nu'man", 35.65, 36.67),
    "NWS02": ("Idleb", "Ma'arrat An-Nu'man", "Khan Shaykhun", 35.44, 36.65),
    "NWS03": ("Idleb", "Ariha", "Kafr Nubl", 35.61, 36.56),
    "NWS04": ("Idleb", "Idleb", "Saraqab", 35.86, 36.80),
    "NWS05": ("Idleb", "Ariha", "Ariha", 35.81, 36.61),
    "NWS06": ("Idleb", "Ariha", "Ihsim", 35.72, 36.49),
    "NWS07": ("Idleb", "Idleb", "Idlib", 35.93, 36.63),
    "NWS08": ("Idleb", "Jisr Ash-Shugur", "Jisr al-Shughur", 35.81, 36.32),
    "NWS09": ("Idleb", "Harim", "Harim", 36.21, 36.52),
    "NWS10": ("Idleb", "Harim", "Dana", 36.21, 36.77),
    "NWS11": ("Idleb", "Harim", "Salqin", 36.14, 36.45),
    "NWS12": ("Aleppo", "Jebel Saman", "Al Atarib", 36.14, 36.83),
    "NWS13": ("Aleppo", "Jebel Saman", "Daret Azza", 36.28, 36.85),
}
ACLED_COLUMNS = ["event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
                 "sub_event_type", "actor1", "country", "admin1", "admin2", "admin3", "location", "latitude",
                 "longitude", "source", "notes", "fatalities"]
NOTE = "SYNTHETIC: not a real event"


def acled_events(strikes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """ACLED-layout rows for synthetic events.

    ACLED codes one event per location and day ("several air strikes hit X"), so each week's
    strikes are spread over seven days and three locations per sub-district and merged into one
    event per location-day; shelling events are drawn on top.
    """
    rows = []
    for week, row in strikes.iterrows():
        for code, n in row.items():
            a1, a2, a3, lat, lon = ADMIN[code]
            places = [(a3, lat, lon), (f"{a3} countryside", lat + 0.03, lon - 0.02), (f"{a3} east", lat, lon + 0.04)]
            n_shell = int(rng.poisson(0.05 * n + 0.2))
            for kind, count in (("Air/drone strike", int(n)), ("Shelling/artillery/missile attack", n_shell)):
                slots = rng.integers(0, 7 * len(places), size=count)
                for slot in np.unique(slots):
                    day, (loc, la, lo) = divmod(int(slot), len(places))[0], places[int(slot) % len(places)]
                    rows.append({
                        "event_date": week + pd.Timedelta(days=day), "event_type": "Explosions/Remote violence",
                        "sub_event_type": kind, "admin1": a1, "admin2": a2, "admin3": a3, "location": loc,
                        "latitude": round(la, 2), "longitude": round(lo, 2),
                        "fatalities": int(rng.poisson(0.5 * (slots == slot).sum()))})
    ev = pd.DataFrame(rows).sort_values(["event_date", "admin3", "location", "sub_event_type"],
                                        kind="stable").reset_index(drop=True)
    ev.insert(0, "event_id_cnty", [f"SYN{i + 1}" for i in range(len(ev))])
    ev["year"] = ev["event_date"].dt.year
    ev["event_date"] = ev["event_date"].dt.strftime("%d %B %Y")
    ev["time_precision"] = 1
    ev["disorder_type"] = "Political violence"
    ev["actor1"] = "Synthetic actor"
    ev["country"] = "Syria"
    ev["source"] = "synthetic"
    ev["notes"] = NOTE
    return ev[ACLED_COLUMNS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=ROOT / "data" / "examples", type=Path)
    ap.add_argument("--weeks", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    regions = load_regions(SRC / "regions.csv")
    obs = read_observations(SRC / "observations.csv", region_codes=regions.codes)
    obs = obs[obs["date"] > obs["date"].max() - pd.Timedelta(weeks=a.weeks)]

    def wide(s: str) -> pd.DataFrame:
        return obs[obs["series"] == s].pivot(index="date", columns="region", values="value")[regions.codes]

    ev = acled_events(wide("strikes"), rng)
    write_csv_atomic(ev, a.out / "acled_export_synthetic.csv")

    disp = wide("displaced").T  # region x week
    disp.index = [regions.frame.set_index("code").loc[c, "name"] for c in disp.index]
    disp.columns = [d.strftime("%Y-%m-%d") for d in disp.columns]
    rep = disp.astype(int).astype(str)
    # a few reports missing (blank, not zero): quiet northern sub-districts in random early weeks
    for name in ("Harim", "Salqin", "Dana"):
        for col in rng.choice(rep.columns[: a.weeks // 2], size=2, replace=False):
            rep.loc[name, col] = ""
    rep.insert(0, "Sub-district", rep.index)
    rep.insert(1, "Pcode", list(regions.codes))
    write_csv_atomic(rep, a.out / "idp_report_synthetic.csv")
    write_text_atomic(
        "# Weekly IDP movement report (SYNTHETIC), one column per week starting Monday.\n"
        "# Read with displacement_forecast.data.load_mapped(csv, this_file, regions).\n"
        'description = "SYNTHETIC weekly new IDPs by sub-district of origin (wide layout)"\n'
        'series = "displaced"\n'
        'source = "synthetic IDP report (experiments/make_examples.py)"\n\n'
        "[columns]\n"
        'region = "Sub-district"\n\n'
        "[dates]\n"
        'format = "%Y-%m-%d"\n\n'
        "[wide]\n"
        'melt = "date"\n'
        'exclude = ["Pcode"]\n',
        a.out / "idp_report_synthetic.toml")

    reg = regions.frame.copy()
    reg["population"] = reg["population"].astype(int)
    acled_names = {c: ADMIN[c][2] for c in regions.codes}
    reg["aliases"] = [acled_names[c] if acled_names[c] != n else "" for c, n in zip(reg["code"], reg["name"], strict=True)]
    write_csv_atomic(reg, a.out / "regions.csv")
    print(f"wrote {len(ev):,} events, {rep.shape[0]} x {a.weeks} report cells and {len(reg)} regions to {a.out}")


if __name__ == "__main__":
    main()
