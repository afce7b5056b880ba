"""Test support shared by the suites: a `keel server` subprocess on a free port, the CLI in process, DuckDB
statements recorded, remote uploads cut off part-way."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ServeProcess", "ServerProcess", "cut_uploads_off", "free_port", "record_duckdb", "run_cli",
           "serve_registered"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A `keel server` subprocess on a free port."""

    def __init__(self, home: Path, port: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    command: tuple[str, ...] = ("server",)
    health_path = "/health"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
        env.update({"KEEL_HOME": str(self.home), **self.extra_env})
        log = open(self.home.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keel", *self.command, "--port", str(self.port)], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keel {self.command[0]} exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.url}{self.health_path}", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"keel {self.command[0]} did not come up in time")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class ServeProcess(ServerProcess):
    """A `keel serve ARGS` subprocess on a free port, started once it is live (ready may still be false)."""

    health_path = "/v2/health/live"

    def __init__(self, home: Path, *args: str, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(home, extra_env=extra_env)
        self.command = ("serve", *args)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``/v2/health/ready`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("keel serve never became ready")


def serve_registered(home: Path, model: Any, example: Any, name: str) -> ServeProcess:
    """Log ``model`` and register it as ``name`` version 1 in a fresh ``home``, then start
    ``keel serve models:/NAME/1`` there; returns the process once it is ready (stop it when done)."""
    import pytest

    import keel
    from keel.tracking.context import reset_backend

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEEL_HOME", str(home))
        mp.delenv("KEEL_TRACKING_URI", raising=False)
        reset_backend()
        with keel.start_run():
            keel.log_model(model, "model", input_example=example, registered_model_name=name)
        reset_backend()
    proc = ServeProcess(home, f"models:/{name}/1").start(timeout=60)
    proc.wait_ready()
    return proc


def run_cli(*args: str, capsys: Any) -> tuple[int, str, str]:
    """Run `keel ARGS` in process: (exit code, stdout, stderr)."""
    from keel.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def log_traffic(hours: list[tuple[float, Any]], deployment: str = "prod") -> list[str]:
    """Write prediction-log rows as a served deployment would: one request per row of each frame (its ``target``
    column left out of the inputs), spread over the hour starting at each given epoch second; returns the request
    ids in order (``r0``, ``r1``, ...). The output is ``age > 40`` as 0/1 when the frame has ``age``."""
    from keel.monitoring import PredictionLog

    ids: list[str] = []
    with PredictionLog(flush_interval_s=0.05) as log:
        for start, frame in hours:
            for i, (_, row) in enumerate(frame.iterrows()):
                request_id = f"r{len(ids)}"
                ids.append(request_id)
                log.record(request_id=request_id, deployment=deployment, model_name="m", model_version="1",
                           inputs=row.drop(labels=["target"], errors="ignore").to_frame().T,
                           outputs=[int(row.get("age", 0) > 40)], latency_ms=5.0 + i % 7,
                           timestamp=start + 1 + i * (3600.0 - 2) / len(frame))
    return ids


def record_duckdb(monkeypatch: Any) -> list[str]:
    """Make every DuckDB connection opened from now on append each statement it executes to the returned list."""
    import duckdb

    executed: list[str] = []
    real_connect = duckdb.connect

    class Recording:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self._con = con

        def execute(self, sql: str, *args: Any) -> Any:
            executed.append(sql)
            return self._con.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: Recording(real_connect(*a, **k)))
    return executed


def cut_uploads_off(monkeypatch: Any, after_bytes: int) -> None:
    """Make every remote write whose object is bigger than ``after_bytes`` fail with OSError("connection reset")
    once that many of its bytes went out (the connection dropping part-way through an upload)."""
    from keel.artifacts import FsspecStorage

    original = FsspecStorage._write_remote

    def cut(self: Any, tmp: str, final: str, chunks: Any) -> None:
        def cut_off() -> Iterator[bytes]:
            sent = 0
            for chunk in chunks:
                if sent + len(chunk) > after_bytes:
                    yield chunk[: after_bytes - sent]
                    raise OSError("connection reset")
                sent += len(chunk)
                yield chunk

        original(self, tmp, final, cut_off())

    monkeypatch.setattr(FsspecStorage, "_write_remote", cut)
