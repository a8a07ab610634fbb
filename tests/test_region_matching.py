"""A conflict file none of whose region names matches the region table is one clear error, never a
panel of made-up zeros (polish2, item 3; ../shared/cases/ingest/02_acled_pre2019_uppercase.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data.loaders import load_acled
from displacement_forecast.data.regions import RegionTable
from displacement_forecast.data.schema import DataError

C = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "ingest"


@pytest.mark.skipif(not C.exists(), reason=f"cases folder {C} is absent (../shared)")
def test_panel_of_a_file_from_another_country_is_refused(tmp_path, capsys):
    out = tmp_path / "p.csv"
    rc = main(["panel", "--events", str(C / "02_acled_pre2019_uppercase.csv"), "--regions",
               str(C / "00_regions_syria_adm1.csv"), "--freq", "W", "--out", str(out)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and not out.exists()
    (msg,) = err
    assert "02_acled_pre2019_uppercase.csv" in msg and "none of its" in msg
    assert "'Bejaia'" in msg and "'Idleb'" in msg  # the file's names and the table's


def _acled(tmp_path, admin1s):
    rows = [{"event_date": f"2020-01-{d:02d}", "event_type": "Battles", "admin1": a, "fatalities": 1}
            for d, a in enumerate(admin1s, start=1)]
    path = tmp_path / "acled.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.filterwarnings("ignore")
def test_every_loader_sharing_the_name_matching_refuses_a_file_matching_nothing(tmp_path):
    regions = RegionTable(pd.DataFrame({"code": ["A", "B"], "name": ["Alpha", "Beta"], "parent": ["P", "P"],
                                        "population": [10, 20]}))
    with pytest.raises(DataError, match="none of its 2 region names"):
        load_acled(_acled(tmp_path, ["Gamma", "Delta", "Gamma"]), regions=regions, freq="W")
    obs = load_acled(_acled(tmp_path, ["Alpha", "Delta"]), regions=regions, freq="W")  # one matches: a warning
    assert set(obs["region"]) <= {"A", "B"} and obs["value"].sum() > 0
