"""Charts: date axes ticked by the data's frequency, threshold labels apart, no warnings."""

from __future__ import annotations

import warnings
from itertools import combinations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from displacement_forecast.data.regions import RegionTable  # noqa: E402
from displacement_forecast.forecast.run import run_forecast  # noqa: E402
from displacement_forecast.plot.fan import MARK_LABEL, exceedance_curve, fan_chart, scenario_fans  # noqa: E402

#: Close thresholds: their labels would sit on top of each other if drawn where the lines are.
CLOSE = (100_000, 104_000, 108_000, 250_000)


def _obs(freq: str, n: int, start: str) -> tuple[pd.DataFrame, RegionTable]:
    rng = np.random.default_rng(3)
    d = pd.date_range(start, periods=n, freq=freq)
    rows = [{"date": t, "region": r, "series": "displaced", "value": float(rng.poisson(30_000))}
            for t in d for r in ("A", "B")]
    regions = RegionTable(pd.DataFrame({"code": ["A", "B"], "name": ["Alpha", "Beta"], "parent": ["", ""],
                                        "population": [5e6, 5e6]}))
    return pd.DataFrame(rows), regions


def _charts(run, marks):
    hist = run.history()
    return [fan_chart(run.paths["baseline"], hist, caption="c"),
            fan_chart(run.paths["baseline"], hist, cumulative=True, marks=marks, caption="c"),
            exceedance_curve(run.paths, marks=marks, caption="c"),
            scenario_fans(run.paths, hist, cumulative=True, marks=marks, caption="c")]


@pytest.mark.parametrize(("freq", "n", "start", "horizon"), [("MS", 18, "2018-06-01", 3), ("MS", 40, "2016-01-01", 12),
                                                            ("W-SUN", 30, "2020-01-05", 4)])
