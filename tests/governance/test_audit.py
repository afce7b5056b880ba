"""The audit log: every mutation through the store gets one entry in its own transaction; entries are append-only
(in the application and in the database); `keel audit list/export` and `GET /api/v1/audit` read them."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

import keel
from keel import data
from keel.config import Settings
from keel.errors import AlreadyExists, PermissionDenied
from keel.governance.audit import AuditQuery, SqlAuditLog, audit_entries, parse_time
from keel.governance.audit_tables import audit_log
from keel.governance.context import acting_as
from keel.local_store import local_database
from keel.store import open_database
from keel.store.tables import remotes
from keel_testing import run_cli


@pytest.fixture
def home(keel_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEEL_USER", "carol")
    return keel_home


def _entries(**filters: object) -> list[dict[str, object]]:
    return [e.to_dict() for e in audit_entries(AuditQuery(limit=10_000, **filters))]  # type: ignore[arg-type]


def test_sdk_mutations_are_audited_with_user_ids_and_before_after(home: Path) -> None:
    with keel.start_run() as run:
        keel.log_param("lr", 0.1)
        keel.log_metrics({"acc": 0.5, "loss": 1.0})
    rid = run.info.run_id
    entries = _entries(object=rid)
    seen = {(e["action"], e["object_kind"]) for e in entries}
    assert {("insert", "runs"), ("insert", "params"), ("insert", "latest_metrics"), ("update", "runs")} <= seen
    assert {e["user"] for e in entries} == {"carol"}
    [param] = [e for e in entries if e["object_kind"] == "params"]
    assert param["object_id"] == f"{rid}/lr" and param["after"]["rows"][0]["value"] == "0.1"  # type: ignore[index]
    finish = [e for e in entries if e["action"] == "update" and e["object_kind"] == "runs"][-1]
    assert finish["before"]["rows"][0]["status"] == "RUNNING"  # type: ignore[index]
    assert finish["after"]["rows"][0]["status"] == "FINISHED"  # type: ignore[index]
    # one entry per statement: a batch of two metrics is one latest_metrics entry of two rows
    [latest] = [e for e in entries if e["object_kind"] == "latest_metrics"]
    assert latest["row_count"] == 2


def test_acting_user_and_request_id_come_from_the_context(home: Path) -> None:
    with acting_as("alice", "req-42"):
        data.add_remote("backup", "memory://audit-ctx")
    [entry] = _entries(object="remotes:backup")
    assert (entry["user"], entry["request_id"], entry["action"], entry["project"]) == ("alice", "req-42",
                                                                                      "insert", "default")
    assert _entries(user="alice") == [entry]
    assert _entries(user="nobody") == []


def test_a_failed_mutation_leaves_no_entry_and_a_rolled_back_one_neither(home: Path) -> None:
    data.add_remote("origin", "memory://audit-fail")
    before = len(_entries())
    with pytest.raises(AlreadyExists):
        data.add_remote("origin", "memory://audit-fail")  # the INSERT fails: nothing to audit
    db, _ = local_database("test")
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute(insert(remotes).values(project="default", name="ghost", url="memory://g", created_at=1))
        raise RuntimeError("abort the transaction")
    assert len(_entries()) == before
    assert _entries(object="ghost") == []


def test_the_audit_table_is_append_only_in_the_app_and_in_sqlite(home: Path) -> None:
    data.add_remote("r1", "memory://audit-append")
    db, _ = local_database("test")
    for statement in (update(audit_log).values(user="mallory"), delete(audit_log)):
        with pytest.raises(PermissionDenied, match="append-only"), db.write() as conn:
            conn.execute(statement)
    with pytest.raises(PermissionDenied), db.read() as conn:  # outside a write transaction too
        conn.execute(delete(audit_log))
    raw = sqlite3.connect(str(home / "keel.db"))
    for sql in ("UPDATE audit_log SET user = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute(sql)
    raw.close()
    assert {e["user"] for e in _entries()} == {"carol"}


def test_postgres_trigger_refuses_update_and_delete(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_database(postgres_url)
    with acting_as("pg-user"), db.write() as conn:
        conn.execute(insert(remotes).values(project="default", name="pg", url="memory://pg", created_at=1))
    with db.read() as conn:
        assert conn.execute(select(audit_log.c.user, audit_log.c.object_id)).all() == [("pg-user", "pg")]
    for sql in ('UPDATE audit_log SET "user" = \'x\'', "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))


def test_audit_cli_list_filters_and_export(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with keel.start_run() as run:
        keel.log_param("depth", 3)
    data.add_remote("elsewhere", "memory://audit-cli")
    code, out, err = run_cli("audit", "list", "--object", run.info.run_id, "--user", "carol", "--since", "1h",
                             "--json", capsys=capsys)
    assert code == 0, err
    listed = json.loads(out)
    assert listed and all(run.info.run_id in str(e["object_id"]) for e in listed)
    code, out, _ = run_cli("audit", "list", "--object", "remotes", capsys=capsys)
    assert code == 0 and "elsewhere" in out and "carol" in out

    target = tmp_path / "audit.jsonl"
    code, out, _ = run_cli("audit", "export", "-o", str(target), capsys=capsys)
    assert code == 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == len(_entries()) and f"wrote {len(lines)} audit entries" in out
    assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)
    assert {"time", "user", "action", "object_kind", "object_id", "request_id", "before", "after"} <= set(lines[0])

    code, _, err = run_cli("audit", "list", "--since", "yesterday-ish", capsys=capsys)
    assert code == 2 and "--since" in err and "2h" in err


def test_parse_time_forms() -> None:
    now = 10_000_000_000
    assert parse_time("2h", now_ms=now) == now - 7_200_000
    assert parse_time("1700000000000") == 1_700_000_000_000
    assert parse_time("2026-01-01T00:00:00Z") == parse_time("2026-01-01T00:00") == 1_767_225_600_000
    assert parse_time(None) is None


def test_rest_audit_lists_entries_with_the_request_id_of_the_request(tmp_path: Path) -> None:
    app = create_test_app(tmp_path)
    with TestClient(app, raise_server_exceptions=False) as http:
        made = http.post("/api/2.0/mlflow/experiments/create", json={"name": "audited"},
                         headers={"X-Request-ID": "req-audit-1"})
        assert made.status_code == 200 and made.headers["x-request-id"] == "req-audit-1"
        assert http.post("/api/2.0/mlflow/experiments/create", json={"name": "other"}).status_code == 200
        listed = http.get("/api/v1/audit", params={"request_id": "req-audit-1"})
        assert listed.status_code == 200
        entries = listed.json()["entries"]
        assert entries and {e["object_kind"] for e in entries} >= {"experiments"}
        assert all(e["request_id"] == "req-audit-1" for e in entries)
        page = http.get("/api/v1/audit", params={"limit": 1}).json()
        assert len(page["entries"]) == 1 and page["next_after_id"] == page["entries"][0]["id"]
        nxt = http.get("/api/v1/audit", params={"limit": 1, "after_id": page["next_after_id"]}).json()
        assert nxt["entries"][0]["id"] > page["entries"][0]["id"]
        export = http.get("/api/v1/audit/export", params={"object": "experiments"})
        assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
        assert any(json.loads(line)["request_id"] == "req-audit-1" for line in export.text.splitlines())
        bad = http.get("/api/v1/audit", params={"since": "soon"})
        assert bad.status_code == 400 and bad.json()["field"] == "since"
        assert http.get("/api/v1/audit", params={"action": "drop"}).status_code == 400


def create_test_app(tmp_path: Path) -> FastAPI:
    from keel.server import create_app

    return create_app(Settings(home=tmp_path / "home", log_format="text"))


def test_overhead_on_a_write_heavy_path(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit cost on metric batches (one statement per batch): printed, and bounded loosely."""
    from contextlib import nullcontext

    from keel.governance import audit_capture
    from keel.tracking.context import get_backend
    from keel.tracking.points import MetricPoints

    store = get_backend().tracking
    with keel.start_run() as run:
        pass
    rid = run.info.run_id

    def batches(n: int, offset: int) -> float:
        started = time.perf_counter()
        for i in range(n):
            steps = list(range(offset + i * 50, offset + (i + 1) * 50))
            store.log_metric_columns(rid, MetricPoints(["m"] * 50, [0.5] * 50, [1] * 50, steps))
        return time.perf_counter() - started

    batches(5, 0)  # warm up
    with_audit = min(batches(40, 1_000 + k * 10_000) for k in range(3))
    monkeypatch.setattr(audit_capture, "recording", lambda conn: nullcontext())
    without = min(batches(40, 100_000 + k * 10_000) for k in range(3))
    overhead = with_audit / without - 1
    print(f"\naudit overhead on log_metric batches: {with_audit / 40 * 1000:.2f} ms vs {without / 40 * 1000:.2f} ms "
          f"per batch of 50 points ({overhead:+.0%})")
    assert with_audit - without < 40 * 0.001  # under 1 ms per batch, however fast the machine
    assert SqlAuditLog(local_database("t")[0]).entries(AuditQuery(object="metric_chunks", limit=10_000))


