"""Which backend the SDK talks to: the local store, or a ``keel server`` when the tracking URI is http(s)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keel.config import Settings, current_project, get_settings, reset_settings
from keel.tracking.repository import TrackingRepository

__all__ = ["Backend", "get_backend", "reset_backend"]


@dataclass
class Backend:
    """The tracking repository and artifact store the SDK uses (the artifact store is built on first use)."""

    tracking: TrackingRepository
    settings: Settings
    make_artifacts: Callable[[], Any]
    registry: Any = None
    _artifacts: Any = None
    experiment_id: str | None = None
    make_deployments: Callable[[], Any] | None = None
    _deployments: Any = None

    @property
    def artifacts(self) -> Any:
        """The artifact store (local content-addressed store, or the server's artifact routes)."""
        if self._artifacts is None:
            self._artifacts = self.make_artifacts()
        return self._artifacts

    @property
    def deployments(self) -> Any:
        """The deployment store (SQL or the server's routes), built on first use: it loads the serving package."""
        if self._deployments is None and self.make_deployments is not None:
            self._deployments = self.make_deployments()
        return self._deployments


_lock = threading.Lock()
_backend: Backend | None = None
_scoped: dict[str, Backend] = {}  # project -> backend, for code inside keel.config.project_scope (server requests)


def get_backend() -> Backend:
    """The process-wide backend, built from settings on first use; inside :func:`keel.config.project_scope` of
    another project, that project's backend (its ``settings.project`` names the project)."""
    global _backend
    settings = get_settings()
    project = current_project()
    with _lock:
        if project != settings.project:
            scoped = _scoped.get(project)
            if scoped is None:
                scoped = _scoped[project] = _build(settings.model_copy(update={"project": project}))
            return scoped
        if _backend is None:
            _backend = _build(settings)
        return _backend


def reset_backend() -> None:
    """Forget the backend and reread settings (after changing ``KEEL_*`` in the environment)."""
    global _backend
    with _lock:
        _backend = None
        _scoped.clear()
    reset_settings()


def _build(settings: Settings) -> Backend:
    if settings.is_remote:
        from keel.client import HttpArtifactStore, HttpRegistryStore, HttpSession, HttpTrackingStore

        session = HttpSession(settings.tracking_uri or "", token=settings.token, timeout_s=settings.http_timeout_s,
                              retry_for_s=settings.http_retry_for_s)
        return Backend(HttpTrackingStore(session), settings, lambda: HttpArtifactStore(session),
                       HttpRegistryStore(session), make_deployments=lambda: _http_deployments(session))
    from keel.store import open_database
    from keel.tracking.sql import SqlTrackingStore

    db = open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    from keel.registry.sql import SqlRegistryStore

    return Backend(SqlTrackingStore(db, settings.project), settings,
                   lambda: _local_artifacts(settings.resolved_artifact_root), SqlRegistryStore(db, settings.project),
                   make_deployments=lambda: _sql_deployments(db, settings.project))


def _sql_deployments(db: Any, project: str) -> Any:
    from keel.serving.deployment_sql import SqlDeploymentStore

    return SqlDeploymentStore(db, project)


def _http_deployments(session: Any) -> Any:
    from keel.client.deployments import HttpDeploymentStore

    return HttpDeploymentStore(session)


def _local_artifacts(root: str) -> Any:
    from keel.artifacts import ArtifactRepository

    return ArtifactRepository.from_url(root)
