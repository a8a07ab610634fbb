"""Render the planner notebooks to HTML a planner can open or mail: ``make report``.

::

    python -m displacement_forecast.report notebooks reports            # code hidden (planners)
    python -m displacement_forecast.report notebooks reports --with-code  # code shown (analysts)

Each ``notebooks/*.py`` (jupytext percent format, the reviewable source) is converted to a
notebook in memory, executed top to bottom in a fresh kernel that runs *this* Python (the venv's,
whatever kernels the machine has registered), and exported to one self-contained HTML file with
its figures embedded. The figures are also written as PNG files beside the HTML, and
``index.html`` lists every report with when and from what it was made. A notebook that fails
stops the report with the failing cell's error (no half-rendered HTML is left behind).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Name of the kernel spec written to a private folder for each run (never registered globally).
KERNEL_NAME = "displacement-forecast-python"


@dataclass
class Rendered:
    """One rendered notebook: where its HTML and figures went and how long it took."""

    source: Path
    html: Path
    title: str
    seconds: float
    figures: list[Path] = field(default_factory=list)


def notebook_title(nb) -> str:
    """First level-1 markdown heading of a notebook, or an empty string.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook.

    Returns
    -------
    str
        The heading text without the leading ``#``.
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def read_notebook(path: str | Path):
    """Read a jupytext ``.py`` (percent format) or an ``.ipynb`` file as a notebook.

    Parameters
    ----------
    path : str or Path
        The notebook source.

    Returns
    -------
    nbformat.NotebookNode
        The notebook (version 4), without outputs.
    """
    import jupytext
    import nbformat

    path = Path(path)
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    return jupytext.read(path, fmt="py:percent")


