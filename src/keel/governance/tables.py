"""The access-control tables: users, API tokens, project members and alias-promotion requests.

They live on the shared :data:`keel.store.tables.metadata` (projects are :data:`keel.store.tables.projects`);
migration ``0010`` creates them. Times are epoch milliseconds.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from keel.store.tables import metadata

__all__ = ["api_tokens", "project_members", "promotion_requests", "users"]

users = Table(
    "users",
    metadata,
    Column("name", String(128), nullable=False),
    Column("admin", Integer, nullable=False, server_default="0"),
    Column("disabled", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", name="pk_users"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), nullable=False),
    Column("user", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(256), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("id", name="pk_api_tokens"),
    Index("ix_api_tokens_user", "user"),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project", String(128), nullable=False),
    Column("user", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("added_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project", "user", name="pk_project_members"),
)

promotion_requests = Table(
    "promotion_requests",
    metadata,
    Column("id", String(32), nullable=False),
    Column("project", String(128), nullable=False),
    Column("model", String(256), nullable=False),
    Column("alias", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("id", name="pk_promotion_requests"),
    Index("ix_promotion_requests_project_state", "project", "state"),
)
