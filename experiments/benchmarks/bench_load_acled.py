"""Benchmark: load a 1,000,000-row ACLED-format export and aggregate it weekly.

    python experiments/benchmarks/bench_load_acled.py [--rows 1000000]

Writes a synthetic ACLED-format CSV (all 31 export columns, a free-text notes field with
commas, day-first dates as in real exports) to a temporary folder, then times
``load_acled(..., freq="W")`` next to a reference measured in the same run on the same file:
a plain ``pd.read_csv`` of the whole file. The ratio is what to compare across machines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from displacement_forecast.data.loaders import DataWarning, load_acled

COLUMNS = ("event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,actor1,"
           "assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,interaction,civilian_targeting,iso,region,"
           "country,admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,source_scale,"
           "notes,fatalities,tags,timestamp").split(",")

SUB_TYPES = [("Explosions/Remote violence", "Air/drone strike"),
             ("Explosions/Remote violence", "Shelling/artillery/missile attack"),
             ("Battles", "Armed clash"), ("Violence against civilians", "Attack"),
             ("Explosions/Remote violence", "Remote explosive/landmine/IED"), ("Protests", "Peaceful protest")]


def make_file(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    admin1 = np.array([f"Region {i:02d}" for i in range(40)])
    days = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 9 * 365, n), unit="D")
    k = rng.integers(0, len(SUB_TYPES), n)
    a1 = admin1[rng.integers(0, len(admin1), n)]
    df = pd.DataFrame({c: "" for c in COLUMNS}, index=range(n))
    df["event_id_cnty"] = [f"XYZ{i}" for i in range(n)]
    df["event_date"] = days.strftime("%d/%m/%Y")
    df["year"] = days.year
    df["time_precision"] = 1
    df["disorder_type"] = "Political violence"
    df["event_type"] = [SUB_TYPES[i][0] for i in k]
    df["sub_event_type"] = [SUB_TYPES[i][1] for i in k]
    df["actor1"] = "Military Forces of Somewhere (2000-)"
    df["country"] = "Somewhere"
    df["admin1"] = a1
    df["admin2"] = np.char.add(a1.astype(str), " district")
    df["latitude"] = rng.uniform(-5, 12, n).round(4)
    df["longitude"] = rng.uniform(40, 51, n).round(4)
    df["source"] = "Local partner; National"
    df["notes"] = "On this day, forces carried out an attack near the town, killing some, injuring others."
    df["fatalities"] = rng.poisson(0.8, n)
    df["timestamp"] = 1704766941
    df.to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acled_big.csv"
        t0 = time.perf_counter()
        make_file(path, a.rows)
        print(f"generated {a.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        ref = pd.read_csv(path)
        t_ref = time.perf_counter() - t0
        del ref
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            obs = load_acled(path, freq="W")
        t_load = time.perf_counter() - t0
    print(f"reference  pd.read_csv(whole file):          {t_ref:6.2f} s")
    print(f"load_acled(freq='W') incl. checks+aggregate: {t_load:6.2f} s  ({len(obs):,} weekly rows)")
    print(f"ratio load_acled / pd.read_csv:              {t_load / t_ref:6.2f}")


if __name__ == "__main__":
    main()
