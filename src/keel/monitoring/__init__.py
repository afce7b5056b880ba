"""Monitoring: what served models did, and whether it still looks right.

- :mod:`keel.monitoring.prediction_rows` — pure: one log row per predicted row, JSON encoding, column expansion.
- :mod:`keel.monitoring.prediction_log` — ``PredictionLog``: buffered, non-blocking writer of Parquet partitions.
- :mod:`keel.monitoring.predictions` — ``predictions()``: read the log back as a DataFrame, filters pushed down.
"""

from __future__ import annotations

from keel.monitoring.prediction_log import PredictionLog
from keel.monitoring.predictions import predictions

__all__ = ["PredictionLog", "predictions"]
