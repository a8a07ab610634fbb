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

One frame holds one frequency (daily ``D``, weekly ``W`` on one weekday, or monthly ``M``); the
frequency is named by one rule, :func:`detect_frequency`, which ``validate``, ``forecast`` and the
loaders all use; irregular spacing is rejected with the first offending line. Dates in a tidy file
are ISO ``YYYY-MM-DD`` only. Keys ``(date, region, series)`` are unique.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..conventions import GRID_FREQ

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
    "battles": "armed clashes (ACLED event type Battles) in the region in the period",
    "fatalities": "reported fatalities in the region in the period",
    "arrivals": "people newly arrived (displaced into) the region in the period",
    "refugees": "people newly crossing an international border from the region in the period",
}

#: Conflict series a driver model may use and a scenario change moves when it names none, in the
#: order the driver rule prefers them (:mod:`displacement_forecast.models.driver_choice`).
CONFLICT_SERIES: tuple[str, ...] = ("strikes", "shelling", "flights", "events", "fatalities")

#: Series that count people: a tidy file's value for them must be a whole number (see
#: :func:`validate_observations`); event series may hold fractions (UCDP events over a date
#: range spread evenly over its days).
PEOPLE_SERIES: tuple[str, ...] = ("displaced", "arrivals", "refugees")

#: Series a scenario change or ``--drivers`` may name: every known series that does not count
#: people (counts of people are forecast, never set or used as a driver).
DRIVER_SERIES: tuple[str, ...] = tuple(s for s in KNOWN_SERIES if s not in PEOPLE_SERIES)

#: Frequency codes: name, pandas offset used to label periods.
FREQUENCIES: dict[str, str] = {"D": "day", "W": "week", "M": "month (1st)"}

EARLIEST_DATE = pd.Timestamp("1946-01-01")  # UCDP/ACLED coverage starts well after this


def latest_date() -> pd.Timestamp:
    """The latest date data (or a date on the command line) may hold: a year from today."""
    return pd.Timestamp.today().normalize() + pd.Timedelta(days=366)

#: Largest value a count may take: no count of people or events in one region and period reaches
#: ten billion (more than the world's population). Larger is a typo or a corrupt cell (``1e308``),
#: which would overflow sums to infinity or swamp a fit without a word. Checked for every series,
#: first: with a region table the ``displaced`` counts at most this are then checked against each
#: region's population (``_cli.checks.check_population``: a message naming the region and its population).
MAX_COUNT = 1e10


