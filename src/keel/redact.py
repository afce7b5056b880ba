"""Keep secrets out of audit entries, logs and error messages.

A value is hidden (``***``) when its field name says it is a secret (``token``, ``password``, ``secret``,
``key``, ``api_key``, ``authorization``…; a ``key`` next to a ``value`` names the pair instead), when it is the
value of a key/value row whose key says so (a param or tag named ``db_password``), or when it is the password
part of a URL (``postgresql://user:***@host/db``). JSON objects held in strings are redacted field by field.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

__all__ = ["MASK", "is_secret_name", "redact", "redact_row", "redact_text"]

MASK = "***"

_SECRET_NAME = re.compile(r"token|passw(or)?d|pwd|secret|credential|authori[sz]ation|cookie|(^|[_\-.])key$|"
                          r"api[_\-]?key|access[_\-]?key|private[_\-]?key", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.\-]*://[^:/?#@\s]*:)(?P<password>[^@/?#\s]+)(?=@)")
_BEARER = re.compile(r"(?P<head>\b(?:bearer|basic|token)\s+)(?P<secret>[\w\-.~+/=]{6,})", re.IGNORECASE)
_ASSIGNED = re.compile(r"(?P<head>\b(?:token|password|passwd|secret|api_key|access_key|secret_key)\s*[=:]\s*)"
                       r"(?P<secret>[^\s&,;\"']+)", re.IGNORECASE)
_HINT = re.compile(r"://|bearer|basic|token|passw|secret|_key", re.IGNORECASE)  # cheap pre-check
# Columns that name a key/value row's key: the value is hidden when the key is a secret's name.
_KEY_COLUMNS = ("key", "name")


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True when a field called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def redact_text(text: str) -> str:
    """``text`` with URL passwords, bearer tokens and ``password=...`` assignments masked."""
    if not _HINT.search(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _BEARER.sub(lambda m: m["head"] + MASK, text)
    return _ASSIGNED.sub(lambda m: m["head"] + MASK, text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, strings, scalars) with secrets masked."""
    if isinstance(value, dict):
        return _redact_mapping(value)
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _redact_string(value)
    return value


def redact_row(row: dict[Any, Any]) -> dict[Any, Any]:
    """A table row with secrets masked: its ``key``/``name`` columns name things (a metric, a param) and are kept;
    ``value`` is hidden when they name a secret."""
    return _redact_mapping(row, table_row=True)


def _redact_mapping(row: dict[Any, Any], *, table_row: bool = False) -> dict[Any, Any]:
    secret_row = any(isinstance(row.get(k), str) and is_secret_name(row[k]) for k in _KEY_COLUMNS if k in row)
    out: dict[Any, Any] = {}
    for name, value in row.items():
        key = str(name)
        naming = key in _KEY_COLUMNS and (table_row or "value" in row)
        hidden = is_secret_name(key) and value is not None and not naming
        out[name] = MASK if hidden or (secret_row and key == "value") else redact(value)
    return out


def _redact_string(text: str) -> str:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and len(text) < 1_000_000:
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return redact_text(text)
        return orjson.dumps(redact(parsed)).decode()
    return redact_text(text)
