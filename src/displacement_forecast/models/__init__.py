"""Models behind one interface (:class:`~.base.ForecastModel`), looked up by name.

=====================  =====================================================================
name                   what it is
=====================  =====================================================================
``last-value``         naive NB around the last count (baseline; ignores strikes)
``climatology``        bootstrap of recent periods (baseline; ignores strikes)
``historic-average``   NB around each region's mean of the whole history (baseline)
``nb-dl``              NB distributed-lag GLM on strikes and flights with at-risk offset
``sarimax``            per-region SARIMAX on log1p counts with a carried-over strike regressor
``arima``              the same without drivers: a pure time-series model (ignores scenarios)
``dynamic``            AR level on log rates, pooled across regions, lagged drivers if present
``auto``               default: mixture of whole paths of dynamic / historic-average /
                       last-value, weighted by a rolling-origin backtest on the user's data
``bayes-hierarchical`` PyMC hierarchical NB model with learned carry-over (partial pooling)
``bayes-dynamic``      PyMC/nutpie NB model with an AR(1) log-level, pooled region means, drivers
=====================  =====================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import ForecastModel, Panel

#: name -> "module:Class" (imported lazily so PyMC is loaded only when asked for)
REGISTRY: dict[str, str] = {
    "last-value": "baselines:LastValue",
    "climatology": "baselines:Climatology",
    "historic-average": "baselines:HistoricAverage",
    "nb-dl": "glm:NBDistributedLag",
    "sarimax": "sarimax:SarimaxLog",
    "arima": "sarimax:ArimaLog",
    "dynamic": "dynamic:DynamicLog",
    "auto": "ensemble:AutoEnsemble",
    "bayes-hierarchical": "bayes:BayesHierarchical",
    "bayes-dynamic": "bayes_dynamic:BayesDynamic",
    "statsforecast-autoets": "peers:StatsForecastAutoETS",
    "statsforecast-autoarima": "peers:StatsForecastAutoARIMA",
    "statsforecast-naive": "peers:StatsForecastNaive",
    "statsforecast-historicaverage": "peers:StatsForecastHistoricAverage",
}

#: Used when the user names no model. Chosen from backtests on the shipped data
#: (see docs/backtest-results.md); change it only with new backtest evidence.
DEFAULT_MODEL = "auto"


def get_model(name: str, **config: Any) -> ForecastModel:
    """Instantiate a model by registry name; unknown names list the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(REGISTRY)}")
    mod, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(f"displacement_forecast.models.{mod}"), cls)(**config)


__all__ = ["DEFAULT_MODEL", "REGISTRY", "ForecastModel", "Panel", "get_model"]