#: What a :class:`Problem`'s ``column`` names, by kind (see :meth:`Problem.kind_of`).
PROBLEM_KINDS = ("column", "key", "option")
#: Files whose named fields are keys, not columns.
KEY_FILE_SUFFIXES = (".toml", ".json")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as we can.

    ``column`` names the field at fault; ``kind`` says what it is, so the line printed calls it
    by its name: a ``column`` of a table, a ``key`` of a TOML or JSON file, or a command-line
    ``option``. Left None, the kind follows one rule (:meth:`kind_of`): a name starting with
    ``--`` is an option, a field of a ``.toml``/``.json`` file is a key, anything else a column.
    Printed: ``file:line: column 'value': ...``, ``recipe.toml:12: key start: ...``,
    ``command line: option --thresholds: ...``.
    """

    file: str
    row: int | None  # 1-based line number in the file (header is line 1); None = whole file
    column: str | None
    message: str
    kind: str | None = None  # column | key | option; None: by the rule of kind_of

    def kind_of(self) -> str:
        """``column``, ``key`` or ``option`` (the given ``kind``, else the rule above)."""
        if self.kind is not None:
            return self.kind
        if self.column and self.column.startswith("--"):
            return "option"
        return "key" if str(self.file).lower().endswith(KEY_FILE_SUFFIXES) else "column"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if not self.column and self.file.startswith("--"):  # the option itself stands as the place
            return f"command line: option {self.file}: {self.message}"
        kind = self.kind_of()  # columns quoted (they may hold spaces); options and keys as written
        col = "" if not self.column else (f" column '{self.column}':" if kind == "column"
                                          else f" {kind} {self.column}:")
        return f"{where}:{col} {self.message}"


class DataWarning(UserWarning):
    """Something in the input was left out or assumed; the message says what and where."""


class DataNote(DataWarning):
    """How the input was read, when it was read in a way the user should know of but nothing is
    wrong (daily counts summed into the panel's weeks); commands print it as ``note:``."""


#: The file a :class:`Problem` names when the code that found it was given a frame, not a file
#: (a model fitted on observations, :func:`to_panel`); the command that read the frame names its
#: file instead (:meth:`DataError.naming`).
UNNAMED_FILES = ("<observations>", "<frame>")


class DataError(ValueError):
    """Bad input. ``str(err)`` is one line per problem, ready to print without a traceback."""

    def __init__(self, problems: Problem | Iterable[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def naming(self, file: str) -> DataError:
        """The same problems, those found in a frame without a file (:data:`UNNAMED_FILES`) naming ``file``."""
        return DataError([replace(p, file=file) if p.file in UNNAMED_FILES else p for p in self.problems])


#: Max problems of one kind listed per file before summarising (a 1M-row file with a wrong
#: column would otherwise print a million lines).
MAX_PROBLEMS_PER_KIND = 50


def freq_code(value: object) -> object:
    """A frequency as written (``--freq w``, a recipe's ``freq = "m"``) as its code: any case, as
    format names are; anything else is returned as it is, for the caller to refuse."""
    return value.strip().upper() if isinstance(value, str) else value


def first_of_each(rows: np.ndarray, keys: Sequence[Hashable], problem: Callable[[int, str], Problem], *,
                  file: str, column: str | None) -> list[Problem]:
    """One problem per distinct cause, at its first row, saying how many more rows share it.

    Parameters
    ----------
    rows : numpy.ndarray of int, shape (n,)
        Data rows with a problem, in file order.
    keys : sequence, length n
        The cause of each row's problem (rows with equal keys have one problem, e.g. cells of one
        shape, :func:`cell_shape`).
    problem : callable
        ``problem(row, more)`` -> the :class:`Problem` of the first ``row`` of a cause; ``more`` is
        ``""`` or ``" (and 12 more rows like it)"``, to put into its message.

    Returns
    -------
    list of Problem
        At most :data:`MAX_PROBLEMS_PER_KIND` causes, then one line counting the rows of the rest.
    """
    if not len(rows):
        return []
    group, _ = pd.factorize(pd.Series(list(keys), dtype=object), use_na_sentinel=False)
    first = np.unique(group, return_index=True)[1]
    count = np.bincount(group)
    out = [problem(int(rows[i]), f" (and {count[g] - 1:,} more row{'s' if count[g] > 2 else ''} like it)"
                   if count[g] > 1 else "") for g, i in enumerate(first[:MAX_PROBLEMS_PER_KIND])]
    rest = int(count[MAX_PROBLEMS_PER_KIND:].sum())
    if rest:
        out.append(Problem(file, None, column, f"... and {rest:,} more rows with other problems of this kind"))
    return out


#: Line numbers listed in the one line that stands for many rows with one problem.
SHOWN_LINES = 5


def rows_problem(file: str, column: str | None, lines: Sequence[int], n: int, what: str, *, first: object = None,
                 expected: str = "") -> Problem:
    """One problem standing for every row with one kind of problem in one column of one file.

    Printed ``obs.csv: column 'value': 300 rows are not a number (lines 3, 5, 9, 12, 17, ...;
    first value 'abc'); expected a non-negative count``: a file with the same mistake in many
    rows is one line, not one per row (the reader needs the kind, how many and where to look).

    Parameters
    ----------
    lines : sequence of int
        File lines of the first rows, in file order (the first :data:`SHOWN_LINES` distinct ones
        are listed; the cells of one row of a wide table share its line).
    n : int
        How many rows have the problem.
    what : str
        What the rows are, after ``"n rows "``: ``"are not a number"``.
    first : object, optional
        The first row's cell, quoted as ``first value``.
    expected : str
        What was expected, appended after ``"; "``.
    """
    distinct = list(dict.fromkeys(int(x) for x in lines))  # a wide table's row holds many cells
    at = distinct[:SHOWN_LINES]
    shown = ", ".join(map(str, at)) + (", ..." if len(distinct) > SHOWN_LINES or n > len(lines) else "")
    cell = "" if first is None else f"; first value {str(first).strip()!r}"
    return Problem(file, None, column, f"{n:,} row{'s' if n > 1 else ''} {what} (line{'s' if len(at) > 1 else ''} "
                                       f"{shown}{cell})" + (f"; {expected}" if expected else ""))


#: A cell written with a decimal comma (``307,0``, ``12,5``); ``12,000`` could be a thousands
#: separator as well, so three digits after the comma are not read as one.
DECIMAL_COMMA = r"[+-]?\d+,(?:\d{1,2}|\d{4,})"
#: What the tidy check says of values written so (the tidy format takes no number options).
DECIMAL_COMMA_HINT = ("the file seems to use decimal commas, which the tidy format does not read; expected a decimal "
                      "point (save the file with 307.0, not 307,0), or read it as the mapped format with a config "
                      "whose [file] has decimal = \",\" (docs/input-formats.md)")


def grouped_rows(file: str, column: str | None, rows: Sequence[int] | np.ndarray, line: Callable[[int], int],
                 one: Callable[[int], str], what: str, *, cell: Callable[[int], object] | None = None,
                 expected: str = "") -> list[Problem]:
    """The problems of ``rows`` (data-row positions, in file order) sharing one kind of problem.

    One row: one :class:`Problem` at its line (``line(i)``) with the message ``one(i)``. More:
    one :func:`rows_problem` (``what``, ``expected``, the first row's ``cell(i)``). The one rule of
    the loaders (:func:`.loaders.common.row_problems`) and the tidy check
    (:func:`validate_observations`).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return []
    if len(rows) == 1:
        i = int(rows[0])
        return [Problem(file, int(line(i)), column, one(i))]
    return [rows_problem(file, column, [int(line(int(i))) for i in rows[:SHOWN_LINES * 8]], len(rows), what,
                         first=None if cell is None else cell(int(rows[0])), expected=expected)]


def cell_shape(text: str) -> str:
    """The shape of a cell, to tell causes apart: digits as ``9``, each run of letters as ``a``
    (``'2020-13-01'`` -> ``'9999-99-99'``, ``'March 5'`` -> ``'a 9'``, ``'n/a'`` -> ``'a/a'``)."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d", "9", text))


def _text(col: pd.Series, *, strip: bool = True, nfc: bool = False) -> pd.Series:
    """A column as stripped strings (NA kept), computed once per distinct value (fast on long frames);
    ``nfc``: in Unicode's composed form (codes that look the same are the same)."""
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    u = pd.Series(uniq, dtype="string")
    if strip:
        u = u.str.strip()
    if nfc:
        u = u.str.normalize("NFC")
    vals = pd.concat([u, pd.Series([pd.NA], dtype="string")], ignore_index=True)
    return pd.Series(vals.to_numpy()[codes], index=col.index, dtype="string")


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


def period_grid(dates: pd.Series, freq: str) -> str:
    """pandas frequency of the period grid of ``dates`` (weekly grids keep the data's weekday)."""
    if freq == "W":
        wd = pd.to_datetime(pd.Series(dates)).dt.weekday
        return Frequency("W", int(wd.iloc[0]) if len(wd) else 0).grid
    return Frequency(freq).grid


def period_offset(freq: str) -> pd.DateOffset:
    """The step between consecutive period labels."""
    return {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1), "M": pd.DateOffset(months=1)}[
        freq
    ]


