"""Plumbing for ``bench_tracking.py``: servers on loopback, client subprocesses, statistics, the machine note."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
CLIENTS = HERE / "bench_clients.py"
HOST = "127.0.0.1"


class BenchError(RuntimeError):
    """A benchmark could not run or a correctness check failed."""


def clean_env(extra: dict[str, str] | None = None, path_prefix: Path | None = None) -> dict[str, str]:
    """The environment without ``KEEL_*`` / ``MLFLOW_*`` settings that could redirect a server or a client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` now, in MiB (0 where /proc is missing or the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process we started (in its own process group) and where to reach it."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _stop(server: Server) -> None:
    proc = server.proc
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the group of the process we started, with its workers
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def running_server(name: str, cmd: Sequence[str], env: dict[str, str], workdir: Path, port: int,
                   timeout_s: float = 120.0) -> Iterator[Server]:
    """Start ``cmd`` (a server listening on ``port``), wait until ``/health`` answers, stop it on exit."""
    log_path = workdir / f"{name}-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(list(cmd), env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name, proc, f"http://{HOST}:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{name} server exited with code {proc.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health", timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{name} server not healthy after {timeout_s:.0f} s:\n{server.log_tail()}")
            time.sleep(0.1)
        wait_idle(server)
        yield server
    finally:
        _stop(server)


def _group_cpu_s(pgid: int) -> float | None:
    """CPU seconds used so far by the processes of group ``pgid`` (None where /proc is missing)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ... utime(11) stime(12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(server: Server, window_s: float = 0.5, timeout_s: float = 60.0) -> None:
    """Wait until the server's processes stop using CPU (workers still starting up would skew the first timings).

    ``/health`` answers as soon as one worker listens; ``mlflow server``'s other workers go on initializing for
    seconds after that. Idle means under 5% of a core for two windows in a row.
    """
    deadline = time.monotonic() + timeout_s
    last = _group_cpu_s(server.proc.pid)
    if last is None:
        time.sleep(5)
        return
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(window_s)
        now = _group_cpu_s(server.proc.pid) or 0.0
        quiet = quiet + 1 if now - last < 0.05 * window_s else 0
        last = now


def run_client(python: str, args: Sequence[str], env: dict[str, str], timeout_s: float = 7200.0) -> dict[str, Any]:
    """Run a ``bench_clients.py`` job with ``python``; its last stdout line is the JSON result."""
    cmd = [python, str(CLIENTS), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    return finish_client(proc, " ".join(args[:1]), timeout_s)


def start_client(python: str, args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a ``bench_clients.py`` job without waiting; progress goes to our stderr."""
    return subprocess.Popen([python, str(CLIENTS), *args], env=env, stdout=subprocess.PIPE, stderr=None,
                            stdin=subprocess.DEVNULL)


def finish_client(proc: subprocess.Popen[bytes], label: str, timeout_s: float = 7200.0) -> dict[str, Any]:
    """Wait for a job started by :func:`start_client` (or :func:`run_client`) and decode its result."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchError(f"{label}: no result after {timeout_s:.0f} s") from None
    lines = (out or b"").decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((err or b"").decode(errors="replace").splitlines()[-25:])
        raise BenchError(f"{label} failed (exit {proc.returncode}):\n{tail}")
    try:
        return dict(json.loads(lines[-1]))
    except json.JSONDecodeError as exc:
        raise BenchError(f"{label}: last output line is not JSON: {lines[-1]!r}") from exc


def count_history(url: str, run_id: str, key: str) -> tuple[int, set[int]]:
    """Points of one metric stored by a server, through MLflow's ``metrics/get-history`` (following pages)."""
    total, token = 0, None
    steps: set[int] = set()
    with httpx.Client(base_url=url, timeout=120.0) as client:
        for _ in range(10_000):
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25_000}
            if token:
                params["page_token"] = token
            resp = client.get("/api/2.0/mlflow/metrics/get-history", params=params)
            if resp.status_code != 200:
                raise BenchError(f"get-history at {url}: HTTP {resp.status_code} {resp.text[:300]}")
            body = resp.json()
            metrics = body.get("metrics") or []
            total += len(metrics)
            steps.update(int(m.get("step") or 0) for m in metrics)
            token = body.get("next_page_token")
            if not token or not metrics:
                break
    return total, steps


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def python_version(python: str) -> str:
    """``X.Y.Z`` of another interpreter."""
    out = subprocess.run([python, "-c", "import platform; print(platform.python_version())"], capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


def package_version(python: str, package: str) -> str | None:
    """The installed version of ``package`` in ``python``'s environment, or None."""
    code = f"from importlib.metadata import version; print(version({package!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() if out.returncode == 0 else None


def machine_note() -> str:
    """CPU, cores, memory, OS, Python and SQLite of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f", {kib / 2**20:.0f} GiB"
    return (f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def fmt_int(value: float) -> str:
    """``123,456``."""
    return f"{value:,.0f}"


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)
