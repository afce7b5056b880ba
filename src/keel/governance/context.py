"""Who is acting and in which request: context variables the server sets and the audit log reads.

The server's auth layer calls :func:`set_principal` (from an ``async`` dependency or middleware, so the value reaches
the thread-pool copy of the context a sync endpoint runs in); the request-id middleware calls
:func:`set_request_id`. Outside a request (SDK, CLI) nothing is set and :func:`acting_user` falls back to
:func:`keel.config.current_user`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from keel.config import current_user

__all__ = ["acting_as", "acting_user", "principal", "request_id", "set_principal", "set_request_id"]

_principal: ContextVar[str | None] = ContextVar("keel_principal", default=None)
_request_id: ContextVar[str | None] = ContextVar("keel_request_id", default=None)


def acting_user() -> str:
    """The authenticated user of the current request, else the local user."""
    return _principal.get() or current_user()


def principal() -> str | None:
    """The authenticated user of the current request (None outside a request or with auth off)."""
    return _principal.get()


def request_id() -> str | None:
    """The id of the request being served, if any."""
    return _request_id.get()


def set_principal(user: str | None) -> Token[str | None]:
    """Mark ``user`` as acting in the current context."""
    return _principal.set(user)


def set_request_id(value: str | None) -> Token[str | None]:
    """Mark the current context as serving request ``value``."""
    return _request_id.set(value)


@contextmanager
def acting_as(user: str | None, request: str | None = None) -> Iterator[None]:
    """Run a block as ``user`` (and inside request ``request``), restoring the previous values after."""
    user_token = _principal.set(user)
    request_token = _request_id.set(request)
    try:
        yield
    finally:
        _request_id.reset(request_token)
        _principal.reset(user_token)
