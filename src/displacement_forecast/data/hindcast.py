"""Forecast as of a past period (a hindcast): the observations as they stood at an origin.

The rule is the one the backtest uses (:meth:`~displacement_forecast.models.base.Panel.truncate`):
the origin is the period that holds the given date (its Monday for weekly data, its 1st for
monthly), and every row dated after that period is dropped before anything is fitted, so nothing
later can reach the model, its driver forecaster or the at-risk bookkeeping.
"""

from __future__ import annotations

import pandas as pd

from .schema import DataError, Problem, observation_frequency, period_start


def truncate_at_origin(observations: pd.DataFrame, origin: str | pd.Timestamp, *,
                       file: str = "<observations>") -> tuple[pd.DataFrame, pd.Timestamp, int]:
    """Observations up to and including the period holding ``origin``.

    Parameters
    ----------
    observations : pandas.DataFrame
        Clean tidy frame (``date, region, series, value[, source]``), one frequency.
    origin : str or pandas.Timestamp
        A date (ISO ``YYYY-MM-DD``) inside the data; the period holding it becomes the last
        observed period.
    file : str
        Named in error messages.

    Returns
    -------
    (pandas.DataFrame, pandas.Timestamp, int)
        The kept rows (index reset), the origin period's label, and how many rows were dropped.

    Raises
    ------
    DataError
        ``origin`` is not a date, or its period lies before the first or after the last period
        of the data.
    """
    try:
        ts = pd.Timestamp(str(origin))
    except ValueError:
        raise DataError(Problem("command line", None, "--origin", f"{origin!r} is not a date (expected YYYY-MM-DD)")) from None
    freq = observation_frequency(observations)
    label = pd.Timestamp(period_start(pd.DatetimeIndex([ts]), freq).iloc[0])
    first, last = observations["date"].min(), observations["date"].max()
    if not first <= label <= last:
        raise DataError(Problem(file, None, "date", f"--origin {ts.date()} is outside the data "
                                f"({first.date()} .. {last.date()}); expected a date in that range"))
    keep = observations["date"] <= label
    return observations[keep].reset_index(drop=True), label, int((~keep).sum())
