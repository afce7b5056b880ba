"""Registry entities (registered models, versions, logged models) and the rules their names follow.

Plain frozen dataclasses shared by the SQL stores and the server; versions are positive integers, stages and
statuses are MLflow's strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidInput

__all__ = [
    "LoggedModel",
    "LoggedModelStatus",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "Stage",
    "check_alias",
    "check_model_name",
    "check_version",
]

MAX_MODEL_NAME = 256
_ALIAS = re.compile(r"^[A-Za-z][\w\-]*$")
_VERSION_ALIAS = re.compile(r"^v\d+$", re.IGNORECASE)


class Stage:
    """Model version stages (MLflow's classic workflow; aliases are the modern one)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"
    ALL = (NONE, STAGING, PRODUCTION, ARCHIVED)

    @classmethod
    def canonical(cls, stage: str) -> str:
        """The stage spelled as MLflow does, whatever the case of the input."""
        for known in cls.ALL:
            if isinstance(stage, str) and stage.lower() == known.lower():
                return known
        raise InvalidInput(f"stage: {stage!r} is not one of {', '.join(cls.ALL)}", field="stage")


class ModelVersionStatus:
    """Registration status of a version; Keel registers synchronously, so versions are READY at once."""

    READY = "READY"


class LoggedModelStatus:
    """Upload state of a logged model (MLflow's enum names)."""

    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    FAILED = "LOGGED_MODEL_UPLOAD_FAILED"
    ALL = (PENDING, READY, FAILED)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One numbered version of a registered model."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    current_stage: str = Stage.NONE
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    description: str | None = None
    user_id: str | None = None
    run_link: str | None = None
    signature: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model with its tags, aliases (alias → version) and latest version per stage."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """An MLflow 3 logged model: artifacts under ``<exp>/models/<model_id>/artifacts``, params and tags."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = LoggedModelStatus.PENDING
    status_message: str | None = None
    source_run_id: str | None = None
    model_type: str | None = None
    lifecycle_stage: str = "active"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def check_model_name(name: Any, field_name: str = "name") -> str:
    """A registered model name: a non-empty string of at most 256 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field_name}: a registered model needs a non-empty name", field=field_name)
    if len(name) > MAX_MODEL_NAME:
        raise InvalidInput(f"{field_name}: at most {MAX_MODEL_NAME} characters, got {len(name)}", field=field_name)
    return name


def check_version(version: Any) -> int:
    """A model version number: a positive integer (given as int or decimal string)."""
    if isinstance(version, bool):
        raise InvalidInput(f"version: expected a positive integer, got {version!r}", field="version")
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidInput(f"version: expected a positive integer, got {version!r}", field="version") from None
    if number < 1 or number >= 2**31:
        raise InvalidInput(f"version: expected a positive integer, got {version!r}", field="version")
    return number


def check_alias(alias: Any) -> str:
    """An alias: starts with a letter, then letters, digits, ``_`` or ``-``; not ``latest`` nor ``v<digits>``."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or len(alias) > 255:
        raise InvalidInput(f"alias: {alias!r} is not a valid alias; start with a letter and use letters, digits, "
                           "'_' or '-' (at most 255 characters)", field="alias")
    if alias.lower() == "latest" or _VERSION_ALIAS.match(alias):
        raise InvalidInput(f"alias: {alias!r} is reserved ('latest' and 'v<number>' name versions); pick another",
                           field="alias")
    return alias
