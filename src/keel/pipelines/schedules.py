"""Schedules and triggers as data: cron validation, fire times, missed fires, event names (no I/O).

Cron expressions have the five standard fields (``"0 3 * * *"``) or are a croniter alias (``@daily``, ``@hourly``).
They are evaluated in UTC, like CI cron (GitHub Actions); prefix ``CRON_TZ=Area/City`` to use a time zone, e.g.
``"CRON_TZ=Europe/Paris 0 3 * * *"``. Times are epoch milliseconds.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import zoneinfo
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from croniter import CroniterError, croniter

from keel.errors import InvalidInput

__all__ = ["Due", "Schedule", "Trigger", "TriggerEvent", "check_cron", "check_event", "check_name", "due",
           "event_matches", "next_fire", "render_params"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_EVENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+=-]{0,255}")
_EVENT_PATTERN = re.compile(r"[A-Za-z0-9*?][A-Za-z0-9_.:/@+=*?-]{0,255}")
_TZ_PREFIX = "CRON_TZ="
#: At most this many missed fire times are listed per schedule (the count is exact up to it).
MAX_MISSED = 100
_COUNT_CAP = 2_000  # croniter takes ~0.1 ms a step


@dataclass(frozen=True)
class Schedule:
    """A pipeline (``FILE.py:NAME``) run at the times of a cron expression with fixed parameters."""

    name: str
    pipeline_ref: str
    cron: str
    params: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    created_at: int = 0
    last_fire_at: int | None = None


@dataclass(frozen=True)
class Trigger:
    """A pipeline run whenever an event matching ``event`` (a name, or a glob like ``dataset:*``) is emitted."""

    name: str
    event: str
    pipeline_ref: str
    params: dict[str, str] = field(default_factory=dict)
    created_at: int = 0


@dataclass(frozen=True)
class TriggerEvent:
    """One emitted event waiting for (or handled by) a scheduler."""

    id: int
    event: str
    payload: dict[str, Any]
    created_at: int
    claimed_by: str | None = None
    processed_at: int | None = None


@dataclass(frozen=True)
class Due:
    """What a schedule owes at ``now``: the latest fire time (None: nothing due) and the earlier, missed ones."""

    latest: int | None
    missed: tuple[int, ...] = ()
    missed_count: int = 0
    #: True when there were too many to count: ``missed_count`` is then a lower bound
    more: bool = False


def check_name(name: str, what: str = "schedule") -> str:
    """``name`` if it is a valid schedule or trigger name, else InvalidInput naming ``name``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"{what} name {name!r} is invalid: use letters, digits, '.', '_' or '-' (at most 128, "
                           "not starting with a symbol)", field="name")
    return name


def check_event(event: str, *, pattern: bool = False) -> str:
    """``event`` if it is a valid event name (``dataset:churn``, ``alert:drift``, ``ci-build``), else InvalidInput.

    With ``pattern``, ``*`` and ``?`` are allowed too (a trigger's ``--on dataset:*``).
    """
    rule = _EVENT_PATTERN if pattern else _EVENT
    if not isinstance(event, str) or not rule.fullmatch(event):
        extra = ", '*', '?'" if pattern else ""
        raise InvalidInput(f"event name {event!r} is invalid: use letters, digits and ':', '/', '@', '.', '_', '-', "
                           f"'+', '='{extra} (at most 256, starting with a letter or digit), e.g. dataset:churn",
                           field="event")
    return event


def event_matches(pattern: str, event: str) -> bool:
    """True if ``event`` is ``pattern`` or matches it as a glob (``*`` any run of characters, ``?`` one)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == event
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, event) is not None


def _split(expr: str) -> tuple[str, dt.tzinfo]:
    expr = " ".join(expr.split()) if isinstance(expr, str) else ""
    if not expr.startswith(_TZ_PREFIX):
        return expr, dt.UTC
    zone, _, rest = expr[len(_TZ_PREFIX):].partition(" ")
    try:
        return rest, zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"cron {expr!r}: unknown time zone {zone!r}; use an IANA name like Europe/Paris",
                           field="cron") from None


def check_cron(expr: str) -> str:
    """The normalized expression (single spaces) if valid, else InvalidInput naming ``cron`` and the fix."""
    body, _ = _split(expr)
    fields = body.split()
    alias = len(fields) == 1 and fields[0].startswith("@")
    if not (alias or len(fields) == 5) or not croniter.is_valid(body):
        raise InvalidInput(f"cron {expr!r} is not a valid cron expression: give 5 fields 'MIN HOUR DAY MONTH "
                           "WEEKDAY' (e.g. '0 3 * * *' for 03:00 UTC daily) or an alias like @daily", field="cron")
    return " ".join(expr.split())


def _iter(expr: str, after_ms: int) -> croniter:
    body, tz = _split(check_cron(expr))
    try:
        return croniter(body, dt.datetime.fromtimestamp(after_ms / 1000, tz))
    except CroniterError as exc:
        raise InvalidInput(f"cron {expr!r}: {exc}", field="cron") from None


def next_fire(expr: str, after_ms: int) -> int:
    """The first fire time of ``expr`` strictly after ``after_ms``."""
    return int(_iter(expr, after_ms).get_next(float) * 1000)


def due(expr: str, since_ms: int, now_ms: int) -> Due:
    """Fire times in ``(since_ms, now_ms]``: the latest is due, the earlier ones were missed (the newest
    :data:`MAX_MISSED` are listed; ``missed_count`` counts them, up to ``_COUNT_CAP`` fire times: past that
    ``more`` is set and the walk jumps to the latest)."""
    it = _iter(expr, since_ms)
    recent: deque[int] = deque(maxlen=MAX_MISSED + 1)
    count = 0
    while count < _COUNT_CAP and (t := int(it.get_next(float) * 1000)) <= now_ms:
        recent.append(t)
        count += 1
    more = False
    if count == _COUNT_CAP:  # "* * * * *" idle for days: walk back from now rather than through every minute
        back, tail = _iter(expr, now_ms + 1), deque[int](maxlen=MAX_MISSED + 1)
        while len(tail) <= MAX_MISSED and (t := int(back.get_prev(float) * 1000)) > recent[-1]:
            tail.appendleft(t)
        more = len(tail) > MAX_MISSED and int(back.get_prev(float) * 1000) > recent[-1]  # a gap left uncounted
        count += len(tail)
        recent.extend(tail)
    if not recent:
        return Due(None)
    times = list(recent)
    return Due(times[-1], tuple(times[:-1]), count - 1, more)


def render_params(params: Mapping[str, str], payload: Mapping[str, Any]) -> dict[str, str]:
    """Trigger parameters with ``$key`` / ``${key}`` replaced by the event payload's values (unknown keys stay)."""
    values = {k: str(v) for k, v in payload.items() if isinstance(k, str)}
    return {k: string.Template(v).safe_substitute(values) for k, v in params.items()}
