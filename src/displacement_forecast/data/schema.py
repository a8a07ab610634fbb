"""The observation schema: one tidy long frame, documented and validated in one place.

Observations
------------
===========  ==========================================================================
column       meaning
===========  ==========================================================================
``date``     start of the period the count covers (day; Monday of the ISO week for
             weekly data; first of the month for monthly data). ISO ``YYYY-MM-DD``.
``region``   region code from the region table (see :mod:`.regions`).
``series``   what is counted; one of :data:`KNOWN_SERIES`.
``value``    count for the period, non-negative. Missing is NaN, never silently 0.
``source``   optional free text: where the number came from.
===========  ==========================================================================

One frame holds one frequency (daily ``D``, weekly ``W`` or monthly ``M``); the frequency is
checked explicitly, never guessed silently. Keys ``(date, region, series)`` are unique.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS: tuple[str, ...] = ("date", "region", "series", "value")
OPTIONAL_COLUMNS: tuple[str, ...] = ("source",)

#: Series the toolkit knows. ``displaced`` is new displacement in the period (people), the
#: forecast target; the others are drivers or context.
KNOWN_SERIES: dict[str, str] = {
    "displaced": "people newly displaced from the region in the period",
    "strikes": "air/drone strike events in the region in the period",
    "shelling": "shelling/artillery/missile attack events in the region in the period",
    "flights": "warplane flights observed over the region in the period",
    "events": "conflict events of any type in the region in the period",
    "fatalities": "reported fatalities in the region in the period",
    "arrivals": "people newly arrived (displaced into) the region in the period",
    "refugees": "people newly crossing an international border from the region in the period",
}

#: Frequency codes: name, pandas offset used to label periods.
FREQUENCIES: dict[str, str] = {"D": "day", "W": "week (Monday start)", "M": "month (1st)"}

EARLIEST_DATE = pd.Timestamp("1946-01-01")  # UCDP/ACLED coverage starts well after this


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as we can."""

    file: str
    row: int | None  # 1-based line number in the file (header is line 1); None = whole file
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        col = f" column '{self.column}':" if self.column else ""
        return f"{where}:{col} {self.message}"


