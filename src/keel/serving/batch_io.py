"""Batch scoring I/O: inputs read as fixed-size Arrow chunks, outputs kept as a resumable Parquet directory.

Inputs are streamed, never loaded whole: a CSV file through ``pyarrow.csv.open_csv``, a Parquet file or a directory
of Parquet files through ``pyarrow.dataset``. :func:`rechunk` cuts the reader's batches into chunks of exactly
``chunk_rows`` rows, so chunk ``k`` always holds the same rows whatever the reader's own batch sizes; that is what
makes resuming safe.

An input is anything that satisfies :class:`InputSource`. Today :func:`open_input` builds one from a path
(:class:`FileInput`); a dataset version (a later issue) will be a second ``InputSource`` that reads its files through
``keel.artifacts`` and names itself ``("dataset_version", id)`` in lineage, with no change to the scoring loop.

The output directory holds ``part-00000.parquet``… (one per chunk, each written to a hidden temp name and renamed)
and ``_keel_batch.json``, the :class:`Manifest`: which model, which input (fingerprint), which chunk size, and which
chunks are complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from keel.errors import Conflict, InvalidInput, NotFound

__all__ = ["MANIFEST", "FileInput", "InputSource", "Manifest", "OutputDir", "open_input", "rechunk"]

MANIFEST = "_keel_batch.json"
_PART = "part-{:05d}.parquet"
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# The CSV reader reads ahead several blocks: 4 MiB blocks held ~130 MB of Arrow memory, 1 MiB ~35 MB (measured).
_CSV_BLOCK_BYTES = 1 << 20
_SCAN_BATCH_ROWS = 65_536


class InputSource(Protocol):
    """Where batch scoring reads rows from."""

    def describe(self) -> dict[str, Any]:
        """What identifies this input in the manifest: path, format and a fingerprint of the bytes read."""
        ...

    def lineage_node(self) -> tuple[str, str]:
        """``(kind, id)`` of the input in the lineage graph."""
        ...

    def total_rows(self) -> int | None:
        """The number of rows when it is cheap to know (Parquet metadata), else ``None``."""
        ...

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, in a stable order, as Arrow record batches of any size."""
        ...


