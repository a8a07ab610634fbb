"""Fan charts and exceedance curves, readable in print: labelled axes, units, dates, source, vintage."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.ticker import Formatter, PercentFormatter  # noqa: E402

from ..conventions import (  # noqa: E402
    FREQ_UNIT,
    INTERVAL_LEVELS,
    TOTAL,
    interval_bounds,
    interval_quantiles,
    levels_text,
)
from ..conventions import period_unit as _unit  # noqa: E402
from ..data.metadata import SYNTHETIC_MARK  # noqa: E402
from ..data.schema import period_ends  # noqa: E402  (the charts' name for it: last day of each period)
from ..forecast.summaries import quantiles, total_within, with_total  # noqa: E402

#: Bands drawn, widest first (:data:`~displacement_forecast.conventions.INTERVAL_LEVELS`).
BANDS = tuple(sorted(INTERVAL_LEVELS, reverse=True))
#: Opacity of each band, widest (lightest) first.
_ALPHAS = (0.15, 0.25, 0.4)[-len(BANDS):] if len(BANDS) <= 3 else tuple(np.linspace(0.1, 0.4, len(BANDS)))
_COLOURS = ("#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50")
#: One colour per scenario id in every chart (of a run, a notebook, the command line's files): the
#: scenario ids of the toolkit's scenario files and of ``Scenario.baseline()`` / ``ceasefire()``,
#: from :data:`_COLOURS`. Notebooks 01 and 04 had drawn "intensify" red in one and green in the
#: other, as colours went by the scenario's place in the run. Other ids: see :func:`scenario_colours`.
SCENARIO_COLOURS = {
    "baseline": _COLOURS[0],
    "intensify": _COLOURS[1],
    "intensify-south": _COLOURS[1],
    "offensive-continues": _COLOURS[2],
    "de-escalation": _COLOURS[3],
    "ceasefire": _COLOURS[4],
}


def scenario_colours(ids: Sequence[str]) -> dict[str, str]:
    """Colour of each scenario id: its own (:data:`SCENARIO_COLOURS`) unless an earlier id of
    ``ids`` took that colour, else the first colour of :data:`_COLOURS` no earlier id has."""
    out: dict[str, str] = {}
    for sid in ids:
        own = SCENARIO_COLOURS.get(sid)
        if own is not None and own not in out.values():
            out[sid] = own
    for sid in ids:
        if sid not in out:
            free = [c for c in _COLOURS if c not in out.values()]
            out[sid] = free[0] if free else _COLOURS[len(out) % len(_COLOURS)]
    return {sid: out[sid] for sid in ids}


#: What :func:`~displacement_forecast.forecast.run.caption` says of the bands drawn, and what a
#: chart that draws none says instead (its ``bands=False`` wording).
_BANDS_TEXT = f"Bands: {levels_text()} intervals including"
_SPREAD_TEXT = "The paths' spread includes"


def without_bands(caption: str) -> str:
    """``caption`` for a chart that draws no band (exceedance curves, coefficient bars): "Bands:
    <levels> intervals including ..." becomes "The paths' spread includes ..."."""
    return (caption or "").replace(_BANDS_TEXT, _SPREAD_TEXT)


def observed_total(history: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per period, the sum over the regions that reported (NaN when none did), and whether some
    region did not report: such a sum is lower than the total of all regions would be."""
    total = history.sum(axis=1, min_count=1)
    partial = history.isna().any(axis=1) & history.notna().any(axis=1)
    return total, partial

def _people(v: float, _pos=None, extra: int = 0) -> str:
    """Axis label for a count of people: 950, 1.5k, 25k, 1.2M (``extra`` more decimals)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.{1 + extra}f}M"
    if a >= 1e4:
        return f"{v / 1e3:.{extra}f}k"
    if a >= 1e3:
        return f"{v / 1e3:.{1 + extra}f}k".replace(".0k", "k")
    return f"{v:.{extra}f}"


