"""Audit: the append-only log of every mutation.

The table refuses ``UPDATE`` and ``DELETE`` in the database itself: SQLite triggers that ``RAISE(ABORT)``, and on
PostgreSQL a trigger function that raises.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_MESSAGE = "audit_log is append-only: rows cannot be updated or deleted"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("user", sa.String(256), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("project", sa.String(128), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("object_kind", sa.String(128), nullable=False),
        sa.Column("object_id", sa.String(512), nullable=True),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_kind", "object_id"])
    op.create_index("ix_audit_log_user_at", "audit_log", ["user", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION keel_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}';
END;
$$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION keel_audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION keel_audit_log_append_only()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS keel_audit_log_append_only()")
    op.drop_table("audit_log")
