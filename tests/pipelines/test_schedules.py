"""Schedules and the scheduler: cron validation, missed fires (fake clock), the lease on SQLite and PostgreSQL (two
schedulers never fire one due time twice; expiry hands over), events claimed once, crash and failure handling."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from keel.errors import InvalidInput
from keel.pipelines.scheduler import Scheduler
from keel.pipelines.schedules import (
    MAX_MISSED,
    Schedule,
    Trigger,
    check_cron,
    check_event,
    due,
    event_matches,
    next_fire,
    render_params,
)
from keel.pipelines.schedules_sql import SqlScheduleStore
from keel.store import Database, ensure_schema

MIN, HOUR = 60_000, 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


class Clock:
    """A settable clock in epoch ms."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Runs:
    """A stand-in for ``run_ref`` recording every call (thread-safe)."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str], str]] = []
        self.fail = fail or set()
        self._lock = threading.Lock()

    def __call__(self, ref: str, params: dict[str, str], *, trigger: str) -> Any:
        with self._lock:
            self.calls.append((ref, params, trigger))
        if ref in self.fail:
            raise RuntimeError(f"{ref} exploded")
        return SimpleNamespace(id=f"run{len(self.calls)}", status="SUCCEEDED", error=None)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'keel.db'}"


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[SqlScheduleStore, SqlScheduleStore]]:
    """Two stores on separate engines over one database, as two scheduler processes would have."""
    first, second = Database(db_url), Database(db_url)
    ensure_schema(first)
    yield SqlScheduleStore(first), SqlScheduleStore(second)
    first.dispose()
    second.dispose()


def _scheduler(store: SqlScheduleStore, name: str, clock: Clock, runs: Runs, lease_s: float = 60.0) -> Scheduler:
    return Scheduler(store, holder=name, poll_s=1.0, lease_s=lease_s, clock=clock, run=runs)


# -- pure ------------------------------------------------------------------------------------------------------------
BAD_CRON = ["61 * * * *", "* * * *", "0 0 * * * *", "every day", "", "CRON_TZ=Mars/Base 0 3 * * *"]


@pytest.mark.parametrize("bad", BAD_CRON)
def test_invalid_cron_names_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_cron(bad)
    assert err.value.field == "cron" and "cron" in err.value.message


def test_cron_fire_times_utc_and_time_zone() -> None:
    assert check_cron(" 0  3 * * * ") == "0 3 * * *" and check_cron("@daily") == "@daily"
    assert next_fire("0 3 * * *", T0) == T0 + 3 * HOUR
    assert next_fire("0 3 * * *", T0 + 3 * HOUR) == T0 + 27 * HOUR  # strictly after
    assert next_fire("CRON_TZ=Europe/Paris 0 3 * * *", T0) == T0 + 2 * HOUR  # UTC+1 in winter


def test_due_fires_the_latest_and_lists_the_missed() -> None:
    owed = due("0 * * * *", T0, T0 + 5 * HOUR + 10 * MIN)
    assert owed.latest == T0 + 5 * HOUR
    assert owed.missed == tuple(T0 + h * HOUR for h in range(1, 5)) and owed.missed_count == 4
    assert due("0 * * * *", T0, T0 + 59 * MIN).latest is None
    assert due("0 * * * *", T0 + HOUR, T0 + HOUR).latest is None  # the last fire is not due again
    year = due("* * * * *", T0, T0 + 365 * 24 * HOUR)  # bounded work, still the right latest
    assert year.latest == T0 + 365 * 24 * HOUR and len(year.missed) == MAX_MISSED and year.more
    assert year.missed == tuple(year.latest - m * MIN for m in range(MAX_MISSED, 0, -1))  # the newest missed
    assert not owed.more


def test_event_names_globs_and_payload_params() -> None:
    assert check_event("dataset:churn") == "dataset:churn"
    for bad in ("", " x", "a b", "dataset:*"):
        with pytest.raises(InvalidInput) as err:
            check_event(bad)
        assert err.value.field == "event"
    assert check_event("dataset:*", pattern=True)
    assert event_matches("dataset:*", "dataset:churn") and not event_matches("dataset:*", "alert:drift")
    assert event_matches("ci:build", "ci:build") and not event_matches("ci:build", "ci:builds")
    assert render_params({"data": "$ref", "n": "${id}", "lr": "0.1"}, {"ref": "churn@v2", "id": 7}) == \
        {"data": "churn@v2", "n": "7", "lr": "0.1"}


# -- the scheduler ---------------------------------------------------------------------------------------------------
def test_missed_fires_are_reported_not_rerun(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    store, clock, runs = stores[0], Clock(T0 + 5 * HOUR + 10 * MIN), Runs()
    store.add_schedule(Schedule("hourly", "flow.py:p", "0 * * * *", {"lr": "0.1"}, created_at=T0))
    result = _scheduler(store, "a", clock, runs).tick()
    assert result.leader and [f.status for f in result.fired] == ["SUCCEEDED"]
    assert runs.calls == [("flow.py:p", {"lr": "0.1"}, "schedule:hourly")]
    assert len(result.missed) == 1 and result.missed[0].count == 4
    assert result.missed[0].times == tuple(T0 + h * HOUR for h in range(1, 5))
    assert store.get_schedule("hourly").last_fire_at == T0 + 5 * HOUR
    assert _scheduler(store, "a", clock, runs).tick().fired == []  # same time again: nothing due
    clock.now = T0 + 6 * HOUR
    again = _scheduler(store, "a", clock, runs).tick()
    assert len(again.fired) == 1 and again.missed == [] and len(runs.calls) == 2


def test_two_schedulers_fire_each_due_time_once(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    clock, runs = Clock(), Runs()
    stores[0].add_schedule(Schedule("every-minute", "flow.py:p", "* * * * *", created_at=T0))
    a, b = (_scheduler(s, name, clock, runs) for s, name in zip(stores, "ab", strict=True))
    for minute in range(1, 6):
        clock.now = T0 + minute * MIN
        gate = threading.Barrier(2)
        results: list[Any] = []

        def tick(s: Scheduler, gate: threading.Barrier = gate, results: list[Any] = results) -> None:
            gate.wait()
            results.append(s.tick())

        threads = [threading.Thread(target=tick, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.leader for r in results) == [False, True]
    assert [c[2] for c in runs.calls] == ["schedule:every-minute"] * 5  # one fire per minute, not two


def test_lease_expiry_hands_over(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    clock, runs = Clock(), Runs()
    stores[0].add_schedule(Schedule("hourly", "flow.py:p", "0 * * * *", created_at=T0))
    a, b = _scheduler(stores[0], "a", clock, runs, 30), _scheduler(stores[1], "b", clock, runs, 30)
    assert a.tick().leader and stores[1].lease() == ("a", T0 + 30_000)
    clock.now += 20_000  # a has died; its lease still runs
    assert not b.tick().leader
    clock.now = T0 + HOUR  # long after the lease ran out
    taken = b.tick()
    assert taken.leader and [c[2] for c in runs.calls] == ["schedule:hourly"]
    assert not a.tick().leader  # a comes back as a standby
    b.store.release_lease("b")  # a clean stop hands over at once
    assert a.tick().leader


def test_crash_mid_run_does_not_fire_twice(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    class Crash(BaseException):
        pass

    def crash(ref: str, params: dict[str, str], *, trigger: str) -> Any:
        raise Crash

    clock, runs = Clock(T0 + HOUR), Runs()
    stores[0].add_schedule(Schedule("hourly", "flow.py:p", "0 * * * *", created_at=T0))
    with pytest.raises(Crash):
        Scheduler(stores[0], holder="a", poll_s=1, lease_s=30, clock=clock, run=crash).tick()
    clock.now += 31_000  # the lease of the crashed scheduler expires; b takes over
    assert _scheduler(stores[1], "b", clock, runs, 30).tick().leader
    assert runs.calls == []  # the fire was recorded before the run started


def test_failing_pipeline_does_not_stop_the_scheduler(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    clock, runs = Clock(T0 + HOUR), Runs(fail={"bad.py:p"})
    stores[0].add_schedule(Schedule("a-bad", "bad.py:p", "0 * * * *", created_at=T0))
    stores[0].add_schedule(Schedule("b-good", "good.py:p", "0 * * * *", created_at=T0))
    result = _scheduler(stores[0], "a", clock, runs).tick()
    assert [(f.source, f.status) for f in result.fired] == [("schedule:a-bad", "ERROR"),
                                                            ("schedule:b-good", "SUCCEEDED")]
    assert "exploded" in (result.fired[0].error or "")


def test_events_are_claimed_exactly_once(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    ids = [stores[0].emit("ci:build", {"n": i}) for i in range(40)]
    claimed: dict[str, list[int]] = {}
    gate = threading.Barrier(2)

    def claim(store: SqlScheduleStore, holder: str) -> None:
        gate.wait()
        got: list[int] = []
        while batch := store.claim_events(holder, limit=3):
            got += [e.id for e in batch]
        claimed[holder] = got

    threads = [threading.Thread(target=claim, args=(s, h)) for s, h in zip(stores, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed["a"] + claimed["b"]) == ids  # every event once: none lost, none twice


def test_two_schedulers_answer_an_event_once(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    clock, runs = Clock(), Runs()
    stores[0].add_trigger(Trigger("on-ci", "ci:*", "flow.py:p", {"sha": "$sha"}))
    event_id = stores[1].emit("ci:build", {"sha": "abc"})
    stores[1].emit("other", {})
    a, b = _scheduler(stores[0], "a", clock, runs), _scheduler(stores[1], "b", clock, runs)
    results = [a.tick(), b.tick(), a.tick()]
    assert runs.calls == [("flow.py:p", {"sha": "abc"}, f"trigger:on-ci <- ci:build#{event_id}")]
    assert sorted(results[0].events) == [event_id, event_id + 1] and not results[1].leader
    assert all(e.processed_at for e in stores[0].list_events())


def test_trigger_added_after_an_event_does_not_fire_for_it(stores: tuple[SqlScheduleStore, SqlScheduleStore]) -> None:
    runs = Runs()
    stores[0].emit("ci:build")
    time.sleep(0.01)
    stores[0].add_trigger(Trigger("late", "ci:build", "flow.py:p"))
    result = _scheduler(stores[0], "a", Clock(), runs).tick()
    assert runs.calls == [] and len(result.events) == 1


def test_lease_is_renewed_while_a_pipeline_runs(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'keel.db'}")
    ensure_schema(db)
    store, rival = SqlScheduleStore(db), SqlScheduleStore(Database(db.url))
    store.add_schedule(Schedule("s", "flow.py:p", "* * * * *", created_at=int(time.time() * 1000) - 2 * MIN))
    seen: list[bool] = []

    def slow(ref: str, params: dict[str, str], *, trigger: str) -> Any:
        time.sleep(0.9)  # three lease lengths
        seen.append(rival.acquire_lease("rival", int(time.time() * 1000), 300))
        return SimpleNamespace(id="r", status="SUCCEEDED", error=None)

    result = Scheduler(store, holder="a", poll_s=0.1, lease_s=0.3, run=slow).tick()
    assert result.leader and seen == [False]


def test_run_forever_stops_and_releases_the_lease(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'keel.db'}")
    ensure_schema(db)
    store, ticks = SqlScheduleStore(db), []
    scheduler = Scheduler(store, holder="a", poll_s=0.05, lease_s=10, run=Runs())
    thread = threading.Thread(target=scheduler.run_forever, kwargs={"on_tick": ticks.append})
    thread.start()
    deadline = time.monotonic() + 5
    while len(ticks) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    scheduler.stop()
    thread.join(5)
    assert not thread.is_alive() and len(ticks) >= 3 and all(t.leader for t in ticks)
    assert store.lease() is None


def test_scheduler_rejects_a_lease_shorter_than_the_poll(tmp_path: Path) -> None:
    store = SqlScheduleStore(Database(f"sqlite:///{tmp_path / 'keel.db'}"))
    with pytest.raises(InvalidInput) as err:
        Scheduler(store, poll_s=10, lease_s=5)
    assert err.value.field == "lease_s"
