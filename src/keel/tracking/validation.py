"""Validation of names, values and batch sizes, with MLflow's limits and messages that name the field."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping

from keel.errors import InvalidInput

__all__ = [
    "MAX_BATCH_METRICS",
    "MAX_BATCH_PARAMS",
    "MAX_BATCH_TAGS",
    "MAX_COLUMNAR_POINTS",
    "check_batch_limits",
    "check_experiment_name",
    "check_key",
    "check_param_value",
    "check_run_id",
    "check_tag_value",
    "check_timestamp",
]

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_EXPERIMENT_NAME = 500
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_COLUMNAR_POINTS = 200_000

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_valid_keys: set[str] = set()


def check_key(key: object, kind: str) -> str:
    """A metric/param/tag key: <= 250 chars of letters, digits, ``_ - . / :`` and spaces, no ``..``."""
    if type(key) is str and key in _valid_keys:
        return key
    field = f"{kind} key"
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{field}: must be a non-empty string, got {key!r}", field=field)
    if len(key) > MAX_KEY:
        raise InvalidInput(f"{field} {key[:40]!r}...: longer than {MAX_KEY} characters; shorten it", field=field)
    if not _KEY_RE.match(key):
        raise InvalidInput(
            f"{field} {key!r}: may only contain letters, digits, underscores, dashes, periods, spaces, "
            "colons and slashes",
            field=field,
        )
    if key.startswith("/") or posixpath.normpath(key) != key or ".." in key.split("/"):
        raise InvalidInput(f"{field} {key!r}: must be a normalized relative path (no '..', no leading '/')",
                           field=field)
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def check_param_value(key: str, value: object) -> str:
    """A param value as a string of at most 6000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE:
        raise InvalidInput(
            f"param {key!r}: value is {len(text)} characters, the limit is {MAX_PARAM_VALUE}; log it as an "
            "artifact instead", field=f"params.{key}")
    return text


def check_tag_value(key: str, value: object) -> str:
    """A tag value as a string of at most 8000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise InvalidInput(f"tag {key!r}: value is {len(text)} characters, the limit is {MAX_TAG_VALUE}",
                           field=f"tags.{key}")
    return text


def check_run_id(run_id: object) -> str:
    """A run id: letters, digits, ``_`` and ``-``, starting with a letter or digit."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidInput(f"run_id: {run_id!r} is not a valid run id", field="run_id")
    return run_id


def check_experiment_name(name: object) -> str:
    """A non-empty experiment name of at most 500 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("experiment name: must be a non-empty string", field="name")
    if len(name) > MAX_EXPERIMENT_NAME:
        raise InvalidInput(f"experiment name: longer than {MAX_EXPERIMENT_NAME} characters", field="name")
    return name


def check_timestamp(value: object, field: str) -> int:
    """An integer timestamp or step."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        raise InvalidInput(f"{field}: expected an integer, got {value!r}", field=field)
    return value


def check_batch_limits(n_metrics: int, params: Mapping[str, object] | Iterable[object], n_tags: int) -> None:
    """MLflow's log-batch limits: 1000 metrics, 100 params, 100 tags, 1000 items in all."""
    n_params = len(params) if isinstance(params, Mapping) else len(list(params))
    for count, limit, what in ((n_metrics, MAX_BATCH_METRICS, "metrics"), (n_params, MAX_BATCH_PARAMS, "params"),
                               (n_tags, MAX_BATCH_TAGS, "tags")):
        if count > limit:
            raise InvalidInput(f"{what}: a batch may hold at most {limit} {what}, got {count}; split the batch",
                               field=what)
    if n_metrics + n_params + n_tags > 1000:
        raise InvalidInput("a batch may hold at most 1000 metrics, params and tags in all; split the batch")
