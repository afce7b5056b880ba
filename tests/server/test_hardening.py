"""`keel server` hardening: artifact paths that escape (``..``, absolute, encoded, backslashes, symlinks), body
limits (413 JSON), timeouts (504 JSON), request ids and structured JSON logs without secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from keel.config import Settings
from keel.server import create_app
from keel.server.middleware import JsonLogFormatter


def _app(tmp_path: Path, **settings: object) -> FastAPI:
    return create_app(Settings(home=tmp_path / "home", log_format="text", **settings))  # type: ignore[arg-type]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    """A server with tiny limits and a slow route."""
    # The timeout sits well above what any fast route takes on a loaded machine, and well below /test/slow.
    app = _app(tmp_path, max_upload_bytes=1_000, max_request_bytes=2_000, request_timeout_s=2.0)

    @app.get("/test/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"late": "yes"}

    @app.get("/test/logs")
    def logs() -> dict[str, str]:
        logging.getLogger("keel.server").warning("inside the handler, token=abc123 leaked?")
        return {}

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


ESCAPES = ["%2e%2e%2fsecret", "a/%2e%2e/%2e%2e/secret", "..%5csecret", "a%5c..%5csecret", "%2fetc%2fpasswd",
           "a//b", "%00nul", "C:%5cwindows", "..%2F..%2Fsecret"]


def test_artifact_routes_refuse_paths_that_escape(small: TestClient, tmp_path: Path) -> None:
    for escape in ESCAPES:
        for prefix in ("/api/v1/artifacts/", "/api/2.0/mlflow-artifacts/artifacts/"):
            for response in (small.put(prefix + escape, content=b"x"), small.get(prefix + escape)):
                assert response.status_code == 400, (escape, response.text)
                assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
                assert "refused" in response.json()["message"]
    listed = small.get("/api/v1/artifacts", params={"path": "../.."})
    assert listed.status_code == 400
    assert not (tmp_path / "secret").exists() and not (tmp_path / "home" / "secret").exists()


def test_symlinks_leading_out_of_the_artifact_root_are_refused(small: TestClient, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    assert small.put("/api/v1/artifacts/0/run/model.txt", content=b"fine").status_code == 200
    refs = tmp_path / "home" / "artifacts" / "refs"
    os.symlink(outside, refs / "evil")
    os.symlink(outside / "secret.txt", refs / "0" / "run" / "linked.txt")
    for path in ("evil/secret.txt", "0/run/linked.txt"):
        got = small.get(f"/api/v1/artifacts/{path}")
        assert got.status_code == 400 and "symlink" in got.json()["message"]
    assert small.get("/api/v1/artifacts", params={"path": "evil"}).status_code == 400
    assert small.put("/api/v1/artifacts/evil/planted.txt", content=b"x").status_code == 400
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert small.get("/api/v1/artifacts/0/run/model.txt").content == b"fine"  # plain paths still work


def test_oversized_bodies_get_413_json(small: TestClient) -> None:
    big = small.put("/api/v1/artifacts/0/run/big.bin", content=b"x" * 1_001)
    assert big.status_code == 413 and big.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "KEEL_MAX_UPLOAD_BYTES" in big.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(10):
            yield b"y" * 300

    streamed = small.put("/api/v1/artifacts/0/run/streamed.bin", content=chunks())
    assert streamed.status_code == 413 and streamed.json()["field"] == "body"
    assert small.get("/api/v1/artifacts/0/run/streamed.bin").status_code == 404  # nothing half-stored
    body = small.post("/api/2.0/mlflow/experiments/create", content=b'{"name": "' + b"n" * 3_000 + b'"}',
                      headers={"content-type": "application/json"})
    assert body.status_code == 413 and "KEEL_MAX_REQUEST_BYTES" in body.json()["message"]
    assert small.put("/api/v1/artifacts/0/run/ok.bin", content=b"x" * 1_000).status_code == 200


def test_unknown_content_is_a_4xx_not_a_crash(small: TestClient) -> None:
    for content, kind in ((b"\xff\xfe\x00garbage", "application/octet-stream"), (b"[1, 2", "application/json"),
                          (b"<xml/>", "text/xml"), (b'"just a string"', "application/json")):
        response = small.post("/api/2.0/mlflow/runs/create", content=content, headers={"content-type": kind})
        assert 400 <= response.status_code < 500, (content, response.text)
        assert "error_code" in response.json()
    odd = small.put("/api/v1/artifacts/0/run/blob", content=b"\x00\x01\xff", headers={"content-type": "x/unknown"})
    assert odd.status_code == 200 and small.get("/api/v1/artifacts/0/run/blob").content == b"\x00\x01\xff"


def test_a_slow_handler_gets_504_json(small: TestClient) -> None:
    slow = small.get("/test/slow")
    assert slow.status_code == 504 and slow.json()["error_code"] == "REQUEST_TIMEOUT"
    assert "KEEL_REQUEST_TIMEOUT_S" in slow.json()["message"] and slow.headers["x-request-id"]


def test_request_ids_are_accepted_generated_and_echoed(small: TestClient) -> None:
    given = small.get("/api/2.0/mlflow/experiments/search", headers={"X-Request-ID": "trace-1.a:b"})
    assert given.headers["x-request-id"] == "trace-1.a:b"
    made = small.get("/api/2.0/mlflow/experiments/search")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    again = small.get("/api/2.0/mlflow/experiments/search")
    assert again.headers["x-request-id"] != made.headers["x-request-id"]
    bad = small.get("/api/2.0/mlflow/experiments/search", headers={"X-Request-ID": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])  # unusable ids are replaced


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("keel")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_json_log_lines_carry_the_request_id_and_hide_secrets(small: TestClient, json_log: io.StringIO) -> None:
    response = small.get("/test/logs", params={"token": "qs-secret-1"},
                         headers={"X-Request-ID": "req-log-1", "Authorization": "Bearer header-secret-2"})
    assert response.status_code == 200
    small.get("/api/v1/lineage/nothing", headers={"X-Request-ID": "req-log-2"})
    text = json_log.getvalue()
    assert "qs-secret-1" not in text and "header-secret-2" not in text and "abc123" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    mine = [line for line in lines if line["request_id"] == "req-log-1"]
    assert {line["logger"] for line in mine} == {"keel.server", "keel.server.access"}
    [access] = [line for line in mine if line["logger"] == "keel.server.access"]
    assert {"time", "level", "request_id", "method", "path", "status", "duration_ms", "user"} <= set(access)
    assert (access["method"], access["status"], access["level"]) == ("GET", 200, "info")
    assert access["path"].startswith("/test/logs?token=***") and access["duration_ms"] >= 0
    [missing] = [line for line in lines if line["request_id"] == "req-log-2"]
    assert missing["status"] == 404 and missing["path"] == "/api/v1/lineage/nothing"
