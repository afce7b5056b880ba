"""Roles and permission levels (pure): which role grants which level, and what a level allows.

Levels, from least to most: ``public`` < ``read`` < ``write`` < ``maintain`` < ``admin``. A project role grants
one level: viewer → read, editor → write, maintainer → maintain, admin → admin. A token's scope caps the level its
holder acts with, so a CI token can be read-only for an admin.
"""

from __future__ import annotations

from typing import Literal, cast

from keel.errors import InvalidInput

__all__ = ["LEVELS", "ROLES", "Level", "Role", "capped", "check_level", "check_role", "grants", "level_of", "role_for"]

Level = Literal["public", "read", "write", "maintain", "admin"]
Role = Literal["viewer", "editor", "maintainer", "admin"]

LEVELS: tuple[Level, ...] = ("public", "read", "write", "maintain", "admin")
ROLES: tuple[Role, ...] = ("viewer", "editor", "maintainer", "admin")
_ROLE_LEVEL: dict[str, Level] = {"viewer": "read", "editor": "write", "maintainer": "maintain", "admin": "admin"}
_RANK = {level: rank for rank, level in enumerate(LEVELS)}


def check_role(value: str) -> Role:
    """``value`` as a role, or :class:`InvalidInput` naming the choices."""
    if value not in _ROLE_LEVEL:
        raise InvalidInput(f"role: {value!r} is not a role; use one of {', '.join(ROLES)}", field="role")
    return cast(Role, value)


def check_level(value: str, field: str = "scope") -> Level:
    """``value`` as a permission level, or :class:`InvalidInput` naming the choices."""
    if value not in _RANK or value == "public":
        raise InvalidInput(f"{field}: {value!r} is not a level; use one of {', '.join(LEVELS[1:])}", field=field)
    return cast(Level, value)


def level_of(role: str | None) -> Level:
    """The level a role grants (``public`` for no role)."""
    return _ROLE_LEVEL.get(role or "", "public")


def role_for(level: Level) -> Role | None:
    """The least role that grants ``level`` (None for ``public``)."""
    return next((role for role in ROLES if _ROLE_LEVEL[role] == level), None)


def grants(have: Level, need: Level) -> bool:
    """True when acting at level ``have`` is enough for something that needs ``need``."""
    return _RANK[have] >= _RANK[need]


def capped(level: Level, cap: Level) -> Level:
    """The lower of ``level`` and ``cap``."""
    return level if _RANK[level] <= _RANK[cap] else cap
