"""Settings: environment variables ``KEEL_*`` over an optional ``keel.yaml`` over defaults.

Nothing is required: the default home is ``./.keel`` holding ``keel.db`` (SQLite) and ``artifacts/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from keel.errors import InvalidInput

__all__ = ["Settings", "config_file", "current_project", "get_settings", "project_scope", "reset_settings"]

# The project a block of code acts in (a request of `keel server`), over the process's `Settings.project`.
_project: ContextVar[str | None] = ContextVar("keel_project", default=None)


def config_file() -> dict[str, Any]:
    """The whole ``keel.yaml`` (or ``KEEL_CONFIG``) of the current directory as a mapping; ``{}`` without one."""
    path = Path(os.environ.get("KEEL_CONFIG", "keel.yaml"))
    if not path.is_file():
        return {}
    import yaml  # ~30 ms to import: only when there is a file to read

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc}); fix the file or remove it") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping of settings at the top level")
    return data


class Settings(BaseModel):
    """Keel's settings; read once per process through :func:`get_settings`.

    ``Settings(**values)`` takes ``values`` over ``KEEL_<FIELD>`` environment variables (any case; lists as JSON)
    over ``keel.yaml`` over the defaults. (A plain pydantic model: pydantic-settings cost ~0.12 s of every command's
    start-up.)
    """

    model_config = ConfigDict(extra="ignore")

    home: Path = Path(".keel")
    db_url: str | None = None
    artifact_root: str | None = None
    tracking_uri: str | None = None
    token: str | None = None
    project: str = "default"
    sqlite_busy_timeout_ms: int = 30_000
    metric_batch_size: int = 20_000
    metric_flush_interval_s: float = 0.5
    http_timeout_s: float = 30.0
    http_retry_for_s: float = 120.0
    # the online feature store: sqlite:///PATH (default: <home>/online.db) or redis://HOST:PORT/DB
    online_store: str | None = None
    # access control of `keel server` / `keel serve` (off for the embedded single-user default)
    auth: bool = False
    auth_cache_ttl_s: float = 5.0
    protected_aliases: list[str] = ["champion", "production"]
    require_approval: bool = False
    # hardening of `keel server`: body limits (bytes; artifact uploads have their own), a per-request timeout
    # (0: none) and the access/error log format ("json": one object per line with the request id, or "text")
    max_request_bytes: int = 32 * 1024 * 1024
    max_upload_bytes: int = 5 * 1024 * 1024 * 1024
    request_timeout_s: float = 60.0
    log_format: str = "json"

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not value or len(value) > 128:
            raise ValueError("project must be 1-128 characters")
        return value

    def __init__(self, **values: Any) -> None:
        merged = {**{k: v for k, v in config_file().items() if k in type(self).model_fields}, **_environment(),
                  **values}
        try:
            super().__init__(**merged)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else "settings"
            source = f"KEEL_{name.upper()}" if name in _environment() and name not in values else name
            raise InvalidInput(f"{source}: {error['msg']} (got {error.get('input')!r}); fix or unset it",
                               field=name) from exc

    @property
    def resolved_db_url(self) -> str:
        """The metadata database URL (SQLite under home unless ``KEEL_DB_URL`` is set)."""
        return self.db_url or f"sqlite:///{(self.home / 'keel.db').absolute()}"

    @property
    def resolved_artifact_root(self) -> str:
        """The artifact root: a local folder under home unless ``KEEL_ARTIFACT_ROOT`` is set (any fsspec URL)."""
        return self.artifact_root or str((self.home / "artifacts").absolute())

    @property
    def resolved_online_store(self) -> str:
        """The online feature store URL (SQLite under home unless ``KEEL_ONLINE_STORE`` is set)."""
        return self.online_store or f"sqlite:///{(self.home / 'online.db').absolute()}"

    @property
    def is_remote(self) -> bool:
        """True when the SDK talks to a ``keel server`` instead of the local store."""
        uri = self.tracking_uri or ""
        return uri.startswith(("http://", "https://"))


def _environment() -> dict[str, Any]:
    """``KEEL_<FIELD>`` variables (any case) by field name; list-valued fields parse their value as JSON."""
    fields = Settings.model_fields
    found: dict[str, Any] = {}
    for key, value in os.environ.items():
        name = key.lower().removeprefix("keel_")
        if len(name) < len(key) and name in fields:
            if get_origin(fields[name].annotation) is list:
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise InvalidInput(f"{key}: expected a JSON list such as '[\"a\", \"b\"]', got {value!r}",
                                       field=name) from exc
            found[name] = value
    return found


def current_user() -> str:
    """Who acts when nobody says: ``KEEL_USER`` if set, else the login name."""
    explicit = os.environ.get("KEEL_USER")
    if explicit:
        return explicit
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call :func:`reset_settings` after changing the environment)."""
    settings = Settings()
    uri = settings.tracking_uri
    if uri and not settings.is_remote:
        # A path or file: URI as tracking URI means "this folder is the home".
        path = uri.removeprefix("file://")
        settings = settings.model_copy(update={"home": Path(path), "tracking_uri": None})
    return settings


def reset_settings() -> None:
    """Forget cached settings so the next :func:`get_settings` rereads the environment."""
    get_settings.cache_clear()


def current_project() -> str:
    """The project code acts in: the one of the enclosing :func:`project_scope` (a ``keel server`` request), else
    ``KEEL_PROJECT`` (``Settings.project``)."""
    return _project.get() or get_settings().project


@contextmanager
def project_scope(name: str | None) -> Iterator[str]:
    """Act in project ``name`` inside the block (None: the process's project); the SDK's stores follow it.

    The scope is a context variable: threads started with a copy of the context (``run_in_threadpool``,
    ``asyncio.to_thread``) see it, other threads do not."""
    token = _project.set(name or None)
    try:
        yield current_project()
    finally:
        _project.reset(token)