class DataError(ValueError):
    """Bad input. ``str(err)`` is one line per problem, ready to print without a traceback."""

    def __init__(self, problems: Problem | Iterable[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def period_start(dates: pd.Series | pd.DatetimeIndex, freq: str) -> pd.Series:
    """Label each date with the start of its period (day, Monday of its week, 1st of month)."""
    d = pd.to_datetime(pd.Series(dates)).dt.normalize()
    if freq == "D":
        return d
    if freq == "W":
        return d - pd.to_timedelta(d.dt.weekday, unit="D")
    if freq == "M":
        return d.dt.to_period("M").dt.to_timestamp()
    raise ValueError(f"unknown frequency {freq!r}; expected one of {sorted(FREQUENCIES)}")


def period_offset(freq: str) -> pd.DateOffset:
    """The step between consecutive period labels."""
    return {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1), "M": pd.DateOffset(months=1)}[
        freq
    ]


def future_dates(last: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """Period labels for horizons 1..``horizon`` after ``last``."""
    step = period_offset(freq)
    return pd.DatetimeIndex([pd.Timestamp(last) + step * h for h in range(1, horizon + 1)])


def infer_frequency(dates: pd.Series) -> str | None:
    """The frequency whose period labels all dates already are, or None if they fit none.

    A date set fits ``M`` when all are 1st of month and gaps are >= 28 days; ``W`` when all
    are Mondays spaced by multiples of 7 days; ``D`` otherwise if it is any set of days.
    """
    d = pd.Series(pd.to_datetime(dates).unique()).sort_values()
    if d.empty:
        return None
    gaps = d.diff().dropna().dt.days
    if (d.dt.day == 1).all() and (gaps.empty or gaps.min() >= 28):
        return "M"
    if (d.dt.weekday == 0).all() and (gaps.empty or (gaps % 7 == 0).all()):
        return "W"
    if (d == d.dt.normalize()).all():
        return "D"
    return None


def validate_observations(
    df: pd.DataFrame,
    *,
    file: str = "<frame>",
    region_codes: Iterable[str] | None = None,
    freq: str | None = None,
    row_offset: int = 2,
) -> list[Problem]:
    """Check a frame against the observation schema and return *all* problems found.

    Parameters
    ----------
    df
        Frame with raw (possibly string) columns as read from a file.
    file
        Name used in messages.
    region_codes
        Known region codes; regions outside it are reported. ``None`` skips the check.
    freq
        Expected frequency (``D``, ``W``, ``M``). ``None`` requires one consistent frequency.
    row_offset
        Line number of the first data row in the file (2 when there is one header line).
    """
    problems: list[Problem] = []
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        return [
            Problem(file, 1, c, f"required column is missing (have: {', '.join(map(str, df.columns))})")
            for c in missing
        ]
    if df.empty:
        return [Problem(file, None, None, "no data rows (only a header)")]

    lines = np.arange(len(df)) + row_offset

    # Dates: parseable, in range.
    raw_dates = df["date"]
    dates = pd.to_datetime(raw_dates, errors="coerce", format="mixed") if raw_dates.dtype == object else pd.to_datetime(raw_dates, errors="coerce")
    for i in np.flatnonzero(dates.isna().to_numpy()):
        problems.append(
            Problem(file, int(lines[i]), "date", f"cannot read {raw_dates.iloc[i]!r} as a date; expected YYYY-MM-DD")
        )
    today = pd.Timestamp.today().normalize()
    bad_range = (dates < EARLIEST_DATE) | (dates > today + pd.Timedelta(days=366))
    for i in np.flatnonzero(bad_range.fillna(False).to_numpy()):
        problems.append(
            Problem(file, int(lines[i]), "date",
                    f"date {dates.iloc[i].date()} is out of range; expected between {EARLIEST_DATE.date()} and next year")
        )

    # Values: numeric (NaN allowed for missing), non-negative, finite.
    raw_values = df["value"]
    values = pd.to_numeric(raw_values, errors="coerce")
    not_numeric = values.isna() & raw_values.notna() & (raw_values.astype(str).str.strip() != "")
    for i in np.flatnonzero(not_numeric.to_numpy()):
        problems.append(
            Problem(file, int(lines[i]), "value",
                    f"{raw_values.iloc[i]!r} is not a number; expected a non-negative count (leave empty for missing)")
        )
    for i in np.flatnonzero((values < 0).fillna(False).to_numpy()):
        problems.append(Problem(file, int(lines[i]), "value", f"negative value {values.iloc[i]:g}; expected >= 0"))
    for i in np.flatnonzero(np.isinf(values.fillna(0).to_numpy(dtype=float))):
        problems.append(Problem(file, int(lines[i]), "value", "infinite value; expected a finite count"))

    # Series known.
    series = df["series"].astype("string")
    unknown = ~series.isin(list(KNOWN_SERIES)) | series.isna()
    for i in np.flatnonzero(unknown.to_numpy(dtype=bool)):
        problems.append(
            Problem(file, int(lines[i]), "series",
                    f"unknown series {series.iloc[i]!r}; expected one of {', '.join(KNOWN_SERIES)}")
        )

    # Regions present and known.
    region = df["region"].astype("string").str.strip()
    for i in np.flatnonzero((region.isna() | (region == "")).to_numpy(dtype=bool)):
        problems.append(Problem(file, int(lines[i]), "region", "empty region; expected a region code"))
    if region_codes is not None:
        codes = set(region_codes)
        bad = region.notna() & (region != "") & ~region.isin(codes)
        for i in np.flatnonzero(bad.to_numpy(dtype=bool)):
            problems.append(
                Problem(file, int(lines[i]), "region",
                        f"region {region.iloc[i]!r} is not in the region table")
            )

    # Duplicate keys.
    key = pd.DataFrame({"date": dates, "region": region, "series": series})
    dup = key.duplicated(keep="first") & key.notna().all(axis=1)
    if dup.any():
        first_line = {}
        for i, k in enumerate(map(tuple, key.to_numpy())):
            first_line.setdefault(k, int(lines[i]))
        for i in np.flatnonzero(dup.to_numpy()):
            k = tuple(key.iloc[i])
            problems.append(
                Problem(file, int(lines[i]), "date",
                        f"duplicate key (date={k[0].date()}, region={k[1]}, series={k[2]}); first seen on line {first_line[k]}")
            )

    # Frequency: one per file, explicit.
    ok_dates = dates.dropna()
    if not ok_dates.empty:
        found = infer_frequency(ok_dates)
        if freq is not None and freq not in FREQUENCIES:
            problems.append(Problem(file, None, None, f"unknown frequency {freq!r}; expected D, W or M"))
        elif found is None:
            problems.append(Problem(file, None, "date", "dates mix frequencies or carry times of day; expected one of daily, weekly (Mondays) or monthly (1st)"))
        elif freq is not None and not _fits(found, freq):
            # Locate the first row that breaks the expected frequency.
            labels = period_start(ok_dates, freq)
            off = np.flatnonzero(labels.to_numpy() != ok_dates.to_numpy())
            row = int(lines[ok_dates.index.get_indexer([ok_dates.index[off[0]]])[0]]) if len(off) else None
            problems.append(
                Problem(file, row, "date",
                        f"dates are {FREQUENCIES[found]}-spaced but {FREQUENCIES[freq]} periods were expected")
            )
    return problems


def _fits(found: str, wanted: str) -> bool:
    """A weekly or monthly label set also 'fits' daily data; otherwise the codes must agree."""
    return found == wanted or wanted == "D"


def coerce_observations(df: pd.DataFrame) -> pd.DataFrame:
    """Return a clean, typed, sorted copy of a *validated* frame."""
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(df["date"], format="mixed") if df["date"].dtype == object else pd.to_datetime(df["date"]),
            "region": df["region"].astype(str).str.strip(),
            "series": df["series"].astype(str).str.strip(),
            "value": pd.to_numeric(df["value"], errors="coerce").astype(float),
        }
    )
    if "source" in df.columns:
        out["source"] = df["source"].astype("string")
    return out.sort_values(["series", "region", "date"], kind="stable").reset_index(drop=True)


