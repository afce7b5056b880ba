"""File connector: CSV, TSV, Parquet and JSON lines on any fsspec URL, read in Arrow batches.

A single file is opened through fsspec (compression inferred from the name: ``.gz``, ``.bz2``, ...) and read with
pyarrow's streaming readers (``pyarrow.csv.open_csv``, ``pyarrow.json.open_json``, ``ParquetFile.iter_batches``);
a directory is read as a ``pyarrow.dataset``. Errors are mapped here::

    FileNotFoundError, HTTP 404                  -> NotFound      (check the path or URL)
    HTTP 401/403, PermissionError                -> PermissionDenied
    other HTTP 4xx                               -> InvalidInput
    host refused or unresolvable (DNS)           -> Unavailable   ("unreachable": check the host and port)
    HTTP 5xx, other OSError                      -> Unavailable   (the host or disk could not be read)
    ArrowInvalid (unparsable content)            -> InvalidInput  (names the format, hints at column_types=)
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any

import fsspec
import fsspec.core
import fsspec.utils
import pyarrow as pa

from keel.data.sources import Source, rebatch, status_error
from keel.errors import InvalidInput, KeelError, NotFound, PermissionDenied, Unavailable

__all__ = ["FileSource"]


class FileSource(Source):
    """One file or a directory of files in one format, on any fsspec URL."""

    def __init__(self, url: str, format: str, *, batch_rows: int = 65_536,
                 storage_options: Mapping[str, Any] | None = None, delimiter: str | None = None,
                 column_types: Mapping[str, Any] | None = None) -> None:
        super().__init__(url, batch_rows)
        self.format = format
        self.delimiter = delimiter or ("\t" if format == "tsv" else ",")
        self.column_types = {k: _arrow_type(v) for k, v in (column_types or {}).items()}
        with file_errors(url, format):
            try:
                self.fs, self.path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
            except ImportError as exc:
                raise InvalidInput(f"source {url!r} needs an fsspec backend that is not installed ({exc}); install "
                                   "it, e.g. `pip install s3fs` for s3:// or `pip install gcsfs` for gs://",
                                   field="source") from exc
            self.is_dir = self.fs.info(self.path).get("type") == "directory"

    @property
    def schema(self) -> pa.Schema:
        with file_errors(self.name, self.format):
            if self.is_dir:
                return self._dataset().schema
            with self._open() as f:
                if self.format == "parquet":
                    import pyarrow.parquet as pq

                    return pq.ParquetFile(f).schema_arrow
                return self._reader(f).schema

    @property
    def num_rows(self) -> int | None:
        if self.format != "parquet" or self.is_dir:
            return None
        with file_errors(self.name, self.format), self._open() as f:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(f).metadata.num_rows)

    def batches(self) -> Iterator[pa.RecordBatch]:
        with file_errors(self.name, self.format):
            if self.is_dir:
                yield from rebatch(self._dataset().to_batches(batch_size=self.batch_rows), self.batch_rows)
                return
            with self._open() as f:
                yield from rebatch(self._file_batches(f), self.batch_rows)

    def _open(self) -> IO[bytes]:
        compression = fsspec.utils.infer_compression(self.path)
        return self.fs.open(self.path, "rb", compression=compression)

    def _file_batches(self, f: IO[bytes]) -> Iterator[pa.RecordBatch]:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(f).iter_batches(batch_size=self.batch_rows)
        else:
            yield from self._reader(f)

    def _reader(self, f: IO[bytes]) -> pa.RecordBatchReader:
        """pyarrow's streaming reader for a CSV/TSV or JSON lines file (types inferred from the first block)."""
        if self.format == "jsonl":
            import pyarrow.json as pj

            explicit = pa.schema(list(self.column_types.items())) if self.column_types else None
            return pj.open_json(f, parse_options=pj.ParseOptions(explicit_schema=explicit))
        import pyarrow.csv as pc

        return pc.open_csv(f, parse_options=pc.ParseOptions(delimiter=self.delimiter),
                           convert_options=pc.ConvertOptions(column_types=self.column_types))

    def _dataset(self) -> Any:
        import pyarrow.csv as pc
        import pyarrow.dataset as ds

        file_format: ds.FileFormat
        if self.format == "parquet":
            file_format = ds.ParquetFileFormat()
        elif self.format == "jsonl":
            file_format = ds.JsonFileFormat()
        else:
            file_format = ds.CsvFileFormat(parse_options=pc.ParseOptions(delimiter=self.delimiter),
                                           convert_options=pc.ConvertOptions(column_types=self.column_types))
        return ds.dataset(self.path, filesystem=self.fs, format=file_format)

@contextlib.contextmanager
def file_errors(url: str, format: str) -> Iterator[None]:
    """Turn fsspec, ``OSError`` and Arrow errors raised while reading ``url`` into Keel errors naming it."""
    try:
        yield
    except KeelError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        hint = "" if format == "parquet" else "; if a column's type changes part-way, pass column_types={name: type}"
        raise InvalidInput(f"source {url!r} could not be read as {format}: {exc}{hint}", field="source") from exc
    except OSError as exc:
        raise _os_error(url, exc) from exc


def _os_error(url: str, exc: OSError) -> KeelError:
    status = _http_status(exc)
    if status is not None:
        return status_error(f"source {url!r}", status, "pass credentials in storage_options={'headers': {...}}")
    if _refused(exc):
        return Unavailable(f"source {url!r} is unreachable ({_root_cause(exc)}); check the host and port and that "
                           "the server is running", field="source")
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"source {url!r} does not exist; check the path or URL", field="source")
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"source {url!r} cannot be read: permission denied", field="source")
    return Unavailable(f"source {url!r} could not be read: {exc}", field="source")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an fsspec error (fsspec's http filesystem wraps aiohttp's error as the cause)."""
    for error in _chain(exc):
        status = getattr(error, "status", None)
        if isinstance(status, int) and status >= 400:
            return status
    return None


def _refused(exc: BaseException) -> bool:
    """Whether the host could not be reached at all: refused, reset, unresolvable (DNS), or aiohttp's connector
    errors and their subclasses (``ClientConnectorDNSError``, ...) that fsspec's http filesystem wraps."""
    aiohttp = sys.modules.get("aiohttp")  # an aiohttp error can only be raised once fsspec's http backend loaded it
    unreachable: tuple[type[BaseException], ...] = (ConnectionError, socket.gaierror)
    if aiohttp is not None:
        unreachable += (aiohttp.ClientOSError,)
    return any(isinstance(e, unreachable) for e in _chain(exc))


def _root_cause(exc: BaseException) -> str:
    return str(list(_chain(exc))[-1])


def _arrow_type(value: Any) -> pa.DataType:
    """``pa.int64()`` as is, or a name like ``"int64"``/``"string"``/``"float64"``."""
    if isinstance(value, pa.DataType):
        return value
    try:
        return pa.type_for_alias(str(value))
    except ValueError as exc:
        raise InvalidInput(f"column_types: unknown Arrow type {value!r}; use a name like int64, float64, string, "
                           "bool, timestamp[s]", field="column_types") from exc
