"""Agency files as analysts receive them (issue 18): every case of ``../shared/cases/ingest`` and
the rest of its class, each asserting the right value.

Cases are read from ``../shared/cases`` (skipped with a reason when absent); small fixtures made
here cover the rest of each class (tab as well as semicolon, ``+reported`` as well as ``+ind``...).
Expected values are computed from the raw files with the ``csv`` module, not with the loaders.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.cli import main
from displacement_forecast.data import (
    DataError,
    DataWarning,
    detect_frequency,
    load_acled,
    load_hxl,
    load_mapped,
    load_regions,
    load_ucdp_ged,
    observation_frequency,
    read_observations,
)
from displacement_forecast.data.loaders import LOADERS, parse_counts

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases"
INGEST = CASES / "ingest"
OBS = CASES / "reliability" / "obs"
FIX = Path(__file__).parent / "fixtures"


def case(name: str, folder: Path | None = None) -> Path:
    p = (folder or (OBS if name.startswith("o") else INGEST)) / name
    if not p.exists():
        pytest.skip(f"shared case {p} is absent (it sits beside the project in ../shared/cases)")
    return p


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*args, **kwargs)


def rows_of(path: Path, delim: str) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [{k.lower(): v for k, v in r.items()} for r in csv.DictReader(fh, delimiter=delim)]


def total(obs: pd.DataFrame, series: str, region: str | None = None) -> float:
    sel = obs[(obs["series"] == series) & ((obs["region"] == region) if region else True)]
    return float(sel["value"].sum())


def syria_regions():
    return load_regions(case("00_regions_syria_adm1.csv"))


# ------------------------------------------------------------------ registry


def test_registry_names_every_format_and_cli_reads_it():
    assert set(LOADERS) == {"tidy", "acled", "ucdp", "hxl", "mapped"}
    assert "date_format" in LOADERS["acled"].options and "tag_map" in LOADERS["hxl"].options
    with pytest.raises(DataError, match="unknown option 'colour'"):
        LOADERS["acled"].load(FIX / "acled_small.csv", colour="red")
    with pytest.raises(DataError, match="needs config"):
        LOADERS["mapped"].load(FIX / "prmn_wide_small.csv")
    from displacement_forecast._cli.data_commands import FORMATS

    assert FORMATS == tuple(LOADERS)


# ------------------------------------------------------------------ delimiters, BOM, decimal commas


def _rewrite_delim(src: Path, dst: Path, delim_in: str, delim_out: str, decimal_to_dot: bool = False) -> Path:
    with open(src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=delim_in))
    if decimal_to_dot:
        header = [h.lower() for h in rows[0]]
        for c in ("latitude", "longitude"):
            k = header.index(c)
            for r in rows[1:]:
                r[k] = r[k].replace(",", ".")
    buf = io.StringIO()
    csv.writer(buf, delimiter=delim_out, lineterminator="\n").writerows(rows)
    dst.write_text(buf.getvalue(), encoding="utf-8")
    return dst


def test_05a_semicolon_bom_decimal_commas_same_counts_as_comma_and_tab(tmp_path):
    src = case("05a_acled_semicolon_excel_fr.csv")
    assert src.read_bytes().startswith(b"\xef\xbb\xbf")  # the case has a BOM
    regions = syria_regions()
    semi = quiet(load_acled, src, regions, freq="W")
    comma = quiet(load_acled, _rewrite_delim(src, tmp_path / "comma.csv", ";", ",", decimal_to_dot=True), regions, freq="W")
    tab = quiet(load_acled, _rewrite_delim(src, tmp_path / "tab.csv", ";", "\t"), regions, freq="W")
    for other in (comma, tab):
        pd.testing.assert_frame_equal(semi.drop(columns="source"), other.drop(columns="source"))
    raw = rows_of(src, ";")
    assert total(semi, "events") == len(raw)
    assert total(semi, "fatalities") == sum(int(r["fatalities"]) for r in raw)
    assert total(semi, "strikes") == sum(r["sub_event_type"] == "Air/drone strike" for r in raw)
    # the delimiter key overrides sniffing
    with pytest.raises(DataError, match="required column is missing"):
        load_acled(src, regions, delimiter=",")


def test_every_loader_sniffs_the_delimiter(tmp_path):
    ucdp = quiet(load_ucdp_ged, FIX / "ucdp_small.csv", freq="M")
    ucdp_semi = quiet(load_ucdp_ged, _rewrite_delim(FIX / "ucdp_small.csv", tmp_path / "u.csv", ",", ";"), freq="M")
    pd.testing.assert_frame_equal(ucdp.drop(columns="source"), ucdp_semi.drop(columns="source"))
    hxl = load_hxl(FIX / "hxl_small.csv")
    hxl_tab = load_hxl(_rewrite_delim(FIX / "hxl_small.csv", tmp_path / "h.csv", ",", "\t"))
    pd.testing.assert_frame_equal(hxl.drop(columns="source"), hxl_tab.drop(columns="source"))
    cfg = FIX / "prmn_wide_small.toml"
    m = quiet(load_mapped, FIX / "prmn_wide_small.csv", cfg)
    m_semi = quiet(load_mapped, _rewrite_delim(FIX / "prmn_wide_small.csv", tmp_path / "p.csv", ",", ";"), cfg)
    pd.testing.assert_frame_equal(m.drop(columns="source"), m_semi.drop(columns="source"))
    tidy = tmp_path / "tidy.csv"
    tidy.write_text("date;region;series;value\n2020-01-06;A;strikes;3\n2020-01-13;A;strikes;4\n")
    assert read_observations(tidy)["value"].tolist() == [3.0, 4.0]


# ------------------------------------------------------------------ ACLED eras


def test_02_pre2019_uppercase_counts_events_and_fatalities_strikes_unavailable_in_one_line():
    src = case("02_acled_pre2019_uppercase.csv")
    regions = load_regions(case("00_regions_algeria_adm1.csv"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        obs = load_acled(src, regions, freq="M")
    raw = rows_of(src, ",")
    by_region = Counter(r["admin1"] for r in raw)
    assert total(obs, "events", "DZ15") == by_region["Tizi Ouzou"]
    assert total(obs, "events", "DZ06") == by_region["Bejaia"]
    assert total(obs, "fatalities") == sum(int(r["fatalities"]) for r in raw)
    assert set(obs["series"]) == {"events", "fatalities"}  # strikes/shelling absent, never zero
    unavailable = [str(w.message) for w in caught if "unavailable" in str(w.message)]
    assert len(unavailable) == 1 and "strikes, shelling" in unavailable[0] and "sub_event_type" in unavailable[0]
    assert "(ACLED exports before 2019 have no sub-event types)" in unavailable[0]
    assert "\n" not in unavailable[0]


def test_acled_headers_any_case_and_old_event_types_mapped(tmp_path):
    src = FIX / "acled_small.csv"
    text = src.read_text()
    header, body = text.split("\n", 1)
    (tmp_path / "upper.csv").write_text(header.upper() + "\n" + body)
    a = quiet(load_acled, src, freq="M")
    b = quiet(load_acled, tmp_path / "upper.csv", freq="M")
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"))
    # a pre-2019 event type used as a key still counts
    old = quiet(load_acled, case("02_acled_pre2019_uppercase.csv"), freq="M",
                series_map={"Remote violence": "strikes"})
    raw = rows_of(case("02_acled_pre2019_uppercase.csv"), ",")
    assert total(old, "strikes") == sum(r["event_type"] == "Remote violence" for r in raw)


# ------------------------------------------------------------------ dates


def test_04_dayfirst_week_resolved_by_consecutiveness_never_month_first():
    src = case("04_acled_weekly_ddmmyyyy_days_le12.csv")
    with pytest.warns(DataWarning, match="consecutive"):
        obs = load_acled(src, syria_regions(), freq="D")
    raw = rows_of(src, ",")
    days = sorted({datetime.strptime(r["event_date"], "%d/%m/%Y") for r in raw})
    assert obs["date"].min() == days[0] and obs["date"].max() == days[-1]
    assert (days[-1] - days[0]).days == len(days) - 1  # 7 consecutive days
    assert total(obs, "events") == len(raw)
    # the command line can say it explicitly
    forced = quiet(load_acled, src, syria_regions(), freq="M", date_format="%m/%d/%Y")
    assert forced["date"].dt.month.nunique() > 1  # what month-first would have given


def test_date_format_on_the_command_line(capsys):
    src = case("04_acled_weekly_ddmmyyyy_days_le12.csv")
    assert main(["validate", str(src), "--format", "acled", "--regions", str(case("00_regions_syria_adm1.csv")),
                 "--freq", "D", "--date-format", "%d/%m/%Y"]) == 0
    out = capsys.readouterr().out
    assert "2020-01-06 to 2020-01-12" in out and "daily" in out


def test_ambiguous_sparse_dates_refused_with_one_line(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("event_date,admin1,event_type,sub_event_type,fatalities\n"
                 "05/01/2022,Idleb,Battles,Armed clash,0\n07/03/2022,Idleb,Battles,Armed clash,1\n")
    with pytest.raises(DataError) as e:
        load_acled(p, freq="M")
    assert len(e.value.problems) == 1 and "--date-format" in str(e.value)


@pytest.mark.parametrize("name", ["o13_dayfirst.csv", "o13b_monthly_dayfirst.csv"])
def test_tidy_format_takes_iso_dates_only(name):
    with pytest.raises(DataError) as e:
        read_observations(case(name))
    assert len(e.value.problems) == 1 and "ISO" in str(e.value) and ":2:" in str(e.value)


# ------------------------------------------------------------------ frequency: one rule


def test_o11a_weekly_on_sunday_is_named_and_forecast_panel_built():
    obs = read_observations(case("o11a_weekly_sundays.csv"))
    f = detect_frequency(obs["date"])
    assert (f.code, f.weekday, f.label) == ("W", 6, "weekly (Sundays)")
    from displacement_forecast.models.base import Panel

    regions = load_regions(case("regions.csv", OBS))
    panel = Panel.from_observations(obs, regions)
    assert panel.freq == "W" and (panel.dates.weekday == 6).all()
    assert len(panel.dates) == obs["date"].nunique()


def test_o11c_biweekly_rejected_with_first_offending_line():
    with pytest.raises(DataError) as e:
        read_observations(case("o11c_biweekly.csv"))
    (p,) = e.value.problems
    assert p.row == 3 and "14 days" in p.message


def _tidy(tmp_path, dates, name="t.csv") -> Path:
    p = tmp_path / name
    p.write_text("date,region,series,value\n" + "".join(f"{d},A,strikes,1\n" for d in dates))
    return p


def test_irregular_spacing_rejected_regular_named(tmp_path):
    mondays = [str(d.date()) for d in pd.date_range("2020-01-06", periods=6, freq="W-MON")]
    stray = mondays[:3] + ["2020-01-22"] + mondays[3:]  # a Wednesday
    with pytest.raises(DataError) as e:
        read_observations(_tidy(tmp_path, stray))
    (p,) = e.value.problems
    assert p.row == 5 and "Wednesday" in p.message
    quarterly = ["2020-01-01", "2020-04-01", "2020-07-01"]
    with pytest.raises(DataError, match="3 months apart"):
        read_observations(_tidy(tmp_path, quarterly))
    gap = mondays[:2] + mondays[3:]  # a missing week is missing data, not a new frequency
    assert detect_frequency(read_observations(_tidy(tmp_path, gap))["date"]).code == "W"
    assert detect_frequency(pd.Series(pd.to_datetime(["2020-01-01", "2020-03-01", "2020-02-01"]))).code == "M"
    assert detect_frequency(pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05"]))).code == "D"


def _weekly_with_strays(tmp_path, *rows: str) -> Path:
    """The weekly (Mondays) case file with ``rows`` appended (its lines 740, 741, ...)."""
    src = case("small_obs.csv", CASES / "reliability")
    p = tmp_path / "weekly_stray.csv"
    p.write_text(src.read_text() + "".join(r + "\n" for r in rows))
    return p


def test_one_stray_date_in_a_weekly_file_is_an_error_not_daily(tmp_path, capsys):
    """One Tuesday among Mondays was read as daily data (86% missing) and forecast as days."""
    obs = _weekly_with_strays(tmp_path, "2019-05-07,NWS01,strikes,3,x")
    regions = str(case("small_regions.csv", CASES / "reliability"))
    assert main(["validate", str(obs), "--regions", regions]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [
        f"error: {obs}:740: column 'date': 2019-05-07 is a Tuesday, off the weekly (Mondays) grid of 82 of the "
        "83 dates (1 date off it); expected one frequency: correct the date to the Monday of its week "
        "(2019-05-06) or remove the row (daily data fall on every weekday)"]
    assert main(["describe", str(obs)]) == 2
    assert f"{obs}:740: column 'date': 2019-05-07 is a Tuesday" in capsys.readouterr().err
    out_dir = tmp_path / "fc"
    assert main(["forecast", str(obs), "--regions", regions, "--horizon", "4", "--out", str(out_dir)]) == 2
    assert f"{obs}:740:" in capsys.readouterr().err and not out_dir.exists()


def test_several_stray_dates_are_counted_and_the_first_in_the_file_named(tmp_path):
    obs = _weekly_with_strays(tmp_path, "2019-09-04,NWS01,strikes,1,x", "2019-05-07,NWS01,strikes,3,x",
                              "2019-09-04,NWS02,strikes,2,x")
    with pytest.raises(DataError) as e:
        read_observations(obs)
    (p,) = e.value.problems
    assert (p.file, p.row, p.column) == (str(obs), 740, "date")
    assert p.message.startswith("2019-09-04 is a Wednesday, off the weekly (Mondays) grid of 82 of the 84 dates "
                                "(2 dates off it, this the first); expected one frequency: correct the date to "
                                "the Monday of its week (2019-09-02)")


def test_stray_dates_off_a_sunday_or_monthly_grid_are_named_the_same_way(tmp_path):
    sundays = [str(d.date()) for d in pd.date_range("2020-01-05", periods=8, freq="W-SUN")]
    with pytest.raises(DataError, match=r"2020-01-13 is a Monday, off the weekly \(Sundays\) grid of 8 of the 9 dates "
                                        r"\(1 date off it\); .* the Sunday of its week \(2020-01-12\)"):
        read_observations(_tidy(tmp_path, sundays[:2] + ["2020-01-13"] + sundays[2:]))
    months = [str(d.date()) for d in pd.date_range("2020-01-01", periods=12, freq="MS")]
    with pytest.raises(DataError) as e:  # the day after a 1st was read as daily too
        read_observations(_tidy(tmp_path, months[:5] + ["2020-05-02"] + months[5:]))
    (p,) = e.value.problems
    assert p.row == 7 and p.message.startswith("2020-05-02 is not the 1st of a month, off the monthly (1st) grid "
                                               "of 12 of the 13 dates (1 date off it)")
    assert "the 1st of its month (2020-05-01)" in p.message


@pytest.mark.parametrize("dates, where, first", [
    (["2017-01-15", "2017-02-15", "2017-03-15", "2017-05-15"], "day 15", "2017-01-15, 2017-02-15"),
    (["2017-01-31", "2017-02-28", "2017-03-31", "2017-04-30"], "the last day of the month", "2017-01-31, 2017-02-28"),
])
def test_monthly_dates_not_on_the_1st_say_how_months_are_labelled(tmp_path, capsys, dates, where, first):
    """Months dated the 15th (or month-ends) were 'irregular dates (2017-02-15 then 2017-03-15, 28 days
    apart); expected one frequency: daily, weekly or monthly periods': they are monthly, on another day."""
    p = _tidy(tmp_path, dates)
    assert main(["validate", str(p)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {p}:2: column 'date': dates look monthly but fall on {where} ({first}, …); monthly periods are "
        "labelled by the 1st of the month: use 2017-01-01, 2017-02-01, …"]
    for other in (["2017-01-15", "2017-02-15", "2017-03-16"], ["2017-01-31", "2017-03-03", "2017-03-31"]):
        with pytest.raises(DataError) as e:  # not one day of every month: no such advice
            read_observations(_tidy(tmp_path, other))
        assert "look monthly" not in str(e.value)


def _weekly_on_weekdays(tmp_path, starts: dict[str, str], weeks: dict[str, int] | None = None) -> Path:
    """A weekly file (displaced and strikes) whose region ``r`` is dated from ``starts[r]`` a week
    apart, for ``weeks[r]`` weeks (12 if not given)."""
    p = tmp_path / "mixed.csv"
    p.write_text("date,region,series,value\n" + "".join(
        f"{d.date()},{r},{s},{i + 1}\n" for r, start in starts.items()
        for i, d in enumerate(pd.date_range(start, periods=(weeks or {}).get(r, 12), freq="7D"))
        for s in ("displaced", "strikes")))
    return p


def test_weekly_file_dated_on_two_weekdays_is_an_error_not_daily(tmp_path, capsys):
    """Two agencies' weeks merged (two regions on Mondays, two on Sundays) was read as daily data
    (every series 86% missing) and forecast as days; it is one line naming the weekdays."""
    obs = _weekly_on_weekdays(tmp_path, {"R1": "2023-01-02", "R2": "2023-01-02", "R3": "2023-01-01",
                                         "R4": "2023-01-01"})
    expected = (f"error: {obs}:50: column 'date': weekly dates on 2 weekdays: 48 rows on Mondays, 48 on Sundays "
                "(2023-01-01 here, the first Sunday); expected one weekday for all weekly rows (re-date the Sunday "
                "rows to Mondays), or aggregate to weeks first")
    assert main(["validate", str(obs)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [expected]
    assert main(["describe", str(obs)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [expected]
    (tmp_path / "regions.csv").write_text("code,name,parent,population\n"
                                          + "".join(f"R{i},R{i},,100000\n" for i in range(1, 5)))
    out_dir = tmp_path / "fc"
    assert main(["forecast", str(obs), "--horizon", "2", "--out", str(out_dir)]) == 2
    assert expected in capsys.readouterr().err.splitlines() and not out_dir.exists()
    # the Python API on a frame: the same rule (region and series tell the series apart)
    frame = pd.read_csv(obs, parse_dates=["date"])
    with pytest.raises(DataError, match="weekly dates on 2 weekdays: 48 rows on Mondays, 48 on Sundays"):
        observation_frequency(frame)


def test_every_mix_of_weekdays_in_a_weekly_file_is_named_the_same_way(tmp_path):
    def problem(starts, **kw):
        with pytest.raises(DataError) as e:
            read_observations(_weekly_on_weekdays(tmp_path, starts, **kw))
        (p,) = e.value.problems
        return p.row, p.message

    # more regions on Sundays: Sundays are the week, the first Monday row is named
    row, msg = problem({"R1": "2023-01-02", "R2": "2023-01-01", "R3": "2023-01-01"})
    assert row == 2 and msg.startswith("weekly dates on 2 weekdays: 48 rows on Sundays, 24 on Mondays (2023-01-02 "
                                       "here, the first Monday); expected one weekday for all weekly rows (re-date "
                                       "the Monday rows to Sundays)")
    # Mondays and Thursdays (was: 'irregular dates ... 3 days apart'); three weekdays
    row, msg = problem({"R1": "2023-01-02", "R2": "2023-01-05"})
    assert row == 26 and msg.startswith("weekly dates on 2 weekdays: 24 rows on Mondays, 24 on Thursdays")
    row, msg = problem({"R1": "2023-01-02", "R2": "2023-01-01", "R3": "2023-01-05", "R4": "2023-01-02"})
    assert row == 26 and msg.startswith("weekly dates on 3 weekdays: 48 rows on Mondays, 24 on Thursdays, 24 on "
                                        "Sundays (2023-01-01 here, a Sunday, the first not on a Monday)")
    # Sundays cover fewer weeks (was: '... (8 dates off it, ...); correct the date to the Monday of its week')
    row, msg = problem({"R1": "2023-01-02", "R2": "2023-01-01"}, weeks={"R2": 8})
    assert row == 26 and msg.startswith("weekly dates on 2 weekdays: 24 rows on Mondays, 16 on Sundays")
    # half the weeks on Mondays, then on Sundays (was: 'irregular dates ... 6 days apart')
    half = tmp_path / "half.csv"
    half.write_text("date,region,series,value\n" + "".join(
        f"{(d - pd.Timedelta(days=1 if i >= 6 else 0)).date()},{r},displaced,1\n"
        for r in ("R1", "R2") for i, d in enumerate(pd.date_range("2023-01-02", periods=12, freq="7D"))))
    with pytest.raises(DataError, match=r"^.*half.csv:8: column 'date': weekly dates on 2 weekdays: 12 rows on "
                                        r"Mondays, 12 on Sundays \(2023-02-12 here, the first Sunday\)"):
        read_observations(half)


def test_daily_and_monthly_files_of_several_series_are_not_weekly(tmp_path):
    days = pd.date_range("2023-01-01", periods=30, freq="D")
    p = tmp_path / "daily.csv"  # consecutive days, several regions and series: daily
    p.write_text("date,region,series,value\n" + "".join(f"{d.date()},{r},{s},1\n" for r in ("R1", "R2")
                                                        for s in ("displaced", "strikes") for d in days))
    assert observation_frequency(read_observations(p)) == "D"
    mondays = [d for d in days if d.weekday() == 0]  # a region counted on Mondays only among daily ones: daily
    p.write_text(p.read_text() + "".join(f"{d.date()},R3,displaced,1\n" for d in mondays))
    assert observation_frequency(read_observations(p)) == "D"
    months = pd.date_range("2021-01-01", periods=24, freq="MS")
    p.write_text("date,region,series,value\n" + "".join(f"{d.date()},{r},displaced,1\n" for r in ("R1", "R2")
                                                        for d in months))
    assert observation_frequency(read_observations(p)) == "M"


def test_daily_data_with_missing_days_stay_daily(tmp_path, capsys):
    days = pd.date_range("2022-02-24", periods=79, freq="D")
    kept = [str(d.date()) for i, d in enumerate(days) if i % 7 not in (2, 3) and i != 40]  # 2 days a week, one more
    p = _tidy(tmp_path, kept)
    assert detect_frequency(read_observations(p)["date"]).code == "D"
    assert main(["validate", str(p)]) == 0
    assert "frequency daily" in capsys.readouterr().out


def test_validate_and_forecast_share_the_rule(capsys):
    # validate refuses what forecast would refuse, with the same line
    assert main(["validate", str(case("o11c_biweekly.csv"))]) == 2
    err = capsys.readouterr().err
    assert "o11c_biweekly.csv:3" in err and len(err.strip().splitlines()) == 1
    assert main(["validate", str(case("o11a_weekly_sundays.csv"))]) == 0
    assert "weekly (Sundays)" in capsys.readouterr().out


# ------------------------------------------------------------------ partial periods


def test_partial_periods_flagged_and_droppable():
    with pytest.warns(DataWarning, match="partly covered"):
        obs = load_acled(FIX / "acled_small.csv", freq="W")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        full = load_acled(FIX / "acled_small.csv", freq="W", complete_periods=True)
    dropped = sorted(set(obs["date"]) - set(full["date"]))
    assert dropped == [pd.Timestamp("2021-12-13"), pd.Timestamp("2022-01-31")]  # events 14 Dec .. 31 Jan
    assert set(full["date"]) < set(obs["date"])


# ------------------------------------------------------------------ HXL


def test_09a_title_rows_above_hashtag_row():
    src = case("09a_hxl_title_rows_above_header.csv")
    obs = load_hxl(src, regions=syria_regions())
    raw = list(csv.reader(src.open(encoding="utf-8")))[4:]
    for name, code, day, n in raw:
        sel = obs[(obs["region"] == code) & (obs["date"] == pd.Timestamp(day))]
        assert sel["value"].tolist() == [float(n)], (name, day)


def test_09c_blank_row_and_thousands():
    obs = load_hxl(case("09c_hxl_blank_row_thousands.csv"), regions=syria_regions())
    assert len(obs) == 8
    v = obs.set_index(["region", obs["date"].dt.strftime("%Y-%m-%d")])["value"]
    assert v[("SY07", "2019-12-02")] == 12_000 and v[("SY02", "2019-12-23")] == 9_000


def test_hxl_tag_patterns_extra_attributes_pcode_and_tag_map(tmp_path, capsys):
    p = tmp_path / "h.tsv"
    p.write_text("Report\n\nGov\tP-code\tWeek\tIDPs new (ind)\tIDPs new (hh)\tStock\n"
                 "#adm1+name\t#adm1+pcode\t#date+reported\t#affected+idps+ind+new\t#affected+hh+idps+new\t#affected+idps\n"
                 "Idleb\tSY07\t2019-12-02\t12000\t2400\t900000\n"
                 "Hama\tSY05\t2019-12-02\t300\t60\t50000\n")
    obs = load_hxl(p, regions=syria_regions())
    assert set(obs["series"]) == {"displaced"}  # +ind matched, households (+hh) and the stock not
    assert obs.set_index("region")["value"].to_dict() == {"SY07": 12_000.0, "SY05": 300.0}
    stock = load_hxl(p, {"#affected+idps-new": "displaced"}, regions=syria_regions())
    assert stock.set_index("region")["value"].to_dict() == {"SY07": 900_000.0, "SY05": 50_000.0}
    assert main(["describe", str(p), "--format", "hxl", "--regions", str(case("00_regions_syria_adm1.csv")),
                 "--tag-map", "#affected+idps-new=displaced"]) == 0
    out = capsys.readouterr().out
    assert "900,000" in out and "50,000" in out


def test_hxl_without_hashtag_row_is_one_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataError) as e:
        load_hxl(p)
    assert len(e.value.problems) == 1 and "hashtag row" in str(e.value)


# ------------------------------------------------------------------ numbers


def test_10_missing_words_thousands_and_range(tmp_path):
    src = case("10_wide_monthly_mixed_cells.csv")
    cfg_text = case("10_wide_monthly_mixed_cells.toml").read_text()
    # as shipped (no missing words declared): n/a, N/A and - are errors naming the key; the range too
    with pytest.raises(DataError) as e:
        load_mapped(src, case("10_wide_monthly_mixed_cells.toml"))
    msgs = [p.message for p in e.value.problems]
    assert any("500-1000" in m and "range" in m for m in msgs)
    # n/a, -, n/a, N/A, -: one line per column, counting its rows ("2 rows are not a number ...")
    assert sum(int(m.split()[0]) if m.split()[0].isdigit() else 1 for m in msgs if "missing = " in m) == 5
    # the hint says where the key goes: at the top level it was refused ('unknown key ... expected one of ...')
    assert all('declare words meaning missing under [file]: missing = ["n/a", "-"]' in m for m in msgs if "missing = " in m)
    top = tmp_path / "top.toml"
    top.write_text('missing = ["n/a", "-"]\n' + cfg_text)
    with pytest.raises(DataError) as e:
        load_mapped(src, top)
    assert [str(p) for p in e.value.problems] == [
        f"{top}:1: key missing: unknown key 'missing' in top level; 'missing' belongs under [file]"]
    declared = tmp_path / "c.toml"
    declared.write_text(cfg_text.replace("[file]\n", '[file]\nmissing = ["n/a", "-"]\n'))
    with pytest.raises(DataError) as e:
        load_mapped(src, declared)
    (p,) = e.value.problems  # the range alone remains: one clear error
    assert p.column == "May" and p.row == 2 and "500-1000" in p.message
    fixed = tmp_path / "t.csv"
    fixed.write_text(src.read_text().replace("500-1000", ""))
    obs = load_mapped(fixed, declared)
    v = obs.set_index(["region", obs["date"].dt.month])["value"]
    assert v[("Idleb", 1)] == 1234 and v[("Idleb", 2)] == 2450 and v[("Aleppo", 1)] == 12050
    assert v[("Aleppo", 3)] == 7001 and v[("Hama", 2)] == 1002 and v[("Aleppo", 5)] == 0
    for key in [("Idleb", 3), ("Idleb", 4), ("Idleb", 5), ("Aleppo", 4), ("Aleppo", 6), ("Hama", 3), ("Hama", 5)]:
        assert np.isnan(v[key]), key  # missing kept NaN, never 0


def test_thousands_conventions_and_whole_counts():
    def read(cells, **kw):
        vals, probs = parse_counts(pd.Series(cells, dtype=object), file="f", column="c", lines=range(2, 99), **kw)
        return vals.tolist(), [p.message for p in probs]

    assert read(["12,000", "800"], delimiter=",") == ([12000.0, 800.0], [])
    assert read(["12.500", "800"], delimiter=";") == ([12500.0, 800.0], [])  # continental
    assert read(["2 450", "1\u00a0234"])[0] == [2450.0, 1234.0]
    vals, probs = read(["12.500"], delimiter=",")  # 12.5 people or 12,500? refused, key named
    assert len(probs) == 1 and "thousands" in probs[0]
    assert read(["12.500"], delimiter=",", thousands=".")[0] == [12500.0]
    vals, probs = read(["12.5"])
    assert len(probs) == 1 and "whole number" in probs[0]
    assert read(["12.5"], whole=False)[0] == [12.5]
    assert read(["3,5"], decimal=",", whole=False, delimiter=";")[0] == [3.5]
    vals, probs = read(["500 - 1000", "1,000-2,000"])
    assert probs == ["2 rows are ranges (lines 2, 3; first value '500 - 1000'); expected one number (write the "
                     "figure you mean, or leave the cell empty for missing)"]  # one kind in one column: one line


# ------------------------------------------------------------------ Excel


def test_06_acled_workbook_read_like_its_csv():
    regions = syria_regions()
    xlsx = quiet(load_acled, case("06_acled_export.xlsx"), regions, freq="W")
    csv_ = quiet(load_acled, case("05a_acled_semicolon_excel_fr.csv"), regions, freq="W")
    pd.testing.assert_frame_equal(xlsx.drop(columns="source"), csv_.drop(columns="source"))


def test_workbook_recognised_whatever_its_name(tmp_path):
    disguised = tmp_path / "export.csv"
    disguised.write_bytes(case("06_acled_export.xlsx").read_bytes())
    obs = quiet(load_acled, disguised, syria_regions(), freq="W")
    assert total(obs, "events") == 36


@pytest.mark.parametrize("book", ["11_excel_title_rows_total_row.xlsx", "11b_excel_stale_dimension.xlsx"])
def test_11_every_row_read_and_total_row_not_a_region(book):
    obs = load_mapped(case(book), case("11_excel_title_rows_total_row.toml"), syria_regions(), strict=True)
    v = obs.set_index(["region", obs["date"].dt.strftime("%Y-%m")])["value"]
    assert set(obs["region"]) == {"SY07", "SY02", "SY05"}
    assert v[("SY07", "2019-12")] == 284_000 and v[("SY05", "2019-12")] == 1_200 and v[("SY02", "2019-09")] == 900
    assert np.isnan(v[("SY05", "2019-10")])  # blank = not assessed
    assert len(obs) == 12


def test_11b_dimension_really_is_stale():
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.load_workbook(case("11b_excel_stale_dimension.xlsx"), read_only=True)
    n = sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    assert n < 7  # what a reader trusting the stored dimension sees (the sheet has 7 rows)


def test_total_row_that_does_not_add_up_is_an_error(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("Governorate,Jan,Feb\nIdleb,10,20\nHama,5,5\nTotal,15,99\n")
    cfg = {"series": "displaced", "columns": {"region": "Governorate"}, "dates": {"format": "%b", "year": 2020},
           "wide": {"melt": "date"}}
    with pytest.raises(DataError) as e:
        load_mapped(p, cfg)
    (prob,) = e.value.problems
    assert prob.row == 4 and prob.column == "Feb" and "99" in prob.message


# ------------------------------------------------------------------ hub targets follow the frequency


def test_12_monthly_panel_hub_targets_say_month(tmp_path):
    import json

    out, hub = tmp_path / "f", tmp_path / "hub"
    assert main(["forecast", str(case("12_monthly_panel.csv")), "--regions", str(case("12_regions.csv")),
                 "--horizon", "3", "--model", "climatology", "--out", str(out), "--no-plots"]) == 0
    assert main(["export-hub", str(out), "--hub", str(hub)]) == 0
    targets = json.loads((hub / "hub-config" / "tasks.json").read_text())["rounds"][0]["model_tasks"][0]["target_metadata"]
    assert {t["time_unit"] for t in targets} == {"month"}
    names = [t["target_name"] for t in targets]
    assert all("month" in n and "week" not in n for n in names), names


def test_workbook_given_as_tidy_is_one_line_saying_so(capsys):
    assert main(["validate", str(case("06_acled_export.xlsx"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Excel workbook" in err[0] and "UTF-8" not in err[0].split("or save")[0]


def test_ucdp_flags_count_as_series_and_partial_periods(tmp_path):
    src = FIX / "ucdp_small.csv"
    rows = rows_of(src, ",")
    header = list(rows[0])
    p = tmp_path / "u.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*header, "kw_air"])
        for k, r in enumerate(rows):
            w.writerow([r[h] for h in header] + [k % 2])
    obs = quiet(load_ucdp_ged, p, freq="M", flags={"kw_air": "strikes"}, date_range="start")
    assert total(obs, "strikes") == sum(k % 2 for k in range(len(rows)))
    assert total(obs, "events") == len(rows)
    with pytest.raises(DataError, match="unknown series"):
        load_ucdp_ged(p, flags={"kw_air": "planes"})


def test_mapped_filter_and_series_map(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("month,area,level,measure,value\n2019-02-01,Idleb,governorate,idp_arrivals,100\n"
                 "2019-02-01,Idleb,governorate,idp_departures,7\n2019-02-01,NW Syria,region,idp_arrivals,900\n"
                 "2019-03-01,Idleb,governorate,idp_arrivals,120\n")
    cfg = {"columns": {"date": "month", "region": "area", "value": "value", "series": "measure"},
           "series_map": {"idp_arrivals": "arrivals"}, "filter": {"level": ["governorate"]}}
    obs = load_mapped(p, cfg)
    assert obs[["region", "series"]].drop_duplicates().values.tolist() == [["Idleb", "arrivals"]]
    assert obs["value"].tolist() == [100.0, 120.0]
    with pytest.raises(DataError, match="series_map"):
        load_mapped(p, {**cfg, "series_map": {"idp_arrivals": "tents"}})
