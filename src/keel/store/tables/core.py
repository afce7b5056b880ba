"""The core of the metadata schema: the shared ``MetaData``, projects, experiments, runs and what they log, run
inputs and lineage edges."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
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
    "experiment_tags",
    "experiments",
    "latest_metrics",
    "lineage_edges",
    "metadata",
    "metric_batches",
    "metric_chunks",
    "params",
    "projects",
    "run_inputs",
    "runs",
    "tags",
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
