"""Model serving: an ASGI server speaking Open Inference Protocol v2 and MLflow's scoring protocol, with adaptive
micro-batching, hot swap, deployments routed by weight (A/B, canary) or sticky key, shadows, and batch scoring.

Names load on first use, so that reading a deployment (``keel deploy``) does not import the web stack or pandas.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"ServeOptions": "app", "create_serving_app": "app", "BatchConfig": "batching",
         "PredictionFailed": "model", "ServedModel": "model", "ServingRuntime": "runtime",
         "Deployment": "deployment", "Route": "deployment", "DeploymentRepository": "deployment",
         "batch_predict": "batch", "BatchResult": "batch"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.serving' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"keel.serving.{module}"), name)


__all__ = ["BatchConfig", "BatchResult", "Deployment", "DeploymentRepository", "PredictionFailed", "Route",
           "ServeOptions", "ServedModel", "ServingRuntime", "batch_predict", "create_serving_app"]