@dataclass(frozen=True)
class FileInput:
    """A CSV file, a Parquet file, or a directory of Parquet files (hive partitions become columns)."""

    path: Path
    format: str
    files: tuple[Path, ...]
    fingerprint: str
    csv_types: Mapping[str, pa.DataType] = field(default_factory=dict)
    dataset_version: str | None = None  # the id, when the files are a checked-out dataset version

    def describe(self) -> dict[str, Any]:
        """Path, format, file count and fingerprint."""
        return {"path": str(self.path), "format": self.format, "files": len(self.files),
                "fingerprint": self.fingerprint}

    def lineage_node(self) -> tuple[str, str]:
        """``("dataset_version", id)`` for a dataset version, else ``("file", "<abs path>@<fingerprint>")``."""
        if self.dataset_version is not None:
            return "dataset_version", self.dataset_version
        return "file", f"{self.path}@{self.fingerprint}"

    def total_rows(self) -> int | None:
        """Rows from the Parquet footers; ``None`` for CSV (counting would mean reading it twice)."""
        return None if self.format == "csv" else int(self._dataset().count_rows())

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Stream the rows; a value that does not parse is an :class:`InvalidInput` naming the file."""
        try:
            if self.format == "csv":
                yield from self._csv_reader()
            else:
                # Threaded scans and pre_buffer read far ahead of a slow consumer (the model): on a 200 MB file
                # they held 110-210 MB of Arrow memory against ~50 MB for this (measured).
                yield from self._dataset().to_batches(
                    batch_size=_SCAN_BATCH_ROWS, batch_readahead=1, fragment_readahead=1, use_threads=False,
                    fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            hint = " (the CSV reader guesses types from the first block; convert the file to Parquet)" \
                if self.format == "csv" else ""
            raise InvalidInput(f"input {str(self.path)!r}: cannot read {self.format}: {exc}{hint}",
                               field="input") from exc

    def _csv_reader(self) -> Any:
        convert = pacsv.ConvertOptions(column_types=dict(self.csv_types))
        return pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                              convert_options=convert)

    def _dataset(self) -> Any:
        if self.path.is_dir():
            return pads.dataset(self.path, format="parquet", partitioning="hive")
        return pads.dataset(self.path, format="parquet")


def open_input(source: str | Path, *, csv_types: Mapping[str, pa.DataType] | None = None) -> FileInput:
    """An :class:`InputSource` for a path: ``*.csv`` (optionally compressed), ``*.parquet``, or a directory of
    Parquet files. ``csv_types`` fixes CSV column types (typically from the model's signature)."""
    if not isinstance(source, str | Path) or not str(source):
        raise InvalidInput("input: give a CSV file, a Parquet file or a directory of Parquet files", field="input")
    path = Path(source).expanduser().resolve()
    if not path.exists() and "@" in str(source):
        return _dataset_input(str(source), csv_types)
    if not path.exists():
        raise NotFound(f"input {str(source)!r} does not exist; give a CSV file, a Parquet file or a directory of "
                       "Parquet files", field="input")
    if path.is_dir():
        files = tuple(Path(f) for f in pads.dataset(path, format="parquet", partitioning="hive").files)
        if not files:
            raise InvalidInput(f"input directory {str(source)!r} holds no Parquet files", field="input")
        return FileInput(path, "parquet", files, _fingerprint(path, files))
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return FileInput(path, "csv", (path,), _fingerprint(path, (path,)), dict(csv_types or {}))
    if name.endswith(_PARQUET_SUFFIXES):
        return FileInput(path, "parquet", (path,), _fingerprint(path, (path,)))
    raise InvalidInput(f"input {str(source)!r}: unsupported format; use .csv, .parquet or a directory of Parquet "
                       "files", field="input")


def _dataset_input(ref: str, csv_types: Mapping[str, pa.DataType] | None) -> FileInput:
    """A dataset version ``NAME@vN`` as input: its files checked out (hash-verified, once) into the Keel home's cache;
    a version never changes, so its id is the fingerprint."""
    from keel.data.versioning import checkout, get_version
    from keel.tracking.context import get_backend

    version = get_version(ref)
    target = checkout(version, get_backend().settings.home / "cache" / "datasets" / version.id)
    found = open_input(target, csv_types=csv_types)
    return replace(found, fingerprint=version.id, dataset_version=version.id)


def _fingerprint(root: Path, files: tuple[Path, ...]) -> str:
    """A digest of each file's name, size and modification time: changes when the data does, costs a stat."""
    stats = [(str(f.relative_to(root)) if f != root else f.name, f.stat().st_size, f.stat().st_mtime_ns)
             for f in files]
    return hashlib.blake2b(json.dumps(stats).encode(), digest_size=8).hexdigest()


def rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Regroup ``batches`` into tables of exactly ``rows`` rows (the last may be shorter), holding at most one chunk
    plus one batch in memory."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == rows:
                yield pa.Table.from_batches(pending)
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending)


