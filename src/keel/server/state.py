"""What the routers share: the tracking and registry repositories and the artifact store of the running server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from keel.registry.repository import LoggedModelRepository, RegistryRepository
from keel.serving.deployment import DeploymentRepository
from keel.tracking.repository import TrackingRepository

__all__ = ["ServerState", "blocking", "state"]

T = TypeVar("T")


@dataclass
class ServerState:
    """Backends of one server process."""

    tracking: TrackingRepository
    artifacts: Any
    registry: RegistryRepository
    logged_models: LoggedModelRepository
    deployments: DeploymentRepository


def state(request: Request) -> ServerState:
    """The server state attached to the app."""
    return request.app.state.keel


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)