def test_date_ticks_follow_the_data_frequency_and_labels_stay_apart(freq, n, start, horizon):
    obs, regions = _obs(freq, n, start)
    run = run_forecast(obs, regions, model="last-value", horizon=horizon, n_draws=200, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # AutoDateLocator's interval warning, or any other, fails the test
        figs = _charts(run, CLOSE)
        for fig in figs:
            fig.canvas.draw()
    try:
        weekday = pd.Timestamp(start).weekday()
        for fig in figs[:2] + figs[3:]:
            checked = 0
            for ax in fig.axes:
                if not ax.get_visible() or ax.xaxis.get_major_formatter().__class__.__name__ not in (
                        "ConciseDateFormatter", "DayMonthFormatter"):
                    continue
                checked += 1
                ticks = [mdates.num2date(t).replace(tzinfo=None) for t in ax.get_xticks()]
                lo, hi = ax.get_xlim()
                shown = [t for t, x in zip(ticks, ax.get_xticks(), strict=True) if lo <= x <= hi]
                assert 2 <= len(shown) <= 9, shown
                if freq == "MS":
                    assert all(t.day == 1 for t in shown), shown  # month starts, never days inside a month
                    labels = [lab.get_text() for lab in ax.get_xticklabels() if lab.get_text()]
                    assert labels and not any(lab.strip().isdigit() and len(lab.strip()) <= 2 for lab in labels), labels
                    # every label names its month: matplotlib's concise labels put a bare '2020' at January
                    months = [pd.Timestamp(2000, m, 1).strftime("%b") for m in range(1, 13)]
                    assert all(any(mo in lab for mo in months) for lab in labels), labels
                else:
                    assert all(t.weekday() == weekday for t in shown), shown  # the data's own week start
                    # every label names its month ('5 Jan'), never a bare day number ('26', '07')
                    labels = [lab.get_text() for lab in ax.get_xticklabels() if lab.get_text()]
                    months = [pd.Timestamp(2000, m, 1).strftime("%b") for m in range(1, 13)]
                    assert labels and all(any(mo in lab for mo in months) for lab in labels), labels
                    assert sum(lab.count("\n") for lab in labels) >= 1  # the year under the first tick
            assert checked, "no date axis checked (its formatter is neither of the two above)"
        for fig in figs[1:]:
            boxes = [t.get_window_extent() for ax in fig.axes for t in ax.texts if t.get_gid() == MARK_LABEL]
            assert boxes, "no threshold labels drawn"
            for a, b in combinations(boxes, 2):
                assert not a.overlaps(b), (a, b)
    finally:
        for fig in figs:
            plt.close(fig)


@pytest.mark.parametrize("unit, locator", [("month", mdates.MonthLocator), ("week", mdates.WeekdayLocator),
                                           ("day", mdates.DayLocator)])
def test_observed_chart_ticks_the_unit_it_is_given(unit, locator):
    from displacement_forecast.conventions import GRID_FREQ
    from displacement_forecast.plot.fan import observed_chart

    code = {"month": "M", "week": "W", "day": "D"}[unit]
    d = pd.date_range("2020-01-01", periods=20, freq=GRID_FREQ[code])
    fig = observed_chart(pd.DataFrame({"A": np.arange(20.0), "B": np.ones(20)}, index=d), unit=unit)
    try:
        assert isinstance(fig.axes[-1].xaxis.get_major_locator(), locator)
    finally:
        plt.close(fig)


def _assert_caption_clear(figs: list) -> None:
    """Each figure's 'Source: ...' caption lies inside the figure and overlaps no visible chart
    (axes, tick labels and axis labels included); the figures are closed."""
    try:
        for fig in figs:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            (cap,) = [t for t in fig.texts if t.get_text().startswith("Source:")]
            box = cap.get_window_extent(renderer)
            assert box.y0 >= 0 and box.x1 <= fig.bbox.x1 + 1, (box, fig.bbox)
            assert [ax for ax in fig.axes if ax.get_visible()], "no chart to check against"
            for ax in fig.axes:
                if ax.get_visible():
                    assert not box.overlaps(ax.get_tightbbox(renderer)), (fig.axes.index(ax), box)
    finally:
        for fig in figs:
            plt.close(fig)


def test_a_long_caption_stays_clear_of_every_chart():
    """The exceedance chart kept 5% of its height for the caption: the real NW Syria caption
    wraps to three lines and sat on the x-axis label ('people newly displaced, all regions ...').
    Every chart now keeps room for every line of its caption, however long."""
    obs, regions = _obs("MS", 18, "2018-06-01")
    run = run_forecast(obs, regions, model="last-value", horizon=3, n_draws=200, seed=1)
    hist = run.history()
    caption = ("Source: panel.csv; data to 2019-11-01 (vintage 2019-11-01). Model auto v0.1.0, 1000 paths, seed 0. "
               "Bands: 50/80/95% intervals including parameters; process; model choice; future conflict; scenarios: "
               "the driver-free paths are multiplied by the response model's scenario/baseline ratio; their baseline "
               "does not vary with future conflict; dependence between regions. ") * 2
    figs = [exceedance_curve(run.paths, marks=(250_000,), caption=caption),
            fan_chart(run.paths["baseline"], hist, caption=caption),
            scenario_fans(run.paths, hist, cumulative=True, marks=(250_000,), caption=caption)]
    _assert_caption_clear(figs)


def test_the_caption_wrap_never_splits_the_synthetic_mark():
    """Captions are wrapped by our code now: the 'SYNTHETIC DATA' mark stays whole on its line
    wherever the wrap falls."""
    from displacement_forecast.data.metadata import SYNTHETIC_MARK
    from displacement_forecast.plot.fan import add_caption

    for k in range(0, 160, 3):
        fig = plt.figure(figsize=(8, 4.8), constrained_layout=True)
        add_caption(fig, "a " * k + f"{SYNTHETIC_MARK}: this is not a forecast of the real world. " * 3)
        (text,) = [t.get_text() for t in fig.texts]
        plt.close(fig)
        assert text.count(SYNTHETIC_MARK) == 3, (k, text)


@pytest.mark.parametrize("top", [1.0, 1.02, 1.2])
def test_a_threshold_at_the_top_of_the_chart_keeps_its_label_inside(top):
    """Somalia's cumulative chart drew the 1,400,000 line at the top of the axes and its label
    across the frame; the chart now keeps room above its highest line for the label."""
    obs, regions = _obs("MS", 18, "2018-06-01")
    run = run_forecast(obs, regions, model="last-value", horizon=3, n_draws=200, seed=1)
    # the top of the widest band (the cumulative chart starts at 0 now, so its y-limit is no longer
    # close to the band's top): marks up to 1.25 times it are drawn, see threshold_marks
    cum = run.paths["baseline"].sum("region").cumsum("horizon")
    y_top = float(cum.quantile(0.975, dim="draw").max())
    marks = (round(0.5 * top * y_top), round(top * y_top))
    fig = fan_chart(run.paths["baseline"], run.history(), cumulative=True, marks=marks, caption="c")
    try:
        fig.canvas.draw()
        labels = [(ax, t) for ax in fig.axes for t in ax.texts if t.get_gid() == MARK_LABEL]
        assert sorted(t.get_text().strip() for _, t in labels) == sorted(f"{m:,.0f}" for m in marks)  # none missed
        for ax, t in labels:
            assert t.get_window_extent().y1 <= ax.bbox.y1 + 0.5, (t.get_text(), ax.get_ylim())
    finally:
        plt.close(fig)


def test_the_backtest_charts_keep_a_long_caption_clear_too():
    """The backtest's charts had their own caption helper, with a fixed 7% of the height: a caption
    of four lines (a long data path) sat on the x-axis labels. They share the forecast charts' now."""
    from displacement_forecast.plot.diagnostics import coverage_vs_nominal, score_by_horizon

    summary = pd.DataFrame([{"scope": "regions", "model": m, "horizon": h, "crps": 10.0 + h, "skill": 0.1 * h, "n": 20,
                             **{f"cover_{q}": q / 100 for q in (50, 80, 90, 95)}}
                            for m in ("last-value", "nb-dl") for h in (1, 2, 3, 4)])
    caption = ("Source: /data/agency/exports/observations_of_every_region.csv. Rolling-origin backtest, 52 origins "
               "2019-01-07 .. 2019-12-30, 1000 sample paths per forecast, horizons 1..4; scores per region. ") * 4
    figs = [score_by_horizon(summary, caption=caption), coverage_vs_nominal(summary, caption=caption)]
    _assert_caption_clear(figs)


def test_the_exceedance_caption_names_no_bands_it_does_not_draw(tmp_path, monkeypatch):
    """exceedance.png's caption said "Bands: 50/80/95% intervals including ..." under curves that
    draw no band; it now says what the paths' spread includes, and the fan charts keep "Bands:"."""
    from displacement_forecast.forecast.run import caption as make_caption
    from displacement_forecast.plot import writer

    obs, regions = _obs("MS", 18, "2018-06-01")
    run = run_forecast(obs, regions, model="last-value", horizon=3, n_draws=50, seed=1)
    seen = {}
    for name in ("exceedance_curve", "fan_chart"):
        real = getattr(writer, name)
        monkeypatch.setattr(writer, name, lambda *a, _r=real, _n=name, **k: seen.setdefault(_n, k["caption"]) and _r(*a, **k))
    writer._charts(run.paths, run.history(), run.sidecar, tmp_path)
    assert "Bands:" not in seen["exceedance_curve"] and "The paths' spread includes process" in seen["exceedance_curve"], seen
    assert "Bands: 50/80/95% intervals including process" in seen["fan_chart"], seen
    assert make_caption(run.sidecar).replace("Bands: 50/80/95% intervals including", "The paths' spread includes") \
        == make_caption(run.sidecar, bands=False)


def _monthly_run(scenario_ids=("baseline",)):
    from displacement_forecast.scenarios import Scenario

    obs, regions = _obs("MS", 18, "2018-06-01")
    scen = [Scenario(s, s, ()) if s != "baseline" else Scenario.baseline() for s in scenario_ids]
    return run_forecast(obs, regions, model="last-value", horizon=3, n_draws=100, seed=1, scenarios=scen)


def test_a_chart_without_bands_never_says_it_has_them():
    """Notebooks gave the exceedance curves the fan charts' caption, "Bands: 50/80/95% intervals
    including ...", under curves that draw no band: the chart now words it as the paths' spread,
    whichever caption it is given."""
    from displacement_forecast.forecast.run import caption as make_caption
    from displacement_forecast.plot.fan import without_bands

    run = _monthly_run()
    banded = make_caption(run.sidecar)
    assert "Bands: 50/80/95% intervals including" in banded
    assert without_bands(banded) == make_caption(run.sidecar, bands=False)
    fig = exceedance_curve(run.paths, marks=(250_000,), caption=banded)
    try:
        (cap,) = [" ".join(t.get_text().split()) for t in fig.texts if t.get_text().startswith("Source:")]
        assert "Bands:" not in cap and "The paths' spread includes" in cap, cap  # (wrapped lines joined)
    finally:
        plt.close(fig)


def test_each_scenario_has_one_colour_in_every_chart():
    """Colours went by a scenario's place in the run: 'intensify' was green in notebook 04 (third)
    and 'intensify-south' red in notebook 01 (second), 'offensive-continues' the other way round."""
    from matplotlib.colors import to_hex

    from displacement_forecast.plot.fan import SCENARIO_COLOURS, scenario_colours

    def curves(run):
        fig = exceedance_curve(run.paths, marks=(), caption="c")
        try:
            return {ln.get_label(): to_hex(ln.get_color()) for ln in fig.axes[0].get_lines() if ln.get_label() in run.paths}
        finally:
            plt.close(fig)

    def fans(run):
        fig = scenario_fans(run.paths, cumulative=True, caption="c")
        try:
            return {ax.get_title(loc="left"): to_hex(ax.get_lines()[0].get_color()) for ax in fig.axes if ax.get_visible()}
        finally:
            plt.close(fig)

    a = _monthly_run(("baseline", "intensify-south", "offensive-continues", "de-escalation", "ceasefire"))
    b = _monthly_run(("baseline", "offensive-continues", "intensify"))
    for got in (curves(a), fans(a), curves(b), fans(b)):
        assert got == {s: SCENARIO_COLOURS[s] for s in got}, got
    assert SCENARIO_COLOURS["intensify"] == SCENARIO_COLOURS["intensify-south"]
    fig = fan_chart(b.paths["intensify"], b.history(), caption="c")
    try:
        assert to_hex(fig.axes[0].get_lines()[0].get_color()) == SCENARIO_COLOURS["intensify"]
    finally:
        plt.close(fig)
    # within one chart every scenario has its own colour, known ids or not
    for ids in (["baseline", "intensify", "intensify-south"], ["x", "baseline", "y", "z"], [f"s{i}" for i in range(9)]):
        got = scenario_colours(ids)
        assert list(got) == ids and len(set(got.values())) == min(len(ids), 6), got
    assert scenario_colours(["x", "baseline"]) == {"x": "#c0392b", "baseline": SCENARIO_COLOURS["baseline"]}


@pytest.mark.parametrize(("freq", "start", "ends"), [("MS", "2018-06-01", ["2019-12-31", "2020-01-31", "2020-02-29"]),
                                                    ("W-MON", "2019-06-03", 6), ("D", "2022-03-01", 0)])
def test_a_running_total_is_drawn_at_the_end_of_its_period(freq, start, ends):
    """Cumulative charts drew December's running total (through 31 December) at 1 December, so
    the first point read as displacement counted by the month's first day. Each point now sits on
    its period's last day, after a 0 at the forecast start (daily data: the day before; on the first
    day it drew a vertical segment from 0 to that day's total: Ukraine, 14 May)."""
    obs, regions = _obs(freq, 18, start)
    run = run_forecast(obs, regions, model="last-value", horizon=3, n_draws=100, seed=1)
    starts = pd.DatetimeIndex(run.paths["baseline"]["target_date"].values)
    want = [starts[0] - pd.Timedelta(days=1 if ends == 0 else 0),
            *(pd.DatetimeIndex(ends) if isinstance(ends, list) else starts + pd.Timedelta(days=ends))]
    for fig in (fan_chart(run.paths["baseline"], run.history(), cumulative=True, caption="c"),
                scenario_fans(run.paths, cumulative=True, caption="c")):
        try:
            line = fig.axes[0].get_lines()[0]
            x = [pd.Timestamp(mdates.num2date(v).replace(tzinfo=None)) if isinstance(v, float) else pd.Timestamp(v)
                 for v in line.get_xdata()]
            assert x == list(want), x
            assert len(set(x)) == len(x)  # no two points on one day: no vertical segment
            assert line.get_ydata()[0] == 0 and (np.diff(line.get_ydata()) >= 0).all()
            assert "end of each" in fig.axes[0].get_ylabel()
        finally:
            plt.close(fig)


def test_an_observed_total_with_regions_missing_says_so():
    """Notebook 04's 'observed' all-region line summed the governorates that reported (Hama and
    Lattakia missing most months), so history looked lower than a total: it is now labelled the
    total of the regions reporting, with open dots where some region did not report."""
    obs, regions = _obs("MS", 18, "2018-06-01")
    gap = (obs["region"] == "B") & (obs["date"] >= "2019-06-01")
    run = run_forecast(obs.assign(value=obs["value"].mask(gap)), regions, model="last-value", horizon=3,
                       n_draws=100, seed=1)
    full = run_forecast(obs, regions, model="last-value", horizon=3, n_draws=100, seed=1)
    for r, partial in ((run, True), (full, False)):
        for fig in (fan_chart(r.paths["baseline"], r.history(), caption="c"), scenario_fans(r.paths, r.history(), caption="c")):
            try:
                labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
                assert ("observed: total of the regions reporting" in labels) is partial, labels
                assert ("open dot: some regions not reported" in labels) is partial, labels
                assert ("observed" in labels) is not partial, labels
            finally:
                plt.close(fig)


def test_long_series_names_keep_their_axis_labels_apart():
    """Notebook 04 named its series 'strikes (UCDP, headline keywords)': the y-labels of the
    strikes and shelling panels ran into each other."""
    from displacement_forecast.plot.fan import observed_chart

    d = pd.date_range("2018-06-01", periods=18, freq="MS")
    frame = pd.DataFrame({"A": np.arange(18.0), "B": np.ones(18)}, index=d)
    fig = observed_chart(frame, {"strikes (UCDP, headline keywords)": frame, "shelling (UCDP, headline keywords)": frame},
                         unit="month", n_history=18, caption="Source: test.")
    try:
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        boxes = [ax.yaxis.label.get_window_extent(r) for ax in fig.axes]
        for a, b in combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)
        assert [ax.get_ylabel().replace("\n", " ") for ax in fig.axes[1:]] == ["strikes per month", "shelling per month"]
    finally:
        plt.close(fig)


