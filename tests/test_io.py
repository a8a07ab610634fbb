"""Atomic writes: outputs get ordinary permissions (0o666 minus the umask) and a failed write leaves nothing."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from displacement_forecast.data.io import atomic_path, write_csv_atomic, write_text_atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


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
