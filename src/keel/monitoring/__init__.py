"""Monitoring: what served models did, and whether it still looks right.

- :mod:`keel.monitoring.prediction_rows` — pure: one log row per predicted row, JSON encoding, column expansion.
- :mod:`keel.monitoring.prediction_log` — ``PredictionLog``: buffered, non-blocking writer of Parquet partitions.
- :mod:`keel.monitoring.predictions` — ``predictions()``: read the log back as a DataFrame, filters pushed down.
- :mod:`keel.monitoring.drift` — pure: per-column and dataset drift tests (statistics in ``drift_stats``), windows.
- :mod:`keel.monitoring.quality` — pure: nulls, out-of-schema values and unseen categories in production data.
"""

from __future__ import annotations

from keel.monitoring.drift import (
    STATTESTS,
    ColumnDrift,
    DriftReport,
    column_drift,
    dataset_drift,
    drift_by_window,
    prediction_drift,
)
from keel.monitoring.prediction_log import PredictionLog
from keel.monitoring.predictions import predictions
from keel.monitoring.quality import ColumnQuality, QualityReport, data_quality, quality_by_window

__all__ = [
    "STATTESTS",
    "ColumnDrift",
    "ColumnQuality",
    "DriftReport",
    "PredictionLog",
    "QualityReport",
    "column_drift",
    "data_quality",
    "dataset_drift",
    "drift_by_window",
    "prediction_drift",
    "predictions",
    "quality_by_window",
]