class PeopleFormatter(Formatter):
    """Tick labels for counts of people (:func:`_people`), with as many more decimals as write each
    tick as it is: ticks 10,000 and 10,500 both read "10k" (trial 19's backtest chart) and now read
    "10k" and "10.5k"; trailing zeros are dropped (10.0k -> 10k)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _people(x)

    def format_ticks(self, values) -> list[str]:
        for extra in range(4):  # the fewest decimals that write every tick as it is (1.25M, not 1.2M)
            labels = [_trim(_people(v, extra=extra)) for v in values]
            if all(abs(_value(lb) - v) <= 1e-6 * max(abs(v), 1.0) for lb, v in zip(labels, values, strict=True)):
                return labels
        return labels


def _value(label: str) -> float:
    """The number a :func:`_people` label stands for (``10.5k`` -> 10500)."""
    scale = {"k": 1e3, "M": 1e6}.get(label[-1], 1.0)
    return float(label.rstrip("kM").replace("\u2212", "-")) * scale


def _trim(label: str) -> str:
    """``10.50k`` -> ``10.5k``, ``10.0k`` -> ``10k``: no trailing zeros after the decimal point."""
    unit = label[-1] if label[-1] in "kM" else ""
    num = label[: len(label) - len(unit)]
    if "." in num:
        num = num.rstrip("0").rstrip(".")
    return num + unit


people = PeopleFormatter()


def period_unit(paths: xr.DataArray | None) -> str:
    """``week``, ``day`` or ``month`` from the paths' ``freq`` attribute (``period`` if unknown)."""
    return _unit(paths.attrs.get("freq") if paths is not None else None)


#: Caption font size (points).
CAPTION_SIZE = 7


def add_caption(fig: plt.Figure, text: str) -> None:
    """The caption under the charts: wrapped to the figure's width here (not by matplotlib at draw
    time, which the layout cannot see), and the charts laid out above all of its lines. A fixed
    share of the height had left the exceedance chart's x-axis label under a three-line caption."""
    # DejaVu Sans: ~0.56 em a character on average, more at the 110 dpi charts are written with (the
    # demo's caution ran 4 px past an 880 px figure at 0.56): 0.6, and the text starts 1% in
    per_line = max(40, int(0.98 * fig.get_figwidth() * 72 / (0.6 * CAPTION_SIZE)))
    keep = SYNTHETIC_MARK.replace(" ", "\u00a0")  # the mark is never split over two lines
    lines = [ln.replace(keep, SYNTHETIC_MARK) for para in text.replace(SYNTHETIC_MARK, keep).split("\n")
             for ln in (textwrap.wrap(para, per_line, break_on_hyphens=False) or [""])]
    bottom = min(0.5, (len(lines) * 1.3 * CAPTION_SIZE / 72 + 0.1) / fig.get_figheight())
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):  # constrained layout: every chart here
        engine.set(rect=(0, bottom, 1, 1 - bottom))
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=CAPTION_SIZE, color="#444", ha="left", va="bottom")


def marked_title(title: str, caption: str) -> str:
    """``title`` headed by "SYNTHETIC DATA" when the caption says the data are synthetic.

    Captions made by :func:`displacement_forecast.forecast.run.caption` from a dataset flagged
    ``synthetic`` (see :mod:`displacement_forecast.data.metadata`) start with the mark, so every
    chart drawn with such a caption carries it in its title too.
    """
    if SYNTHETIC_MARK in (caption or "") and SYNTHETIC_MARK not in (title or ""):
        return f"{SYNTHETIC_MARK} - {title}" if title else SYNTHETIC_MARK
    return title


#: Gid of the text labelling a threshold line (tests find the labels by it).
MARK_LABEL = "threshold-label"
#: Period start of each frequency code: the tick locator of a date axis (see :func:`date_axis`).
_FREQ_DAYS = {"D": 1, "W": 7, "M": 30.44}


