"""Users of a ``keel server`` with auth on: created by an admin, disabled rather than deleted (their names stay in
the audit log). The first user created is a server-wide admin, so a fresh server always has someone to manage it."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.governance.tables import users
from keel.store import Database

__all__ = ["User", "check_name", "create_user", "get_user", "list_users", "set_disabled"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
_U = users.c


@dataclass(frozen=True)
class User:
    """One user: ``admin`` users have every role in every project."""

    name: str
    admin: bool
    disabled: bool
    created_at: int


def check_name(value: str, field: str = "user") -> str:
    """``value`` as a user or project name (letters, digits, ``_.@-``; at most 128), else :class:`InvalidInput`."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(f"{field}: {value!r} is not a valid name; use up to 128 letters, digits and _.@- "
                           "starting with a letter or digit", field=field)
    return value


def _user(row: Any) -> User:
    return User(row.name, bool(row.admin), bool(row.disabled), row.created_at)


def create_user(db: Database, name: str, *, admin: bool = False) -> User:
    """Create user ``name``; the first user ever created is an admin whatever ``admin`` says."""
    check_name(name)
    with db.write() as conn:
        if conn.execute(select(_U.name).where(_U.name == name)).first() is not None:
            raise AlreadyExists(f"user {name!r} exists already; see `keel users list`", field="user")
        first = not conn.execute(select(func.count()).select_from(users)).scalar()
        now = int(time.time() * 1000)
        conn.execute(insert(users).values(name=name, admin=int(admin or first), disabled=0, created_at=now))
    return User(name, bool(admin or first), False, now)


def get_user(db: Database, name: str) -> User:
    """User ``name``, or :class:`NotFound`."""
    with db.read() as conn:
        row = conn.execute(select(_U.name, _U.admin, _U.disabled, _U.created_at).where(_U.name == name)).first()
    if row is None:
        raise NotFound(f"user {name!r} not found; create it with `keel users create {name}`", field="user")
    return _user(row)


def list_users(db: Database) -> list[User]:
    """Every user, by name."""
    with db.read() as conn:
        rows = conn.execute(select(_U.name, _U.admin, _U.disabled, _U.created_at).order_by(_U.name)).all()
    return [_user(r) for r in rows]


def set_disabled(db: Database, name: str, disabled: bool = True) -> User:
    """Disable (or enable again) user ``name``: a disabled user's tokens stop working."""
    with db.write() as conn:
        if conn.execute(update(users).where(_U.name == name).values(disabled=int(disabled))).rowcount == 0:
            raise NotFound(f"user {name!r} not found; see `keel users list`", field="user")
    return get_user(db, name)