def _kernel_manager(workdir: Path):
    """A kernel manager whose only kernel spec runs ``sys.executable -m ipykernel_launcher``.

    Writing the spec to a private folder (instead of relying on a registered ``python3``) means a
    fresh venv works even when the machine has other Jupyter kernels pointing at other Pythons.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = workdir / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if os.environ.get("PYTHONPATH"):
        # the kernel starts in the notebook's folder: a relative PYTHONPATH (``PYTHONPATH=src``) would
        # point nowhere there, and the kernel would import whichever installed copy of the package it
        # finds (another checkout's) instead of the one running this report
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) if p else p
                                            for p in os.environ["PYTHONPATH"].split(os.pathsep))
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})", "language": "python", "env": env}
    (kdir / "kernel.json").write_text(json.dumps(spec))
    ksm = KernelSpecManager(kernel_dirs=[str(workdir / "kernels")])
    ksm.ensure_native_kernel = False
    # IPC sockets in the private folder: a local kernel needs no TCP port (ipykernel warns on stderr,
    # "running over TCP without encryption", for every notebook of a planner's report otherwise)
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc",
                         ip=str(workdir / "kernel-ipc"))


def execute_notebook(path: str | Path, *, timeout: int = 600, cwd: str | Path | None = None):
    """Convert a notebook source to a notebook and execute it in the current Python.

    Parameters
    ----------
    path : str or Path
        Jupytext ``.py`` or ``.ipynb`` source.
    timeout : int
        Seconds allowed per cell.
    cwd : str or Path, optional
        Working directory of the kernel; default the notebook's folder.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook with outputs.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        When a cell raises; the message holds the cell and its traceback.
    """
    from nbconvert.preprocessors import ExecutePreprocessor

    path = Path(path)
    nb = read_notebook(path)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python", "language": "python"}
    with tempfile.TemporaryDirectory(prefix="df-kernel-") as tmp:
        km = _kernel_manager(Path(tmp))
        ep = ExecutePreprocessor(timeout=timeout, kernel_name=KERNEL_NAME)
        try:
            ep.preprocess(nb, {"metadata": {"path": str(cwd or path.parent)}}, km=km)
        finally:
            # nbclient leaves a kernel manager it was given running: shut the kernel down here, or it
            # outlives the report and prints "Parent appears to have exited" on the planner's screen
            if km.has_kernel:
                km.shutdown_kernel(now=False)
    return nb


def _png_outputs(nb) -> list[bytes]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if "image/png" in data:
                out.append(base64.b64decode(data["image/png"]))
    return out


def render_notebook(path: str | Path, out_dir: str | Path, *, with_code: bool = False,
                    timeout: int = 600) -> Rendered:
    """Execute one notebook and write ``<stem>.html`` plus ``<stem>_figures/figure-NN.png``.

    Parameters
    ----------
    path : str or Path
        Jupytext ``.py`` or ``.ipynb`` source.
    out_dir : str or Path
        Folder for the HTML and figures (created).
    with_code : bool
        Show code cells in the HTML (default: hidden, outputs and prose only).
    timeout : int
        Seconds allowed per cell.

    Returns
    -------
    Rendered
        What was written.
    """
    from nbconvert import HTMLExporter

    from .data.io import atomic_path, write_text_atomic

    path, out = Path(path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    nb = execute_notebook(path, timeout=timeout)
    seconds = time.perf_counter() - t0
    title = notebook_title(nb) or path.stem
    exporter = HTMLExporter(exclude_input=not with_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    html_path = write_text_atomic(body, out / f"{path.stem}.html")
    fig_dir = out / f"{path.stem}_figures"
    figures = []
    for i, png in enumerate(_png_outputs(nb), start=1):
        fig_dir.mkdir(exist_ok=True)
        p = fig_dir / f"figure-{i:02d}.png"
        with atomic_path(p) as tmp:
            Path(tmp).write_bytes(png)
        figures.append(p)
    return Rendered(path, Path(html_path), title, seconds, figures)


def write_index(rendered: Sequence[Rendered], out_dir: str | Path) -> Path:
    """Write ``index.html`` linking every report, with its source, run time and figure count.

    Parameters
    ----------
    rendered : sequence of Rendered
        The reports made in this run.
    out_dir : str or Path
        The reports folder.

    Returns
    -------
    Path
        The index file.
    """
    from . import __version__
    from .data.io import write_text_atomic

    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    rows = "\n".join(
        f'<li><a href="{html.escape(r.html.name)}">{html.escape(r.title)}</a> '
        f'<span class="meta">({html.escape(r.source.name)}; {len(r.figures)} figures; '
        f"ran in {r.seconds:.0f} s)</span></li>"
        for r in rendered)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>displacement-forecast reports</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}}
.meta{{color:#555;font-size:90%}}</style></head>
<body><h1>displacement-forecast reports</h1>
<p>Made {html.escape(stamp)} with displacement-forecast {html.escape(str(__version__))}.
Every number in these reports is computed when the report is made; the data are described
in each report.</p>
<ul>
{rows}
</ul></body></html>
"""
    return Path(write_text_atomic(page, Path(out_dir) / "index.html"))


def find_notebooks(src: str | Path) -> list[Path]:
    """Notebook sources in ``src``: ``*.py`` in jupytext percent format, sorted by name.

    Parameters
    ----------
    src : str or Path
        A folder or one file.

    Returns
    -------
    list of Path
        The sources (files not in percent format are left out).
    """
    src = Path(src)
    if src.is_file():
        return [src]
    return sorted(p for p in src.glob("*.py") if "# %%" in p.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: render every notebook in a folder to HTML in another folder."""
    ap = argparse.ArgumentParser(prog="python -m displacement_forecast.report",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", type=Path, help="folder of jupytext .py notebooks (or one file)")
    ap.add_argument("out", type=Path, help="folder for the HTML reports")
    ap.add_argument("--with-code", action="store_true", help="show code cells in the HTML")
    ap.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    a = ap.parse_args(argv)
    sources = find_notebooks(a.notebooks)
    if not sources:
        print(f"no jupytext notebooks (*.py with '# %%' cells) in {a.notebooks}", file=sys.stderr)
        return 2
    done = []
    for src in sources:
        print(f"rendering {src} ...", flush=True)
        r = render_notebook(src, a.out, with_code=a.with_code, timeout=a.timeout)
        print(f"  -> {r.html} ({len(r.figures)} figures, {r.seconds:.0f} s)", flush=True)
        done.append(r)
    idx = write_index(done, a.out)
    print(f"wrote {idx}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
