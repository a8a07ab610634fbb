"""Helpers shared by CLI sub-commands: finding the region table, loading observations, saved fits."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.io import read_observations
from ..data.regions import RegionTable, load_regions
from ..data.schema import DataError, Problem


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="observation CSV (date, region, series, value[, source])")
    p.add_argument("--regions", help="region table CSV (code, name, parent, population[, aliases][, counts]); "
                   "default: regions.csv beside DATA")
    from .data_commands import add_decimals_arg

    add_decimals_arg(p)


def regions_path(args: argparse.Namespace) -> Path:
    """The region table given with ``--regions``, or ``regions.csv`` beside the data file."""
    return Path(args.regions) if args.regions else Path(args.data).with_name("regions.csv")


def load_data(args: argparse.Namespace, *, check_population: bool = True) -> tuple[pd.DataFrame, RegionTable]:
    """Region table (given or beside the data file) and validated observations.

    With ``check_population`` the displacement counts are also checked against the populations
    (no count above the population, no population below what has already fled).
    """
    from ..data.io import check_file, observation_lines
    from .checks import check_population as _check
    from .checks import check_target

    data = check_file(args.data)  # first: a mistyped data path was reported as a missing regions.csv beside it
    reg_path = regions_path(args)
    if not reg_path.exists():
        raise DataError(Problem(str(reg_path), None, None,
                                "region table not found; give one with --regions (columns code, name, parent, population[, aliases][, counts])"))
    regions = load_regions(reg_path)
    obs = read_observations(data, region_codes=regions.codes, whole=False if getattr(args, "decimals", False) else None,
                            region_names=regions.code_named)
    check_target(obs, file=str(data))  # forecast, fit and backtest all forecast 'displaced'
    if check_population:
        for w in _check(obs, regions, file=str(data), regions_file=str(reg_path),
                        lines=functools.partial(observation_lines, data)):
            print(f"WARNING: {w}", file=sys.stderr)
    return obs, regions


def load_saved_fit(directory: str | Path) -> Any:
    """A fit saved by ``displacement-forecast fit``; a damaged or incomplete one is one clear error."""
    from ..models.io import load_model

    d = Path(directory)
    if not d.is_dir():
        raise DataError(Problem(str(d), None, "--model-dir", "not a folder; expected a folder written by `fit`"))
    try:
        return load_model(d)
    except DataError:
        raise
    except KeyError as e:
        raise DataError(Problem(str(d / "model.json"), None, str(e.args[0]),
                                "missing key; expected a model.json written by `displacement-forecast fit` "
                                "(refit the model)")) from None
    except (TypeError, ValueError, AttributeError, IndexError, OSError) as e:
        raise DataError(Problem(str(d), None, None,
                                f"cannot read this saved fit ({type(e).__name__}: {str(e)[:120]}); "
                                "expected a folder written by `displacement-forecast fit` (refit the model)")) from None


def condition_on_data(model: Any, obs: pd.DataFrame, regions: RegionTable, *, file: str,
                      regions_file: str = "<regions>") -> dict[str, Any]:
    """Condition a saved fit on the rows of a data file: new origin, no refit of the posterior.

    The fit's parameters are kept; its state (lag history, people at risk) and its driver model
    are rebuilt from the new panel, so forecasts start after the new data's last period.

    Returns
    -------
    dict
        What was done, for the sidecar (``model_dir`` entry).

    Raises
    ------
    DataError
        The data name other regions or another frequency than the fit, end before the fit's
        origin, the region table (``regions_file``) gives other populations or says other
        regions count movements than the one the fit was saved with (its people at risk, and
        the parameters fitted on them, would not be the table's), or the model cannot be
        conditioned without refitting.
    """
    from ..models.base import Panel

    old = model.panel_
    if list(regions.codes) != list(old.regions.codes):
        raise DataError(Problem(file, None, "region",
                                f"the saved fit covers regions {', '.join(old.regions.codes)}; the data cover "
                                f"{', '.join(regions.codes)}; refit with `fit` or give matching data"))
    check_fit_regions(old.regions, regions, regions_file=regions_file)
    panel = Panel.from_observations(obs, regions)
    if panel.freq != old.freq:
        raise DataError(Problem(file, None, "date", f"data are {panel.freq}-periodic; the saved fit is {old.freq}"))
    if panel.origin < old.origin:
        raise DataError(Problem(file, None, "date",
                                f"data end {panel.origin.date()}, before the saved fit's last period "
                                f"{old.origin.date()}; give the data the fit was made on or newer"))
    same = (list(panel.dates) == list(old.dates) and set(panel.series) == set(old.series)
            and all(np.array_equal(panel.series[k], old.series[k], equal_nan=True) for k in old.series))
    if same:  # the data the fit was made on: nothing to condition on
        return {"fit_origin": str(old.origin.date()), "origin": str(old.origin.date()), "new_periods": 0,
                "conditioned_on": file, "posterior_refitted": False,
                "note": "the data file holds exactly the rows the saved fit was made on"}
    if not hasattr(model, "_set_state"):
        raise DataError(Problem(file, None, None, f"a saved {model.name!r} fit cannot take new or changed rows "
                                                  "(it keeps no state to update without refitting); refit it with "
                                                  "`displacement-forecast fit` on this file"))
    model.panel_ = panel
    model._set_state(panel)
    if getattr(model, "driver_model_", None) is not None:
        from ..models.drivers import DriverForecaster

        model.driver_model_ = DriverForecaster(series=model.drivers).fit(panel)
    new = int((panel.dates > old.origin).sum())
    return {"fit_origin": str(old.origin.date()), "origin": str(panel.origin.date()), "new_periods": new,
            "conditioned_on": file, "posterior_refitted": False,
            "note": ("parameters from the saved fit; lag history, people at risk and the driver model "
                     "rebuilt from the data file" if new else "data end where the saved fit ends")}


def check_fit_regions(fitted: RegionTable, given: RegionTable, *, regions_file: str) -> None:
    """The region table a forecast gives a saved fit says what the fit's did: the same populations
    and the same regions counting movements (``counts``), so the people at risk the fit depletes
    are the table's. One problem per column, naming its regions; a fit is refitted for another table."""
    def some(items: list[str], most: int = 5) -> str:
        return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")

    problems = []
    codes = np.asarray(given.codes)
    moved = given.declared_movements != fitted.declared_movements
    if moved.any():
        says = "; ".join(f"{kind} for {some(list(codes[moved & (given.declared_movements == m)]))}"
                         for kind, m in (("movements", True), ("people (or nothing: left to the data)", False))
                         if (moved & (given.declared_movements == m)).any())
        problems.append(Problem(regions_file, None, "counts",
                                f"this table says {says}, unlike the one the saved fit was made with; expected the "
                                "fit's, or refit with `displacement-forecast fit` on this table"))
    pop = given.population != fitted.population
    if pop.any():
        says = some([f"{c}: {a:,.0f}, the fit's {b:,.0f}" for c, a, b in
                     zip(codes[pop], given.population[pop], fitted.population[pop], strict=True)])
        problems.append(Problem(regions_file, None, "population",
                                f"this table gives other populations than the one the saved fit was made with "
                                f"({says}); expected the fit's, or refit with `displacement-forecast fit` on this table"))
    if problems:
        raise DataError(problems)
