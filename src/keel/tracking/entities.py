"""Tracking entities: plain frozen dataclasses shared by the SQL store, the HTTP client and the server."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "Run",
    "RunInfo",
    "RunStatus",
    "ViewType",
]


class RunStatus:
    """Run states, as in MLflow."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = frozenset({RUNNING, SCHEDULED, FINISHED, FAILED, KILLED})
    TERMINAL = frozenset({FINISHED, FAILED, KILLED})


class LifecycleStage:
    """Soft-delete state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"


class ViewType:
    """Which lifecycle stages a search returns."""

    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric point: value at a step and a time (epoch ms)."""

    key: str
    value: float
    timestamp: int
    step: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; NaN and infinities travel as strings, as MLflow sends them."""
        return {"key": self.key, "value": encode_float(self.value), "timestamp": self.timestamp,
                "step": self.step}


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run consumed, identified by name and digest."""

    name: str
    digest: str
    source_type: str | None = None
    source: str | None = None
    schema: str | None = None
    profile: str | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's attributes."""

    run_id: str
    experiment_id: str
    run_name: str | None
    user_id: str | None
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str


@dataclass(frozen=True, slots=True)
class Run:
    """A run with its data: params, latest metric values, tags and inputs."""

    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[DatasetInput] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.info.run_id


def encode_float(value: float) -> float | str:
    """NaN/±Inf as MLflow's JSON strings; other floats unchanged."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: Any, field_name: str = "value") -> float:
    """Parse a number or one of "NaN", "Infinity", "-Infinity"."""
    from keel.errors import InvalidInput

    if isinstance(value, bool):
        raise InvalidInput(f"{field_name}: expected a number, got a boolean", field=field_name)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInput(f"{field_name}: expected a number, got {value!r}", field=field_name)
