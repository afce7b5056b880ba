"""Pipelines: runs of pipelines and their steps, the step cache, schedules with a scheduler lease, and triggers.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("pipeline", sa.String(256), nullable=False),
        sa.Column("ref", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("tracking_run_id", sa.String(64), nullable=True),
        sa.Column("resumed_from", sa.String(32), nullable=True),
        sa.Column("trigger", sa.String(256), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
    )
    op.create_index("ix_pipeline_runs_project_pipeline", "pipeline_runs", ["project", "pipeline"])
    op.create_table(
        "step_runs",
        sa.Column("pipeline_run_id", sa.String(32), nullable=False),
        sa.Column("node", sa.String(256), nullable=False),
        sa.Column("step", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("cache_hit", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("log_digest", sa.String(64), nullable=True),
        sa.Column("tracking_run_id", sa.String(64), nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("pipeline_run_id", "node", name="pk_step_runs"),
        sa.ForeignKeyConstraint(["pipeline_run_id"], ["pipeline_runs.id"],
                                name="fk_step_runs_pipeline_run_id_pipeline_runs", ondelete="CASCADE"),
    )
    op.create_table(
        "step_cache",
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("step", sa.String(256), nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("pipeline_run_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("project", "cache_key", name="pk_step_cache"),
    )
    op.create_table(
        "schedules",
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("pipeline_ref", sa.Text, nullable=False),
        sa.Column("cron", sa.String(128), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("enabled", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_fire_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("project", "name", name="pk_schedules"),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("project", name="pk_scheduler_leases"),
    )
    op.create_table(
        "triggers",
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("event", sa.String(256), nullable=False),
        sa.Column("pipeline_ref", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("project", "name", name="pk_triggers"),
    )
    op.create_table(
        "trigger_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("event", sa.String(256), nullable=False),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("processed_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trigger_events"),
    )
    op.create_index("ix_trigger_events_project_processed_at", "trigger_events", ["project", "processed_at"])


def downgrade() -> None:
    op.drop_index("ix_trigger_events_project_processed_at", table_name="trigger_events")
    op.drop_table("trigger_events")
    op.drop_table("triggers")
    op.drop_table("scheduler_leases")
    op.drop_table("schedules")
    op.drop_table("step_cache")
    op.drop_table("step_runs")
    op.drop_index("ix_pipeline_runs_project_pipeline", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
