"""Fan charts and exceedance curves, readable in print: labelled axes, units, dates, source, vintage."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..forecast.summaries import TOTAL, quantiles, with_total  # noqa: E402

BANDS = (95, 80, 50)
_COLOURS = ("#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50")

def _people(v: float, _pos=None) -> str:
    """Axis label for a count of people: 950, 1.5k, 25k, 1.2M."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.1f}k".replace(".0k", "k")
    return f"{v:.0f}"


people = FuncFormatter(_people)


def _caption(fig: plt.Figure, text: str) -> None:
    fig.text(0.01, 0.005, text, fontsize=7, color="#444", ha="left", va="bottom", wrap=True)


def fan(ax: plt.Axes, paths: xr.DataArray, history: pd.Series | None = None, *, colour: str = _COLOURS[0],
        label: str | None = None) -> None:
    """Draw one fan (50/80/95% bands + median) of a ``draw x horizon`` array, after its history."""
    qs = sorted({0.5} | {(1 - b / 100) / 2 for b in BANDS} | {1 - (1 - b / 100) / 2 for b in BANDS})
    q = quantiles(paths, qs)
    dates = pd.DatetimeIndex(paths["target_date"].values)
    for b, alpha in zip(BANDS, (0.15, 0.25, 0.4), strict=True):
        lo, hi = (1 - b / 100) / 2, 1 - (1 - b / 100) / 2
        ax.fill_between(dates, q.sel(quantile=lo), q.sel(quantile=hi), color=colour, alpha=alpha, lw=0,
                        label=f"{b}% interval" if label is None else None)
    ax.plot(dates, q.sel(quantile=0.5), color=colour, lw=1.8, label=label or "median forecast")
    if history is not None and len(history):
        ax.plot(history.index, history.values, color="black", lw=1.2, marker=".", ms=3,
                label="observed" if label is None else None)
        ax.axvline(history.index[-1], color="#888", lw=0.8, ls=":")


def fan_chart(
    paths: xr.DataArray,
    history: pd.DataFrame | None = None,
    *,
    regions: Sequence[str] | None = None,
    region_names: dict[str, str] | None = None,
    title: str = "",
    caption: str = "",
    n_history: int = 26,
) -> plt.Figure:
    """Fan chart of new displacement per period: the all-region total on top, regions below.

    ``history`` is a ``date x region`` frame of observed new displacement (the last
    ``n_history`` periods are drawn).
    """
    p = with_total(paths)
    regions = list(regions) if regions is not None else list(paths["region"].values)
    ncol = 4
    nrow = 1 + int(np.ceil(len(regions) / ncol))
    fig = plt.figure(figsize=(13, 2.6 * nrow + 1.2), constrained_layout=True)
    gs = fig.add_gridspec(nrow, ncol)
    hist = history.iloc[-n_history:] if history is not None else None
    ax0 = fig.add_subplot(gs[0, :])
    fan(ax0, p.sel(region=TOTAL), hist.sum(axis=1, min_count=1) if hist is not None else None)
    ax0.set_title(f"{title} - all regions" if title else "All regions", loc="left", fontsize=11)
    ax0.set_ylabel("people newly displaced\nper period")
    ax0.yaxis.set_major_formatter(people)
    ax0.legend(loc="upper left", fontsize=8, ncol=5, frameon=False)
    names = region_names or {}
    for i, r in enumerate(regions):
        ax = fig.add_subplot(gs[1 + i // ncol, i % ncol])
        fan(ax, p.sel(region=r), hist[r] if hist is not None and r in hist else None)
        ax.set_title(f"{names.get(r, r)} ({r})" if r in names else r, fontsize=9, loc="left")
        ax.yaxis.set_major_formatter(people)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=4))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.tick_params(labelsize=7)
    if caption:
        fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))
        _caption(fig, caption)
    return fig


def exceedance_curve(
    paths_by_scenario: dict[str, xr.DataArray],
    *,
    within: int | None = None,
    marks: Sequence[float] = (250_000,),
    title: str = "",
    caption: str = "",
) -> plt.Figure:
    """P(cumulative new displacement over all regions > x) against x, one curve per scenario."""
    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    for i, (sid, paths) in enumerate(paths_by_scenario.items()):
        h = paths.sizes["horizon"] if within is None else within
        tot = np.sort(paths.isel(horizon=slice(0, h)).sum(("region", "horizon")).values)
        p = 1.0 - np.arange(1, len(tot) + 1) / len(tot)
        ax.step(tot, p, where="post", color=_COLOURS[i % len(_COLOURS)], lw=2, label=sid)
    for m in marks:
        ax.axvline(m, color="#555", ls="--", lw=0.9)
        ax.text(m, 0.97, f" {m:,.0f}", ha="left", va="top", fontsize=8, transform=ax.get_xaxis_transform())
    ax.set_xlabel(f"people newly displaced, all regions, first {h} periods")
    ax.set_ylabel("probability of more than x")
    ax.xaxis.set_major_formatter(people)
    ax.set_ylim(0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title, loc="left")
    if caption:
        fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
        _caption(fig, caption)
    return fig


def save_figure(fig: plt.Figure, path) -> None:
    """Save atomically (temp file + rename) and close."""
    from ..data.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
