"""A closed-loop HTTP load generator for the serving benchmark, meant to run in a process of its own.

``CONCURRENCY`` workers each hold one persistent HTTP/1.1 keep-alive connection (raw ``asyncio`` streams, uvloop
when installed) and send the same request back to back: a warm-up of ``--warmup`` requests that is not measured,
then ``--requests`` measured ones. Every request's latency is recorded from the first byte written to the last
byte read. Any status outside 2xx, and any broken connection, is an error. The result is one JSON line on stdout::

    {"requests": 20000, "errors": 0, "seconds": 9.1, "rps": 2197.8, "p50_ms": 14.1, "p99_ms": 21.7, ...}

Usage: ``python loadgen.py --url http://127.0.0.1:8080/invocations --body body.json --requests 20000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_support import percentile

__all__ = ["LoadResult", "Target", "main", "run_load"]


@dataclass(frozen=True)
class Target:
    """Where to send the request and what it is."""

    host: str
    port: int
    path: str
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def from_url(cls, url: str, body: bytes, content_type: str = "application/json") -> Target:
        """A target from ``http://host:port/path``."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url must be http://host:port/path, got {url!r}")
        return cls(parts.hostname, parts.port or 80, parts.path or "/", body, content_type)

    def request_bytes(self) -> bytes:
        """The whole HTTP/1.1 request, built once and sent as is every time."""
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {self.content_type}\r\n"
                f"Content-Length: {len(self.body)}\r\nConnection: keep-alive\r\n\r\n")
        return head.encode("ascii") + self.body


@dataclass
class LoadResult:
    """What one phase measured."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0
    cpu_s: float = 0.0

    def fail(self, what: str) -> None:
        """Count an error, keeping the first one's description."""
        self.errors += 1
        if self.first_error is None:
            self.first_error = what[:500]

    def summary(self) -> dict[str, Any]:
        """The JSON-ready figures: counts, throughput, latency percentiles, the generator's own CPU use."""
        done = len(self.latencies_s) + self.errors
        ms = [s * 1000 for s in self.latencies_s]
        return {
            "requests": done, "ok": len(self.latencies_s), "errors": self.errors, "first_error": self.first_error,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "seconds": self.seconds,
            "rps": done / self.seconds if self.seconds > 0 else 0.0,
            "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms, default=float("nan")),
            "loadgen_cpu": self.cpu_s / self.seconds if self.seconds > 0 else 0.0,
        }


class _Connection:
    """One keep-alive connection that sends a fixed request and reads one response at a time."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.request = target.request_bytes()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self) -> tuple[int, bytes]:
        """Send the request and return the response's status and body, reconnecting when the server closed."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port)
        assert self.reader is not None
        self.writer.write(self.request)
        await self.writer.drain()
        status, body, keep_alive = await _read_response(self.reader)
        if not keep_alive:
            self.close()
        return status, body

    def close(self) -> None:
        """Drop the connection (the next exchange opens a new one)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection") != "close"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the empty trailer
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _worker(conn: _Connection, budget: list[int], result: LoadResult, timeout_s: float) -> None:
    while budget[0] > 0:
        budget[0] -= 1  # one event loop thread: no lock needed
        start = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(conn.exchange(), timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            conn.close()
            result.fail(f"{type(exc).__name__}: {exc}")
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            result.latencies_s.append(time.perf_counter() - start)
        else:
            result.fail(f"HTTP {status}: {body[:300].decode(errors='replace')}")


async def _phase(conns: list[_Connection], requests: int, timeout_s: float) -> LoadResult:
    result = LoadResult()
    budget = [requests]
    cpu0, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(_worker(c, budget, result, timeout_s) for c in conns))
    result.seconds = time.perf_counter() - start
    result.cpu_s = time.process_time() - cpu0
    return result


async def run_load(target: Target, requests: int, warmup: int = 0, concurrency: int = 32,
                   timeout_s: float = 30.0) -> tuple[LoadResult, LoadResult]:
    """Run the warm-up and the measured phase over the same ``concurrency`` connections; both results."""
    conns = [_Connection(target) for _ in range(concurrency)]
    try:
        warm = await _phase(conns, warmup, timeout_s)
        measured = await _phase(conns, requests, timeout_s)
    finally:
        for conn in conns:
            conn.close()
    return warm, measured


def _event_loop_name() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the load, print the measured phase's figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://host:port/path to POST to")
    parser.add_argument("--body", required=True, type=Path, help="file holding the request body")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=500, help="requests sent first and not measured")
    parser.add_argument("--concurrency", type=int, default=32, help="connections, one request in flight each")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take")
    args = parser.parse_args(argv)
    target = Target.from_url(args.url, args.body.read_bytes(), args.content_type)
    loop = _event_loop_name()
    warm, measured = asyncio.run(run_load(target, args.requests, args.warmup, args.concurrency, args.timeout))
    summary = measured.summary() | {"warmup_errors": warm.errors, "concurrency": args.concurrency, "loop": loop}
    if warm.first_error and not measured.first_error:
        summary["first_error"] = warm.first_error
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