def test_with_auth_on_the_token_holder_is_the_audited_user_and_only_admins_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from keel.governance.projects import add_member
    from keel.governance.tokens import create_token
    from keel.governance.users import create_user
    from keel.server import create_app

    app = create_app(Settings(home=tmp_path / "home", auth=True, auth_cache_ttl_s=0, log_format="text"))
    db = app.state.keel_db
    create_user(db, "root")
    create_user(db, "erin")
    add_member(db, "default", "erin", "editor")
    root, erin = (create_token(db, who).token for who in ("root", "erin"))
    with TestClient(app, raise_server_exceptions=False) as http, caplog.at_level("INFO", "keel.server.access"):
        made = http.post("/api/2.0/mlflow/experiments/create", json={"name": "by-erin"},
                         headers={"Authorization": f"Bearer {erin}", "X-Request-ID": "req-erin"})
        assert made.status_code == 200
        assert http.get("/api/v1/audit", headers={"Authorization": f"Bearer {erin}"}).status_code == 403
        listed = http.get("/api/v1/audit", params={"request_id": "req-erin"},
                          headers={"Authorization": f"Bearer {root}"})
    assert listed.status_code == 200
    assert {e["user"] for e in listed.json()["entries"]} == {"erin"}
    [access] = [r for r in caplog.records if getattr(r, "request_id", None) == "req-erin"]
    assert access.user == "erin"  # type: ignore[attr-defined]
    assert erin not in caplog.text and root not in caplog.text
