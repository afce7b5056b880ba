"""SQL connector: a query through a SQLAlchemy URL, streamed with a server-side cursor into Arrow batches.

``read("postgresql+psycopg://user@host/db", query="SELECT ...")`` (or ``read("sql:<url>", query=...)``) runs the
query with ``stream_results=True`` and pulls ``batch_rows`` rows at a time with ``fetchmany``, so a large result is
never held in memory. Column types come from the first batch unless ``schema=`` fixes them. Errors are mapped
here::

    bad URL, unknown dialect, driver not installed   -> InvalidInput  (names the URL, password hidden)
    cannot connect (refused, auth, no such database)  -> Unavailable
    error while running the query (syntax, no table)  -> InvalidInput  (names the query)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from keel.data.sources import Source, records_to_batch
from keel.errors import InvalidInput, Unavailable

__all__ = ["SqlSource"]


class SqlSource(Source):
    """The result of one SQL query, read ``batch_rows`` rows at a time."""

    def __init__(self, url: str, *, batch_rows: int = 65_536, query: str | None = None,
                 params: Mapping[str, Any] | None = None, schema: pa.Schema | None = None) -> None:
        try:
            self.url = make_url(url)
        except ArgumentError as exc:
            raise InvalidInput(f"source {url!r} is not a SQLAlchemy URL ({exc}); write it like "
                               "postgresql+psycopg://user@host:5432/db", field="source") from exc
        super().__init__(self.url.render_as_string(hide_password=True), batch_rows)
        if not query or not query.strip():
            raise InvalidInput(f"source {self.name!r} is a database: pass query=\"SELECT ...\" (--query)",
                               field="query")
        self.query = query
        self.params = dict(params or {})
        self.fixed_schema = schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        engine = self._engine()
        try:
            try:
                conn = engine.connect()
            except SQLAlchemyError as exc:
                raise Unavailable(f"cannot connect to {self.name!r}: {_first_line(exc)}; check the host, port, "
                                  "credentials and database name", field="source") from exc
            with conn:
                yield from self._stream(conn)
        finally:
            engine.dispose()

    def _engine(self) -> sa.Engine:
        try:
            return sa.create_engine(self.url)
        except NoSuchModuleError as exc:
            raise InvalidInput(f"source {self.name!r}: SQLAlchemy has no dialect {self.url.drivername!r}; check the "
                               "URL scheme, e.g. postgresql+psycopg://", field="source") from exc
        except (ImportError, ArgumentError) as exc:
            raise InvalidInput(f"source {self.name!r}: the database driver is not usable ({exc}); install it, e.g. "
                               "`pip install keel-mlops[postgres]`", field="source") from exc

    def _stream(self, conn: sa.Connection) -> Iterator[pa.RecordBatch]:
        schema = self.fixed_schema
        try:
            result = conn.execution_options(stream_results=True, yield_per=self.batch_rows).execute(
                sa.text(self.query), self.params)
            keys = list(result.keys())
            while rows := result.fetchmany(self.batch_rows):
                batch = records_to_batch([dict(zip(keys, row, strict=True)) for row in rows], schema, self.name)
                schema = batch.schema
                yield batch
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable(f"lost the connection to {self.name!r} while reading: {_first_line(exc)}",
                                  field="source") from exc
            raise InvalidInput(f"query failed on {self.name!r}: {_first_line(exc)}; fix the query {self.query!r}",
                               field="query") from exc
        except SQLAlchemyError as exc:
            raise InvalidInput(f"query failed on {self.name!r}: {_first_line(exc)}; fix the query {self.query!r}",
                               field="query") from exc
        if schema is None:  # an empty result still has its columns: one empty batch carries them
            yield pa.RecordBatch.from_pylist([], schema=pa.schema([(key, pa.null()) for key in keys]))

    @property
    def schema(self) -> pa.Schema:
        return self.fixed_schema if self.fixed_schema is not None else super().schema


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
