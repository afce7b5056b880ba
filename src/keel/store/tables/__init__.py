"""The metadata schema as SQLAlchemy Core tables, one module per concept (core, models, lifecycle) on one ``MetaData``.

Every object carries a ``project`` (workspace, ``default`` unless set) so access control can be scoped by project
later without reshaping the schema. Lineage edges live in one table from day one. Times are epoch milliseconds, as
in MLflow. Alembic migrations under ``migrations/versions`` create exactly this schema.
"""

from __future__ import annotations

from keel.store.tables.core import (
    experiment_tags,
    experiments,
    latest_metrics,
    lineage_edges,
    metadata,
    metric_batches,
    metric_chunks,
    params,
    projects,
    run_inputs,
    runs,
    tags,
)
from keel.store.tables.lifecycle import (
    alert_rules,
    alerts,
    dataset_versions,
    datasets,
    feature_definitions,
    feature_materializations,
    monitor_results,
    monitors,
    pipeline_runs,
    remotes,
    scheduler_leases,
    schedules,
    step_cache,
    step_runs,
    trigger_events,
    triggers,
)
from keel.store.tables.models import (
    deployment_revisions,
    logged_model_params,
    logged_model_tags,
    logged_models,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

__all__ = [
    "alert_rules",
    "alerts",
    "dataset_versions",
    "datasets",
    "deployment_revisions",
    "experiment_tags",
    "experiments",
    "feature_definitions",
    "feature_materializations",
    "latest_metrics",
    "lineage_edges",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "metadata",
    "metric_batches",
    "metric_chunks",
    "model_version_tags",
    "model_versions",
    "monitor_results",
    "monitors",
    "params",
    "pipeline_runs",
    "projects",
    "registered_model_aliases",
    "registered_model_tags",
    "registered_models",
    "remotes",
    "run_inputs",
    "runs",
    "scheduler_leases",
    "schedules",
    "step_cache",
    "step_runs",
    "tags",
    "trigger_events",
    "triggers",
]