def test_a_far_tail_does_not_squash_the_exceedance_curve():
    """Somalia's 6-month exceedance chart ran its x-axis to 44M (a path a month after 1.19M flood
    departures): the 250,000 and 500,000 lines sat in the axis' first 1%, P(>250k) unreadable. The
    axis now ends at the highest scenario's 95th percentile, past every mark, and says so."""
    import xarray as xr

    rng = np.random.default_rng(0)
    body = rng.lognormal(np.log(600_000), 0.5, (1000, 1, 3)) / 3
    far = body.copy()
    far[:5] *= 100  # 0.5% of paths 100 times larger
    paths = {sid: xr.DataArray(v, dims=("draw", "region", "horizon"),
                               coords={"region": ["A"], "horizon": [1, 2, 3],
                                       "target_date": ("horizon", pd.date_range("2024-01-01", periods=3, freq="MS"))},
                               attrs={"freq": "M"}) for sid, v in (("baseline", body), ("far", far))}
    for data, cut in ((paths, True), ({"baseline": paths["baseline"]}, False)):
        fig = exceedance_curve(data, marks=(250_000, 500_000), caption="c")
        try:
            ax = fig.axes[0]
            lo, hi = ax.get_xlim()
            totals = [v.values.sum(axis=(1, 2)) for v in data.values()]
            note = [ax.get_xlabel()] if "axis ends" in ax.get_xlabel() else []
            assert hi >= 1.15 * 500_000
            if cut:
                assert hi == pytest.approx(max(*(np.quantile(t, 0.95) for t in totals), 1.15 * 500_000), rel=1e-6), hi
                assert hi < max(t.max() for t in totals) / 10
                assert note and "largest path" in note[0], ax.get_xlabel()
                backs = [t.get_bbox_patch() for t in ax.texts if t.get_gid() == MARK_LABEL]
                assert backs and all(b is not None and b.get_facecolor()[:3] == (1.0, 1.0, 1.0) for b in backs)
            else:
                assert hi >= max(t.max() for t in totals) and not note
        finally:
            plt.close(fig)


