"""The local metadata database, for capabilities that read and write it directly rather than through the tracking
backend (which may be a ``keel server`` over HTTP)."""

from __future__ import annotations

from keel.config import current_project, get_settings
from keel.errors import InvalidInput
from keel.store import Database, open_database

__all__ = ["local_database"]


def local_database(what: str) -> tuple[Database, str]:
    """``(database, project)`` of the configured local store (the project: :func:`keel.config.current_project`);
    InvalidInput when the SDK points at a ``keel server``, ``what``
    saying what needs the local store (e.g. ``"monitors run against"``)."""
    settings = get_settings()
    if settings.is_remote:
        raise InvalidInput(f"{what} the local store for now; unset KEEL_TRACKING_URI", field="tracking_uri")
    return open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms), current_project()