def check_observations(
    df: pd.DataFrame,
    *,
    file: str = "<frame>",
    region_codes: Iterable[str] | None = None,
    freq: str | None = None,
    row_offset: int = 2,
) -> pd.DataFrame:
    """Validate and coerce in one go; raise :class:`DataError` listing every problem."""
    problems = validate_observations(df, file=file, region_codes=region_codes, freq=freq, row_offset=row_offset)
    if problems:
        raise DataError(problems)
    return coerce_observations(df)


def observation_frequency(obs: pd.DataFrame) -> str:
    """Frequency code of a clean observation frame; raises if it has none."""
    f = infer_frequency(obs["date"])
    if f is None:
        raise DataError(Problem("<frame>", None, "date", "observations mix frequencies"))
    return f


def to_panel(obs: pd.DataFrame, series: str, regions: list[str], freq: str | None = None) -> pd.DataFrame:
    """Wide ``date x region`` frame of one series on a complete period grid (gaps = NaN)."""
    freq = freq or observation_frequency(obs)
    sub = obs[obs["series"] == series]
    if sub.empty:
        raise DataError(Problem("<frame>", None, "series", f"no observations of series {series!r}"))
    wide = sub.pivot_table(index="date", columns="region", values="value", aggfunc="sum", dropna=False)
    # pivot_table's sum turns all-NaN into 0; redo NaN where no value was observed.
    seen = sub.assign(v=sub["value"].notna()).pivot_table(index="date", columns="region", values="v", aggfunc="any")
    wide = wide.where(seen.reindex_like(wide).eq(True))
    start, end = obs["date"].min(), obs["date"].max()
    grid = pd.DatetimeIndex(pd.date_range(start, end, freq={"D": "D", "W": "W-MON", "M": "MS"}[freq]))
    return wide.reindex(index=grid, columns=regions)
