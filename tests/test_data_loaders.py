"""Loaders per format, on small realistic fixtures (and bad variants of them)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from displacement_forecast.data.aggregate import aggregate, spread_ranges
from displacement_forecast.data.loaders import (
    DataWarning,
    detect_date_format,
    load_acled,
    load_hxl,
    load_mapped,
    load_ucdp_ged,
)
from displacement_forecast.data.regions import load_regions
from displacement_forecast.data.schema import DataError

FIX = Path(__file__).parent / "fixtures"


def value(obs, date, region, series):
    sel = obs[(obs["date"] == pd.Timestamp(date)) & (obs["region"] == region) & (obs["series"] == series)]
    assert len(sel) == 1, (date, region, series)
    return float(sel["value"].iloc[0])


# ------------------------------------------------------------------ ACLED

def test_acled_weekly_counts_zero_fill_and_blank_admin1():
    with pytest.warns(DataWarning, match="no 'admin1'"):
        obs = load_acled(FIX / "acled_small.csv", freq="W")
    # Coverage is 14/12/2021 (the sea event) .. 31/01/2022: weeks with no event are zeros.
    assert value(obs, "2022-01-03", "Lower Shabelle", "strikes") == 1
    assert value(obs, "2022-01-03", "Lower Shabelle", "events") == 2
    assert value(obs, "2022-01-10", "Banadir", "shelling") == 1
    assert value(obs, "2022-01-10", "Lower Shabelle", "strikes") == 0
    assert value(obs, "2022-01-31", "Lower Shabelle", "fatalities") == 5
    assert obs["date"].min() == pd.Timestamp("2021-12-13")
    assert set(obs["series"]) == {"strikes", "shelling", "events", "fatalities"}


def test_acled_renamed_sub_event_type_names_the_near_miss_not_the_pre2019_layout(tmp_path):
    """Trial 19 item 7: a 2022 export with ``sub_event_type`` renamed ``subevent`` was blamed on the
    pre-2019 layout; the warning names the near miss, and the pre-2019 reason only where it applies."""
    text = (FIX / "acled_small.csv").read_text()
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text.replace(",sub_event_type,", ",subevent,", 1))
    with pytest.warns(DataWarning, match=r"no column 'sub_event_type' \(did you mean 'subevent'\?\); counted") as w:
        load_acled(renamed, freq="W")
    assert not any("before 2019" in str(x.message) for x in w)
    dropped = tmp_path / "dropped.csv"  # 2022 events, no near miss: the column is named, no era guess
    dropped.write_text(text.replace(",sub_event_type,", ",zzz,", 1))
    with pytest.warns(DataWarning, match=r"no column 'sub_event_type'; counted") as w:
        load_acled(dropped, freq="W")
    assert not any("before 2019" in str(x.message) for x in w)


def test_acled_regions_aliases_unmatched_and_strict(tmp_path):
    regions = load_regions(FIX / "regions_som_small.csv")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        obs = load_acled(FIX / "acled_small.csv", regions, freq="M")
    assert set(obs["region"]) == set(regions.codes)
    assert value(obs, "2022-01-01", "SO19", "events") == 1  # 'Galguduud' via alias
    assert value(obs, "2022-01-01", "SO24", "events") == 0  # no events in Bay: a real zero
    assert not any("not in the region table" in str(x.message) for x in w)
    small = load_regions(FIX / "regions_som_small.csv").subset(["SO22", "SO23", "SO24"])  # 1 of 5 events unmatched
    with pytest.warns(DataWarning, match="Galguduud"):
        load_acled(FIX / "acled_small.csv", small, freq="M")
    with pytest.raises(DataError, match="Galguduud"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            load_acled(FIX / "acled_small.csv", small, freq="M", strict=True)


def _acled_two_countries(tmp_path):
    """acled_small with as many events of a second country appended (Kenya: its admin1 not in the table)."""
    df = pd.read_csv(FIX / "acled_small.csv", dtype=str, keep_default_na=False)
    other = df.assign(event_id_cnty="KEN" + df["event_id_cnty"], country="Kenya", admin1="Mandera")
    pd.concat([df, other]).to_csv(p := tmp_path / "acled_two.csv", index=False)
    return p


def test_an_event_list_read_at_the_wrong_level_is_refused_with_the_level_that_matches(tmp_path, capsys):
    """`level = "admin2"` against an admin1 table (Somalia's recipe) left out 68 district names
    with a warning: 656 of 6,556 events counted, every other region's written as zeros. Now more
    than half the rows naming a place unmatched is one line naming the level, the share, examples,
    and the level that matches; rows of another country than the table's do not count."""
    from displacement_forecast.cli import main

    regions = load_regions(FIX / "regions_som_small.csv")
    # most but not all unmatched: the table's admin1 'Banadir' is also a district name here
    text = (FIX / "acled_small.csv").read_text()
    (p := tmp_path / "acled.csv").write_text(text.replace(",Banadir,Mogadishu", ",Banadir,Banadir", 1))
    with pytest.raises(DataError) as e:
        load_acled(p, regions, freq="M", level="admin2")
    (problem,) = e.value.problems
    assert problem.column == "admin2"
    assert problem.message.startswith("read at level admin2, 4 of the 5 rows naming a place (80%; 3 of 4 names, e.g. ")
    assert problem.message.endswith('level admin1 matches 100% of the rows: use it (a recipe\'s level = "admin1", '
                                    "or --level admin1)"), problem.message
    rc = main(["panel", "--events", str(p), "--regions", str(FIX / "regions_som_small.csv"), "--freq", "M",
               "--level", "admin2", "--out", str(tmp_path / "obs.csv")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc == 2 and len(err) == 1 and "--level admin1" in err[0] and not (tmp_path / "obs.csv").exists()
    # an export of two countries against one country's table: the other country's rows are not the level's fault
    two = _acled_two_countries(tmp_path)
    with pytest.warns(DataWarning, match="Mandera"):
        obs = load_acled(two, regions, freq="M")
    assert obs["value"].notna().all()


def test_acled_custom_series_map():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        obs = load_acled(FIX / "acled_small.csv", freq="M", series_map={"Explosions/Remote violence": "strikes"},
                         totals=())
    assert set(obs["series"]) == {"strikes"}
    assert obs.loc[obs["region"] == "Lower Shabelle", "value"].sum() == 2
    assert obs.loc[obs["region"] == "Banadir", "value"].sum() == 1


def _rewrite(tmp_path, name, transform):
    text = (FIX / "acled_small.csv").read_text()
    p = tmp_path / name
    p.write_text(transform(text))
    return p


def test_acled_date_formats(tmp_path):
    iso = _rewrite(tmp_path, "iso.csv", lambda t: t.replace("03/01/2022", "2022-01-03").replace("04/01/2022", "2022-01-04")
                   .replace("12/01/2022", "2022-01-12").replace("25/01/2022", "2022-01-25").replace("31/01/2022", "2022-01-31")
                   .replace("14/12/2021", "2021-12-14"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        a = load_acled(FIX / "acled_small.csv", freq="D")
        b = load_acled(iso, freq="D")
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"))
    assert detect_date_format(["15 February 2022", "1 March 2022"]) == ("%d %B %Y", [])
    fmt, amb = detect_date_format(["05/01/2022", "06/01/2022"])
    assert fmt is None and {"%d/%m/%Y", "%m/%d/%Y"} <= set(amb)


def test_acled_ambiguous_and_bad_dates(tmp_path):
    amb = tmp_path / "amb.csv"
    lines = (FIX / "acled_small.csv").read_text().splitlines(keepends=True)
    amb.write_text(lines[0] + lines[1] + lines[2])  # 03/01 and 04/01 only: day or month first?
    # Day-first gives two consecutive days, month-first two dates a month apart: resolved, and said.
    with pytest.warns(DataWarning, match="consecutive"):
        obs = load_acled(amb, freq="D")
    assert obs["date"].min() == pd.Timestamp("2022-01-03") and obs["date"].max() == pd.Timestamp("2022-01-04")
    sparse = tmp_path / "sparse.csv"  # 05/01 and 07/03: neither reading is consecutive -> refused
    sparse.write_text(lines[0] + lines[1].replace("03/01/2022", "05/01/2022") + lines[2].replace("04/01/2022", "07/03/2022"))
    with pytest.raises(DataError, match="--date-format"):
        load_acled(sparse, freq="W")
    obs = load_acled(sparse, freq="D", date_format="%d/%m/%Y")
    assert obs["date"].min() == pd.Timestamp("2022-01-05")
    bad = _rewrite(tmp_path, "bad.csv", lambda t: t.replace("25/01/2022", "25/13/2022"))
    with pytest.raises(DataError) as e:
        load_acled(bad, freq="W")
    (p,) = e.value.problems
    assert p.column == "event_date" and p.row == 6 and "25/13/2022" in p.message


def test_acled_bad_input_lines(tmp_path):
    bad = _rewrite(tmp_path, "bad.csv", lambda t: t.replace(",2,,1704766941", ",two,,1704766941", 1)
                   .replace("Gunmen killed a civilian.\",1,,", "Gunmen killed a civilian.\",1,,,extra,")
                   .replace("Banadir,Mogadishu", "=HYPERLINK(1),Mogadishu"))
    with pytest.raises(DataError) as e:
        load_acled(bad, freq="W")
    got = {(p.row, p.column) for p in e.value.problems}
    # The shelling record spans lines 4-5 (quoted newline), so the next record starts on line 6.
    assert got == {(2, "fatalities"), (6, None), (4, "admin1")}
    with pytest.raises(DataError, match="required column is missing"):
        load_acled(FIX / "ucdp_small.csv")


def test_acled_many_bad_rows_are_one_line_per_kind(tmp_path):
    """Rows sharing one kind of problem in one column are one line: how many, the first lines and
    the first value (loaders.common.row_problems, shared by every loader check)."""
    n_bad, n_long = 55, 53
    rows = [f"E{i},2022-01-03,Battles,Armed clash,Banadir,x" for i in range(n_bad)]
    rows += [f"L{i},2022-01-04,Battles,Armed clash,Banadir,1,extra" for i in range(n_long)]
    f = tmp_path / "many.csv"
    f.write_text("event_id_cnty,event_date,event_type,sub_event_type,admin1,fatalities\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        load_acled(f, freq="W")
    assert [str(p) for p in e.value.problems] == [
        f"{f}: 53 rows have more fields than the header (6) (lines 57, 58, 59, 60, 61, ...)",
        f"{f}: column 'fatalities': 55 rows are not a number (lines 2, 3, 4, 5, 6, ...; first value 'x'); "
        "expected a non-negative count",
    ]


# ------------------------------------------------------------------ UCDP

def test_ucdp_spread_and_start():
    regions = load_regions(FIX / "regions_syria_small.csv")
    spread = load_ucdp_ged(FIX / "ucdp_small.csv", regions, freq="W")
    start = load_ucdp_ged(FIX / "ucdp_small.csv", regions, freq="W", date_range="start")
    # Event 2 spans 3-12 Dec (10 days): 6 days fall in the week of 2 Dec, 4 in the week of 9 Dec.
    assert value(spread, "2019-12-02", "SY07", "events") == pytest.approx(1 + 0.6)
    assert value(spread, "2019-12-09", "SY07", "events") == pytest.approx(0.4)
    assert value(spread, "2019-12-09", "SY07", "fatalities") == pytest.approx(4.0)
    assert value(start, "2019-12-02", "SY07", "events") == 2
    for obs in (spread, start):
        assert obs.loc[obs["series"] == "fatalities", "value"].sum() == pytest.approx(16)
    only_civ = load_ucdp_ged(FIX / "ucdp_small.csv", regions, freq="M", violence_types=[3])
    assert only_civ.loc[only_civ["series"] == "events", "value"].sum() == 1


def test_spread_ranges_vectorised():
    rows, days, share = spread_ranges(pd.Series(pd.to_datetime(["2020-01-01", "2020-01-05"])),
                                      pd.Series(pd.to_datetime(["2020-01-03", "2020-01-05"])))
    assert rows.tolist() == [0, 0, 0, 1] and share.sum() == pytest.approx(2)
    assert pd.Timestamp(days[2]) == pd.Timestamp("2020-01-03")


# ------------------------------------------------------------------ HXL

def test_hxl_by_tag_not_header():
    obs = load_hxl(FIX / "hxl_small.csv")
    # #affected+idps (stock) is ignored; #affected+new+idps (attribute order differs) is 'displaced'.
    assert set(obs["series"]) == {"displaced"}
    assert set(obs["region"]) == {"SY07", "SY02"}  # #adm1+code preferred over #adm1+name
    assert np.isnan(value(obs, "2020-01-13", "SY07", "displaced"))  # empty cell stays missing
    assert value(obs, "2020-01-13", "SY02", "displaced") == 4000
    stock = load_hxl(FIX / "hxl_small.csv", tag_map={"#date": "date", "#adm1+name": "region", "#affected+idps": "displaced"},
                     regions=load_regions(FIX / "regions_syria_small.csv"))
    assert value(stock, "2020-01-06", "SY07", "displaced") == 900000


def test_hxl_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("Date,Region,IDPs\n#date,#adm1+name,#affected+idps\n2020-01-06,Idlib,5\n")
    with pytest.raises(DataError, match="is a stock"):
        load_hxl(p)
    p.write_text("Date,Region,New\n#date,#adm1+name,#affected+idps+new\n2020-01-06,Idlib,many\n")
    with pytest.raises(DataError) as e:
        load_hxl(p)
    assert e.value.problems[0].row == 3 and e.value.problems[0].column == "New"


# ------------------------------------------------------------------ mapped

def test_mapped_wide_with_total_and_aliases():
    regions = load_regions(FIX / "regions_som_small.csv")
    obs = load_mapped(FIX / "prmn_wide_small.csv", FIX / "prmn_wide_small.toml", regions)
    assert value(obs, "2022-01-01", "SO19", "displaced") == 117914
    assert np.isnan(value(obs, "2022-02-01", "SO19", "displaced"))  # empty cell: missing, not 0
    assert obs["value"].sum() == 139596 + 119589 + 3087


def test_mapped_long_with_month_names(tmp_path):
    cfg = {"series": "refugees", "region": "UKR", "columns": {"date": "data_date", "value": "daily_individuals"},
           "dates": {"format": "%B %d, %Y"}}
    obs = load_mapped(FIX / "unhcr_dates_small.csv", cfg)
    assert obs["date"].tolist() == list(pd.date_range("2022-02-24", periods=3))
    weekly = load_mapped(FIX / "unhcr_dates_small.csv", {**cfg, "freq": "W"})
    assert weekly["value"].tolist() == [79982 + 100968 + 143109]


def test_counts_after_gaps_say_one_more_row_and_a_zero_as_no_arrivals(tmp_path):
    """Review 19: "(and 1 more such rows, lines 5)" read as plural; and a 0 after a gap whose running
    total did not change (a stale total over a weekend) was said as a count covering the gap. Kept
    as it was (spread: 0 on each day), but said as what it means: no arrivals over the gap."""
    daily = tmp_path / "daily.csv"
    daily.write_text("date,cum,daily\n2024-01-01,10,10\n2024-01-03,15,5\n2024-01-04,15,0\n2024-01-06,15,0\n"
                     "2024-01-08,19,4\n")
    cfg = {"series": "displaced", "region": "R1", "after_gap": "spread",
           "columns": {"date": "date", "value": "daily", "cumulative": "cum"}}
    with pytest.warns(DataWarning) as w:
        obs = load_mapped(daily, cfg)
    msgs = [str(x.message) for x in w]
    assert msgs == [
        f"{daily}:3: column 'daily': 5 on 2024-01-03 equals the change of 'cum' since 2024-01-01, the row before, so "
        "it covers 2 days (2024-01-02 to 2024-01-03): spread evenly over them (after_gap = \"spread\") (and 1 more "
        "such row, line 6)",
        f"{daily}:5: column 'daily': 0 on 2024-01-06 after a gap, and 'cum' did not change since 2024-01-04, the row "
        "before: no arrivals over the 2 days (2024-01-05 to 2024-01-06): read as 0 on each of them "
        "(after_gap = \"spread\")"], msgs
    got = obs.set_index("date")["value"]
    assert got["2024-01-05"] == 0 and got["2024-01-06"] == 0 and got.sum() == 19
    with pytest.warns(DataWarning) as w:
        load_mapped(daily, {k: v for k, v in cfg.items() if k != "after_gap"})
    assert str(w[1].message).endswith("no arrivals over the 2 days (2024-01-05 to 2024-01-06), but the days of the "
                                      "gap stay missing; set after_gap = \"spread\" in the config to read them as 0")


def test_mapped_count_after_a_gap_that_covers_it_is_warned_or_spread(tmp_path):
    """Trial 19 item 5, any period and any gap: a count after missing periods equal to the change
    of the cumulative column since the row before covers the gap; kept with one warning naming
    file, line and dates, or spread evenly (after_gap = "spread"), whole counts staying whole."""
    daily = tmp_path / "daily.csv"
    daily.write_text("day,total,new\n2022-03-01,10,10\n2022-03-02,30,20\n"
                     "2022-03-05,60,30\n"      # 3 days since 2 March, 30 = 60 - 30: covers 3-5 March
                     "2022-03-06,70,10\n2022-03-08,85,7\n")  # 7 != 15: a one-day count after a gap
    cfg = {"series": "refugees", "region": "UKR",
           "columns": {"date": "day", "value": "new", "cumulative": "total"}}
    with pytest.warns(DataWarning) as w:
        obs = load_mapped(daily, cfg)
    (msg,) = [str(x.message) for x in w]
    assert msg.startswith(f"{daily}:4: column 'new': 30 on 2022-03-05 equals the change of 'total' since "
                          "2022-03-02, the row before, so it covers 3 days (2022-03-03 to 2022-03-05), but is read "
                          "as one day's count"), msg
    assert value(obs, "2022-03-05", "UKR", "refugees") == 30 and value(obs, "2022-03-08", "UKR", "refugees") == 7
    with pytest.warns(DataWarning, match="spread evenly over them"):
        spread = load_mapped(daily, {**cfg, "after_gap": "spread"})
    got = spread.set_index("date")["value"]
    assert got["2022-03-03":"2022-03-05"].tolist() == [10, 10, 10] and "2022-03-07" not in got.index.strftime("%F")
    assert got.sum() == 10 + 20 + 30 + 10 + 7
    monthly = tmp_path / "monthly.csv"  # months, a two-month gap, a count that does not split evenly
    monthly.write_text("month,region,stock,flow\n2021-01-01,A,5,5\n2021-04-01,A,12,7\n2021-05-01,A,13,1\n")
    mcfg = {"series": "displaced", "after_gap": "spread",
            "columns": {"date": "month", "region": "region", "value": "flow", "cumulative": "stock"}}
    with pytest.warns(DataWarning, match=r"covers 3 months \(2021-02-01 to 2021-04-01\)"):
        m = load_mapped(monthly, mcfg).set_index("date")["value"]
    assert m.tolist() == [5, 2, 2, 3, 1]
    for bad, column in (({**cfg, "after_gap": "split"}, "after_gap"),
                        ({**cfg, "after_gap": "spread", "columns": {"date": "day", "value": "new"}}, "after_gap")):
        with pytest.raises(DataError) as e:
            load_mapped(daily, bad)
        assert [p.column for p in e.value.problems] == [column]


def test_mapped_excel(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "flows"
    ws.append(["IDP movements, monthly"])
    ws.append(["Governorate", "2019-01", "2019-02"])
    ws.append(["Idlib", 32057, 1000])
    ws.append(["Aleppo", 5000, None])
    p = tmp_path / "flows.xlsx"
    wb.save(p)
    cfg = {"series": "arrivals", "file": {"sheet": "flows", "skip_rows": 1}, "columns": {"region": "Governorate"},
           "dates": {"format": "%Y-%m"}, "wide": {"melt": "date"}}
    obs = load_mapped(p, cfg, load_regions(FIX / "regions_syria_small.csv"))
    assert value(obs, "2019-01-01", "SY07", "arrivals") == 32057
    with pytest.raises(DataError, match="no sheet 'nope'"):
        load_mapped(p, {**cfg, "file": {"sheet": "nope"}})


def test_mapped_config_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('series = "displaced"\ncolour = "red"\n[columns]\nregion = "PreviousRegion"\nvalu = "x"\n'
                   '[wide]\nmelt = "date"\n')
    with pytest.raises(DataError) as e:
        load_mapped(FIX / "prmn_wide_small.csv", cfg)
    assert {p.column for p in e.value.problems} == {"colour", "valu"}
    assert all(p.file == str(cfg) for p in e.value.problems)
    bad_total = tmp_path / "t.csv"
    bad_total.write_text((FIX / "prmn_wide_small.csv").read_text().replace("139596", "139597"))
    with pytest.raises(DataError) as e:
        load_mapped(bad_total, FIX / "prmn_wide_small.toml")
    assert e.value.problems[0].row == 2 and e.value.problems[0].column == "total_origin"


def test_mapped_wide_reports_every_problem_at_its_file_location(tmp_path):
    """A text count, a negative count and an unknown region in one wide file: all three reported,
    each at the file's own line and header column (not the reshaped table's)."""
    text = "PreviousRegion,Jan,Feb,Mar\nBay,70014,lots,26372\nGalguduud,117914,-5,1675\nAtlantis,1,2,3\n"
    bad = tmp_path / "w.csv"
    bad.write_text(text)
    cfg = {"series": "displaced", "columns": {"region": "PreviousRegion"}, "dates": {"format": "%b", "year": 2022},
           "wide": {"melt": "date"}}
    with pytest.raises(DataError) as e:
        load_mapped(bad, cfg, load_regions(FIX / "regions_som_small.csv"), strict=True)
    where = {(p.row, p.column) for p in e.value.problems}
    assert (2, "Feb") in where and (3, "Feb") in where
    assert any("Atlantis" in p.message for p in e.value.problems)


# ------------------------------------------------------------------ aggregation

def test_aggregate_periods_zero_fill_and_missing():
    ev = pd.DataFrame({"date": pd.to_datetime(["2022-01-03", "2022-01-09", "2022-01-31", "2022-02-01"]),
                       "region": ["A", "A", "B", "A"], "series": "events", "value": [1.0, 2.0, 1.0, np.nan]})
    w = aggregate(ev, "W", fill_zeros=True)
    assert w["date"].dt.weekday.eq(0).all()
    assert value(w, "2022-01-03", "A", "events") == 3 and value(w, "2022-01-10", "B", "events") == 0
    m = aggregate(ev, "M")
    assert np.isnan(value(m, "2022-02-01", "A", "events"))  # all-missing stays missing
    assert value(m, "2022-01-01", "A", "events") == 3
    d = aggregate(ev, "D", fill_zeros=True, regions=["A", "B", "C"], start="2022-01-01", end="2022-01-05")
    assert d["date"].min() == pd.Timestamp("2022-01-01") and d["date"].max() == pd.Timestamp("2022-01-05")
    assert set(d["region"]) == {"A", "B", "C"}


def test_aggregate_fills_a_series_with_no_event_with_zeros_on_the_whole_grid():
    """A series an event list can count but that has no event (ACLED strikes in a quiet file, a
    UCDP flag never set) is all zeros on the same grid as the others, not absent."""
    ev = pd.DataFrame({"date": pd.to_datetime(["2022-01-03", "2022-01-20"]), "region": ["A", "B"],
                       "series": "events", "value": 1.0})
    w = aggregate(ev, "W", fill_zeros=True, regions=["A", "B", "C"], series=["strikes", "events"])
    strikes, events = w[w["series"] == "strikes"], w[w["series"] == "events"]
    assert len(strikes) == len(events) == 3 * 3 and (strikes["value"] == 0).all()
    assert strikes[["date", "region"]].reset_index(drop=True).equals(events[["date", "region"]].reset_index(drop=True))
    assert set(aggregate(ev, "W", series=["strikes"])["series"]) == {"events"}  # only when filling


@pytest.mark.parametrize("fmt", ["tidy", "hxl"])
def test_a_non_whole_count_of_people_is_one_line_in_every_loader(tmp_path, fmt):
    """Tidy files used to take 12.5 people silently while the agency-file loaders refused it:
    now every loader refuses it with one line naming file, line, column and the value."""
    from displacement_forecast.data.loaders import LOADERS
    from displacement_forecast.data.regions import RegionTable
    from displacement_forecast.data.schema import DataError

    regions = RegionTable(pd.DataFrame({"code": ["R1"], "name": ["One"], "parent": [""], "population": [1000]}))
    f = tmp_path / f"obs_{fmt}.csv"
    if fmt == "tidy":
        f.write_text("date,region,series,value\n2024-01-01,R1,displaced,10\n2024-02-01,R1,displaced,12.5\n"
                     "2024-02-01,R1,events,0.5\n")  # events spread over days may be fractional
    else:
        f.write_text("date,region,idps\n#date,#adm1+code,#affected+idps+new\n2024-01-01,R1,10\n2024-02-01,R1,12.5\n")
    with pytest.raises(DataError) as e:
        LOADERS[fmt].load(f, regions)
    (p,) = e.value.problems
    assert p.file == str(f) and p.row == 3 + (fmt == "hxl") and "12.5" in p.message and "whole" in p.message
    assert p.column == ("value" if fmt == "tidy" else "idps")
    assert len(LOADERS[fmt].load(f, regions, whole=False)) == (3 if fmt == "tidy" else 2)


def test_decimals_in_people_counts_are_read_only_when_declared(tmp_path, capsys):
    """A tidy file whose source splits estimates says so: --decimals, or `decimals: true` in the
    README beside it (the shipped data/nw_syria/panel.csv does); undeclared it is refused."""
    from displacement_forecast.cli import main

    d = tmp_path / "d"
    d.mkdir()
    (d / "regions.csv").write_text("code,name,parent,population\nR1,One,,1000\n")
    (d / "obs.csv").write_text("date,region,series,value\n2024-01-01,R1,displaced,10\n2024-02-01,R1,displaced,12.5\n")
    assert main(["validate", str(d / "obs.csv"), "--regions", str(d / "regions.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{d / 'obs.csv'}:3:" in err[0] and "'12.5'" in err[0] and "--decimals" in err[0]
    assert main(["validate", str(d / "obs.csv"), "--regions", str(d / "regions.csv"), "--decimals"]) == 0
    (d / "README.md").write_text("---\ndecimals: true\n---\n# estimates split by the source\n")
    assert main(["validate", str(d / "obs.csv"), "--regions", str(d / "regions.csv")]) == 0


def test_every_loader_option_is_checked_by_one_rule():
    """Loader signatures (recipe sources) and tables of allowed keys (mapping files, a recipe's top
    level) were checked by two functions with other words ('expected int' beside 'a whole number')."""
    import datetime
    from typing import Annotated

    from displacement_forecast.data.loaders.common import AtLeast, config_options, option_problem

    rows = Annotated[int, AtLeast(1, "rows to read")]
    assert option_problem(3, rows) is None and option_problem(None, rows | None) is None
    assert option_problem(0, rows | None) == "is below 1; expected a whole number >= 1 (rows to read)"
    assert option_problem(True, rows) == option_problem(True, int) == "has the wrong type; expected a whole number"
    assert option_problem("x", (str, datetime.date)) is None and option_problem(datetime.date(2020, 1, 1), (str, datetime.date)) is None
    assert option_problem(3, (str, datetime.date)) == "has the wrong type; expected text or a date"
    assert option_problem("no", bool) == "has the wrong type; expected true or false"
    assert option_problem("NA", list) == option_problem("NA", Sequence[str]) == "has the wrong type; expected a list [...]"
    assert option_problem([], dict) == "has the wrong type; expected a table {key = value}"
    # The table check says the same words, with the value as TOML writes it.
    got = config_options({"whole": "no", "nrows": False}, {"whole": bool, "nrows": rows}, "m.toml", "[file]")
    assert [(p.column, p.message) for p in got] == [
        ("whole", "[file] whole = 'no' has the wrong type; expected true or false"),
        ("nrows", "[file] nrows = false has the wrong type; expected a whole number")]


def _packed(tmp_path: Path, kind: str) -> Path:
    """A tiny CSV packed as ``kind``: what users are sent (a UNHCR download is a zip)."""
    import bz2
    import gzip
    import zipfile

    text = b"date,region,series,value\n2024-01-01,R1,displaced,10\n"
    if kind == "gzip":
        (p := tmp_path / "obs.csv.gz").write_bytes(gzip.compress(text))
    elif kind == "bzip2":
        (p := tmp_path / "obs.csv.bz2").write_bytes(bz2.compress(text))
    elif kind == "zip":
        with zipfile.ZipFile(p := tmp_path / "unhcr download.zip", "w") as z:
            z.writestr("persons_of_concern.csv", text)
            z.writestr("README.txt", b"terms of use")
    else:  # parquet: its magic bytes at both ends are what tells it
        (p := tmp_path / "obs.parquet").write_bytes(b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00PAR1")
    return p


@pytest.mark.parametrize("fmt", ["tidy", "acled", "ucdp", "hxl", "mapped", "regions"])
@pytest.mark.parametrize("kind, said", [
    ("gzip", "is gzip-compressed: decompress it first (gunzip -c {q} > {q_csv})"),
    ("bzip2", "is bzip2-compressed: decompress it first (bunzip2 -c {q} > {q_csv})"),
    ("zip", "is a zip archive, not a workbook: extract the CSV from it first (it holds persons_of_concern.csv, "
            "README.txt)"),
    ("parquet", "is a Parquet file; the toolkit reads CSV or Excel"),
])
def test_a_compressed_or_parquet_file_is_named_by_its_bytes_in_every_loader(tmp_path, fmt, kind, said):
    """A .csv.gz was 'not UTF-8 (byte 0x8b at offset 1)', a UNHCR zip 'an Excel workbook' or 'cannot
    open as an Excel workbook: Cannot detect file format': each is now one line saying what the
    file is and what to do, whichever reader opens it (nothing is decompressed silently)."""
    import shlex

    from displacement_forecast.data.loaders import LOADERS

    p = _packed(tmp_path, kind)
    with pytest.raises(DataError) as e:
        if fmt == "regions":
            load_regions(p)
        else:
            LOADERS[fmt].load(p, **({"config": {"series": "displaced", "columns": dict.fromkeys(["date", "region", "value"], "x")}} if fmt == "mapped" else {}))
    (problem,) = e.value.problems
    assert (problem.file, problem.row, problem.column) == (str(p), None, None)
    if fmt == "regions":  # a region table is a CSV: the message asks for one, not for a loader
        said = {"zip": "is a zip archive; expected a CSV region table (extract the file from it first; it holds "
                       "persons_of_concern.csv, README.txt)",
                "parquet": "is a Parquet file; expected a CSV region table (save the sheet as CSV UTF-8)"}.get(kind, said)
    assert problem.message.startswith(said.format(q=shlex.quote(str(p)), q_csv=shlex.quote(str(tmp_path / "obs.csv")))), problem.message


@pytest.mark.parametrize("name, kind, said", [
    # was 'gunzip obs_gz.csv', which gzip refuses ('unknown suffix -- ignored')
    ("obs_gz.csv", "gzip", "gunzip -c {d}/obs_gz.csv > {d}/obs_gz_plain.csv"),
    ("obs.csv.gz", "gzip", "gunzip -c {d}/obs.csv.gz > {d}/obs.csv"),
    ("my obs.gz", "gzip", "gunzip -c '{d}/my obs.gz' > '{d}/my obs.csv'"),
    ("obs.xz", "xz", "unxz -c {d}/obs.xz > {d}/obs.csv"),
    ("obs_bz.csv", "bzip2", "bunzip2 -c {d}/obs_bz.csv > {d}/obs_bz_plain.csv"),
])
def test_the_decompress_advice_works_whatever_the_file_is_called(tmp_path, name, kind, said):
    import bz2
    import gzip
    import lzma
    import shutil
    import subprocess

    from displacement_forecast.data.io import check_file

    text = b"date,region,series,value\n2024-01-01,R1,displaced,10\n"
    packed = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}[kind](text)
    (p := tmp_path / name).write_bytes(packed)
    with pytest.raises(DataError) as e:
        check_file(p)
    message = e.value.problems[0].message
    command = said.format(d=tmp_path)
    assert message.endswith(f"decompress it first ({command})"), message
    if shutil.which(command.split()[0]):  # the advice runs as given and gives the plain CSV
        subprocess.run(command, shell=True, check=True)
        assert (tmp_path / command.rsplit("/", 1)[1].strip("'")).read_bytes() == text


def test_the_decompress_advice_never_writes_over_an_existing_file(tmp_path):
    """`obs.csv.gz` beside a file `obs.csv` (another of the user's) was told `gunzip -c obs.csv.gz >
    obs.csv`, which replaces it; the copy is now named after it (`obs_plain.csv`, then numbered)."""
    import gzip

    from displacement_forecast.data.io import check_file

    (p := tmp_path / "obs.csv.gz").write_bytes(gzip.compress(b"date,region,series,value\n"))
    (tmp_path / "obs.csv").write_text("mine\n")
    for copy in ("obs_plain.csv", "obs_plain_2.csv"):
        with pytest.raises(DataError) as e:
            check_file(p)
        assert e.value.problems[0].message.endswith(f"(gunzip -c {p} > {tmp_path / copy})")
        (tmp_path / copy).write_text("mine too\n")


def test_an_xlsx_workbook_is_not_taken_for_a_zip_archive(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["date", "region", "idps"])
    wb.active.append(["#date", "#adm1+code", "#affected+idps+new"])
    wb.active.append(["2024-01-01", "R1", 10])
    wb.save(p := tmp_path / "idps.xlsx")
    assert len(load_hxl(p)) == 1
