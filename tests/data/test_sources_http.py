"""HTTP connectors against a local server the test starts: files over http:// and a paged JSON API."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

import keel.data
from keel.errors import InvalidInput, NotFound, PermissionDenied, Unavailable
from keel_testing import free_port

FRAME = pd.DataFrame({"id": range(5_000), "name": [f"n{i}" for i in range(5_000)]})
ITEMS = [{"id": i, "score": i / 10} for i in range(25)]
PER_PAGE = 10


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    FRAME.to_parquet(buffer, index=False, row_group_size=1_000)
    return buffer.getvalue()


FILES = {"/files/data.csv": FRAME.to_csv(index=False).encode(), "/files/data.parquet": _parquet_bytes()}


class Handler(BaseHTTPRequestHandler):
    """Static files (with Range support, as fsspec needs for Parquet) and a small paged API."""

    requests: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Handler.requests.append(self.path)
        if url.path in FILES:
            self._file(FILES[url.path], head)
        elif url.path == "/api/numbered":
            page = int(query.get("page", "1"))
            self._json({"data": ITEMS[(page - 1) * PER_PAGE: page * PER_PAGE]})
        elif url.path == "/api/linked":
            offset = int(query.get("offset", "0"))
            more = offset + PER_PAGE < len(ITEMS)
            self._json({"results": {"items": ITEMS[offset:offset + PER_PAGE]},
                        "links": {"next": f"linked?offset={offset + PER_PAGE}" if more else None}})
        elif url.path == "/api/list":
            self._json(ITEMS[:3])
        elif url.path == "/api/html":
            self._send(200, b"<html>hello</html>", "text/html")
        elif url.path.startswith("/status/"):
            self._send(int(url.path.split("/")[2]), b"{}", "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def _file(self, body: bytes, head: bool) -> None:
        ranged = self.headers.get("Range")
        status = 200
        if ranged:
            start_text, end_text = ranged.removeprefix("bytes=").split("-")
            start, end = int(start_text), min(int(end_text or len(body) - 1), len(body) - 1)
            body, status = body[start:end + 1], 206
        self._send(status, b"" if head else body, "application/octet-stream", length=len(body))

    def _json(self, value: object) -> None:
        self._send(200, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_csv_and_parquet_over_http(server: str) -> None:
    source = keel.data.read(f"{server}/files/data.csv", batch_rows=2_000)
    assert [b.num_rows for b in source.batches()] == [2_000, 2_000, 1_000]
    pd.testing.assert_frame_equal(source.to_pandas(), FRAME, check_dtype=False)
    parquet = keel.data.read(f"{server}/files/data.parquet", batch_rows=1_500)
    assert parquet.num_rows == 5_000
    assert [b.num_rows for b in parquet.batches()] == [1_500, 1_500, 1_500, 500]
    assert parquet.to_arrow().column("name").to_pylist() == FRAME["name"].tolist()


def test_paged_api_by_page_number_reads_until_an_empty_page(server: str) -> None:
    Handler.requests.clear()
    source = keel.data.read(f"{server}/api/numbered", format="json-api", records_path="data", page_param="page",
                            params={"per_page": PER_PAGE})
    batches = list(source.batches())
    assert [b.num_rows for b in batches] == [10, 10, 5]  # three pages, one batch each
    assert source.to_arrow().column("id").to_pylist() == list(range(25))
    assert "/api/numbered?per_page=10&page=4" in Handler.requests  # the empty page ended it


def test_paged_api_following_relative_next_links(server: str) -> None:
    Handler.requests.clear()
    source = keel.data.read(f"{server}/api/linked", format="json-api", records_path="results.items",
                            next="links.next")
    assert [b.num_rows for b in source.batches()] == [10, 10, 5]
    assert Handler.requests == ["/api/linked", "/api/linked?offset=10", "/api/linked?offset=20"]
    assert source.to_pandas()["score"].tolist() == [i / 10 for i in range(25)]


def test_single_page_api_whose_body_is_the_list(server: str) -> None:
    assert keel.data.read(f"{server}/api/list", format="json-api").to_arrow().num_rows == 3


def test_http_file_errors(server: str) -> None:
    with pytest.raises(NotFound, match="missing.csv"):
        keel.data.read(f"{server}/files/missing.csv")
    with pytest.raises(Unavailable, match="HTTP 500"):
        keel.data.read(f"{server}/status/500/data.csv", format="csv")
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        keel.data.read(f"{server}/status/403/data.csv", format="csv")
    with pytest.raises(Unavailable, match="unreachable"):
        keel.data.read(f"http://127.0.0.1:{free_port()}/data.csv")


def test_api_errors(server: str) -> None:
    def api(path: str, **options: object) -> None:
        keel.data.read(f"{server}{path}", format="json-api", **options).to_arrow()

    with pytest.raises(NotFound, match="HTTP 404"):
        api("/api/nothing")
    with pytest.raises(Unavailable, match="HTTP 503"):
        api("/status/503")
    with pytest.raises(InvalidInput, match="HTTP 422"):
        api("/status/422")
    with pytest.raises(Unavailable, match="unreachable"):
        keel.data.read(f"http://127.0.0.1:{free_port()}/api", format="json-api").to_arrow()
    with pytest.raises(InvalidInput, match="not JSON"):
        api("/api/html")
    with pytest.raises(InvalidInput, match="records_path='items'.*the body has: data") as info:
        api("/api/numbered", records_path="items")
    assert info.value.field == "records_path"
    with pytest.raises(InvalidInput, match="max_pages=2"):
        api("/api/numbered", records_path="data", page_param="page", max_pages=2)
    with pytest.raises(InvalidInput, match="not both"):
        api("/api/numbered", next="links.next", page_param="page")


def test_unresolvable_host_is_unavailable_not_missing() -> None:
    import aiohttp

    # .invalid never resolves (RFC 2606); the timeout bounds a resolver that waits instead of failing at once
    quick = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=10)}}
    with pytest.raises(Unavailable, match="unreachable"):
        keel.data.read("http://no-such-host.invalid/x.csv", storage_options=quick)
    with pytest.raises(Unavailable, match="unreachable"):
        keel.data.read("http://no-such-host.invalid/x.csv")


def test_add_from_an_unreachable_host_or_a_missing_url(keel_home: Path, server: str) -> None:
    with pytest.raises(Unavailable, match="unreachable"):
        keel.data.add(f"http://127.0.0.1:{free_port()}/x.csv", "z")
    with pytest.raises(NotFound, match="missing.csv"):
        keel.data.add(f"{server}/files/missing.csv", "z")
