"""The model registry: registered models, numbered versions, tags, stages and aliases; MLflow 3 logged models.

Stores sit behind :class:`RegistryRepository` and :class:`LoggedModelRepository`; :class:`SqlRegistryStore`
and :class:`SqlLoggedModelStore` implement them on the metadata database. The SDK (``log_model``,
``load_model``, ``register_model``, ``set_registered_model_alias``) works over either transport.
"""

from __future__ import annotations

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
from keel.registry.fluent import (
    LoggedModelInfo,
    load_model,
    log_model,
    register_model,
    resolve_model_uri,
    set_registered_model_alias,
)
from keel.registry.logged_models import SqlLoggedModelStore, new_model_id
from keel.registry.repository import LoggedModelRepository, RegistryRepository
from keel.registry.sql import SqlRegistryStore

__all__ = [
    "LoggedModel",
    "LoggedModelInfo",
    "LoggedModelRepository",
    "LoggedModelStatus",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "RegistryRepository",
    "SqlLoggedModelStore",
    "SqlRegistryStore",
    "Stage",
    "check_alias",
    "check_model_name",
    "check_version",
    "load_model",
    "log_model",
    "new_model_id",
    "register_model",
    "resolve_model_uri",
    "set_registered_model_alias",
]
