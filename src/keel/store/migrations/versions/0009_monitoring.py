"""Monitoring: monitors over a deployment's prediction log, their results per window, alert rules and alerts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("deployment", sa.String(256), nullable=False),
        sa.Column("reference", sa.String(300), nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_window_end", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("project", "name", name="pk_monitors"),
    )
    op.create_table(
        "monitor_results",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("monitor", sa.String(128), nullable=False),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("column", sa.String(256), nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("flagged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_results"),
    )
    op.create_index("ix_monitor_results_project_monitor_window_end", "monitor_results",
                    ["project", "monitor", "window_end"])
    op.create_table(
        "alert_rules",
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("monitor", sa.String(128), nullable=False),
        sa.Column("expression", sa.String(256), nullable=False),
        sa.Column("for_windows", sa.Integer, nullable=False, server_default="1"),
        sa.Column("channels", sa.Text, nullable=False, server_default="[]"),
        sa.Column("state", sa.String(16), nullable=False, server_default="ok"),
        sa.Column("streak", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("project", "name", name="pk_alert_rules"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(128), nullable=False, server_default="default"),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("monitor", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.Column("acked_by", sa.String(256), nullable=True),
        sa.Column("acked_at", sa.BigInteger, nullable=True),
        sa.Column("deliveries", sa.Text, nullable=False, server_default="[]"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_project_state", "alerts", ["project", "state"])


def downgrade() -> None:
    op.drop_index("ix_alerts_project_state", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_rules")
    op.drop_index("ix_monitor_results_project_monitor_window_end", table_name="monitor_results")
    op.drop_table("monitor_results")
    op.drop_table("monitors")