def future_dates(last: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """Period labels for horizons 1..``horizon`` after ``last``."""
    step = period_offset(freq)
    return pd.DatetimeIndex([pd.Timestamp(last) + step * h for h in range(1, horizon + 1)])


def period_ends(starts: pd.DatetimeIndex, freq: str | None) -> pd.DatetimeIndex:
    """The last day of each period starting at ``starts`` (weeks: 6 days on; months: the month's
    last day); days, and an unknown frequency, end where they start."""
    code = str(freq or "")[:1]
    if code == "W":
        return starts + pd.Timedelta(days=6)
    if code == "M":
        return starts + pd.offsets.MonthEnd(0)
    return starts


def horizon_end(last: pd.Timestamp, horizon: int, freq: str) -> pd.Timestamp:
    """The last day of the ``horizon``-th period after the period starting ``last`` (the date a
    total "within ``horizon`` periods" runs to: weekly data from 2020-01-20, 8 weeks -> 2020-03-22)."""
    return period_ends(future_dates(last, horizon, freq)[-1:], freq)[0]


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Frequency:
    """A frequency named by :func:`detect_frequency`: ``D``, ``W`` (on ``weekday``) or ``M``."""

    code: str
    weekday: int | None = None  # 0 = Monday ... 6 = Sunday, for weekly data

    @property
    def label(self) -> str:
        """``daily``, ``weekly (Sundays)``, ``monthly (1st)``."""
        if self.code == "W":
            return f"weekly ({WEEKDAYS[self.weekday or 0]}s)"
        return {"D": "daily", "M": "monthly (1st)"}[self.code]

    @property
    def grid(self) -> str:
        """pandas frequency of the period grid (``D``, ``W-SUN``, ``MS``)."""
        if self.code == "W":
            return "W-" + WEEKDAYS[self.weekday or 0][:3].upper()
        return GRID_FREQ[self.code]


def _first_line(dates: pd.Series, bad: pd.Series, lines) -> int | None:
    """File line of the first row (in file order) whose date is in ``bad``."""
    hit = np.flatnonzero(dates.isin(bad).to_numpy())
    if not len(hit):
        return None
    return int(lines[hit[0]]) if lines is not None else None


def _week_grid(dates: pd.Series) -> bool:
    """Whether sorted distinct ``dates`` are a weekly grid: at least 3, the closest two 7 days apart."""
    return len(dates) >= 3 and dates.diff().dropna().dt.days.min() == 7


def _weeks_apart(d: pd.Series, keys) -> bool:
    """Whether most gaps between consecutive dates of one series are whole weeks.

    ``d`` holds the date of every row, ``keys`` (same length; a Series or a frame, e.g. region and
    series) the series each row belongs to. Daily data step mostly by days within a series, weekly
    data by weeks whatever weekday each series is dated on. False without ``keys`` or gaps.
    """
    if keys is None:
        return False
    k = pd.DataFrame(keys).reset_index(drop=True)
    k.columns = range(k.shape[1])
    cols = list(k.columns)
    k["date"] = d.to_numpy()
    k = k.dropna(subset=["date"]).drop_duplicates().sort_values("date", kind="stable")
    gaps = k.groupby(cols, dropna=False, sort=False)["date"].diff().dropna().dt.days
    return len(gaps) > 0 and bool((gaps % 7 == 0).mean() > 0.5)


def _off_grid(u: pd.Series, d: pd.Series, weekly_series: bool) -> tuple[Frequency, pd.Series] | None:
    """The monthly or weekly grid the file's dates lie on, and the dates off it.

    ``u`` are the distinct sorted dates, ``d`` the date of every row. The candidate grids: the 1st
    of consecutive months, and the weekday most rows fall on, its dates (at least 3) a week apart at
    best. A grid holds the file, some dates off it, when it holds more than half of the distinct
    dates, or (weekly) when each series of the file steps by whole weeks (``weekly_series``, see
    :func:`_weeks_apart`): a weekly or monthly file with mistyped dates, two week conventions in one
    file (Mondays and Sundays), or two frequencies in one file, never daily data (whose days spread
    over every weekday and step by days). None when there is no such grid or no date is off it.
    """
    wd = u.dt.weekday
    rows = d.dropna().dt.weekday.value_counts()
    mode = int(min(rows.index, key=lambda w: (-rows[w], w)))  # most rows; ties: the earlier weekday
    for f, on in ((Frequency("M"), u.dt.day == 1), (Frequency("W", mode), wd == mode)):
        grid = u[on]
        if on.all() or len(grid) < 3:
            continue
        if len(grid) <= len(u) / 2 and not (f.code == "W" and weekly_series):
            continue
        if f.code == "M":
            regular = np.diff(grid.dt.year.to_numpy() * 12 + grid.dt.month.to_numpy()).min() == 1
        else:
            regular = _week_grid(grid)
        if regular:
            return f, u[~on]
    return None


def _off_grid_problem(f: Frequency, off: pd.Series, n: int, d: pd.Series, file: str, lines) -> Problem:
    """The one line for dates ``off`` the grid ``f`` the other of the ``n`` distinct dates lie on.

    Weekly dates off the grid that are themselves a weekly grid on another weekday (two agencies'
    week conventions merged) are named by the weekdays and their row counts; a few stray dates by
    how many are off and the date each should be.
    """
    hit = np.flatnonzero(d.isin(off).to_numpy())  # the first off-grid row in file order
    x = d.iloc[hit[0]]
    line = int(lines[hit[0]]) if lines is not None else None
    if f.code == "W":
        day = WEEKDAYS[f.weekday or 0]
        if any(_week_grid(off[off.dt.weekday == w]) for w in off.dt.weekday.unique()):
            rows = d.dropna().dt.weekday.value_counts()
            order = sorted(rows.index, key=lambda w: (w != f.weekday, -rows[w], w))
            counts = ", ".join(f"{rows[w]:,}{' rows' if i == 0 else ''} on {WEEKDAYS[w]}s" for i, w in enumerate(order))
            others = f"{WEEKDAYS[x.weekday()]} rows" if len(order) == 2 else f"rows not on {day}s"
            which = (f"the first {WEEKDAYS[x.weekday()]}" if len(order) == 2
                     else f"a {WEEKDAYS[x.weekday()]}, the first not on a {day}")
            return Problem(file, line, "date",
                           f"weekly dates on {len(order)} weekdays: {counts} ({x.date()} here, {which}); "
                           f"expected one weekday for all weekly rows (re-date the {others} to {day}s), "
                           f"or aggregate to weeks first")
        start = (x - pd.Timedelta(days=(x.weekday() - (f.weekday or 0)) % 7)).date()  # the grid's weekday on or before x
        what, period = f"is a {WEEKDAYS[x.weekday()]}", f"the {day} of its week"
        daily = "every weekday"
    else:
        start = x.replace(day=1).date()
        what, period, daily = "is not the 1st of a month", "the 1st of its month", "every day of the month"
    k = len(off)
    many = "1 date off it" if k == 1 else f"{k} dates off it, this the first"
    return Problem(file, line, "date",
                   f"{x.date()} {what}, off the {f.label} grid of {n - k} of the {n} dates ({many}); expected one "
                   f"frequency: correct the date to {period} ({start}) or remove the row "
                   f"(daily data fall on {daily})")


def _monthly_not_on_the_1st(u: pd.Series, d: pd.Series, file: str, lines) -> Problem | None:
    """The problem of monthly dates labelled by another day than the 1st: one day of every month
    (the 15th), or the last day of each, some two a month apart (``u``: the distinct sorted dates,
    ``d``: every row's). Was 'irregular dates (2017-02-15 then 2017-03-15, 28 days apart)'."""
    months = u.dt.year.to_numpy() * 12 + u.dt.month.to_numpy()
    if len(u) < 2 or np.diff(months).min() != 1:
        return None
    if u.dt.is_month_end.all():
        where = "the last day of the month"
    elif u.dt.day.nunique() == 1:
        where = f"day {u.iloc[0].day}"
    else:
        return None
    shown, firsts = ", ".join(str(x.date()) for x in u.iloc[:2]), ", ".join(str(x.date().replace(day=1)) for x in u.iloc[:2])
    return Problem(file, _first_line(d, u.iloc[[0]], lines), "date",
                   f"dates look monthly but fall on {where} ({shown}, …); monthly periods are labelled by the 1st of "
                   f"the month: use {firsts}, …")


def detect_frequency(dates: pd.Series, *, file: str = "<frame>", lines=None, keys=None) -> Frequency:
    """Name the frequency of a set of period labels, or reject it: the one rule of the toolkit.

    * **monthly**: every date is the 1st of a month and the closest two are one month apart;
    * **weekly**: every date falls on one weekday (any: Mondays, or Sundays as some agencies
      publish) and the closest two are 7 days apart, all gaps whole weeks;
    * **daily**: the closest two dates are one day apart (no time of day), more than half of
      them are not on one weekly or monthly grid, and (given ``keys``) the dates of one series
      step mostly by days, not by whole weeks.

    Gaps (a missing week or month, missing days) are allowed: missing periods stay missing.
    Anything else - every second week, quarters, a Wednesday (or a Tuesday, the day after a
    Monday) among Mondays - is irregular and rejected; dates mostly on a weekly or monthly grid
    with a few off it are one line naming the first off it, how many are, and the fix. Weekly
    series dated on two (or more) weekdays - some regions or weeks on Mondays, others on Sundays -
    are one line naming the weekdays with their row counts and the first row off the commonest.
    Months dated on one other day (the 15th) or on their last days are one line saying monthly
    periods are labelled by the 1st.

    Parameters
    ----------
    dates
        Dates in file order (one per row; repeats are fine).
    file, lines
        For the message: ``lines[i]`` is the file line of row ``i`` (None: no line given).
    keys
        The series of each row, aligned with ``dates`` (a Series, or a frame such as the
        ``region`` and ``series`` columns); None: the dates alone decide.

    Raises
    ------
    DataError
        One problem naming the first offending line and what was expected.
    """
    d = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    u = pd.Series(d.dropna().unique()).sort_values().reset_index(drop=True)
    if u.empty:
        raise DataError(Problem(file, None, "date", "no dates"))
    if not (u == u.dt.normalize()).all():
        bad = u[u != u.dt.normalize()]
        raise DataError(Problem(file, _first_line(d, bad, lines), "date",
                                f"date {bad.iloc[0]} carries a time of day; expected period starts (YYYY-MM-DD)"))
    if len(u) == 1:
        x = u.iloc[0]
        return Frequency("M") if x.day == 1 else Frequency("W", int(x.weekday())) if x.weekday() == 0 else Frequency("D")
    days = u.diff().dropna().dt.days.to_numpy()
    if (u.dt.day == 1).all():
        months = np.diff(u.dt.year.to_numpy() * 12 + u.dt.month.to_numpy())
        if months.min() == 1:
            return Frequency("M")
        k = int(np.flatnonzero(months == months.min())[0])
        raise DataError(Problem(file, _first_line(d, u.iloc[[k + 1]], lines), "date",
                                f"monthly dates {int(months.min())} months apart at best ({u.iloc[k].date()} then {u.iloc[k + 1].date()}); "
                                f"expected one frequency: consecutive months (or daily or weekly periods)"))
    mislabelled = _monthly_not_on_the_1st(u, d, file, lines)
    if mislabelled is not None:
        raise DataError(mislabelled)
    wd = u.dt.weekday
    if wd.nunique() == 1 and (days % 7 == 0).all():
        if days.min() == 7:
            return Frequency("W", int(wd.iloc[0]))
        k = int(np.flatnonzero(days == days.min())[0])
        raise DataError(Problem(file, _first_line(d, u.iloc[[k + 1]], lines), "date",
                                f"dates are {int(days.min())} days apart at best ({u.iloc[k].date()} then {u.iloc[k + 1].date()}); "
                                f"expected one frequency: daily, weekly or monthly periods (aggregate to one of them first)"))
    stray = _off_grid(u, d, _weeks_apart(d, keys))
    if stray is not None:  # weekly or monthly but for some dates: not daily with gaps
        raise DataError(_off_grid_problem(*stray, len(u), d, file, lines))
    if days.min() == 1:
        return Frequency("D")
    # Irregular: name the first row off the most common weekday, else the first odd gap.
    mode = int(wd.mode().iloc[0])
    off = u[wd != mode]
    if len(off) and len(off) < len(u) / 2:
        x = off.iloc[0]
        raise DataError(Problem(file, _first_line(d, off.iloc[[0]], lines), "date",
                                f"{x.date()} is a {WEEKDAYS[x.weekday()]} but the other dates are {WEEKDAYS[mode]}s; "
                                f"expected one frequency: daily, weekly on one weekday, or monthly on the 1st"))
    k = int(np.flatnonzero(days == days.min())[0])
    raise DataError(Problem(file, _first_line(d, u.iloc[[k + 1]], lines), "date",
                            f"irregular dates ({u.iloc[k].date()} then {u.iloc[k + 1].date()}, {int(days.min())} days apart); "
                            f"expected one frequency: daily, weekly or monthly periods"))


def file_lines(n: int, row_offset: int | Sequence[int]) -> np.ndarray:
    """The file line of each of ``n`` rows, ``(n,)`` int: ``row_offset`` is the line of the first
    row (rows on consecutive lines), or already the line of every row (:func:`.io.read_csv_strict`'s
    ``attrs['lines']``: a file with blank lines or quoted line breaks)."""
    return np.arange(n) + row_offset if np.isscalar(row_offset) else np.asarray(row_offset)


def validate_observations(
    df: pd.DataFrame,
    *,
    file: str = "<frame>",
    region_codes: Iterable[str] | None = None,
    freq: str | None = None,
    row_offset: int | Sequence[int] = 2,
    whole: bool = False,
    region_names: Callable[[str], str | None] | None = None,
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
        Line number of the first data row in the file (2 when there is one header line), or the
        line of every row (a file with blank lines or quoted line breaks,
        :func:`~.io.read_csv_strict`'s ``attrs['lines']``).
    whole
        Counts of people (:data:`PEOPLE_SERIES`) must be whole numbers, the rule every agency-file
        loader applies to the counts it parses (their ``whole`` option); the tidy reader sets it.
        Frames assembled by the loaders leave it off (they checked their cells as they read them).
    region_names
        ``region_names(text)``: the code of the region of the table that ``text`` names (by its name
        or an alias), else None (:meth:`.regions.RegionTable.code_named`); a region not in
        ``region_codes`` that names one is said to be its name.
    """
    problems: list[Problem] = []
    missing = [c for c in COLUMNS if c not in df.columns]
    agency = _agency_format(df.columns) if missing else None
    if agency:  # an event list handed where observations are expected: one line saying what to do
        return [Problem(file, 1, None, f"is {agency[1]}, not an observation file (date, region, series, value); "
                                       f"count it into one with `displacement-forecast panel --events {file} "
                                       f"--events-format {agency[0]} --freq W --regions CSV --out obs.csv`, "
                                       f"or check it with `validate --format {agency[0]}`")]
    if missing and len(missing) == len(COLUMNS) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(df.columns[0]).strip()):
        # the header line left out: one line saying so, not one 'required column is missing' per column
        return [Problem(file, 1, None, f"line 1 holds data ({', '.join(map(str, df.columns))}), not the header; "
                                       f"expected a first line naming the columns: {','.join(COLUMNS)}[,source]")]
    if missing:  # one line for the header, not one per missing column
        return [Problem(file, 1, None, f"the header has no column {', '.join(missing)} (have: "
                                       f"{', '.join(map(str, df.columns))}); expected columns {', '.join(COLUMNS)}"
                                       f"[, {', '.join(OPTIONAL_COLUMNS)}] (in any case)")]
    if df.empty:
        return [Problem(file, None, None, "no data rows (only a header)")]

    lines = file_lines(len(df), row_offset)

    # Dates: parseable, in range.
    raw_dates = df["date"]
    if raw_dates.dtype == object:
        text = _text(raw_dates)
        iso = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
        dates = pd.to_datetime(text.where(iso), errors="coerce", format="%Y-%m-%d")
    else:
        dates = pd.to_datetime(raw_dates, errors="coerce")
        iso = np.ones(len(df), dtype=bool)
    unread = np.flatnonzero(dates.isna().to_numpy())
    not_iso = [i for i in unread if not iso[i] and pd.notna(raw_dates.iloc[i]) and str(raw_dates.iloc[i]).strip()]
    if len(not_iso) > 1:  # a whole file in another format: one line, not one per row
        i = not_iso[0]
        problems.append(Problem(file, int(lines[i]), "date",
                                f"{raw_dates.iloc[i]!r} and {len(not_iso) - 1:,} more dates are not ISO; the tidy format takes "
                                f"YYYY-MM-DD only (agency files with other date formats: --format with --date-format)"))
        unread = np.setdiff1d(unread, not_iso)  # (a set built per row made this quadratic: 16 s for 20,000 rows)
    def unreadable(i: int, more: str) -> Problem:
        if pd.isna(raw_dates.iloc[i]) or not str(raw_dates.iloc[i]).strip():
            return Problem(file, int(lines[i]), "date", f"empty date{more}; expected YYYY-MM-DD")
        hint = ("; the tidy format takes ISO dates only (agency files with other date formats: "
                "--format with --date-format)") if not iso[i] and pd.notna(raw_dates.iloc[i]) else ""
        return Problem(file, int(lines[i]), "date", f"cannot read {raw_dates.iloc[i]!r} as a date{more}; expected YYYY-MM-DD{hint}")

    unread = np.asarray(unread, dtype=int)
    problems += first_of_each(unread, [cell_shape(str(raw_dates.iloc[i]).strip()) if pd.notna(raw_dates.iloc[i]) else ""
                                       for i in unread], unreadable, file=file, column="date")
    today = pd.Timestamp.today().normalize()
    bad_range = np.flatnonzero(((dates < EARLIEST_DATE) | (dates > latest_date())).fillna(False).to_numpy())
    problems += first_of_each(
        bad_range, (dates.iloc[bad_range] > today).to_numpy(), file=file, column="date",  # too early / too late
        problem=lambda i, more: Problem(file, int(lines[i]), "date", f"date {dates.iloc[i].date()} is out of range{more}; "
                                                                     f"expected between {EARLIEST_DATE.date()} and next year"))

    # Values: numeric (NaN allowed for missing), non-negative, finite.
    raw_values = df["value"]
    values = pd.to_numeric(raw_values, errors="coerce")
    not_numeric = values.isna() & raw_values.notna() & (_text(raw_values.astype(str)) != "")

    def line(i: int) -> int:
        return int(lines[i])

    def cell(i: int) -> object:
        return raw_values.iloc[i]

    need = "expected a non-negative count (leave empty for missing)"
    # '307,0' (a spreadsheet saved with a continental locale): said so, with what reads it
    comma = not_numeric & _text(raw_values.astype(str)).str.fullmatch(DECIMAL_COMMA).fillna(False).astype(bool)
    other, commas = np.flatnonzero((not_numeric & ~comma).to_numpy()), np.flatnonzero(comma.to_numpy())
    for rows, say in sorted(((other, need), (commas, DECIMAL_COMMA_HINT)), key=lambda g: g[0][0] if len(g[0]) else 0):
        problems += grouped_rows(file, "value", rows, line,
                                 lambda i, say=say: f"{raw_values.iloc[i]!r} is not a number{'; ' if say is need else ': '}{say}",
                                 "are not a number", cell=cell, expected=say)
    problems += grouped_rows(file, "value", np.flatnonzero((values < 0).fillna(False).to_numpy()), line,
                             lambda i: f"negative value {values.iloc[i]:g}; expected >= 0", "are negative",
                             cell=cell, expected="expected >= 0")
    problems += grouped_rows(file, "value", np.flatnonzero(np.isinf(values.fillna(0).to_numpy(dtype=float))), line,
                             lambda i: "infinite value; expected a finite count", "are infinite", cell=cell,
                             expected="expected a finite count")
    # every series, with a region table too: a count above it is a typo or a corrupt cell, named at its line
    # (it was left to the population check, whose message printed 1e308 as 309 digits and no line)
    huge = ((values > MAX_COUNT) & np.isfinite(values)).fillna(False).to_numpy(dtype=bool)
    too_large = f"expected at most {MAX_COUNT:,.0f} (more than the world's population)"
    problems += grouped_rows(file, "value", np.flatnonzero(huge), line,
                             lambda i: f"{values.iloc[i]:g} is larger than any count; {too_large}",
                             "are larger than any count", cell=cell, expected=too_large)
    if whole:
        v = values.to_numpy(dtype=float)
        check = _text(df["series"]).isin(PEOPLE_SERIES).to_numpy(dtype=bool) & np.isfinite(v)
        decimals = ("for a source that splits estimates give --decimals, or decimals: true in the front matter "
                    "of a README.md beside the file")
        problems += grouped_rows(
            file, "value", np.flatnonzero(check)[v[check] % 1 != 0], line,
            lambda i: (f"{str(raw_values.iloc[i]).strip()!r} is not a whole number; expected a count of people "
                       f"(series {str(df['series'].iloc[i]).strip()!r}); {decimals}"),
            "are not whole numbers", cell=cell, expected=f"expected counts of people; {decimals}")

    # Series known.
    series = _text(df["series"], strip=False)
    unknown = ~series.isin(list(KNOWN_SERIES)) | series.isna()
    # one line per unknown name (its first line and how many rows), as for region codes: a file whose
    # 246 rows say 'Displaced' was 246 identical lines
    seen: dict[object, list[int]] = {}
    for i in np.flatnonzero(unknown.to_numpy(dtype=bool)):
        seen.setdefault(series.iloc[i], []).append(i)
    for name, rows in seen.items():
        more = f" (and {len(rows) - 1:,} more rows)" if len(rows) > 1 else ""
        spaces = " (with surrounding spaces)" if isinstance(name, str) and name.strip() in KNOWN_SERIES else ""
        problems.append(Problem(file, int(lines[rows[0]]), "series", f"unknown series {name!r}{spaces}{more}; "
                                f"{series_hint(name)}expected one of {', '.join(KNOWN_SERIES)}"))

    # Regions present and known.
    region = _text(df["region"], nfc=True)  # 'Ḥamāh' typed on a Mac (NFD) is the same code
    problems += grouped_rows(file, "region", np.flatnonzero((region.isna() | (region == "")).to_numpy(dtype=bool)),
                             line, lambda i: "empty region; expected a region code", "have an empty region",
                             expected="expected a region code")
    if region_codes is not None:
        codes = set(region_codes)
        bad = (region.notna() & (region != "") & ~region.isin(codes)).to_numpy(dtype=bool)
        # one line per unknown code (its first line and how many rows), not one per row
        first: dict[str, list[int]] = {}
        for i in np.flatnonzero(bad):
            first.setdefault(region.iloc[i], []).append(int(lines[i]))
        table = ", ".join(repr(c) for c in sorted(codes)[:5]) + (", ..." if len(codes) > 5 else "")
        for code, rows in first.items():
            more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
            named = region_names(code) if region_names is not None else None  # 'Idleb' for NWS07
            expect = (f": it is the name of region {named} there; expected region codes ({named}, not {code!r})"
                      if named else f"; the table has {table}")
            problems.append(Problem(file, rows[0], "region", f"region {code!r} is not in the region table{more}{expect}"))
        if bad.any() and bad[(region.notna() & (region != "")).to_numpy(dtype=bool)].all() and len(first) > 1:
            problems.insert(len(problems) - len(first), Problem(
                file, None, "region", f"none of the file's {len(first)} region codes is in the region table "
                f"(the table has {table}): is it the right region table?"))

    # Duplicate keys.
    key = pd.DataFrame({"date": dates, "region": region, "series": series})
    dup = key.duplicated(keep="first") & key.notna().all(axis=1)
    if dup.any():
        first_line = {}
        for i, k in enumerate(map(tuple, key.to_numpy())):
            first_line.setdefault(k, int(lines[i]))

        def repeated(i: int, sep: str = "; ") -> str:
            k = tuple(key.iloc[i])
            return f"(date={k[0].date()}, region={k[1]}, series={k[2]}){sep}first seen on line {first_line[k]}"

        rows = np.flatnonzero(dup.to_numpy())
        problems += grouped_rows(file, "date", rows, line, lambda i: f"duplicate key {repeated(i)}",
                                 "repeat the key (date, region, series) of an earlier row",
                                 expected=f"expected each key once (the first repeated: {repeated(int(rows[0]), ', ')})")

    # Frequency: one per file, named by the one rule (detect_frequency).
    ok = dates.notna().to_numpy()
    if ok.any():
        if freq is not None and freq not in FREQUENCIES:
            problems.append(Problem(file, None, None, f"unknown frequency {freq!r}; expected D, W or M"))
        else:
            try:
                found = detect_frequency(dates[ok], file=file, lines=lines[ok],
                                         keys=pd.DataFrame({"region": region, "series": series})[ok]).code
            except DataError as e:
                problems += e.problems
            else:
                if freq is not None and not _fits(found, freq):
                    labels = period_start(dates[ok], freq)
                    off = np.flatnonzero(labels.to_numpy() != dates[ok].to_numpy())
                    row = int(lines[ok][off[0]]) if len(off) else None
                    problems.append(
                        Problem(file, row, "date",
                                f"dates are {FREQUENCIES[found]}-spaced but {FREQUENCIES[freq]} periods were expected")
                    )
    return problems


def series_hint(name: object) -> str:
    """``"did you mean 'displaced'? "`` for an unknown series name that is a known one in another case
    or one letter off (``Displaced``, ``strike``), else ``""``: the start of the message's expectation."""
    import difflib

    if not isinstance(name, str) or not name.strip():
        return ""
    text = name.strip()
    if text.lower() in KNOWN_SERIES:
        return f"did you mean {text.lower()!r} (series names are lower case)? "
    close = difflib.get_close_matches(text.lower(), list(KNOWN_SERIES), n=1, cutoff=0.8)
    return f"did you mean {close[0]!r}? " if close else ""


def header_key(name: object) -> str:
    """A header cell as compared with the column names a loader wants: stripped, lower case, runs of
    spaces and hyphens as one ``_`` (``EVENT_DATE``, ``event_date `` and ``Event Date`` are one column).

    The one rule for agency headers: the loaders match their columns with it
    (:func:`.loaders.common.read_columns`) and :func:`_agency_format` recognises their exports with it.
    """
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def match_columns(df: pd.DataFrame, wanted: Iterable[str], *, file: str = "<frame>") -> pd.DataFrame:
    """``df`` with its columns that name a ``wanted`` column in another case or with surrounding
    spaces (``Date``, `` value ``) renamed to it: the fixed headers of the tidy format and the region
    table are read in any case, by the rule the agency loaders read theirs by (:func:`header_key`).

    Other columns keep their names (a header that still lacks a column is reported by the check
    that needs it). The frame's ``attrs`` (file lines) are kept.

    Raises
    ------
    DataError
        Two columns naming one wanted column (``value`` and ``Value``), at the header line.
    """
    want = {header_key(w): w for w in wanted}
    names: dict[str, object] = {}
    problems: list[Problem] = []
    rename = {}
    for c in df.columns:
        k = want.get(header_key(c))
        if k is None:
            continue
        if k in names:
            problems.append(Problem(file, 1, str(c), f"names the same column as {names[k]!r} (names are compared in "
                                                     "any case, without surrounding spaces); expected each column once"))
            continue
        names[k] = c
        if c != k:
            rename[c] = k
    if problems:
        raise DataError(problems)
    if not rename:
        return df
    out = df.rename(columns=rename)
    out.attrs = dict(df.attrs)
    return out


#: Columns that mark a raw agency export: format name, what to call it, columns it always has.
_AGENCY_MARKS = (("acled", "an ACLED export", {"event_date", "event_type"}),
                 ("ucdp", "a UCDP GED file", {"date_start", "date_end", "best"}))


def _agency_format(columns: Iterable[object]) -> tuple[str, str] | None:
    """``(format, description)`` of the agency export whose columns these are, or None."""
    have = {header_key(c) for c in columns}  # as the loaders read the header: 'Event Date' is event_date
    return next(((fmt, what) for fmt, what, marks in _AGENCY_MARKS if marks <= have), None)


def _fits(found: str, wanted: str) -> bool:
    """A weekly or monthly label set also 'fits' daily data; otherwise the codes must agree."""
    return found == wanted or wanted == "D"


def coerce_observations(df: pd.DataFrame) -> pd.DataFrame:
    """Return a clean, typed, sorted copy of a *validated* frame."""
    out = pd.DataFrame(
        {
            # stripped as validation read them: ' 2020-01-06 ' passed the check, so it must parse here too
            "date": (pd.to_datetime(_text(df["date"]), format="%Y-%m-%d") if df["date"].dtype == object
                     else pd.to_datetime(df["date"])),
            "region": _text(df["region"].astype(str), nfc=True).astype(object),
            "series": _text(df["series"].astype(str)).astype(object),
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
    row_offset: int | Sequence[int] = 2,
    whole: bool = False,
    region_names: Callable[[str], str | None] | None = None,
) -> pd.DataFrame:
    """Validate and coerce in one go; raise :class:`DataError` listing every problem."""
    problems = validate_observations(df, file=file, region_codes=region_codes, freq=freq, row_offset=row_offset,
                                     whole=whole, region_names=region_names)
    if problems:
        raise DataError(problems)
    return coerce_observations(df)


def observation_frequency(obs: pd.DataFrame) -> str:
    """Frequency code (``D``, ``W``, ``M``) of a clean observation frame (:func:`detect_frequency`, its
    series told apart by ``region`` and ``series``); raises :class:`DataError` if irregular."""
    keys = [c for c in ("region", "series") if c in obs.columns]
    return detect_frequency(obs["date"], keys=obs[keys] if keys else None).code


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
    grid = pd.DatetimeIndex(pd.date_range(start, end, freq=period_grid(obs["date"], freq)))
    return wide.reindex(index=grid, columns=regions)
