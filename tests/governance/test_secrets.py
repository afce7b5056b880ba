"""Secrets stay out of error messages, audit entries and logs: database URL passwords, tokens, S3 keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import keel
from keel import data
from keel.config import Settings
from keel.errors import KeelError
from keel.governance.audit import AuditQuery, audit_entries
from keel.redact import MASK, redact, redact_text
from keel.store import Database
from keel_testing import run_cli

PASSWORD = "hunter2-pw"
BAD_PG = f"postgresql+psycopg://keel:{PASSWORD}@127.0.0.1:1/keel"


def test_redaction_rules() -> None:
    payload = {"token": "t", "password": "p", "secret": "s", "key": "k", "api_key": "a", "name": "model",
               "nested": '{"aws_secret_access_key": "x", "region": "eu"}', "params": [{"key": "lr", "value": "1"}],
               "url": "s3://AKIA:verysecret@bucket/x", "count": 3}
    out = redact(payload)
    assert [out[k] for k in ("token", "password", "secret", "key", "api_key")] == [MASK] * 5
    assert out["name"] == "model" and out["count"] == 3 and out["params"] == [{"key": "lr", "value": "1"}]
    assert json.loads(out["nested"]) == {"aws_secret_access_key": MASK, "region": "eu"}
    assert out["url"] == f"s3://AKIA:{MASK}@bucket/x"
    assert redact({"key": "db_password", "value": "v"}) == {"key": "db_password", "value": MASK}
    assert redact_text("Authorization: Bearer abc.def-123") == f"Authorization: Bearer {MASK}"


def test_a_failing_postgres_url_shows_no_password(keel_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeelError) as failed, Database(BAD_PG).read():
        pass
    assert PASSWORD not in failed.value.message and "unavailable" in failed.value.message

    monkeypatch.setenv("KEEL_DB_URL", BAD_PG)
    from keel.config import reset_settings

    reset_settings()
    code, out, err = run_cli("audit", "list", capsys=capsys)
    assert code == 2 and PASSWORD not in out + err and "unavailable" in err
    with pytest.raises(KeelError) as unparsable:
        Database(f"postgresql+psycopg://keel:{PASSWORD}@host:notaport/db")
    assert PASSWORD not in unparsable.value.message and MASK in unparsable.value.message


def test_audit_entries_of_secret_payloads_are_redacted(keel_home: Path) -> None:
    data.add_remote("s3backup", "memory://secrets-test", {"key": "AKIA-KEY-1", "secret": "s3-secret-2",
                                                          "token": "session-3", "client_kwargs": {"region": "eu"}})
    with keel.start_run():
        keel.log_params({"db_password": "param-secret-4", "lr": 0.1})
    text = json.dumps([e.to_dict() for e in audit_entries(AuditQuery(limit=10_000))])
    for secret in ("AKIA-KEY-1", "s3-secret-2", "session-3", "param-secret-4"):
        assert secret not in text
    assert "eu" in text and "0.1" in text and MASK in text


def test_server_audit_and_logs_hide_tokens(tmp_path: Path) -> None:
    from keel.server import create_app

    app = create_app(Settings(home=tmp_path / "home", log_format="text"))
    with TestClient(app, raise_server_exceptions=False) as http:
        run = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"},
                        headers={"Authorization": "Bearer hdr-token-5"}).json()["run"]["info"]["run_id"]
        tagged = http.post("/api/2.0/mlflow/runs/set-tag", json={"run_id": run, "key": "api_token",
                                                                 "value": "tag-token-6"})
        assert tagged.status_code == 200
        audit = http.get("/api/v1/audit", params={"object": run}).text
    assert "tag-token-6" not in audit and "hdr-token-5" not in audit and "api_token" in audit


def test_keel_server_start_line_hides_the_database_password(postgres_url: str, keel_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn
    from sqlalchemy.engine import make_url

    from keel.config import reset_settings
    from keel.store import _OPEN

    # the server trusts local connections, so a password in the URL is accepted and must still never be shown
    url = make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    monkeypatch.setenv("KEEL_DB_URL", url)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    try:
        code, out, err = run_cli("server", "--port", "1", capsys=capsys)
    finally:
        reset_settings()
        db = _OPEN.pop(url, None)
        if db is not None:
            db.dispose()
    assert code == 0 and "keel server on http://127.0.0.1:1" in out
    assert PASSWORD not in out + err and f"postgres:{MASK}@" in out