@dataclass
class Manifest:
    """The state of one batch output: what produced it and which chunks are done (``_keel_batch.json``)."""

    model_uri: str
    model: str
    model_uuid: str | None
    input: dict[str, Any]
    chunk_rows: int
    options: dict[str, Any]
    completed: set[int] = field(default_factory=set)
    chunks: int | None = None
    rows: int | None = None

    def identity(self) -> dict[str, Any]:
        """What must match for a rerun to reuse completed parts."""
        return {"model": self.model, "model_uuid": self.model_uuid, "input": self.input["path"],
                "input fingerprint": self.input["fingerprint"], "chunk_rows": self.chunk_rows,
                "options": self.options}

    def to_json(self) -> str:
        """The manifest file's text."""
        data = asdict(self)
        data["completed"] = sorted(self.completed)
        return json.dumps({"format": 1, **data}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest file's text (``KeyError``/``ValueError`` when it is not one)."""
        data = json.loads(text)
        data.pop("format", None)
        data["completed"] = set(data["completed"])
        return cls(**data)


class OutputDir:
    """A Parquet dataset directory of prediction parts plus the manifest that makes it resumable."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        self.manifest: Manifest | None = None

    def part(self, index: int) -> Path:
        """The file holding chunk ``index``."""
        return self.path / _PART.format(index)

    def prepare(self, manifest: Manifest, *, overwrite: bool = False) -> set[int]:
        """Adopt ``manifest`` and return the chunks already done (a rerun of the same job resumes); refuse with
        :class:`Conflict` when the directory holds another job's output, unless ``overwrite``."""
        if self.path.exists() and not self.path.is_dir():
            raise InvalidInput(f"output {str(self.path)!r} is a file; give a directory path", field="output")
        previous = self._read_manifest()
        done: set[int] = set()
        if previous is not None and not overwrite:
            _check_same_job(self.path, previous, manifest)
            done = {i for i in previous.completed if self.part(i).is_file()}
        elif previous is None and self.path.is_dir() and any(self.path.iterdir()):
            raise Conflict(f"output {str(self.path)!r} is not empty and holds no Keel batch output; choose a new "
                           "or empty directory", field="output")
        self._clear(keep=done)
        manifest.completed = done
        self.manifest = manifest
        self._write_manifest()
        return done

    def write_part(self, index: int, table: pa.Table) -> None:
        """Write chunk ``index`` under a hidden temp name, rename it into place, then mark it done."""
        assert self.manifest is not None, "prepare() first"
        target = self.part(index)
        temp = self.path / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        pq.write_table(table, temp, compression="zstd", use_dictionary=_dictionary_columns(table))
        os.replace(temp, target)
        self.manifest.completed.add(index)
        self._write_manifest()

    def finish(self, chunks: int, rows: int) -> None:
        """Record that all ``chunks`` (``rows`` rows) are written."""
        assert self.manifest is not None, "prepare() first"
        self.manifest.chunks, self.manifest.rows = chunks, rows
        self._write_manifest()

    def _read_manifest(self) -> Manifest | None:
        file = self.path / MANIFEST
        if not file.is_file():
            return None
        try:
            return Manifest.from_json(file.read_text())
        except (ValueError, KeyError, TypeError) as exc:
            raise Conflict(f"output {str(self.path)!r}: {MANIFEST} is unreadable ({exc}); pass overwrite=True "
                           "(CLI: --overwrite) to start again", field="output") from exc

    def _write_manifest(self) -> None:
        assert self.manifest is not None
        temp = self.path / f".{MANIFEST}.tmp-{uuid.uuid4().hex[:8]}"
        temp.write_text(self.manifest.to_json())
        os.replace(temp, self.path / MANIFEST)

    def _clear(self, keep: set[int]) -> None:
        """Create the directory, or remove our files from it except the parts in ``keep``."""
        self.path.mkdir(parents=True, exist_ok=True)
        keep_names = {self.part(i).name for i in keep}
        for file in self.path.iterdir():
            ours = file.name.startswith(("part-", ".part-", f".{MANIFEST}")) or file.name == MANIFEST
            if ours and file.is_file() and file.name not in keep_names:
                file.unlink()


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Dictionary-encode text only: on numeric columns it costs 4x the write time (measured) for little gain."""
    return [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            or pa.types.is_dictionary(f.type)]


def _check_same_job(path: Path, previous: Manifest, current: Manifest) -> None:
    old, new = previous.identity(), current.identity()
    changed = [key for key in new if old.get(key) != new[key]]
    if changed:
        key = changed[0]
        raise Conflict(f"output {str(path)!r} holds predictions made with {key} {old.get(key)!r}, not "
                       f"{new[key]!r}; pass overwrite=True (CLI: --overwrite) to replace them, or choose another "
                       "output", field="output")
