"""Schedules, the scheduler lease, triggers and trigger events in the metadata store (SQLite or PostgreSQL).

Every race is settled by a compare-and-set inside one write transaction, so it holds across processes and hosts:
the lease is taken by ``UPDATE ... WHERE holder = me OR expires_at < now`` (or an INSERT when there is no row; a
concurrent INSERT loses on the primary key), a schedule's fire is recorded by ``UPDATE ... WHERE last_fire_at =
what I read``, and an event is claimed by ``UPDATE ... WHERE claimed_by IS NULL``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from keel.errors import AlreadyExists, NotFound
from keel.pipelines.schedules import Schedule, Trigger, TriggerEvent, check_cron, check_event, check_name
from keel.store import Database
from keel.store.tables import scheduler_leases, schedules, trigger_events, triggers

__all__ = ["SqlScheduleStore", "record_event"]

_S, _L, _T, _E = schedules.c, scheduler_leases.c, triggers.c, trigger_events.c


def _now() -> int:
    return int(time.time() * 1000)


def record_event(conn: Connection, project: str, event: str, payload: Mapping[str, Any] | None = None,
                 created_at: int | None = None) -> int:
    """Insert an event on ``conn`` (inside the caller's transaction) and return its id.

    Names past the column's 256 characters (``dataset:`` + a 250-character dataset name) are cut there: the version
    is still recorded, and globs like ``dataset:*`` still match its event.
    """
    result = conn.execute(insert(trigger_events).values(
        project=project, event=check_event(event[:256]), payload=json.dumps(dict(payload or {}), default=str),
        created_at=created_at if created_at is not None else _now()))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _schedule(row: Any) -> Schedule:
    return Schedule(row.name, row.pipeline_ref, row.cron, json.loads(row.params), bool(row.enabled), row.created_at,
                    row.last_fire_at)


def _trigger(row: Any) -> Trigger:
    return Trigger(row.name, row.event, row.pipeline_ref, json.loads(row.params), row.created_at)


def _event(row: Any) -> TriggerEvent:
    return TriggerEvent(row.id, row.event, json.loads(row.payload), row.created_at, row.claimed_by, row.processed_at)


class SqlScheduleStore:
    """Schedules, the lease, triggers and events of one project over a :class:`~keel.store.Database`."""

    def __init__(self, db: Database, project: str = "default") -> None:
        self.db, self.project = db, project

    # -- schedules -------------------------------------------------------------------------------------------------
    def add_schedule(self, s: Schedule) -> Schedule:
        """Store a new schedule (AlreadyExists if the name is taken); ``created_at`` 0 means now."""
        s = Schedule(check_name(s.name), s.pipeline_ref, check_cron(s.cron), dict(s.params), s.enabled,
                     s.created_at or _now(), s.last_fire_at)
        try:
            with self.db.write() as conn:
                conn.execute(insert(schedules).values(
                    project=self.project, name=s.name, pipeline_ref=s.pipeline_ref, cron=s.cron,
                    params=json.dumps(s.params), enabled=int(s.enabled), created_at=s.created_at,
                    last_fire_at=s.last_fire_at))
        except IntegrityError:
            raise AlreadyExists(f"schedule {s.name!r} already exists; remove it first with `keel schedule remove "
                                f"{s.name}`", field="name") from None
        return s

    def list_schedules(self, *, enabled_only: bool = False) -> list[Schedule]:
        """Every schedule, by name."""
        query = select(schedules).where(_S.project == self.project).order_by(_S.name)
        if enabled_only:
            query = query.where(_S.enabled == 1)
        with self.db.read() as conn:
            return [_schedule(r) for r in conn.execute(query)]

    def get_schedule(self, name: str) -> Schedule:
        """One schedule; NotFound naming it."""
        with self.db.read() as conn:
            row = conn.execute(select(schedules).where(_S.project == self.project, _S.name == name)).first()
        if row is None:
            raise NotFound(f"schedule {name!r} not found; see `keel schedule list`", field="name")
        return _schedule(row)

    def remove_schedule(self, name: str) -> None:
        """Delete a schedule; NotFound if there is none."""
        with self.db.write() as conn:
            gone = conn.execute(delete(schedules).where(_S.project == self.project, _S.name == name)).rowcount
        if not gone:
            raise NotFound(f"schedule {name!r} not found; see `keel schedule list`", field="name")

    def record_fire(self, name: str, previous: int | None, fire_at: int) -> bool:
        """Set ``last_fire_at`` to ``fire_at`` if it is still ``previous``; False when another scheduler did first."""
        same = _S.last_fire_at.is_(None) if previous is None else _S.last_fire_at == previous
        with self.db.write() as conn:
            return conn.execute(update(schedules).where(_S.project == self.project, _S.name == name, same)
                                .values(last_fire_at=fire_at)).rowcount == 1

    # -- the lease -------------------------------------------------------------------------------------------------
    def acquire_lease(self, holder: str, now: int, lease_ms: int) -> bool:
        """Take or renew the project's scheduler lease until ``now + lease_ms``; False if someone else holds it."""
        try:
            with self.db.write() as conn:
                taken = conn.execute(update(scheduler_leases).where(
                    _L.project == self.project, (_L.holder == holder) | (_L.expires_at < now))
                    .values(holder=holder, expires_at=now + lease_ms)).rowcount
                if taken:
                    return True
                if conn.execute(select(_L.holder).where(_L.project == self.project)).first() is not None:
                    return False
                conn.execute(insert(scheduler_leases).values(project=self.project, holder=holder,
                                                             expires_at=now + lease_ms))
                return True
        except IntegrityError:  # another scheduler inserted the row first
            return False

    def release_lease(self, holder: str) -> None:
        """Give the lease up (if ``holder`` has it), so a standby takes over at once."""
        with self.db.write() as conn:
            conn.execute(delete(scheduler_leases).where(_L.project == self.project, _L.holder == holder))

    def lease(self) -> tuple[str, int] | None:
        """``(holder, expires_at)`` of the lease, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(_L.holder, _L.expires_at).where(_L.project == self.project)).first()
        return None if row is None else (row.holder, row.expires_at)

    # -- triggers --------------------------------------------------------------------------------------------------
    def add_trigger(self, t: Trigger) -> Trigger:
        """Store a new trigger (AlreadyExists if the name is taken); ``created_at`` 0 means now."""
        t = Trigger(check_name(t.name, "trigger"), check_event(t.event, pattern=True), t.pipeline_ref,
                    dict(t.params), t.created_at or _now())
        try:
            with self.db.write() as conn:
                conn.execute(insert(triggers).values(
                    project=self.project, name=t.name, event=t.event, pipeline_ref=t.pipeline_ref,
                    params=json.dumps(t.params), created_at=t.created_at))
        except IntegrityError:
            raise AlreadyExists(f"trigger {t.name!r} already exists; remove it first with `keel trigger remove "
                                f"{t.name}`", field="name") from None
        return t

    def list_triggers(self) -> list[Trigger]:
        """Every trigger, by name."""
        with self.db.read() as conn:
            rows = conn.execute(select(triggers).where(_T.project == self.project).order_by(_T.name))
            return [_trigger(r) for r in rows]

    def remove_trigger(self, name: str) -> None:
        """Delete a trigger; NotFound if there is none."""
        with self.db.write() as conn:
            gone = conn.execute(delete(triggers).where(_T.project == self.project, _T.name == name)).rowcount
        if not gone:
            raise NotFound(f"trigger {name!r} not found; see `keel trigger list`", field="name")

    # -- events ----------------------------------------------------------------------------------------------------
    def emit(self, event: str, payload: Mapping[str, Any] | None = None) -> int:
        """Record an event for the scheduler; returns its id."""
        with self.db.write() as conn:
            return record_event(conn, self.project, event, payload)

    def claim_events(self, holder: str, limit: int = 100) -> list[TriggerEvent]:
        """Mark up to ``limit`` unclaimed events as ``holder``'s, oldest first, and return them; an event another
        scheduler claimed in between is skipped, so each event is claimed exactly once."""
        with self.db.read() as conn:
            ids = conn.execute(select(_E.id).where(_E.project == self.project, _E.claimed_by.is_(None))
                               .order_by(_E.id).limit(limit)).scalars().all()
        if not ids:
            return []
        with self.db.write() as conn:
            for event_id in ids:
                conn.execute(update(trigger_events).where(_E.id == event_id, _E.claimed_by.is_(None))
                             .values(claimed_by=holder))
            rows = conn.execute(select(trigger_events).where(_E.id.in_(ids), _E.claimed_by == holder,
                                                             _E.processed_at.is_(None)).order_by(_E.id)).all()
        return [_event(r) for r in rows]

    def mark_processed(self, event_id: int, at: int | None = None) -> None:
        """Record that an event's triggers were run."""
        with self.db.write() as conn:
            conn.execute(update(trigger_events).where(_E.id == event_id).values(processed_at=at or _now()))

    def list_events(self, *, pending_only: bool = False, limit: int = 100) -> list[TriggerEvent]:
        """Events, newest first (``pending_only``: not yet claimed)."""
        query = select(trigger_events).where(_E.project == self.project)
        if pending_only:
            query = query.where(_E.claimed_by.is_(None))
        with self.db.read() as conn:
            return [_event(r) for r in conn.execute(query.order_by(_E.id.desc()).limit(limit))]
