"""The audit log table: one append-only row per mutating statement, written in the mutation's own transaction.

It lives on the shared :data:`keel.store.tables.metadata`; migration ``0011`` creates it, together with database
triggers that refuse ``UPDATE`` and ``DELETE`` on it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from keel.store.tables import metadata

__all__ = ["AUDIT_TABLE", "audit_log"]

AUDIT_TABLE = "audit_log"

audit_log = Table(
    AUDIT_TABLE,
    metadata,
    Column("id", Integer, autoincrement=True, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("user", String(256), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("project", String(128), nullable=True),
    Column("action", String(16), nullable=False),
    Column("object_kind", String(128), nullable=False),
    Column("object_id", String(512), nullable=True),
    Column("row_count", Integer, nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    PrimaryKeyConstraint("id", name="pk_audit_log"),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_object", "object_kind", "object_id"),
    Index("ix_audit_log_user_at", "user", "at"),
)
