"""Reading and writing files: atomic writes (ordinary permissions, a failed write leaves nothing) and strict CSV reading."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from displacement_forecast.data.io import (
    atomic_path,
    read_csv_strict,
    write_csv_atomic,
    write_text_atomic,
)
from displacement_forecast.data.schema import DataError


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_files_are_group_and_other_readable_under_umask_022(tmp_path, umask_022):
    csv = write_csv_atomic(pd.DataFrame({"a": [1, 2]}), tmp_path / "out" / "t.csv")
    txt = write_text_atomic("hello", tmp_path / "t.txt")
    for p in (csv, txt):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == 0o644, oct(mode)
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH
    assert txt.read_text() == "hello"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022):
    """`chmod 600 x.csv; panel recipe.toml --out x.csv` left x.csv at 644."""
    csv, txt = tmp_path / "x.csv", tmp_path / "x.txt"
    for p, mode in ((csv, 0o600), (txt, 0o640)):
        p.write_text("old")
        p.chmod(mode)
    write_csv_atomic(pd.DataFrame({"a": [1]}), csv)
    write_text_atomic("new", txt)
    assert stat.S_IMODE(csv.stat().st_mode) == 0o600
    assert stat.S_IMODE(txt.stat().st_mode) == 0o640 and txt.read_text() == "new"
    assert stat.S_IMODE(write_text_atomic("n", tmp_path / "n.txt").stat().st_mode) == 0o644  # a new file as before


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_permissions_follow_a_stricter_umask(tmp_path):
    old = os.umask(0o077)
    try:
        p = write_text_atomic("x", tmp_path / "private.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert os.umask(old) == old  # reading the umask did not change it


def test_a_failing_block_leaves_no_file(tmp_path):
    target = tmp_path / "t.csv"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half a file")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_block_keeps_the_previous_file(tmp_path):
    target = write_text_atomic("old", tmp_path / "t.txt")
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("new, half")
            raise ValueError
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_quote_never_closed_is_one_short_line_naming_where_it_opened(tmp_path):
    """An unclosed quote made the rest of the file one cell, and the error quoted it all (43 KB)."""
    rows = [f"2020-01-{d:02d},A,strikes,{d}" for d in range(6, 28)]
    rows[2] = rows[2].replace(",strikes", ',"strikes')
    p = tmp_path / "obs.csv"
    p.write_text("date,region,series,value\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_csv_strict(p)
    (prob,) = e.value.problems
    assert prob.row == 4 and "never closed" in prob.message and "19 lines after it" in prob.message
    assert len(str(prob)) < 250


def test_quoted_cells_over_several_lines_and_stray_quotes_still_read(tmp_path):
    p = tmp_path / "obs.csv"
    p.write_text('date,region,series,value,source\n2020-01-06,A,strikes,1,"two\nlines"\n2020-01-13,A,strikes,2,5" tall\n')
    df = read_csv_strict(p)
    assert list(df["source"]) == ["two\nlines", '5" tall'] and list(df.attrs["lines"]) == [2, 4]


@pytest.mark.parametrize("name", ["t.csv.gz", "t.csv.bz2", "t.csv.xz", "t.CSV.GZ", "t.zip"])
def test_an_output_csv_is_compressed_as_its_name_says(tmp_path, name):
    """`panel --out x.csv.gz` wrote plain text into a file named .gz (zcat and pandas refused it):
    write_csv_atomic, the one CSV writer of the commands, now compresses as the suffix says,
    the same rows giving the same bytes (no time stamp), and still through a temporary file."""
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "=1+1"]})
    p = write_csv_atomic(df, tmp_path / name)
    back = pd.read_csv(p, compression={".gz": "gzip", ".GZ": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}[p.suffix])
    assert back["a"].tolist() == [1, 2] and back["b"].tolist() == ["x", "'=1+1"]  # escaped as plain CSVs are
    first = p.read_bytes()
    write_csv_atomic(df, p)
    assert p.read_bytes() == first and [x.name for x in tmp_path.iterdir()] == [name]
    if name.endswith(".zip"):
        import zipfile

        assert zipfile.ZipFile(p).namelist() == ["t.csv"]


def test_a_zst_output_without_zstandard_is_refused_in_one_line(tmp_path, monkeypatch):
    import sys

    from displacement_forecast.data.io import output_compression

    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails, as when it is not installed
    with pytest.raises(DataError) as e:
        write_csv_atomic(pd.DataFrame({"a": [1]}), tmp_path / "t.csv.zst")
    assert str(e.value).count("\n") == 0 and "zstandard" in str(e.value) and "t.csv.zst" in str(e.value)
    assert list(tmp_path.iterdir()) == []
    assert output_compression("t.csv") is None and output_compression("t.csv.gz") == "gzip"