def date_axis(ax: plt.Axes, freq: str | None, maxticks: int = 5) -> None:
    """Tick a date axis on period starts of the data's frequency, at most ``maxticks`` ticks.

    Monthly data are ticked on the 1st of months (labels name months, never days), weekly data on
    their own weekday, daily data on days; the step is a whole number of periods chosen from the
    axis range, so no tick falls inside a period and matplotlib's ``AutoDateLocator`` (and its
    "unable to pick an appropriate interval" warning on short ranges) is not used.
    Call after the data are drawn (the range is read from the axis).
    """
    code = str(freq or "")[:1]
    lo, hi = (mdates.num2date(x).replace(tzinfo=None) for x in ax.get_xlim())
    if code not in _FREQ_DAYS:  # frequency unknown: let matplotlib choose, quietly
        locator = mdates.AutoDateLocator(minticks=2, maxticks=maxticks + 2, interval_multiples=True)
    else:
        periods = max((hi - lo).days / _FREQ_DAYS[code], 1.0)
        step = max(int(np.ceil(periods / maxticks)), 1)
        if code == "M":
            locator = mdates.MonthLocator(bymonthday=1, interval=step)
        elif code == "W":
            locator = mdates.WeekdayLocator(byweekday=_first_tick(ax).weekday(), interval=step)
        else:
            locator = mdates.DayLocator(interval=step)
    ax.xaxis.set_major_locator(locator)
    if code == "M":  # months only: the day (always 1) would read like a date inside the month
        fmt = DayMonthFormatter(months_only=True)
    elif code in ("W", "D"):  # '7 Jan', never a bare day number ('07', '14' read as nothing)
        fmt = DayMonthFormatter()
    else:
        fmt = mdates.ConciseDateFormatter(locator)
    ax.xaxis.set_major_formatter(fmt)


class DayMonthFormatter(Formatter):
    """Date ticks as day and month (``7 Jan``), or the month alone (``months_only``: ``Jan``), with
    the year under the first tick and under each tick where the year changes (``6 Jan\n2020``,
    ``Jan\n2020``): every label names its period on its own (matplotlib's concise labels put a
    bare ``2020`` where January is, which reads as a year, not a month)."""

    def __init__(self, months_only: bool = False):
        self.months_only = months_only

    def __call__(self, x: float, pos: int | None = None) -> str:
        d = mdates.num2date(x)
        return f"{d:%b}" if self.months_only else f"{d.day} {d:%b}"

    def format_ticks(self, values) -> list[str]:
        out, year = [], None
        for v in values:
            d = mdates.num2date(v)
            out.append(self(v) + (f"\n{d.year}" if d.year != year else ""))
            year = d.year
        return out


def _first_tick(ax: plt.Axes) -> pd.Timestamp:
    """The first date drawn on ``ax`` (its weekday is the data's week start)."""
    for line in ax.get_lines():
        x = line.get_xdata()
        if len(x):
            return pd.Timestamp(x[0] if not isinstance(x[0], float) else mdates.num2date(x[0]).replace(tzinfo=None))
    return pd.Timestamp(mdates.num2date(ax.get_xlim()[0]).replace(tzinfo=None))


def _spread(frac: list[float], gap: float) -> list[float]:
    """Positions (axes fractions, sorted) pushed apart to at least ``gap``, kept inside [0, 1]."""
    out: list[float] = []
    for f in frac:
        out.append(max(f, out[-1] + gap) if out else f)
    over = (out[-1] if out else 0) - (1 - gap)  # a label sits above its position: its top inside too
    if over > 0:  # pushed off the top: shift the stack down as a whole
        out = [f - over for f in out]
    return out


