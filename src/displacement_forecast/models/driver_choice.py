"""Which conflict series a driver model uses: the user's ``--drivers`` or the default rule.

Default rule (``drivers="auto"``, recorded in the sidecar as ``config.drivers`` after the fit and
``config.driver_rule``): **every conflict series the data have with at least one positive count,
in the order** ``strikes, shelling, flights, events, fatalities``. Series that are absent, or
zero/missing everywhere, are left out (an all-zero regressor only makes a fit singular).
A model that takes a single driver (``sarimax``) uses the first series of that list.

Errors (one clear line each, :class:`~displacement_forecast.data.schema.DataError`):

* a requested driver that is not in the data names the series the data do have;
* no conflict series at all names the models that need none.

Regions without a driver (:func:`regions_without_drivers`, the one rule): a region without a single
count of a driver series the model uses has nothing for the model to read there (it would take the
missing counts as 0, and a scenario would change counts that do not exist). Every driver model goes
through it: ``forecast`` and ``fit`` leave such a region out before the fit (``regions_left_out``
in the sidecar, "region X is not forecast (no 'strikes' rows, which the model needs)"); a model
fitted with one anyway (Python) says so in its fit warnings and is marked unreliable
(:meth:`~.base.ForecastModel.fit`). ``auto`` (:attr:`~.base.ForecastModel.without_drivers` =
``"scenario-blind"``) forecasts it with its driver-free candidates instead and lists it in
``scenario_blind_regions``: scenarios do not move it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..data.schema import CONFLICT_SERIES, DataError, Problem

#: Models that need no driver series.
DRIVER_FREE: tuple[str, ...] = ("auto", "dynamic", "historic-average", "arima", "last-value", "climatology",
                                "statsforecast-autoets", "statsforecast-autoarima", "statsforecast-naive",
                                "statsforecast-historicaverage")
DEFAULT_RULE = ("every conflict series in the data with a positive count, in the order "
                + ", ".join(CONFLICT_SERIES))


def available_drivers(series: dict[str, np.ndarray]) -> tuple[str, ...]:
    """Conflict series of a panel with at least one positive count, in the default order."""
    return tuple(s for s in CONFLICT_SERIES
                 if s in series and np.nansum(np.clip(np.asarray(series[s], float), 0, None)) > 0)


def regions_without_drivers(drivers: Sequence[str], counted: Mapping[str, Iterable[str]],
                            codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``region code -> driver series it has no count of``, for the regions of ``codes`` (in their
    order) lacking a single count of one of ``drivers``; ``counted`` maps each series to the
    regions with at least one count of it (a series absent from it has none anywhere).
    """
    have = {s: set(counted.get(s, ())) for s in drivers}
    out = {}
    for code in codes:
        missing = tuple(s for s in drivers if code not in have[s])
        if missing:
            out[str(code)] = missing
    return out


def needs_phrase(missing: Sequence[str], empty: Iterable[str] = ()) -> str:
    """Why a region without counts of ``missing`` is not forecast (the words of ``regions_left_out``):
    "no 'strikes' rows", or "no 'strikes' counts" for the series of ``empty``, whose rows the region
    has with every value empty (they were called "no rows" though the file holds them)."""
    empty = set(empty)
    return (" and ".join(f"no '{s}' {'counts' if s in empty else 'rows'}" for s in missing)
            + ", which the model needs")


def resolve_drivers(requested: str | Sequence[str] | None, series: dict[str, np.ndarray], model: str, *,
                    required: bool = True, max_n: int | None = None, option: str | None = None) -> tuple[str, ...]:
    """The driver series a model uses.

    Parameters
    ----------
    requested
        ``"auto"`` or ``None`` for the default rule; otherwise series names.
    series
        The panel's series (``name -> region x period``).
    model
        Model name, for the messages.
    required
        The model cannot run without a driver (raise when none is available).
    max_n
        Keep at most this many (the first ones).
    option
        The command-line option that gave ``requested`` (``--drivers``), named in the message.

    Raises
    ------
    DataError
        A requested series is not in the data, or ``required`` and the data have none.
    """
    others = sorted(k for k in series if k != "displaced")
    if requested is None or requested == "auto":
        chosen = available_drivers(series)
        if not chosen and required:
            raise DataError(Problem("<observations>", None, "series",
                                    f"model {model!r} needs a conflict series ({', '.join(CONFLICT_SERIES)}) and "
                                    f"the data have none (series: {', '.join(others) or 'only displaced'}); "
                                    f"use a model without drivers: {', '.join(DRIVER_FREE)}"))
    else:
        chosen = (requested,) if isinstance(requested, str) else tuple(requested)
        missing = [s for s in chosen if s not in series]
        if missing:
            raise DataError(Problem("<observations>", None, "series",
                                    f"model {model!r}: driver series {', '.join(missing)} not in the data "
                                    f"(it has: {', '.join(others) or 'only displaced'})"
                                    f"{f'; expected {option} to name series it has' if option else ''}"))
    return chosen[:max_n] if max_n else chosen
