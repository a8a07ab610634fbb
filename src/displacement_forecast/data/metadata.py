"""Dataset metadata a forecast must carry: for now one flag, ``synthetic``.

A data folder declares itself in the front matter of its ``README.md`` (the README beside the
observation file)::

    ---
    synthetic: true
    ---
    # My dataset ...

Only ``key: value`` lines between the two ``---`` lines are read (no YAML library, nothing
executed). ``synthetic: true`` puts "SYNTHETIC DATA" into every chart title and caption and into
the sidecar of a forecast made from that file, so made-up numbers with real place names and
dates are never mistaken for a forecast of the real world. Folders without front matter are
taken as real data.

``decimals: true`` says the folder's observation files hold counts of people with decimals on
purpose (the source splits estimates, e.g. OCHA's 25352.1): the tidy reader then accepts them
instead of refusing each as not a whole number (:func:`declares_decimals`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SYNTHETIC_MARK = "SYNTHETIC DATA"


def readme_metadata(data_file: str | Path) -> dict[str, str]:
    """``key -> value`` from the front matter of the README beside ``data_file`` (empty if none)."""
    readme = Path(data_file).parent / "README.md"
    try:
        lines = readme.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    if not lines or lines[0].strip() != "---":
        return {}
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return out
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip().lower()] = value.strip()
    return {}  # no closing line: not front matter


def declares(data_file: str | Path, key: str) -> bool:
    """Whether the README beside ``data_file`` says ``key: true`` (or ``yes``, ``1``)."""
    return readme_metadata(data_file).get(key, "").lower() in ("true", "yes", "1")


def declares_decimals(data_file: str | Path) -> bool:
    """Whether the README beside ``data_file`` says ``decimals: true``: its counts of people may
    have decimals (a source that splits estimates), the tidy file's ``whole = false``."""
    return declares(data_file, "decimals")


def synthetic_files(data_files: Iterable[str | Path]) -> list[str]:
    """The files among ``data_files`` whose folder README says ``synthetic: true``."""
    return [str(f) for f in data_files if declares(f, "synthetic")]
