"""The configured online store, opened once per process (``KEEL_ONLINE_STORE``; SQLite under home by default)."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

from keel.features.online_store import OnlineStore, open_online_store
from keel.tracking.context import get_backend

__all__ = ["online_store", "reset_online_stores", "store_label"]

_stores: dict[tuple[str, str], OnlineStore] = {}
_by_settings: dict[int, tuple[object, OnlineStore]] = {}  # settings object id -> (settings, store): the hot path
_lock = threading.Lock()


def online_store() -> OnlineStore:
    """The online store of the configured URL and project (shared by every caller in this process)."""
    settings = get_backend().settings
    hit = _by_settings.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    key = (settings.resolved_online_store, settings.project)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = open_online_store(*key)
        _by_settings[id(settings)] = (settings, store)
    return store


def store_label() -> str:
    """The configured store's URL without any password, as recorded with materialization runs."""
    parts = urlsplit(get_backend().settings.resolved_online_store)
    netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def reset_online_stores() -> None:
    """Close every opened store (tests, settings changes)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
        _by_settings.clear()