def label_hlines(ax: plt.Axes, marks: Sequence[float], *, fontsize: float = 7) -> None:
    """Dashed horizontal lines at ``marks``, each labelled just outside the right edge, level with
    its line; labels of close thresholds are moved apart (never drawn on top of each other) and
    keep to their line's order. (Inside the frame they sat on the fan's widest band and on the next
    line up: Somalia's 250,000 and 500,000 on a 6M cumulative chart.)"""
    for m in marks:
        ax.axhline(m, color="#555", ls="--", lw=0.9)
    if not marks:
        return
    lo, hi = ax.get_ylim()
    gap = 1.35 * fontsize / 72 / max(_axes_inches(ax)[1], 0.3)
    # room above the highest line for its label: a threshold at the top of the chart had its label
    # struck through by the frame (Somalia's cumulative chart, 1,400,000)
    hi = max(hi, lo + (max(marks) - lo) / (1 - gap))
    ax.set_ylim(lo, hi)  # freeze the scale the labels are placed on
    ms = sorted(marks)
    for m, y in zip(ms, _spread([(m - lo) / (hi - lo) for m in ms], gap), strict=True):
        ax.text(1.005, y, f"{m:,.0f}", va="center", ha="left", fontsize=fontsize, color="#333",
                transform=ax.transAxes, gid=MARK_LABEL)


#: A white backing for text drawn over curves (the exceedance chart's threshold labels and notes
#: were crossed by the curves: README quick start, 12 weeks).
_TEXT_BACK = {"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}


def label_vlines(ax: plt.Axes, marks: Sequence[float], *, fontsize: float = 8) -> None:
    """Dashed vertical lines at ``marks``, each labelled at the top; the label of a threshold too
    close to an earlier one drops a row, so labels never overlap."""
    for m in marks:
        ax.axvline(m, color="#555", ls="--", lw=0.9)
    if not marks:
        return
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo, hi)
    width_in, height_in = _axes_inches(ax)
    row_h = 1.4 * fontsize / 72 / max(height_in, 0.3)
    ends: list[float] = []  # per row: the right end (axes fraction) of its last label
    for m in sorted(marks):
        text = f" {m:,.0f}"
        x = (m - lo) / (hi - lo)
        w = 0.62 * fontsize * len(text) / 72 / max(width_in, 0.3)
        row = next((r for r, end in enumerate(ends) if x > end), len(ends))
        ends[row:row + 1] = [x + w]
        ax.text(m, 0.97 - row * row_h, text, ha="left", va="top", fontsize=fontsize,
                transform=ax.get_xaxis_transform(), gid=MARK_LABEL, bbox=_TEXT_BACK)


def _axes_inches(ax: plt.Axes) -> tuple[float, float]:
    """Width and height of ``ax`` in inches (as laid out so far)."""
    fig = ax.get_figure()
    pos = ax.get_position()
    w, h = fig.get_size_inches()
    return pos.width * w, pos.height * h


def threshold_marks(ax: plt.Axes, marks: Sequence[float], top: float) -> list[float]:
    """Dashed horizontal lines at the ``marks`` that fall below 1.25 x ``top`` (the chart's upper
    band), labelled apart (:func:`label_hlines`); the others are named in a note on the chart, so a
    far threshold never squashes the fan and is never silently left out. Returns the marks drawn."""
    drawn = [m for m in marks if m <= 1.25 * top]
    label_hlines(ax, drawn)
    above = [m for m in marks if m not in drawn]
    if above:
        ax.text(0.99, 0.03, "above the chart: " + ", ".join(f"{m:,.0f}" for m in above), ha="right", va="bottom",
                fontsize=7, color="#333", transform=ax.transAxes)
    return drawn


