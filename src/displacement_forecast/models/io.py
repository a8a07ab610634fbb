"""Loading saved fits: ``load_model(directory)`` for ``forecast --model-dir``.

A saved fit is a directory with ``model.json`` (model id, format version, config, region table,
panel, diagnostics, data vintage) and the model's own files (``posterior.nc`` for
``bayes-hierarchical``). The model id in ``model.json`` picks the loader; an unknown id or an
unsupported format version raises :class:`~displacement_forecast.data.schema.DataError`.
"""

from __future__ import annotations

from pathlib import Path

from .base import ForecastModel


def load_model(directory: str | Path) -> ForecastModel:
    """Load a fitted model saved with ``model.save(directory)`` (no refitting)."""
    from .bayes import load_model as _load

    return _load(directory)


__all__ = ["load_model"]