def test_threshold_labels_sit_outside_the_fan():
    """The cumulative chart's threshold labels sat inside the frame, on the widest band and on the
    next line up (Somalia, 250,000 and 500,000 on a 6M axis); they are now just right of the frame,
    level with their lines, and the y-label is whole (it was cut: '... to the end of each mont')."""
    obs, regions = _obs("MS", 18, "2018-06-01")
    run = run_forecast(obs, regions, model="last-value", horizon=6, n_draws=200, seed=1)
    fig = fan_chart(run.paths["baseline"], run.history(), cumulative=True, marks=CLOSE, caption="c")
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        labels = [t for t in ax.texts if t.get_gid() == MARK_LABEL]
        assert labels and all(t.get_window_extent().x0 >= ax.bbox.x1 for t in labels)
        assert all(t.get_window_extent().x1 <= fig.bbox.x1 for t in labels)  # not cut off by the figure
        ylab = ax.yaxis.label.get_window_extent()
        assert ylab.y0 >= ax.bbox.y0 - 1 and ylab.y1 <= ax.bbox.y1 + 1 and ylab.x0 >= 0, (ylab, ax.bbox)
    finally:
        plt.close(fig)


def test_backtest_chart_says_dotted_only_with_oracle_lines_and_ticks_are_distinct():
    """Trial 19, Syria backtest: "(dotted: with the strikes that happened)" titled a chart with no
    oracle run, and the y axis read "10k" at both 10,000 and 10,500."""
    from displacement_forecast.plot.diagnostics import score_by_horizon
    from displacement_forecast.plot.fan import people

    def summary(models):
        return pd.DataFrame([{"scope": "regions", "model": m, "horizon": h, "crps": 6_500 + 1_400 * h * (i + 1),
                              "skill": 0.1 * h, "n": 20, **{f"cover_{q}": q / 100 for q in (50, 80, 90, 95)}}
                             for i, m in enumerate(models) for h in (1, 2, 3)])

    for models, dotted in ((["last-value", "auto"], False), (["nb-dl", "nb-dl+oracle"], True)):
        fig = score_by_horizon(summary(models), caption="c")
        try:
            assert ("dotted" in fig.axes[1].get_title(loc="left")) is dotted
        finally:
            plt.close(fig)
    assert people.format_ticks([9_500, 10_000, 10_500, 11_000]) == ["9.5k", "10k", "10.5k", "11k"]
    assert people.format_ticks([0, 200_000, 400_000]) == ["0", "200k", "400k"]
    assert people.format_ticks([1_000_000, 1_250_000, 1_500_000]) == ["1M", "1.25M", "1.5M"]


