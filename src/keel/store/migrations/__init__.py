"""Alembic migrations, run automatically on first use and on upgrade (see :func:`keel.store.schema.ensure_schema`)."""

HEAD_REVISION = "0011"
