"""displacement-forecast: forecast conflict-driven displacement by region and week, with scenarios."""

__version__ = "0.1.0"
