"""``benchmarks/bench_serving.py --quick`` (Keel alone) and the load generator it drives, ``benchmarks/loadgen.py``."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from keel_testing import free_port  # noqa: E402
from loadgen import Target, run_load  # noqa: E402


@pytest.mark.timeout(300)
def test_bench_serving_quick_serves_correctly_without_errors() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_serving.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=290)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("P3  LogisticRegression")]
    routes = {row[4] for row in rows}
    assert {"/invocations", "/v2"} <= routes, proc.stdout
    for row in rows:  # ... requests req/s rows/s rows/predict p50 p99 errors load
        requests, rps, errors = int(row[-8].replace(",", "")), float(row[-7].replace(",", "")), int(row[-2])
        assert row[2] == "keel" and requests == 300 and rps > 0 and errors == 0, row
    assert "mlflow" not in proc.stdout  # quick mode runs Keel alone
    assert (results.read_bytes() if results.exists() else None) == before  # and never writes results


async def _flaky_server(sent: dict[str, int]) -> asyncio.Server:
    """Answers 503 to every 5th request, a chunked 200 to every 7th, closes after every 11th, else a plain 200."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            n = sent["n"] = sent["n"] + 1
            if n % 5 == 0:
                sent["503"] += 1
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
            elif n % 7 == 0:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            elif n % 11 == 0:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                await writer.drain()
                break
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_loadgen_counts_non_2xx_as_errors_and_keeps_going() -> None:
    async def scenario() -> tuple[dict[str, int], object, object]:
        sent = {"n": 0, "503": 0}
        server = await _flaky_server(sent)
        port = server.sockets[0].getsockname()[1]
        async with server:
            warm, measured = await run_load(Target("127.0.0.1", port, "/invocations", b'{"x": 1}'), requests=200,
                                            warmup=20, concurrency=4)
        return sent, warm, measured

    sent, warm, measured = asyncio.run(scenario())
    summary = measured.summary()  # type: ignore[attr-defined]
    assert sent["n"] == 220 and summary["requests"] == 200 and warm.summary()["requests"] == 20  # type: ignore
    assert summary["errors"] + warm.errors == sent["503"] == 44  # type: ignore[attr-defined]
    assert summary["statuses"]["503"] == summary["errors"] == 40
    assert summary["ok"] == 160 and summary["first_error"] == "HTTP 503: busy"
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] and summary["rps"] > 0


def test_loadgen_counts_refused_connections_as_errors() -> None:
    target = Target.from_url(f"http://127.0.0.1:{free_port()}/ping", b"{}")
    _, measured = asyncio.run(run_load(target, requests=10, warmup=0, concurrency=2))
    summary = measured.summary()
    assert summary["errors"] == 10 and summary["ok"] == 0
    assert "ConnectionRefusedError" in summary["first_error"]
