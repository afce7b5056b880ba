"""The model registry: registered models, numbered versions, tags, stages and aliases; MLflow 3 logged models.

Stores sit behind :class:`RegistryRepository` and :class:`LoggedModelRepository`; :class:`SqlRegistryStore`
and :class:`SqlLoggedModelStore` implement them on the metadata database. The SDK (``log_model``,
``load_model``, ``register_model``, ``set_registered_model_alias``) works over either transport.
"""

from __future__ import annotations

from typing import Any

from keel.registry.entities import (
    LoggedModel,
    LoggedModelStatus,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Stage,
    check_alias,
    check_model_name,
    check_version,
)
from keel.registry.repository import LoggedModelRepository, RegistryRepository

# Loaded on first use: the SQL stores (SQLAlchemy) and the SDK functions (pandas, frameworks), so that loading a
# model from a directory imports neither a database layer nor unused frameworks.
_LAZY = {"SqlRegistryStore": "sql", "SqlLoggedModelStore": "logged_models", "new_model_id": "logged_models",
         "LoggedModelInfo": "fluent", "load_model": "fluent", "log_model": "fluent", "register_model": "fluent",
         "resolve_model_uri": "fluent", "set_registered_model_alias": "fluent", "export_onnx": "onnx_export",
         "load_onnx_flavor": "onnx_export", "OnnxExportResult": "onnx_export", "build_bundle": "bundle",
         "BundleInfo": "bundle"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.registry' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"keel.registry.{module}"), name)

__all__ = [
    "BundleInfo",
    "LoggedModel",
    "LoggedModelInfo",
    "LoggedModelRepository",
    "OnnxExportResult",
    "LoggedModelStatus",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "RegistryRepository",
    "SqlLoggedModelStore",
    "SqlRegistryStore",
    "Stage",
    "build_bundle",
    "check_alias",
    "check_model_name",
    "check_version",
    "export_onnx",
    "load_model",
    "load_onnx_flavor",
    "log_model",
    "new_model_id",
    "register_model",
    "resolve_model_uri",
    "set_registered_model_alias",
]