def fan(ax: plt.Axes, paths: xr.DataArray, history: pd.Series | None = None, *, colour: str = _COLOURS[0],
        label: str | None = None, cumulative: bool = False, partial: pd.Series | None = None) -> None:
    """Draw one fan (:data:`BANDS` central intervals + median) of a ``draw x horizon`` array, after its history.

    ``cumulative``: the paths are running totals from the forecast start, each through the end of
    its period, so each is drawn at its period's last day (:func:`period_ends`), after a point at 0
    on the first period's start (the day before, for daily data); a running total drawn at the
    period's start read as a month's displacement counted by its first day. ``partial`` (bool per history period): periods whose
    observed value sums only the regions that reported (:func:`observed_total`), drawn as open dots
    and named in the legend."""
    q = quantiles(paths, interval_quantiles(BANDS))
    dates = pd.DatetimeIndex(paths["target_date"].values)

    def at(level: float) -> np.ndarray:
        v = np.asarray(q.sel(quantile=level).values, float)
        return np.concatenate([[0.0], v]) if cumulative else v

    if cumulative:
        ends = period_ends(dates, paths.attrs.get("freq"))
        # daily periods end where they start: a 0 on the first day drew a vertical segment from 0 to
        # that day's total (Ukraine, 14 May); it goes on the day before
        zero = dates[:1] - pd.Timedelta(days=1) if ends[0] == dates[0] else dates[:1]
        dates = zero.append(ends)
    for b, alpha in zip(BANDS, _ALPHAS, strict=True):
        lo, hi = interval_bounds(b)
        ax.fill_between(dates, at(lo), at(hi), color=colour, alpha=alpha, lw=0,
                        label=f"{b}% interval" if label is None else None)
    ax.plot(dates, at(0.5), color=colour, lw=1.8, label=label or "median forecast")
    if history is not None and len(history):
        p = (np.zeros(len(history), bool) if partial is None
             else partial.reindex(history.index, fill_value=False).to_numpy(bool))
        some_missing = bool(p.any())
        ax.plot(history.index, history.values, color="black", lw=1.2, marker=".", ms=3,
                label=None if label is not None else "observed: total of the regions reporting" if some_missing
                else "observed")
        if some_missing:
            ax.plot(history.index[p], history.values[p], ls="none", marker="o", ms=4.5, mfc="white", mec="black",
                    mew=1.0, label=None if label is not None else "open dot: some regions not reported")
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
    cumulative: bool = False,
    marks: Sequence[float] = (),
    shared_y: bool = True,
) -> plt.Figure:
    """Fan chart of new displacement: the all-region total on top, regions below.

    Parameters
    ----------
    paths : xarray.DataArray
        ``draw x region x horizon`` sample paths (people per period).
    history : pandas.DataFrame, optional
        ``date x region`` observed new displacement; the last ``n_history`` periods are drawn
        (per-period charts only).
    regions, region_names : optional
        Regions to draw (default all) and code -> name for their titles.
    title, caption : str
        Title (headed "SYNTHETIC DATA" when the caption says so) and caption.
    n_history : int
        Observed periods shown.
    cumulative : bool
        People newly displaced from the first forecast period up to each period (what a
        "250,000 more" threshold is about) instead of per period.
    marks : sequence of float
        Thresholds (people, all regions) drawn as lines on the total panel; see
        :func:`threshold_marks`.
    shared_y : bool
        Regional panels on one y-scale (default), so 40 people never look like 80,000. With
        ``False`` each panel has its own scale and says so in its title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = with_total(paths)
    if cumulative:
        p = p.cumsum("horizon")
        history = None
    title = marked_title(title, caption)
    colour = scenario_colours([paths.attrs.get("scenario", "")])[paths.attrs.get("scenario", "")]
    regions = list(regions) if regions is not None else list(paths["region"].values)
    names = region_names or {}
    only = list(paths["region"].values)
    if len(only) == 1 and regions == only:  # the total is that region: its own panel would repeat the top one
        regions = []
    ncol = 4
    nrow = 1 + int(np.ceil(len(regions) / ncol))
    fig = plt.figure(figsize=(13, 2.6 * nrow + 1.2), constrained_layout=True)
    gs = fig.add_gridspec(nrow, ncol)
    hist = history.iloc[-n_history:] if history is not None else None
    ax0 = fig.add_subplot(gs[0, :])
    total, partial = observed_total(hist) if hist is not None else (None, None)
    fan(ax0, p.sel(region=TOTAL), total, colour=colour, cumulative=cumulative, partial=partial)
    what = "cumulative since the forecast start" if cumulative else "per period"
    where = f"{region_label(only[0], names)} (the only region)" if len(only) == 1 else "all regions"
    ax0.set_title(f"{title} - {where}, {what}" if title else f"{where[:1].upper()}{where[1:]}, {what}", loc="left",
                  fontsize=11)
    unit = period_unit(paths)
    # three short lines at 8 pt: the two-line label at 10 pt ran past a 2.6-inch panel and was cut
    # ("... to the end of each mont", Somalia's cumulative chart)
    ax0.set_ylabel(f"people newly displaced\nsince the forecast start\n(to the end of each {unit})" if cumulative
                   else f"people newly displaced\nper {unit}", fontsize=8)
    ax0.yaxis.set_major_formatter(people)
    if marks:
        top = float(quantiles(p.sel(region=TOTAL), [interval_bounds(BANDS[0])[1]]).max())  # the widest band's top
        threshold_marks(ax0, marks, top)
    # where it covers least of the lines and bands: at "upper left" Ukraine's observed spike of 20 April
    # ran through "95% interval" (trial 19)
    ax0.legend(loc="best", fontsize=8, ncol=5, frameon=True, facecolor="white", framealpha=0.85, edgecolor="none")
    date_axis(ax0, paths.attrs.get("freq"), maxticks=8)
    first = None
    for i, r in enumerate(regions):
        ax = fig.add_subplot(gs[1 + i // ncol, i % ncol], sharey=first if shared_y else None)
        first = first or ax
        fan(ax, p.sel(region=r), hist[r] if hist is not None and r in hist else None, colour=colour,
            cumulative=cumulative)
        label = region_label(r, names)
        ax.set_title(label if shared_y else f"{label} - own y-scale", fontsize=9, loc="left")
        ax.yaxis.set_major_formatter(people)
        date_axis(ax, paths.attrs.get("freq"), maxticks=4)
        ax.tick_params(labelsize=7)
        if i % ncol == 0:
            scale = "one scale for all regions" if shared_y else "scales differ"
            ax.set_ylabel(f"people {f'so far, to the end of each {unit}' if cumulative else f'per {unit}'}\n({scale})",
                          fontsize=8)
    if caption:
        add_caption(fig, caption)
    return fig


def region_label(code: str, names: dict[str, str]) -> str:
    """A region's panel title: ``Idlib (SY07)``, or the name alone where it is the code (``Aleppo``,
    not "Aleppo (Aleppo)"), or the code where no name is known."""
    name = names.get(code)
    return f"{name} ({code})" if name and name != code else (name or code)


def exceedance_curve(
    paths_by_scenario: dict[str, xr.DataArray],
    *,
    within: int | None = None,
    marks: Sequence[float] = (250_000,),
    title: str = "",
    caption: str = "",
) -> plt.Figure:
    """P(cumulative new displacement over all regions > x) against x, one curve per scenario.

    The x-axis ends at the highest scenario's 95th percentile (and past every mark) when a path
    lies beyond 1.5 times that; the axis label says so and gives the largest path."""
    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    colours = scenario_colours(list(paths_by_scenario))
    q95 = largest = 0.0
    totals: dict[str, np.ndarray] = {}
    for sid, paths in paths_by_scenario.items():
        h = paths.sizes["horizon"] if within is None else within
        totals[sid] = tot = np.sort(total_within(paths, h))
        q95, largest = max(q95, float(np.quantile(tot, 0.95))), max(largest, float(tot[-1]))
    right = max(q95, 1.15 * max(marks, default=0.0))
    cut = ""
    if largest > 1.5 * right:
        # a far tail squashed every curve and threshold into the axis' first few percent (Somalia, 6
        # months from December 2023, a month after 1.19M flood departures: 1% of paths above 15M);
        # said in the axis label (a note inside the axes was crossed by the curves)
        ax.set_xlim(0, right)
        end = "the highest scenario's 95th percentile" if right == q95 else "past the highest threshold"
        cut = f"\n(axis ends at {end}; largest path {_people(largest)})"
    else:
        right = max(right, largest)
    # scenarios whose paths' totals are the same draw one curve named for all of them: on Syria the
    # baseline lay exactly under 'surge', in the legend but nowhere to be seen (trial 19)
    same: dict[str, list[str]] = {}
    for sid, tot in totals.items():
        first = next((k for k in same if np.array_equal(totals[k], tot)), sid)
        same.setdefault(first, []).append(sid)
    for first, group in same.items():
        tot = totals[first]
        p = 1.0 - np.arange(1, len(tot) + 1) / len(tot)
        label = ", ".join(group) + (": identical" if len(group) > 1 else "")
        q99 = float(np.quantile(tot, 0.99))
        if q99 < 0.02 * right:  # a curve on the y axis (notebook 01's ceasefire): said, and marked at its median
            label += f" (on the y axis: 99% of paths below {_people(q99)})"
            ax.plot([float(np.median(tot))], [0.5], marker="o", ms=7, color=colours[first], clip_on=False, zorder=5)
        ax.step(tot, p, where="post", color=colours[first], lw=2, label=label)
    label_vlines(ax, marks)
    unit = period_unit(next(iter(paths_by_scenario.values()), None))
    ax.set_xlabel(f"people newly displaced, all regions, over the first {h} {unit}s of the forecast{cut}")
    ax.set_ylabel("probability of more than x")
    ax.xaxis.set_major_formatter(people)
    ax.set_ylim(0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if max(map(len, labels), default=0) > 30:  # a long label (a note on a curve) would cover curves: beside the axes
        ax.legend(handles, [textwrap.fill(lb, 24) for lb in labels], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, fontsize=8)
    else:
        ax.legend(facecolor="white", framealpha=0.85, edgecolor="none")  # over the curves: backed, as the labels
    if len(same) == 1 and len(totals) > 1:
        title = f"{title}\n(all scenarios identical: they do not move this model)" if title else \
            "All scenarios identical: they do not move this model"
    title = marked_title(title, caption)
    if title:
        ax.set_title(title, loc="left")
    if caption:
        add_caption(fig, without_bands(caption))  # curves, no band: never "Bands: ..."
    return fig


def observed_chart(
    displaced: pd.DataFrame,
    drivers: dict[str, pd.DataFrame] | None = None,
    *,
    groups: dict[str, str] | None = None,
    unit: str = "week",
    title: str = "",
    caption: str = "",
    n_history: int = 26,
) -> plt.Figure:
    """What happened: observed new displacement (stacked by group) and conflict drivers.

    Parameters
    ----------
    displaced : pandas.DataFrame
        ``date x region`` observed new displacement per period.
    drivers : dict of str to pandas.DataFrame, optional
        ``series -> date x region`` driver counts (e.g. strikes, flights), one panel each.
    groups : dict of str to str, optional
        Region code -> group (e.g. zone) to stack by; default one band per region.
    unit : str
        Period unit for axis labels (``week``, ``day``, ``month``).
    title, caption : str
        Figure title and caption (source, vintage).
    n_history : int
        Number of most recent periods drawn.

    Returns
    -------
    matplotlib.figure.Figure
        One panel for displacement plus one per driver, sharing the date axis.
    """
    drivers = drivers or {}
    groups = groups or {c: c for c in displaced.columns}
    order = list(dict.fromkeys(groups[c] for c in displaced.columns))
    n = 1 + len(drivers)
    fig, axes = plt.subplots(n, 1, figsize=(11, 3.1 * n + 0.8), sharex=True, constrained_layout=True,
                             gridspec_kw={"height_ratios": [2] + [1] * len(drivers)})
    axes = np.atleast_1d(axes)
    for ax, (name, frame) in zip(axes, [("displaced", displaced), *drivers.items()], strict=True):
        f = frame.iloc[-n_history:]
        by = f.T.groupby(pd.Series(groups)).sum(min_count=1).T.reindex(columns=order)
        if len(by) > 1:  # repeat the last period so steps drawn "post" show its full width
            by.loc[by.index[-1] + (by.index[-1] - by.index[-2])] = by.iloc[-1]
        if name == "displaced":
            ax.stackplot(by.index, *[by[g].fillna(0).to_numpy() for g in order], labels=order,
                         colors=[_COLOURS[i % len(_COLOURS)] for i in range(len(order))], alpha=0.85, step="post")
            ax.set_ylabel(f"people newly displaced\nper {unit}")
            ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=min(len(order), 4))
            ax.set_title(marked_title(title or f"Observed new displacement per {unit}", caption), loc="left", fontsize=11)
        else:
            for i, g in enumerate(order):
                ax.step(by.index, by[g], where="post", color=_COLOURS[i % len(_COLOURS)], lw=1.4, label=g)
            # the series' name without its qualifier (the panel's title has it): "strikes (UCDP,
            # headline keywords) per month" ran past the panel into the next one's label
            ax.set_ylabel("\n".join(textwrap.wrap(f"{name.split(' (')[0]} per {unit}", 22)))
            ax.set_title(f"Observed {name}", loc="left", fontsize=10)
        ax.yaxis.set_major_formatter(people)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(f"{unit} starting")
    date_axis(axes[-1], next((f for f, u in FREQ_UNIT.items() if u == unit), None), maxticks=8)
    if caption:
        add_caption(fig, caption)
    return fig


def scenario_fans(
    paths_by_scenario: dict[str, xr.DataArray],
    history: pd.DataFrame | None = None,
    *,
    cumulative: bool = False,
    regions: Sequence[str] | None = None,
    marks: Sequence[float] = (),
    title: str = "",
    caption: str = "",
    n_history: int = 13,
) -> plt.Figure:
    """One fan per scenario, side by side on the same y-axis, for the total of ``regions``.

    Parameters
    ----------
    paths_by_scenario : dict of str to xarray.DataArray
        Scenario -> ``draw x region x horizon`` sample paths.
    history : pandas.DataFrame, optional
        ``date x region`` observed new displacement (drawn before the fan when not cumulative).
    cumulative : bool
        Plot people newly displaced from the first forecast period up to each period (the
        quantity the 250,000 question is about) instead of per period.
    regions : sequence of str, optional
        Region codes to add up (default all).
    marks : sequence of float
        Horizontal reference lines (e.g. 250,000).
    title, caption : str
        Figure title and caption.
    n_history : int
        Observed periods shown before the forecast (per-period charts only).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    n = len(paths_by_scenario)
    ncol = min(n, 4)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol + 0.6, 3.4 * nrow + 0.9), sharey=True,
                             squeeze=False, constrained_layout=True)
    unit = period_unit(next(iter(paths_by_scenario.values()), None))
    colours = scenario_colours(list(paths_by_scenario))
    for i, (sid, p) in enumerate(paths_by_scenario.items()):
        ax = axes[i // ncol, i % ncol]
        sub = p if regions is None else p.sel(region=list(regions))
        tot = sub.sum("region")
        if cumulative:
            tot = tot.cumsum("horizon")
        hist = partial = None
        if history is not None and not cumulative:
            cols = list(sub["region"].values)
            hist, partial = observed_total(history[cols].iloc[-n_history:])
        fan(ax, tot, hist, colour=colours[sid], cumulative=cumulative, partial=partial)
        ax.set_title(sid, loc="left", fontsize=10)
        ax.yaxis.set_major_formatter(people)
        date_axis(ax, p.attrs.get("freq"), maxticks=5)
        ax.grid(alpha=0.3)
        if i % ncol == 0:
            ax.set_ylabel(f"people newly displaced from the\nforecast start to the end of each {unit}" if cumulative
                          else f"people newly displaced\nper {unit}")
        if i == 0:
            ax.legend(loc="upper left", fontsize=7, frameon=False)
    for j in range(n, nrow * ncol):
        axes[j // ncol, j % ncol].set_visible(False)
    for i in range(n):  # on the shared y-scale, once every fan is drawn
        label_hlines(axes[i // ncol, i % ncol], marks)
    title = marked_title(title, caption)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    if caption:
        add_caption(fig, caption)
    return fig


def show(fig: plt.Figure, dpi: int = 110) -> None:
    """Display a figure as an embedded PNG in a notebook (any matplotlib backend) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int
        Resolution of the embedded image.
    """
    import io

    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png"))


def save_figure(fig: plt.Figure, path) -> None:
    """Save atomically (temp file + rename) and close."""
    from ..data.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
