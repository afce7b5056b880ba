"""Remotes: named fsspec URLs (a local directory, ``s3://bucket/prefix``, ...) to push dataset versions to.

Remotes live in the metadata store, scoped to the project, rather than in a per-user config file: everyone who
shares the project's database (a team on PostgreSQL) sees the same ``origin``, and a remote can name no secret
(credentials come from the environment, as fsspec backends read them). ``options`` are fsspec storage options,
such as ``endpoint_url`` for an S3-compatible server.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from keel.artifacts import BlobStore
from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.store import Database, open_database
from keel.store.tables import remotes
from keel.tracking.context import get_backend

__all__ = ["Remote", "add_remote", "get_remote", "list_remotes", "open_remote", "remove_remote"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RC = remotes.c


@dataclass(frozen=True)
class Remote:
    """A named place dataset objects are pushed to: an fsspec URL plus its storage options."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0


def add_remote(name: str, url: str, options: dict[str, Any] | None = None) -> Remote:
    """Register remote ``name`` at ``url`` (a relative local path is made absolute); AlreadyExists if taken."""
    remote = Remote(_check_name(name), _normal_url(url), dict(options or {}), int(time.time() * 1000))
    open_remote(remote)  # an unusable URL or a missing fsspec backend fails now, not at the first push
    try:
        with _database().write() as conn:
            conn.execute(insert(remotes).values(project=_project(), name=remote.name, url=remote.url,
                                                options=json.dumps(remote.options), created_at=remote.created_at))
    except IntegrityError as exc:
        raise AlreadyExists(f"remote {name!r} exists; remove it first with `keel remote remove {name}`",
                            field="name") from exc
    return remote


def list_remotes() -> list[Remote]:
    """The project's remotes, by name."""
    with _database().read() as conn:
        rows = conn.execute(select(remotes).where(_RC.project == _project()).order_by(_RC.name)).all()
    return [Remote(r.name, r.url, json.loads(r.options), r.created_at) for r in rows]


def get_remote(name: str) -> Remote:
    """The remote called ``name``; NotFound naming how to add it."""
    with _database().read() as conn:
        row = conn.execute(select(remotes).where(_RC.project == _project(), _RC.name == name)).first()
    if row is None:
        raise NotFound(f"remote {name!r} is not configured; add it with `keel remote add {name} URL`",
                       field="remote")
    return Remote(row.name, row.url, json.loads(row.options), row.created_at)


def remove_remote(name: str) -> None:
    """Forget remote ``name`` (its objects stay where they are); NotFound if there is no such remote."""
    with _database().write() as conn:
        gone = conn.execute(delete(remotes).where(_RC.project == _project(), _RC.name == name)).rowcount
    if not gone:
        raise NotFound(f"remote {name!r} is not configured; see `keel remote list`", field="remote")


def open_remote(remote: Remote) -> BlobStore:
    """The remote's content-addressed store (same ``objects/ab/cdef...`` layout as the local artifact root)."""
    try:
        return BlobStore(remote.url, remote.options)
    except InvalidInput as exc:
        raise InvalidInput(f"remote {remote.name!r}: {exc.message}", field="url") from exc


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"remote name {name!r} is invalid: use letters, digits, '.', '_' or '-' (at most 64, "
                           "not starting with a symbol)", field="name")
    return name


def _normal_url(url: str) -> str:
    if not url.strip():
        raise InvalidInput("remote URL is empty: give a directory or an fsspec URL such as s3://bucket/prefix",
                           field="url")
    return url if "://" in url else os.path.abspath(os.path.expanduser(url))


def _project() -> str:
    return get_backend().settings.project


def _database() -> Database:
    settings = get_backend().settings
    if settings.is_remote:
        raise InvalidInput("remotes are kept in the local store for now; unset KEEL_TRACKING_URI",
                           field="tracking_uri")
    return open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
