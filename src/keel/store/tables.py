"""The metadata schema as SQLAlchemy Core tables.

Every object carries a ``project`` (workspace, ``default`` unless set) so access control can be scoped by project
later without reshaping the schema. Lineage edges live in one table from day one. Times are epoch milliseconds, as
in MLflow. Alembic migrations under ``migrations/versions`` create exactly this schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
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

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

projects = Table(
    "projects",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=True),
    Column("lifecycle_stage", String(32), nullable=False, server_default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    UniqueConstraint("name"),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=True),
    PrimaryKeyConstraint("experiment_id", "key"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(250), nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("deleted_time", BigInteger, nullable=True),
    Column("artifact_uri", Text, nullable=True),
    Column("lifecycle_stage", String(20), nullable=False, server_default="active"),
    Column("parent_run_id", String(64), nullable=True),
    Index(None, "experiment_id", "lifecycle_stage", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=True),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key"),
)

# Every logged point, stored columnar: one row per (run, key, batch) holding packed arrays of steps,
# timestamps and values (see keel.tracking.points.pack_chunk). Writing 20,000 points costs one row, not 20,000.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("key", String(250), nullable=False),
    Column("count", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Index(None, "run_id", "key", "id"),
)

# The latest point per (run, key): by step, then timestamp. What search filters and orders on.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source_type", String(64), nullable=True),
    Column("source", Text, nullable=True),
    Column("schema", Text, nullable=True),
    Column("profile", Text, nullable=True),
    Column("context", String(250), nullable=True),
    PrimaryKeyConstraint("run_id", "name", "digest"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("src_kind", String(32), nullable=False),
    Column("src_id", String(256), nullable=False),
    Column("relation", String(64), nullable=False),
    Column("dst_kind", String(32), nullable=False),
    Column("dst_id", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("src_kind", "src_id", "relation", "dst_kind", "dst_id"),
    Index(None, "dst_kind", "dst_id"),
)

# Added by migration 0002: ids of metric batches already applied, so a retried request never doubles points.
metric_batches = Table(
    "metric_batches",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("points", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "batch_id"),
)

# Added by migration 0003: MLflow 3 logged models (a model's own artifacts, params and tags, apart from runs).
logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(500), nullable=False),
    Column("source_run_id", String(64), nullable=True),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("artifact_location", Text, nullable=False),
    Column("model_type", String(256), nullable=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, server_default="active"),
    Index(None, "experiment_id", "creation_timestamp"),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(64), ForeignKey("logged_models.model_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(64), ForeignKey("logged_models.model_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=True),
    PrimaryKeyConstraint("model_id", "key"),
)

# The model registry: registered models, their numbered versions, tags and aliases. Renames cascade.
registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("description", Text, nullable=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
           nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=True),
    PrimaryKeyConstraint("name", "key"),
)

# Deleted versions keep their row (deleted_timestamp set) so a version number is never handed out twice.
model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
           nullable=False),
    Column("version", Integer, nullable=False),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("source", Text, nullable=True),
    Column("run_id", String(64), nullable=True),
    Column("run_link", Text, nullable=True),
    Column("model_id", String(64), nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("current_stage", String(20), nullable=False, server_default="None"),
    Column("signature", Text, nullable=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("deleted_timestamp", BigInteger, nullable=True),
    PrimaryKeyConstraint("name", "version"),
    Index(None, "run_id"),
    Index(None, "model_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=True),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"],
                         ondelete="CASCADE", onupdate="CASCADE"),
    PrimaryKeyConstraint("name", "version", "key"),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
           nullable=False),
    Column("alias", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("name", "alias"),
)

# Added by migration 0004: deployments, one row per revision; the key (project, name, revision) is what keeps two
# concurrent changes from writing the same revision. A "delete" row ends a deployment; a later create starts anew.
deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "name", "revision"),
)

# Added by migration 0005: datasets and their numbered versions. A version's files are listed in a JSON manifest
# stored in the content-addressed store under ``manifest_digest``; (project, name, number) keeps two concurrent
# adds from taking the same number.
datasets = Table(
    "datasets",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(256), nullable=False),
    Column("number", Integer, nullable=False),
    Column("parent_id", String(32), nullable=True),
    Column("message", Text, nullable=False, server_default=""),
    Column("author", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("source", Text, nullable=True),
    Column("manifest_digest", String(64), nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=True),
    Column("schema", Text, nullable=True),
    Column("stats", Text, nullable=True),
    ForeignKeyConstraint(["project", "name"], ["datasets.project", "datasets.name"], ondelete="CASCADE"),
    UniqueConstraint("project", "name", "number"),
)

# Added by migration 0006: remotes, named fsspec URLs that dataset versions are pushed to and pulled from. Options
# are fsspec storage options as JSON (an endpoint, a region); credentials come from the environment, never from here.
remotes = Table(
    "remotes",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("options", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "name"),
)

# Added by migration 0007: feature-store definitions, one row per applied version of an entity / feature view /
# on-demand view (``spec`` JSON; NULL marks a removal), and one row per materialization of a view into the online
# store (its time window and the newest source timestamp written, the watermark for incremental runs).
feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("kind", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("spec", Text, nullable=True),
    Column("digest", String(64), nullable=False),
    Column("author", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("project", "kind", "name", "version"),
)

feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("view", String(128), nullable=False),
    Column("start_us", BigInteger, nullable=True),
    Column("end_us", BigInteger, nullable=False),
    Column("watermark_us", BigInteger, nullable=True),
    Column("rows", BigInteger, nullable=False),
    Column("source_version", String(300), nullable=True),
    Column("store", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "project", "view"),
)

# Added by migration 0008: pipeline runs and their step runs (node = the step's place in the DAG, e.g. ``train`` or
# ``noop-7``), the step cache (outputs by cache key), cron schedules with one scheduler lease per project, triggers
# (an event name starting a pipeline) and the events waiting for a scheduler to claim them.
pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("pipeline", String(256), nullable=False),
    Column("ref", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("executor", String(32), nullable=False),
    Column("tracking_run_id", String(64), nullable=True),
    Column("resumed_from", String(32), nullable=True),
    Column("trigger", String(256), nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Index(None, "project", "pipeline"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("pipeline_run_id", String(32), ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
    Column("node", String(256), nullable=False),
    Column("step", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("cache_hit", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("outputs", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("log_digest", String(64), nullable=True),
    Column("tracking_run_id", String(64), nullable=True),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("pipeline_run_id", "node"),
)

step_cache = Table(
    "step_cache",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("cache_key", String(64), nullable=False),
    Column("step", String(256), nullable=False),
    Column("outputs", Text, nullable=False),
    Column("pipeline_run_id", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "cache_key"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(128), nullable=False),
    Column("pipeline_ref", Text, nullable=False),
    Column("cron", String(128), nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("enabled", Integer, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
    Column("last_fire_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("project", "name"),
)

scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("project", String(128), nullable=False),
    Column("holder", String(128), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project"),
)

triggers = Table(
    "triggers",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(128), nullable=False),
    Column("event", String(256), nullable=False),
    Column("pipeline_ref", Text, nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "name"),
)

trigger_events = Table(
    "trigger_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("event", String(256), nullable=False),
    Column("payload", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("claimed_by", String(128), nullable=True),
    Column("processed_at", BigInteger, nullable=True),
    Index(None, "project", "processed_at"),
)

# Added by migration 0009: monitors (a deployment's prediction log compared window by window with a reference
# dataset version; ``config`` holds features, stattests, thresholds, the task and the label key as JSON), one result
# row per metric (and column) per window, alert rules (``expression`` like ``share_drifted_features > 0.3``, firing
# after ``for_windows`` consecutive windows) and the alerts they raised.
monitors = Table(
    "monitors",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(128), nullable=False),
    Column("deployment", String(256), nullable=False),
    Column("reference", String(300), nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("config", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("last_window_end", BigInteger, nullable=True),
    PrimaryKeyConstraint("project", "name"),
)

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("monitor", String(128), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("column", String(256), nullable=True),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("flagged", Integer, nullable=False, server_default="0"),
    Column("detail", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "project", "monitor", "window_end"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("project", String(128), nullable=False, server_default="default"),
    Column("name", String(128), nullable=False),
    Column("monitor", String(128), nullable=False),
    Column("expression", String(256), nullable=False),
    Column("for_windows", Integer, nullable=False, server_default="1"),
    Column("channels", Text, nullable=False, server_default="[]"),
    Column("state", String(16), nullable=False, server_default="ok"),
    Column("streak", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "name"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, server_default="default"),
    Column("rule", String(128), nullable=False),
    Column("monitor", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("fired_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger, nullable=True),
    Column("acked_by", String(256), nullable=True),
    Column("acked_at", BigInteger, nullable=True),
    Column("deliveries", Text, nullable=False, server_default="[]"),
    Index(None, "project", "state"),
)