def _daily_one_region(spike: bool = True):
    d = pd.date_range("2022-03-01", periods=60, freq="D")
    v = [48_000.0 + 3_000 * (i % 7) for i in range(len(d))]
    if spike:
        v[-24] = 105_000.0  # a spike early in the 26 days drawn, where an upper-left legend sat (20 April)
    obs = pd.DataFrame({"date": d, "region": "UKR", "series": "displaced", "value": v})
    regions = RegionTable(pd.DataFrame({"code": ["UKR"], "name": ["Ukraine"], "parent": [""], "population": [41e6]}))
    return run_forecast(obs, regions, model="last-value", horizon=7, n_draws=100, seed=1)


def test_one_region_is_drawn_once_and_the_legend_keeps_off_the_observed_line():
    """Trial 19, Ukraine: the one region's panel repeated the total's, and the observed spike of 20
    April ran through the legend's "95% interval"."""
    run = _daily_one_region()
    fig = fan_chart(run.paths["baseline"], run.history(), region_names={"UKR": "Ukraine"}, caption="c")
    try:
        assert len(fig.axes) == 1
        ax = fig.axes[0]
        assert "Ukraine (UKR) (the only region)" in ax.get_title(loc="left")
        fig.canvas.draw()
        box = ax.get_legend().get_window_extent()
        observed = next(ln for ln in ax.get_lines() if ln.get_label() == "observed")
        xy = ax.transData.transform(np.column_stack([mdates.date2num(observed.get_xdata()), observed.get_ydata()]))
        assert not any(box.contains(x, y) for x, y in xy)
    finally:
        plt.close(fig)


