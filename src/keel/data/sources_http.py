"""JSON API connector: a paged HTTP endpoint whose pages of records become Arrow batches, one per page.

Two paging styles::

    read(url, format="json-api", records_path="data", next="links.next")   follow a next link (absolute or
                                                                           relative) until it is missing or null
    read(url, format="json-api", page_param="page", start_page=1,          count pages up until one comes back
         page_size_param="per_page", page_size=100)                        empty

Without either, the single page at ``url`` is read. ``records_path`` is a dotted path to the list of records in
the body (omit it when the body is the list). Errors are mapped here::

    connection refused, timeout    -> Unavailable
    HTTP 404                       -> NotFound
    HTTP 401/403                   -> PermissionDenied  (pass headers={"Authorization": ...})
    other HTTP 4xx                 -> InvalidInput
    HTTP 5xx                       -> Unavailable
    body not JSON, no records list -> InvalidInput      (names the page URL and the keys that are there)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pyarrow as pa

from keel.data.sources import Source, records_to_batch, status_error
from keel.errors import InvalidInput, Unavailable

__all__ = ["JsonApiSource"]


class JsonApiSource(Source):
    """Records from a paged JSON API; each page is one batch."""

    def __init__(self, url: str, *, batch_rows: int = 65_536, records_path: str | None = None,
                 next: str | None = None, page_param: str | None = None, start_page: int = 1,
                 page_size_param: str | None = None, page_size: int | None = None,
                 params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                 max_pages: int = 100_000, timeout: float = 30.0, schema: pa.Schema | None = None) -> None:
        super().__init__(url, batch_rows)
        if next and page_param:
            raise InvalidInput("json-api: give next= (a link in the body) or page_param= (a page number), not both",
                               field="next")
        if not url.lower().startswith(("http://", "https://")):
            raise InvalidInput(f"json-api source {url!r} must be an http:// or https:// URL", field="source")
        self.records_path = records_path
        self.next_path = next
        self.page_param = page_param
        self.start_page = start_page
        self.params = dict(params or {})
        if page_size_param and page_size:
            self.params[page_size_param] = page_size
        self.headers = dict(headers or {})
        self.max_pages = max_pages
        self.timeout = timeout
        self.fixed_schema = schema

    @property
    def schema(self) -> pa.Schema:
        return self.fixed_schema if self.fixed_schema is not None else super().schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        schema = self.fixed_schema
        page: tuple[str, dict[str, Any]] | None = (self.name, self._params(0))
        with httpx.Client(timeout=self.timeout, headers=self.headers, follow_redirects=True) as client:
            for index in range(self.max_pages):
                if page is None:
                    return
                url, params = page
                body = self._get(client, url, params)
                records = self._records(body, url)
                if not records:
                    return
                batch = records_to_batch(records, schema, f"json-api page {url!r}")
                schema = batch.schema
                yield batch
                page = self._following(body, url, index)
        if page is not None:
            raise InvalidInput(f"json-api source {self.name!r} still had pages after max_pages={self.max_pages}; "
                               "raise max_pages or check that the paging options end", field="max_pages")

    def _params(self, index: int) -> dict[str, Any]:
        if self.page_param is None:
            return self.params
        return {**self.params, self.page_param: self.start_page + index}

    def _following(self, body: Any, url: str, index: int) -> tuple[str, dict[str, Any]] | None:
        """The URL and query parameters of the page after page ``index``, or ``None`` after the last."""
        if self.page_param is not None:
            return self.name, self._params(index + 1)
        if self.next_path is not None:
            link = _dig(body, self.next_path)
            return (str(httpx.URL(url).join(str(link))), {}) if link else None
        return None

    def _get(self, client: httpx.Client, url: str, params: Mapping[str, Any]) -> Any:
        try:
            response = client.get(url, params=params or None)  # an empty dict would drop the query of a next link
        except httpx.TransportError as exc:
            raise Unavailable(f"json-api source {url!r} is unreachable ({exc}); check the host and port and that "
                              "the server is running", field="source") from exc
        if response.status_code >= 400:
            raise status_error(f"json-api source {str(response.url)!r}", response.status_code,
                               "pass credentials with headers={'Authorization': ...}")
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidInput(f"json-api page {str(response.url)!r} is not JSON ({exc}); check the URL",
                               field="source") from exc

    def _records(self, body: Any, url: str) -> list[dict[str, Any]]:
        records = _dig(body, self.records_path) if self.records_path else body
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            keys = ", ".join(sorted(body)) if isinstance(body, dict) else type(body).__name__
            where = f"at records_path={self.records_path!r}" if self.records_path else "as the body"
            raise InvalidInput(f"json-api page {url!r} has no list of records {where} (the body has: {keys}); set "
                               "records_path= to the dotted path of the list", field="records_path")
        return records


def _dig(body: Any, path: str) -> Any:
    """``body["a"]["b"]`` for ``path="a.b"``; ``None`` when any step is missing."""
    for key in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body

