"""One small model interface: ``fit(observations, regions)`` then draw sample paths.

Every model turns a panel of past counts into **sample paths** of future new displacement,
an array ``draw x region x horizon``. Every summary (quantiles, intervals, cumulative totals,
exceedance probabilities, the regional total ``ALL``) is computed from these paths, so sums over
regions and periods stay coherent draw by draw.

A model only knows how to turn given future driver paths (strikes, flights) and a random
generator into displacement paths (:meth:`ForecastModel._simulate`). Everything around that -
seed streams, the driver forecaster, scenarios, ``hold`` noise - is the forecast engine's
(:mod:`displacement_forecast.forecast.engine`); :meth:`ForecastModel.sample_paths` and
:meth:`ForecastModel.sample_scenarios` are thin wrappers that call it. The engine asks a model
only for its class facts: :attr:`~ForecastModel.uses_drivers`, :attr:`~ForecastModel.drivers`
and what uncertainty its paths include (:meth:`~ForecastModel.uncertainty_included`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from ..data.regions import RegionTable
from ..data.schema import DataError, Problem
from ..distributions import draw_nb  # noqa: F401  (re-exported for model modules)
from .driver_choice import needs_phrase, regions_without_drivers
from .panel import TARGET, Panel, ffill_time

#: What a band includes, in the words of the sidecar and the figure captions.
PARAMETERS = "parameters (drawn from their estimated distribution once per path)"
NB_PROCESS = "process (negative-binomial noise each period)"
#: How every phrase about future conflict in ``uncertainty_included`` starts (:func:`conflict_phrase`).
CONFLICT = "future conflict"
NOT_SCENARIO = "NOT scenario: this model ignores the conflict series, so every scenario gives the same forecast"


def conflict_phrase(drivers: tuple[str, ...] | list[str], where: str = "", changed: bool = True) -> str:
    """``uncertainty_included``'s phrase for future conflict, naming the driver series (they
    were always called strike/flight paths, whatever the model used); ``changed=False`` when no
    path reads the scenario's conflict paths itself."""
    series = "/".join(drivers) or "conflict"
    return f"{CONFLICT} ({series} paths forecast by the driver model{', then changed by the scenario' if changed else ''}{where})"


def negative_effect_warning(effects: dict[str, float], what: str) -> str:
    """The fit warning for driver series with a fitted effect below 0 (``series -> value``,
    ``what`` names the value): the analyst should know before reading a scenario."""
    names = ", ".join(f"{s} ({what} {v:.3g})" for s, v in effects.items())
    return (f"fitted effect below 0 of {names}: in this model's own scenarios more of "
            f"{'it' if len(effects) == 1 else 'them'} lowers the forecast and a ceasefire raises it (confounding or "
            "noise in the data, not a mechanism; auto moves such paths by its response model instead; --drivers "
            "chooses the series)")


@dataclass
class FitInfo:
    """What a fit records about itself: shown by ``summary()``, written to the sidecar."""

    model: str
    config: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    reliable: bool = True
    warnings: list[str] = field(default_factory=list)


