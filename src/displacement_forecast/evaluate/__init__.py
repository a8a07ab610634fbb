"""Evaluation: rolling-origin backtests (:mod:`.backtest`) and proper scores from sample paths (:mod:`.scores`).

``displacement_forecast.evaluate.backtest`` is the module; its functions are re-exported here
under their own names (``run_backtest``, ``summarise``, ``coverage_summary``, ...).
"""

from __future__ import annotations

from .backtest import (
    BacktestResult,
    ModelSpec,
    coverage_summary,
    default_origins,
    parse_origins,
    run_backtest,
    summarise,
    winners,
)

__all__ = ["BacktestResult", "ModelSpec", "coverage_summary", "default_origins", "parse_origins",
           "run_backtest", "summarise", "winners"]
