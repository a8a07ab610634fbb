"""Helpers shared by the reliability tests: folder snapshots and the 'one complete run' check."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def snapshot(folder: Path) -> dict[str, str]:
    """File name -> sha256 of every file in ``folder`` (empty when it does not exist)."""
    if not folder.exists():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def run_problems(folder: Path, user_files: tuple[str, ...] = ()) -> list[str]:
    """Why ``folder`` is not every file of one forecast run and nothing else ([] when it is).

    The data package lists every data file with its hash; PNGs are this run's (one fan chart per
    scenario, a cumulative one per scenario and the exceedance chart, all or none); nothing else is there but ``user_files``.
    """
    try:
        pkg = json.loads((folder / "datapackage.json").read_text())
        sc = json.loads((folder / "forecast.json").read_text())
    except (OSError, ValueError) as e:
        return [f"cannot read the package or sidecar: {e}"]
    out = []
    for r in pkg["resources"]:
        p = folder / r["path"]
        want = r.get("hash", "sha256:" + r.get("sha256", "")).removeprefix("sha256:")
        if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != want:
            out.append(f"{r['path']}: missing or hash differs")
    if pkg["provenance"]["forecast"] != sc["forecast"]:
        out.append("datapackage.json and forecast.json describe different runs")
    listed = {r["path"] for r in pkg["resources"]} | {"forecast.json", "datapackage.json"}
    plots = ({f"{kind}_{s['id']}.png" for s in sc["scenarios"] for kind in ("fan", "cumulative")}
             | {"exceedance.png"})
    names = {p.name for p in folder.iterdir()} - set(user_files)
    out += [f"{n} is not part of this run" for n in sorted(names - plots - listed)]
    if names & plots and not plots <= names:
        out.append(f"charts missing: {sorted(plots - names)}")
    return out