def test_region_titles_do_not_repeat_a_name_that_is_the_code():
    from displacement_forecast.plot.fan import region_label

    assert region_label("Aleppo", {"Aleppo": "Aleppo"}) == "Aleppo"
    assert region_label("SY07", {"SY07": "Idlib"}) == "Idlib (SY07)"
    assert region_label("X", {}) == "X"


def test_identical_scenarios_and_a_curve_on_the_y_axis_are_said():
    """Trial 19: on Syria the baseline lay exactly under 'surge' (legend only); notebook 01's
    ceasefire curve sat on the y axis, in the legend but not to be seen."""

    run = _monthly_run(("baseline", "surge"))
    fig = exceedance_curve({"baseline": run.paths["baseline"], "surge": run.paths["baseline"].copy()}, marks=(),
                           title="P", caption="c")
    try:
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline, surge: identical"]
        assert "all scenarios identical: they do not move this model" in ax.get_title(loc="left")
    finally:
        plt.close(fig)
    run = _monthly_run()
    small = run.paths["baseline"] * 0.001
    fig = exceedance_curve({"baseline": run.paths["baseline"], "ceasefire": small}, marks=(), caption="c")
    try:
        labels = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_legend().get_texts()]
        assert labels[0] == "baseline" and labels[1].startswith("ceasefire (on the y axis: 99% of paths below "), labels
        assert "identical" not in fig.axes[0].get_title(loc="left")
    finally:
        plt.close(fig)


