"""Backtest diagnostics: score by horizon, interval coverage vs nominal, PIT histograms.

Every chart has labelled axes with units and a caption naming the data source and the backtest
(origins, draws), so a PNG lifted into a report still says where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from ..conventions import COVERAGE_LEVELS, TOTAL  # noqa: E402
from ..evaluate.backtest import ORACLE_SUFFIX, of_target  # noqa: E402
from ..evaluate.scores import pit_histogram  # noqa: E402
from .fan import add_caption, people  # noqa: E402  (the caption as under every chart: room for all its lines)

_COLOURS = ("#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50", "#7f8c8d", "#16a085")


def _style(model: str, i: int) -> dict:
    oracle = model.endswith(ORACLE_SUFFIX)
    return {"color": _COLOURS[i % len(_COLOURS)], "ls": ":" if oracle else "-", "marker": "o", "ms": 3}


def score_by_horizon(summary: pd.DataFrame, *, score: str = "crps", scope: str = "regions",
                     caption: str = "", unit: str = "weeks") -> plt.Figure:
    """Mean score (people per region-period, or for the total) and CRPS skill by horizon, one line per model
    (each period's scores: :func:`~..evaluate.backtest.of_target`)."""
    s = of_target(summary)
    s = s[s["scope"] == scope]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for i, (m, g) in enumerate(s.groupby("model", sort=False)):
        ax.plot(g["horizon"], g[score], label=m, **_style(m, i))
        ax2.plot(g["horizon"], g["skill"], label=m, **_style(m, i))
    what = "per region and period" if scope == "regions" else "for the regional total"
    ax.set_ylabel(f"mean {score.upper()} {what}\n(people; lower is better)")
    ax.yaxis.set_major_formatter(people)
    ax2.axhline(0, color="black", lw=1)
    ax2.set_ylabel("CRPS skill vs last-value\n(1 - CRPS / CRPS of last-value)")
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    for a in (ax, ax2):
        a.set_xlabel(f"{unit} ahead")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(f"{score.upper()} by horizon", loc="left")
    # the note only where dotted (oracle: drivers as they happened) lines are drawn; it had titled Syria's
    # chart, with no oracle run and no strikes at all (trial 19)
    oracle = s["model"].astype(str).str.endswith(ORACLE_SUFFIX).any()
    ax2.set_title("Skill by horizon" + (" (dotted: with the drivers that happened)" if oracle else ""),
                  loc="left", fontsize=9)
    add_caption(fig, caption)
    return fig


def coverage_vs_nominal(summary: pd.DataFrame, *, scope: str = "regions", caption: str = "",
                        levels: Sequence[int] = COVERAGE_LEVELS, unit: str = "weeks") -> plt.Figure:
    """Share of outcomes inside the central intervals vs the promised share, per model.

    Left: all horizons pooled (points on the diagonal = calibrated). Right: the 80% interval by horizon.
    Each period's scores (:func:`~..evaluate.backtest.of_target`).
    """
    s = of_target(summary)
    s = s[s["scope"] == scope]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    nominal = np.asarray(levels) / 100
    ax.plot([0, 1], [0, 1], color="black", lw=1, ls="--", label="calibrated")
    for i, (m, g) in enumerate(s.groupby("model", sort=False)):
        w = g["n"].to_numpy(float)
        obs = [np.average(g[f"cover_{lv}"], weights=w) for lv in levels]
        ax.plot(nominal, obs, label=m, **_style(m, i))
        ax2.plot(g["horizon"], g["cover_80"], label=m, **_style(m, i))
    ax.set_xlim(0.4, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("nominal coverage of the central interval (%)")
    ax.set_ylabel("observed share of outcomes inside (%)")
    ax2.axhline(0.8, color="black", lw=1, ls="--")
    ax2.set_ylim(0.0, 1.02)
    ax2.set_xlabel(f"{unit} ahead")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylabel("observed coverage of the 80% interval (%)")
    for a in (ax, ax2):
        a.yaxis.set_major_formatter(PercentFormatter(1.0))
        a.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_title("Coverage vs nominal, all horizons", loc="left")
    ax2.set_title("80% interval by horizon", loc="left")
    add_caption(fig, caption)
    return fig


def pit_histograms(scores: pd.DataFrame, *, models: Sequence[str] | None = None, scope: str = "regions",
                   n_bins: int = 10, caption: str = "") -> plt.Figure:
    """Randomised PIT histograms, one panel per model (flat at 1 = calibrated; U = too narrow), of each
    period's scores (:func:`~..evaluate.backtest.of_target`)."""
    s = of_target(scores)
    s = s[s["region"] == TOTAL] if scope == TOTAL else s[s["region"] != TOTAL]
    models = list(models or dict.fromkeys(s["model"]))
    n = len(models)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows + 0.6), sharey=True,
                             constrained_layout=True, squeeze=False)
    for k, m in enumerate(models):
        ax = axes.flat[k]
        dens, edges = pit_histogram(s.loc[s["model"] == m, "pit"].to_numpy(float), n_bins)
        ax.bar(edges[:-1], dens, width=np.diff(edges), align="edge", color="#1b6ca8", edgecolor="white")
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_title(m, loc="left", fontsize=9)
        ax.set_xlabel("PIT value (randomised)")
        if k % cols == 0:
            ax.set_ylabel("density (1 = uniform)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    add_caption(fig, caption)
    return fig


__all__ = ["coverage_vs_nominal", "pit_histograms", "score_by_horizon"]
