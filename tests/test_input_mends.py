"""Input handling a new user tripped over: bad values in many rows are one line per (file, column,
kind of problem); tidy headers match case-insensitively; large scenario multipliers warn; hubs whose
regions are not the panel's are refused.
"""

from __future__ import annotations

import pandas as pd
import pytest

from displacement_forecast.cli import main


def regions_csv(path, codes=("R1", "R2")):
    path.write_text("code,name,parent,population\n"
                    + "".join(f"{c},{c} name,,1000000\n" for c in codes))
    return path


def tidy_rows(n_weeks=40, regions=("R1", "R2"), value=lambda w, r: 10 + w % 7 + r):
    rows = []
    for w, d in enumerate(pd.date_range("2023-01-02", periods=n_weeks, freq="W-MON")):
        for r, code in enumerate(regions):
            rows.append((d.date().isoformat(), code, "displaced", value(w, r)))
    return rows


def write_tidy(path, rows, header="date,region,series,value"):
    path.write_text(header + "\n" + "".join(f"{d},{r},{s},{v}\n" for d, r, s, v in rows))
    return path


def error_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]


@pytest.mark.parametrize("command", ["validate", "forecast"])
def test_one_bad_value_kind_in_many_rows_is_one_line(tmp_path, capsys, command):
    regions_csv(tmp_path / "regions.csv")
    rows = tidy_rows(200)  # 400 data rows on lines 2..401
    bad_lines = []
    for k in range(0, 400, 4):  # 100 rows 'abc' (kind 1) ...
        d, r, s, _ = rows[k]
        rows[k] = (d, r, s, "abc" if k != 8 else "n/a")
        bad_lines.append(k + 2)
    for k in range(1, 400, 8):  # ... 50 rows negative (kind 2)
        d, r, s, _ = rows[k]
        rows[k] = (d, r, s, -5)
    data = write_tidy(tmp_path / "obs.csv", rows)
    args = [command, str(data)] + (["--out", str(tmp_path / "out")] if command == "forecast" else [])
    assert main(args) == 2
    lines = error_lines(capsys)
    assert len(lines) == 2, lines
    assert lines[0] == (f"error: {data}: column 'value': 100 rows are not a number (lines 2, 6, 10, 14, 18, ...; "
                        "first value 'abc'); expected a non-negative count (leave empty for missing)"), lines[0]
    assert lines[1].startswith(f"error: {data}: column 'value': 50 rows are negative (lines 3, 11, 19, 27, 35, ...; "
                               "first value '-5')"), lines[1]
    assert not (tmp_path / "out").exists()


def test_one_bad_row_keeps_its_line(tmp_path, capsys):
    regions_csv(tmp_path / "regions.csv")
    rows = tidy_rows(20)
    rows[5] = (*rows[5][:3], "abc")
    data = write_tidy(tmp_path / "obs.csv", rows)
    assert main(["validate", str(data)]) == 2
    assert error_lines(capsys) == [f"error: {data}:7: column 'value': 'abc' is not a number; expected a non-negative "
                                   "count (leave empty for missing)"]


def test_agency_loader_groups_bad_counts_too(tmp_path):
    from displacement_forecast.data.loaders.common import parse_counts
    from displacement_forecast.data.schema import DataError

    raw = pd.Series(["1", "x"] + ["y"] * 30 + ["-3"] * 3)
    vals, problems = parse_counts(raw, file="f.csv", column="best", lines=None)
    text = [str(p) for p in problems]
    assert len(text) == 2, text
    assert text[0].startswith("f.csv: column 'best': 31 rows are not a number (lines "), text[0]
    assert "first value 'x'" in text[0]
    assert text[1].startswith("f.csv: column 'best': 3 rows are negative ("), text[1]
    assert DataError  # imported: the loaders raise it with these problems

