"""Tables of models: MLflow 3 logged models, the model registry (registered models, versions, tags, aliases) and
deployment revisions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from keel.store.tables.core import metadata

__all__ = [
    "deployment_revisions",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "model_version_tags",
    "model_versions",
    "registered_model_aliases",
    "registered_model_tags",
    "registered_models",
]

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
