"""Model serving: an ASGI server speaking Open Inference Protocol v2 and MLflow's scoring protocol."""

from __future__ import annotations

from keel.serving.app import PredictionFailed, ServedModel, create_serving_app

__all__ = ["PredictionFailed", "ServedModel", "create_serving_app"]
