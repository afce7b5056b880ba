"""Feature store: versioned definitions (entities, feature views, on-demand views) and materialization runs.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.Text, nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_definitions"),
        sa.UniqueConstraint("project", "kind", "name", "version",
                            name="uq_feature_definitions_project_kind_name_version"),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("view", sa.String(128), nullable=False),
        sa.Column("start_us", sa.BigInteger, nullable=True),
        sa.Column("end_us", sa.BigInteger, nullable=False),
        sa.Column("watermark_us", sa.BigInteger, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("source_version", sa.String(300), nullable=True),
        sa.Column("store", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_materializations"),
    )
    op.create_index("ix_feature_materializations_project_view", "feature_materializations", ["project", "view"])


def downgrade() -> None:
    op.drop_index("ix_feature_materializations_project_view", table_name="feature_materializations")
    op.drop_table("feature_materializations")
    op.drop_table("feature_definitions")
