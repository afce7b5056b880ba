"""Model registry and MLflow 3 logged models: registered models, versions, tags, aliases; logged models.

Revision ID: 0003
Revises: 0002
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = {"ondelete": "CASCADE", "onupdate": "CASCADE"}


def _logged_models() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("source_run_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("artifact_location", sa.Text, nullable=False),
        sa.Column("model_type", sa.String(256), nullable=True),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
        sa.PrimaryKeyConstraint("model_id", name="pk_logged_models"),
    )
    op.create_index("ix_logged_models_experiment_id_creation_timestamp", "logged_models",
                    ["experiment_id", "creation_timestamp"])
    for table, nullable in (("logged_model_params", False), ("logged_model_tags", True)):
        op.create_table(
            table,
            sa.Column("model_id", sa.String(64), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Text, nullable=nullable),
            sa.ForeignKeyConstraint(["model_id"], ["logged_models.model_id"], ondelete="CASCADE",
                                    name=f"fk_{table}_model_id_logged_models"),
            sa.PrimaryKeyConstraint("model_id", "key", name=f"pk_{table}"),
        )


def _registered_models() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_registered_models"),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.ForeignKeyConstraint(["name"], ["registered_models.name"],
                                name="fk_registered_model_tags_name_registered_models", **_CASCADE),
        sa.PrimaryKeyConstraint("name", "key", name="pk_registered_model_tags"),
    )
    op.create_table(
        "registered_model_aliases",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("alias", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["name"], ["registered_models.name"],
                                name="fk_registered_model_aliases_name_registered_models", **_CASCADE),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_registered_model_aliases"),
    )


def _model_versions() -> None:
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("run_link", sa.Text, nullable=True),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("current_stage", sa.String(20), nullable=False, server_default="None"),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("deleted_timestamp", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(["name"], ["registered_models.name"], name="fk_model_versions_name_registered_models",
                                **_CASCADE),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_model_id", "model_versions", ["model_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"],
                                name="fk_model_version_tags_name_model_versions", **_CASCADE),
        sa.PrimaryKeyConstraint("name", "version", "key", name="pk_model_version_tags"),
    )


def upgrade() -> None:
    _logged_models()
    _registered_models()
    _model_versions()


def downgrade() -> None:
    for table in ("model_version_tags", "registered_model_aliases", "model_versions", "registered_model_tags",
                  "registered_models", "logged_model_tags", "logged_model_params", "logged_models"):
        op.drop_table(table)