def test_a_long_caption_stays_inside_the_figure():
    """The demo's exceedance caption (two backtest cautions) ran past the right edge: its third line
    was cut at "the 95". Every wrapped line must end inside the figure."""
    from displacement_forecast.plot.fan import add_caption

    text = ("SYNTHETIC DATA (made up, not the real world). Source: observations.csv; data to 2020-01-20 (vintage "
            "2020-01-20). Model nb-dl v0.1.0, 2000 paths, seed 2020. The paths' spread includes parameters; "
            "process; future conflict.  CAUTION: in backtests the 80% band covered 73% of outcomes (too narrow); "
            "the 90% band covered 81% of outcomes (too narrow); the 95% band covered 88% of outcomes (too "
            "narrow).  CAUTION: in backtests of the sums from the first period (cumulative) the 80% band covered "
            "72% of outcomes (too narrow); the 90% band covered 80% of outcomes (too narrow); the 95% band "
            "covered 85% of outcomes (too narrow).")
    for width in (6.0, 7.0, 8.0, 8.8, 12.0):  # at the dpi charts are written with (text widths vary with it)
        fig = plt.figure(figsize=(width, 4.8), dpi=110, constrained_layout=True)
        add_caption(fig, text)
        fig.canvas.draw()
        try:
            assert fig.texts[0].get_window_extent().x1 <= fig.bbox.x1, width
        finally:
            plt.close(fig)
