"""Tables of the lifecycle around models: datasets and remotes, feature-store definitions, pipelines and
schedules, monitors and alerts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from keel.store.tables.core import metadata

__all__ = [
    "alert_rules",
    "alerts",
    "dataset_versions",
    "datasets",
    "feature_definitions",
    "feature_materializations",
    "monitor_results",
    "monitors",
    "pipeline_runs",
    "remotes",
    "scheduler_leases",
    "schedules",
    "step_cache",
    "step_runs",
    "trigger_events",
    "triggers",
]

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
