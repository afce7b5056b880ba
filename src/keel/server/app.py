"""The ``keel server`` application: Keel's REST API, the MLflow-compatible API and the artifact proxy."""

from __future__ import annotations

from fastapi import FastAPI

from keel import __version__
from keel.asgi import OrjsonResponse, install_error_handlers
from keel.config import Settings, current_project, get_settings
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
from keel.server.state import ProjectScope, ProjectStates, ServerState
from keel.ui import install_ui

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on the local store and artifact root named by ``settings``."""
    from sqlalchemy import select

    from keel.artifacts import ArtifactRepository
    from keel.governance.access import access_control
    from keel.governance.lineage_store import SqlLineage
    from keel.monitoring.monitor_store import SqlMonitorStore
    from keel.pipelines.schedules_sql import SqlScheduleStore
    from keel.registry import SqlLoggedModelStore, SqlRegistryStore
    from keel.server import audit, lineage, middleware
    from keel.serving.deployment_sql import SqlDeploymentStore
    from keel.store import open_database
    from keel.store.tables import projects
    from keel.tracking.sql import SqlTrackingStore

    settings = settings or get_settings()
    db = open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    app = FastAPI(title="Keel", version=__version__, default_response_class=OrjsonResponse,
                  description="Keel's REST API (/api/v1) and the MLflow-compatible tracking API (/api/2.0/mlflow).")
    artifact_store = ArtifactRepository.from_url(settings.resolved_artifact_root)

    def project_state(project: str) -> ServerState:
        return ServerState(SqlTrackingStore(db, project), artifact_store, SqlRegistryStore(db, project),
                           SqlLoggedModelStore(db, project), SqlDeploymentStore(db, project),
                           triggers=SqlScheduleStore(db, project), lineage=SqlLineage(db, project))

    def project_exists(project: str) -> bool:
        with db.read() as conn:
            return conn.execute(select(projects.c.name).where(projects.c.name == project)).first() is not None

    # One server answers for every project: each request's X-Keel-Project picks the stores (ProjectScope).
    states = ProjectStates(settings.project, project_state, project_exists)
    app.state.keel_states, app.state.keel = states, states.get(settings.project)
    app.state.keel_db, app.state.keel_project = db, settings.project
    app.state.keel_access = access_control(db, settings)
    install_error_handlers(app)
    for module in (experiments, runs, registry, deployments, features, mlflow_tracking, mlflow_registry,
                   mlflow_models, artifacts, triggers, monitoring, auth):
        app.include_router(module.router)
    app.include_router(mlflow_tracking.version_router)
    metrics.install_metrics(app, lambda: SqlMonitorStore(db, current_project()))
    install_ui(app)
    audit.install_audit(app, db)
    lineage.install_lineage(app)
    app.add_middleware(ProjectScope, states=states)
    middleware.install_middleware(app, settings)  # last: the outermost layer
    return app
