"""The scheduler: one process per project fires due schedules and answers trigger events (``keel scheduler``).

Several schedulers may run (standbys); the one holding the project's lease in the metadata store does the work and
renews the lease while it runs pipelines; when it stops or dies, a standby takes over once the lease expires. A
schedule whose fire times passed while no scheduler ran fires ONCE, for the latest time; the earlier ones are
reported as missed (logged and returned), never run. A fire is recorded before its pipeline starts, so a crash
mid-run never runs it twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from keel.errors import InvalidInput, KeelError
from keel.pipelines.schedules import Schedule, Trigger, TriggerEvent, due, event_matches, render_params
from keel.pipelines.schedules_sql import SqlScheduleStore

__all__ = ["Fired", "Missed", "Scheduler", "TickResult"]

log = logging.getLogger("keel.scheduler")

#: Runs a pipeline: ``(ref, params, trigger=...)`` → a record with ``id`` and ``status`` (default: ``run_ref``).
RunFn = Callable[..., Any]


@dataclass(frozen=True)
class Fired:
    """One pipeline started by a schedule or a trigger: its run id and status (ERROR: it could not start)."""

    source: str
    pipeline_ref: str
    run_id: str | None
    status: str
    error: str | None = None


@dataclass(frozen=True)
class Missed:
    """Fire times of a schedule that passed while no scheduler ran (newest listed; ``count`` all of them)."""

    schedule: str
    times: tuple[int, ...]
    count: int
    more: bool = False  # too many to count: ``count`` is a lower bound


@dataclass
class TickResult:
    """What one :meth:`Scheduler.tick` did; ``leader`` False means another scheduler holds the lease."""

    leader: bool
    fired: list[Fired] = field(default_factory=list)
    missed: list[Missed] = field(default_factory=list)
    events: list[int] = field(default_factory=list)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _default_run(ref: str, params: dict[str, str], *, trigger: str) -> Any:
    from keel.pipelines import runner  # looked up at call time: the pipeline engine loads only when needed

    return runner.run_ref(ref, params, trigger=trigger)


class Scheduler:
    """Fires the project's schedules and triggers while it holds the lease (see the module docstring)."""

    def __init__(self, store: SqlScheduleStore | None = None, *, holder: str | None = None, poll_s: float = 10.0,
                 lease_s: float = 60.0, clock: Callable[[], int] = _now_ms, run: RunFn | None = None) -> None:
        if poll_s <= 0 or lease_s <= poll_s:
            raise InvalidInput(f"lease_s ({lease_s:g}) must be longer than poll_s ({poll_s:g}) > 0, or the lease "
                               "lapses between polls", field="lease_s")
        if store is None:
            from keel.pipelines.triggers import schedule_store

            store = schedule_store()
        self.store, self.poll_s, self.lease_ms, self.clock = store, poll_s, int(lease_s * 1000), clock
        self.holder = holder or f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.run = run or _default_run
        self._stop = threading.Event()

    # -- one pass --------------------------------------------------------------------------------------------------
    def tick(self, now: int | None = None) -> TickResult:
        """Renew or take the lease; if held, fire due schedules, then claim and answer pending events."""
        now = self.clock() if now is None else now
        if not self.store.acquire_lease(self.holder, now, self.lease_ms):
            return TickResult(leader=False)
        result = TickResult(leader=True)
        for schedule in self.store.list_schedules(enabled_only=True):
            if self._stop.is_set():
                return result
            started = len(result.fired)
            self._fire_schedule(schedule, now, result)
            if len(result.fired) > started and not self._still_leader():
                return result
        if not self._stop.is_set():
            self._answer_events(result)  # every claimed event is answered, even if the lease is lost meanwhile
        return result

    def _still_leader(self) -> bool:
        """Renew the lease after a run (time has passed); False if another scheduler took it meanwhile."""
        if self.store.acquire_lease(self.holder, self.clock(), self.lease_ms):
            return True
        log.error("scheduler %s lost its lease; leaving the rest to the new holder", self.holder)
        return False

    def _fire_schedule(self, s: Schedule, now: int, result: TickResult) -> None:
        try:
            owed = due(s.cron, s.last_fire_at or s.created_at, now)
        except KeelError as exc:
            log.error("schedule %s: %s (skipped)", s.name, exc.message)
            return
        if owed.latest is None or not self.store.record_fire(s.name, s.last_fire_at, owed.latest):
            return  # nothing due, or another scheduler recorded this fire first
        if owed.missed_count:
            log.warning("schedule %s missed %d%s fire time(s) while no scheduler ran (latest missed %s); they are "
                        "not re-run", s.name, owed.missed_count, "+" if owed.more else "", _iso(owed.missed[-1]))
            result.missed.append(Missed(s.name, owed.missed, owed.missed_count, owed.more))
        result.fired.append(self._start(f"schedule:{s.name}", s.pipeline_ref, s.params))

    def _answer_events(self, result: TickResult) -> None:
        events = self.store.claim_events(self.holder)
        if not events:
            return
        triggers = self.store.list_triggers()
        for ev in events:
            for t in _matching(triggers, ev):
                trigger = f"trigger:{t.name} <- {ev.event}#{ev.id}"[:256]
                result.fired.append(self._start(trigger, t.pipeline_ref, render_params(t.params, ev.payload)))
            self.store.mark_processed(ev.id, self.clock())
            result.events.append(ev.id)

    def _start(self, source: str, ref: str, params: dict[str, str]) -> Fired:
        log.info("%s: running %s %s", source, ref, params or "")
        try:
            with self._heartbeat():
                run = self.run(ref, params, trigger=source)
        except Exception as exc:  # a broken pipeline must not stop the scheduler
            message = exc.message if isinstance(exc, KeelError) else f"{type(exc).__name__}: {exc}"
            log.error("%s: %s could not run: %s", source, ref, message)
            return Fired(source, ref, None, "ERROR", message)
        status, error = str(run.status), getattr(run, "error", None)
        (log.info if status == "SUCCEEDED" else log.error)("%s: run %s %s%s", source, run.id, status.lower(),
                                                           f": {error}" if error else "")
        return Fired(source, ref, run.id, status, error)

    @contextlib.contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """Renew the lease every third of its length while a pipeline runs."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_ms / 3000):
                try:
                    if not self.store.acquire_lease(self.holder, self.clock(), self.lease_ms):
                        log.error("scheduler %s lost its lease during a run", self.holder)
                except KeelError as exc:
                    log.error("scheduler %s could not renew its lease: %s", self.holder, exc.message)

        thread = threading.Thread(target=beat, name="keel-scheduler-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # -- the loop --------------------------------------------------------------------------------------------------
    def run_forever(self, on_tick: Callable[[TickResult], None] | None = None) -> None:
        """Tick every ``poll_s`` until :meth:`stop` or SIGINT/SIGTERM (the running pipeline finishes first; a
        second signal interrupts it), then release the lease so a standby takes over at once."""
        restore = self._install_signals()
        try:
            while not self._stop.is_set():
                try:
                    result = self.tick()
                except KeelError as exc:  # e.g. the database is briefly unreachable: try again next poll
                    log.error("scheduler tick failed: %s", exc.message)
                else:
                    if on_tick is not None:
                        on_tick(result)
                self._stop.wait(self.poll_s)
        finally:
            restore()
            with contextlib.suppress(KeelError):
                self.store.release_lease(self.holder)

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after the current pipeline (safe from signal handlers and threads)."""
        self._stop.set()

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handle(signum: int, _frame: FrameType | None) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt
            log.warning("scheduler stopping (signal %d); the running pipeline finishes first", signum)
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore


def _matching(triggers: list[Trigger], ev: TriggerEvent) -> list[Trigger]:
    """Triggers that existed when ``ev`` was emitted and whose event (or glob) matches it."""
    return [t for t in triggers if t.created_at <= ev.created_at and event_matches(t.event, ev.event)]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))