def _plain(v: Any) -> str:
    """One diagnostic value as a reader writes it: ``yes``/``no``, lists comma-separated, ``-`` for none."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if v is None:
        return "-"
    if isinstance(v, (list, tuple)):
        return ", ".join(_plain(x) for x in v) if v else "-"
    return str(v)


#: Keys whose value alone does not say what it is on screen: a short gloss printed after it (the
#: sidecar and ``diagnostics.json`` keep the bare value; docs/forecast-files.md "Keys of diagnostics" has the rest).
SCREEN_NOTES: dict[str, str] = {
    "driver_preference": "a driver model alone is the forecast when its backtest CRPS is within the margin, "
                         "or one standard error (se), of the best mixture's and none of its fitted conflict "
                         "effects is negative",
    "upper_tail_factor": "one per horizon of the internal backtest, h1 first; longer horizons take the last",
    "lower_spread_factor": "one per horizon of the internal backtest, h1 first (one number in fits saved before "
                           "2026-12-02); longer horizons take the last",
    "dependence": "strength 0-1 of the factor common to all regions: it moves sums over regions, not any one region",
    "backtest_total_crps": "strength: backtest CRPS of the all-region total; 1 is chosen unless the lowest beats it "
                           "by more than dependence_se",
    "dependence_se": "standard error of the backtest CRPS difference between strength 1 and the lowest (origins as "
                     "clusters; none from fewer than 3 origins: strength 1)",
    "far_tail_factor": "fits saved on 2026-12-01: stretch of the log1p excess over the 95% quantile of each cell "
                       "(since replaced by far_tail_lift)",
    "far_tail_lift": "rise of the 97.5% quantile of every cell on the log1p scale (x exp(lift)), the excess over "
                     "the 95% quantile stretched to reach it, until the share of backtest outcomes above it is no "
                     "longer significantly above 2.5%",
    "backtest_coverage": "shares of backtest outcomes below the 10% / 2.5% and above the 95% / 97.5% quantiles, "
                         "before and after the tail factors (far_: above the 97.5% quantile, far-tail lift; "
                         "total_cov80: 80% coverage of the all-region total before and after its shock); "
                         "calibrated: 0.1, 0.025, 0.05, 0.025, 0.8",
    "total_shock_sd": "sd per period (log scale) of a random walk shared by all regions, added when the all-region "
                      "totals of the internal backtest covered less than 80% at 80%; 0: none",
}


def _is_number(s: Any) -> bool:
    try:
        float(s)
    except (TypeError, ValueError):
        return False
    return True


def diagnostic_lines(diagnostics: dict[str, Any], indent: str = "  ") -> list[str]:
    """The screen lines of a fit's diagnostics: ``key: value``, one line each; a nested mapping
    (``auto``'s weights, scores, backtest coverage) is its key on a line and its items below it,
    indented, never a Python ``{...}`` literal. A mapping of plain numbers or words (weights, CRPS
    per member) fits on one line: ``weights: historic-average 0.6, last-value 0.2``; when its keys
    are numbers too (CRPS per dependence strength) each item is ``key: value``
    (``backtest_total_crps: 0: 231239.39, 0.25: 228721.34``), never two bare numbers in a row.
    A key of :data:`SCREEN_NOTES` ends with its gloss in parentheses."""
    lines = []
    for k, v in diagnostics.items():
        empty = v is None or (isinstance(v, (dict, list, tuple)) and not v)
        note = f"  ({SCREEN_NOTES[k]})" if k in SCREEN_NOTES and not empty else ""
        if isinstance(v, dict) and v and all(not isinstance(x, (dict, list, tuple)) for x in v.values()) \
                and len(v) <= 6 and all(len(str(x)) <= 12 for x in v.values()):
            sep = ": " if all(_is_number(a) for a in v) else " "
            lines.append(f"{indent}{k}: " + ", ".join(f"{a}{sep}{_plain(b)}" for a, b in v.items()) + note)
        elif isinstance(v, dict):
            lines.append(f"{indent}{k}:" + ("" if v else " -") + note)
            lines += diagnostic_lines(v, indent + "  ")
        else:
            lines.append(f"{indent}{k}: {_plain(v)}{note}")
    return lines


class ForecastModel(ABC):
    """Base class: fit one panel, draw sample paths of future new displacement for any scenario.

    Subclasses implement :meth:`_fit` and :meth:`_simulate`; fitted state lives in attributes
    ending with ``_`` (``panel_``, ``info_``), as in statsmodels/sktime.
    """

    name: ClassVar[str] = "base"
    #: Whether future driver paths (strikes, flights) change the forecast; if not, scenarios
    #: cannot change it and the sidecar says so.
    uses_drivers: ClassVar[bool] = False
    drivers: tuple[str, ...] = ()
    #: Whether each path draws the model's parameters from their estimated distribution (models
    #: with a ``parameter_uncertainty`` option set it per instance).
    parameter_uncertainty: bool = True
    #: How the paths' period-to-period noise arises (one phrase, for the sidecar and captions).
    process_uncertainty: ClassVar[str] = NB_PROCESS
    #: Fitted attributes (names ending in ``_``) that ``models.io.save_model`` leaves out.
    unsaved_state: ClassVar[tuple[str, ...]] = ()
    #: What becomes of a region without a single count of a driver series the model uses
    #: (:func:`.driver_choice.regions_without_drivers`, one rule for every driver model):
    #: ``"left out"`` (``forecast`` and ``fit`` do not forecast it; a fit given one anyway warns
    #: and is marked unreliable) or ``"scenario-blind"`` (the model forecasts it without drivers
    #: and lists it in :meth:`scenario_blind_regions`: ``auto``).
    without_drivers: ClassVar[str] = "left out"

    panel_: Panel
    info_: FitInfo
    driver_model_: Any = None

    # -- fitting --------------------------------------------------------------------------
    def fit(self, observations: pd.DataFrame | Panel, regions: RegionTable | None = None, *,
            freq: str | None = None) -> ForecastModel:
        """Fit to observations (a clean observation frame plus its region table, or a Panel)."""
        panel = observations if isinstance(observations, Panel) else Panel.from_observations(
            observations, regions, freq=freq)
        panel.target()
        self.panel_ = panel
        self.info_ = FitInfo(model=self.name, config=self.get_config())
        # The driver forecaster is fitted by the engine (forecast.engine.fit / on first sampling);
        # a model may set its own in _fit (or after fit) and the engine then uses that one.
        self.driver_model_ = None
        self._fit(panel)
        self._note_negative_effects()
        if self.uses_drivers and self.drivers:
            missing = [s for s in self.drivers if s not in panel.series]
            if missing:
                raise DataError(Problem("<observations>", None, "series",
                                        f"model {self.name!r} needs driver series {missing}; use a model without drivers"))
        if self.without_drivers == "left out":
            for code, lacking in self.regions_without_drivers(panel).items():
                self.info_.reliable = False
                self.info_.warnings.append(
                    f"region {code} has {needs_phrase(lacking)}: the fit read its missing counts as 0 and a "
                    "scenario cannot change them; leave the region out (forecast and fit do) or use a driver-free model")
        return self

    def drivers_for(self, series: Mapping[str, Any]) -> tuple[str, ...]:
        """The driver series this model uses on data holding ``series`` (name -> counts, any shape),
        before it is fitted; a fitted model's own. Each model's ``_fit`` chooses its drivers
        through :meth:`_choose_drivers`, so the checks before a fit see what the fit will use.

        Raises
        ------
        DataError
            As the model's fit would: a requested series the data lack, or none for a model that needs one.
        """
        if hasattr(self, "panel_"):
            return tuple(self.drivers) if self.uses_drivers else ()
        return self._choose_drivers(series)

    def _choose_drivers(self, series: Mapping[str, Any]) -> tuple[str, ...]:
        """The drivers an unfitted model would choose (default: those it was given)."""
        return tuple(self.drivers) if self.uses_drivers else ()

    def regions_without_drivers(self, panel: Panel | None = None) -> dict[str, tuple[str, ...]]:
        """``region code -> driver series without a single count there``, for the drivers this
        model uses (fitted: on its own panel; else on ``panel``); :func:`.driver_choice.regions_without_drivers`."""
        panel = panel if panel is not None else self.panel_
        drivers = self.drivers_for(panel.series)
        codes = np.asarray(panel.regions.codes)
        counted = {s: codes[np.isfinite(np.asarray(panel.series[s], float)).any(axis=1)].tolist()
                   for s in drivers if s in panel.series}
        return regions_without_drivers(drivers, counted, codes)

    @abstractmethod
    def _fit(self, panel: Panel) -> None: ...

    @abstractmethod
    def _simulate(self, future: dict[str, np.ndarray] | None, horizon: int, n_draws: int,
                  rng: np.random.Generator) -> np.ndarray:
        """Draw ``(n_draws, n_regions, horizon)`` future new displacement given driver paths."""

    # Optional split of _simulate, for models whose random draws (parameters, noise) are costly:
    # the engine then draws them once per call and reuses them for every scenario. A model that
    # defines _draw must give _simulate(f, h, n, rng) == _paths(f, h, n, _draw(h, n, rng)).
    def _draw(self, horizon: int, n_draws: int, rng: np.random.Generator,
              baseline: dict[str, np.ndarray] | None = None) -> Any:
        """Every random draw of one call, independent of the scenario (default None: no split).

        ``baseline`` holds the call's baseline driver paths (series -> ``(draw, region, horizon)``)
        for a model whose response to a scenario is relative to the baseline; most ignore it.
        """
        return None

    def _paths(self, future: dict[str, np.ndarray] | None, horizon: int, n_draws: int, draws: Any) -> np.ndarray:
        """``(n_draws, n_regions, horizon)`` paths from driver paths and the draws of :meth:`_draw`."""
        raise NotImplementedError(f"{self.name} defines no _draw/_paths split")

    def get_config(self) -> dict[str, Any]:
        return {}

    def scenario_blind_regions(self) -> dict[str, str]:
        """``region code -> reason`` for regions whose forecast no scenario can move although the
        model answers scenarios elsewhere (a mark in every output; ``{}`` by default)."""
        return {}

    def driver_effects(self) -> dict[str, float]:
        """``series -> fitted effect`` of each driver series on expected displacement: the one
        number per series whose sign says which way a scenario changing that series moves this
        model's paths (above 0: more conflict, more displacement). What the number is, named by
        :attr:`effect_name` in the fit warning, is the model's: ``nb-dl`` the sum of its lag
        coefficients (a sustained change), ``dynamic`` its pooled ``beta`` (0 for an effect below 0
        with ``nonnegative_effects``, which its paths take as 0), ``sarimax`` the median over
        regions of its strike coefficient ``b``, the Bayesian models the posterior mean of ``beta``
        (the mean over the paths' posterior draws of the shift a change of the series gives the
        log hazard, per unit of adstocked ``log1p``). ``{}`` when the model uses no driver or
        does not say (the default; ``auto`` moves its members' paths by its response model)."""
        return {}

    #: What :meth:`driver_effects` gives, as the fit warning names it ("lag sum", "beta", ...).
    effect_name: ClassVar[str] = "effect"

    def negative_effects(self) -> list[str]:
        """Driver series whose fitted effect on expected displacement (:meth:`driver_effects`) is
        below 0: in this model's paths more of that conflict means less displacement, and a
        ceasefire more (confounding or noise in the data, not a mechanism). ``[]`` when there is
        none or the model does not say. The one check of every driver model: the fit warning
        (:meth:`_note_negative_effects`), the sidecar's ``negative_effects`` and its mark
        ``scenarios_reversed`` all read it; :class:`~.ensemble.AutoEnsemble` moves such a member's
        paths in scenarios by its response model instead."""
        return [s for s, v in self.driver_effects().items() if v < 0]

    def _note_negative_effects(self) -> None:
        """Add the fit warning for :meth:`negative_effects` to ``info_.warnings`` (once): called
        after every fit and every load (a fit saved before a model reported its effects warns too)."""
        effects = self.driver_effects()
        negative = {s: effects[s] for s in self.negative_effects()}
        if negative:
            w = negative_effect_warning(negative, self.effect_name)
            if w not in self.info_.warnings:
                self.info_.warnings.append(w)

    def uncertainty_included(self) -> list[str]:
        """What the spread of this model's paths includes, one phrase each (sidecar, captions).

        Built from the class facts :attr:`parameter_uncertainty`, :attr:`process_uncertainty`
        and :attr:`uses_drivers`.
        """
        out = [PARAMETERS] if self.parameter_uncertainty else []
        out.append(self.process_uncertainty)
        out.append(conflict_phrase(self.drivers) if self.uses_drivers else NOT_SCENARIO)
        return out

    # -- forecasting (thin wrappers: the engine does the work) ----------------------------
    def sample_paths(self, horizon: int, scenario: Any = None, n_draws: int = 1000,
                     seed: int = 0) -> xr.DataArray:
        """Sample paths ``draw x region x horizon`` of new displacement under one scenario
        (default: the baseline). See :func:`displacement_forecast.forecast.engine.sample`."""
        from ..forecast import engine  # the one allowed models -> engine edge (pyproject.toml)

        return engine.sample_one(self, horizon, scenario, n_draws=n_draws, seed=seed)

    def sample_scenarios(self, horizon: int, scenarios: list, n_draws: int = 1000,
                         seed: int = 0) -> dict[str, xr.DataArray]:
        """Sample paths for several scenarios with common random numbers.
        See :func:`displacement_forecast.forecast.engine.sample`."""
        from ..forecast import engine

        return engine.sample(self, horizon, scenarios, n_draws=n_draws, seed=seed)

    # -- reporting ------------------------------------------------------------------------
    def summary(self) -> str:
        self._check_fitted()
        p = self.panel_
        nr, nt = len(p.regions), len(p.dates)
        lines = [f"{self.name}: fitted on {nr} region{'s' * (nr != 1)} x {nt} period{'s' * (nt != 1)} "
                 f"({p.dates[0].date()} .. {p.origin.date()}, freq {p.freq})"]
        lines += diagnostic_lines(self.info_.diagnostics)
        if not self.info_.reliable:
            lines.append("  UNRELIABLE: " + "; ".join(self.info_.warnings))
        return "\n".join(lines)

    def _check_fitted(self) -> None:
        if not hasattr(self, "panel_"):
            raise RuntimeError(f"model {self.name!r} is not fitted; call fit() first")


__all__ = ["TARGET", "FitInfo", "ForecastModel", "Panel", "RegionTable", "ffill_time"]
