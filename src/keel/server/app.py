"""The ``keel server`` application: Keel's REST API, the MLflow-compatible API and the artifact proxy."""

from __future__ import annotations

from fastapi import FastAPI

from keel import __version__
from keel.asgi import OrjsonResponse, install_error_handlers
from keel.config import Settings, get_settings
from keel.server import (
    artifacts,
    auth,
    deployments,
    experiments,
    features,
    metrics,
    mlflow_models,
    mlflow_registry,
    mlflow_tracking,
    monitoring,
    registry,
    runs,
    triggers,
)
from keel.server.state import ServerState
from keel.ui import install_ui

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on the local store and artifact root named by ``settings``."""
    from keel.artifacts import ArtifactRepository
    from keel.governance.access import access_control
    from keel.monitoring.monitor_store import SqlMonitorStore
    from keel.pipelines.schedules_sql import SqlScheduleStore
    from keel.registry import SqlLoggedModelStore, SqlRegistryStore
    from keel.server import audit, lineage, middleware
    from keel.serving.deployment_sql import SqlDeploymentStore
    from keel.store import open_database
    from keel.tracking.sql import SqlTrackingStore

    settings = settings or get_settings()
    db = open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    app = FastAPI(title="Keel", version=__version__, default_response_class=OrjsonResponse,
                  description="Keel's REST API (/api/v1) and the MLflow-compatible tracking API (/api/2.0/mlflow).")
    app.state.keel = ServerState(SqlTrackingStore(db, settings.project),
                                 ArtifactRepository.from_url(settings.resolved_artifact_root),
                                 SqlRegistryStore(db, settings.project), SqlLoggedModelStore(db, settings.project),
                                 SqlDeploymentStore(db, settings.project))
    app.state.keel_triggers = SqlScheduleStore(db, settings.project)
    app.state.keel_db, app.state.keel_project = db, settings.project
    app.state.keel_access = access_control(db, settings)
    install_error_handlers(app)
    for module in (experiments, runs, registry, deployments, features, mlflow_tracking, mlflow_registry,
                   mlflow_models, artifacts, triggers, monitoring, auth):
        app.include_router(module.router)
    app.include_router(mlflow_tracking.version_router)
    metrics.install_metrics(app, SqlMonitorStore(db, settings.project))
    install_ui(app)
    audit.install_audit(app, db)
    lineage.install_lineage(app, db, settings.project)
    middleware.install_middleware(app, settings)  # last: the outermost layer
    return app
