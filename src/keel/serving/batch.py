"""Batch scoring: ``keel.batch_predict`` streams an input through a model into a resumable Parquet directory.

The input is read in chunks of ``chunk_rows`` rows (:mod:`keel.serving.batch_io`); each chunk is scored by an
executor — in this process, or as one Ray task per chunk — and written as ``OUTPUT/part-NNNNN.parquet``. The
manifest ``OUTPUT/_keel_batch.json`` records the model version, the input's fingerprint, the chunk size and the
completed chunks, so a rerun of an interrupted job predicts only the missing chunks, and a rerun with another model
or changed input refuses (:class:`~keel.errors.Conflict`) unless told to overwrite.

When done, lineage edges link input → model version → predictions in the local metadata store. Against a remote
``keel server`` no edges are written yet (the server has no lineage route for them); the result says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from keel.errors import InvalidInput, KeelError
from keel.registry.fluent import load_model
from keel.registry.model_files import LoadedModel
from keel.registry.signature import ColumnSpec, Signature
from keel.registry.uris import parse_model_uri
from keel.serving.batch_io import InputSource, Manifest, OutputDir, open_input, rechunk
from keel.serving.model import PredictionFailed

__all__ = ["ROW_INDEX", "BatchProgress", "BatchResult", "Chunk", "ChunkExecutor", "LocalExecutor", "ModelRef",
           "ScoreSpec", "batch_predict", "prediction_columns", "resolve_model", "score_chunk"]

log = logging.getLogger("keel.serving.batch")

#: The column holding each row's position in the input (0-based), first in every part.
ROW_INDEX = "_row_index"
_ARROW_TYPES = {"boolean": pa.bool_(), "integer": pa.int32(), "long": pa.int64(), "float": pa.float32(),
                "double": pa.float64(), "string": pa.string()}


@dataclass(frozen=True)
class BatchResult:
    """What one :func:`batch_predict` call did."""

    rows: int
    chunks: int
    chunks_skipped: int
    output: Path
    model_uri: str
    model_name: str | None
    model_version: int | None
    seconds: float
    lineage_recorded: bool = False

    def summary(self) -> str:
        """One line for humans."""
        model = f"{self.model_name} v{self.model_version}" if self.model_name else self.model_uri
        resumed = f", {self.chunks_skipped} already done" if self.chunks_skipped else ""
        return (f"scored {self.rows:,} rows in {self.chunks} chunks{resumed} with {model} → {self.output} "
                f"in {self.seconds:.2f} s")


@dataclass(frozen=True)
class BatchProgress:
    """Reported after each chunk: which one, its rows, whether it was already done, and the running totals."""

    chunk: int
    rows: int
    skipped: bool
    rows_done: int
    total_rows: int | None


@dataclass(frozen=True)
class ModelRef:
    """The model a job uses, pinned: an alias is resolved to its version once, at the start."""

    uri: str
    name: str | None = None
    version: int | None = None

    def lineage_node(self) -> tuple[str, str]:
        """``("model_version", "NAME/V")`` for a registered version, else ``("model", uri)``."""
        if self.name is not None:
            return "model_version", f"{self.name}/{self.version}"
        return "model", self.uri


@dataclass(frozen=True)
class ScoreSpec:
    """How a chunk's predictions become columns: their names (``None``: ``prediction``…) and whether the input
    columns are kept beside them."""

    columns: tuple[str, ...] | None = None
    keep_inputs: bool = True


@dataclass(frozen=True)
class Chunk:
    """Rows ``start`` … ``start + table.num_rows - 1`` of the input, the ``index``-th chunk."""

    index: int
    start: int
    table: pa.Table


class ChunkExecutor(Protocol):
    """Scores chunks, yielding ``(chunk index, output table)`` as results arrive (in any order)."""

    def map(self, model: LoadedModel, spec: ScoreSpec, chunks: Iterable[Chunk]) -> Generator[tuple[int, pa.Table]]:
        """Score every chunk of ``chunks``."""
        ...


class LocalExecutor:
    """Scores chunks one after another in this process."""

    def map(self, model: LoadedModel, spec: ScoreSpec, chunks: Iterable[Chunk]) -> Generator[tuple[int, pa.Table]]:
        """Score each chunk as it is read."""
        for chunk in chunks:
            yield chunk.index, score_chunk(model, spec, chunk.start, chunk.table)


def batch_predict(model_uri: str, input: str | Path, output: str | Path, *, chunk_rows: int = 100_000,
                  executor: str = "local", ray_address: str | None = None, columns: str | Sequence[str] | None = None,
                  keep_inputs: bool = True, overwrite: bool = False,
                  progress: Callable[[BatchProgress], None] | None = None) -> BatchResult:
    """Score ``input`` with the model at ``model_uri`` into the Parquet directory ``output``.

    ``input`` is a CSV file, a Parquet file or a directory of Parquet files (dataset references will plug in as
    another :class:`~keel.serving.batch_io.InputSource`). It is streamed in chunks of ``chunk_rows`` rows; each chunk
    becomes ``output/part-NNNNN.parquet`` with ``_row_index``, the input columns (unless ``keep_inputs=False``) and the
    prediction column(s), named by ``columns`` or ``prediction`` / ``prediction_0``…. ``executor="ray"`` scores
    chunks as Ray tasks on ``ray_address`` (a local Ray when ``None``). Rerunning an interrupted job skips finished
    chunks; an output made by another model version, input or chunk size is a :class:`~keel.errors.Conflict` unless
    ``overwrite``. ``progress`` is called after every chunk.
    """
    started = time.perf_counter()
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInput(f"chunk_rows: expected a positive integer, got {chunk_rows!r}", field="chunk_rows")
    runner = _executor(executor, ray_address)
    spec = ScoreSpec(_column_names(columns), keep_inputs)
    ref = resolve_model(model_uri)
    model = load_model(ref.uri)
    source = open_input(input, csv_types=csv_types(model.signature))
    out = OutputDir(output)
    _check_paths(source.describe()["path"], out.path)
    manifest = Manifest(model_uri, ref.lineage_node()[1], model.mlmodel.get("model_uuid"), source.describe(),
                        chunk_rows, {"keep_inputs": spec.keep_inputs, "columns": spec.columns and list(spec.columns)})
    done = out.prepare(manifest, overwrite=overwrite)
    tally = _Tally(source.total_rows(), progress)
    with closing(runner.map(model, spec, tally.pending(_chunks(source, chunk_rows), done))) as results:
        for index, table in results:
            out.write_part(index, table)
            tally.report(index, table.num_rows, skipped=False)
    out.finish(tally.chunks, tally.rows)
    recorded = _record_lineage(source, ref, out.path)
    return BatchResult(tally.rows, tally.chunks, tally.skipped, out.path, model_uri, ref.name, ref.version,
                       time.perf_counter() - started, recorded)


class _Tally:
    """Counts chunks and rows as they stream past, hands on the ones still to score, and reports progress."""

    def __init__(self, total_rows: int | None, progress: Callable[[BatchProgress], None] | None) -> None:
        self.total_rows, self.progress = total_rows, progress
        self.chunks = self.rows = self.skipped = self.rows_done = 0

    def pending(self, chunks: Iterable[Chunk], done: set[int]) -> Iterator[Chunk]:
        for chunk in chunks:
            self.chunks, self.rows = self.chunks + 1, self.rows + chunk.table.num_rows
            if chunk.index in done:
                self.skipped += 1
                self.report(chunk.index, chunk.table.num_rows, skipped=True)
            else:
                yield chunk

    def report(self, index: int, rows: int, *, skipped: bool) -> None:
        self.rows_done += rows
        if self.progress is not None:
            self.progress(BatchProgress(index, rows, skipped, self.rows_done, self.total_rows))


def _chunks(source: InputSource, chunk_rows: int) -> Iterator[Chunk]:
    start = 0
    for index, table in enumerate(rechunk(source.batches(), chunk_rows)):
        yield Chunk(index, start, table)
        start += table.num_rows


# ------------------------------------------------------------------------------------------------------------ score


def score_chunk(model: LoadedModel, spec: ScoreSpec, start: int, table: pa.Table) -> pa.Table:
    """Predict on one chunk and return ``_row_index``, the input columns (if kept) and the prediction columns."""
    try:
        predictions = model.predict(table.to_pandas())
    except KeelError:
        raise
    except Exception as exc:
        raise PredictionFailed(f"the model raised on input rows {start}-{start + table.num_rows - 1}: "
                               f"{type(exc).__name__}: {exc}") from exc
    predicted = prediction_columns(predictions, table.num_rows, spec.columns)
    names = [ROW_INDEX, *(table.column_names if spec.keep_inputs else []), *predicted]
    clashes = sorted({n for n in predicted if names.count(n) > 1})
    if clashes:
        raise InvalidInput(f"prediction column(s) {clashes} clash with input columns; name them with columns=[...] "
                           "(CLI: --column)", field="columns")
    arrays = [pa.array(np.arange(start, start + table.num_rows, dtype=np.int64)),
              *(table.columns if spec.keep_inputs else []), *predicted.values()]
    return pa.Table.from_arrays(arrays, names=names)


def prediction_columns(predictions: Any, rows: int, names: Sequence[str] | None = None) -> dict[str, pa.Array]:
    """A model's output as named Arrow columns.

    A DataFrame or dict keeps its names; a vector is ``prediction``; a matrix with k columns is ``prediction_0`` …
    ``prediction_{k-1}``; higher-rank output is one fixed-shape tensor column. ``names`` renames them in order.
    """
    if isinstance(predictions, pd.DataFrame):
        raw: dict[str, Any] = {str(c): predictions[c].to_numpy() for c in predictions.columns}
    elif isinstance(predictions, Mapping):
        raw = {str(k): v for k, v in predictions.items()}
    else:
        values = np.asarray(predictions)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        raw = ({f"prediction_{i}": values[:, i] for i in range(values.shape[1])} if values.ndim == 2
               else {"prediction": values})
    if names is not None:
        if len(names) != len(raw):
            raise InvalidInput(f"columns: the model returns {len(raw)} prediction column(s) {list(raw)}, but "
                               f"{len(names)} name(s) were given", field="columns")
        raw = dict(zip(names, raw.values(), strict=True))
    return {name: _to_arrow(name, values, rows) for name, values in raw.items()}


def _to_arrow(name: str, values: Any, rows: int) -> pa.Array:
    array = np.asarray(values)
    if array.ndim == 0 or len(array) != rows:
        raise PredictionFailed(f"the model returned {1 if array.ndim == 0 else len(array)} value(s) for {name!r} "
                               f"on {rows} input rows")
    if array.ndim == 1:
        return pa.array(array)
    return pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(array))


def _column_names(columns: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if columns is None:
        return None
    names = (columns,) if isinstance(columns, str) else tuple(columns)
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise InvalidInput(f"columns: expected distinct, non-empty prediction column names, got {columns!r}",
                           field="columns")
    return names


def csv_types(signature: Signature | None) -> dict[str, pa.DataType]:
    """Arrow types for the named columns of a model's input signature, so every CSV chunk parses alike."""
    if signature is None or signature.inputs.is_tensor:
        return {}
    return {s.name: _ARROW_TYPES[s.type] for s in signature.inputs.specs
            if isinstance(s, ColumnSpec) and s.name is not None and s.type in _ARROW_TYPES}


# ------------------------------------------------------------------------------------------------------------ setup


def resolve_model(model_uri: str) -> ModelRef:
    """Pin ``model_uri``: ``models:/NAME@ALIAS`` becomes ``models:/NAME/V`` (asking the registry once); a local
    directory becomes its absolute path; ``runs:/`` URIs stay as they are."""
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "path":
        return ModelRef(str(Path(model_uri).expanduser().resolve()))
    if parsed.name is None or parsed.kind not in ("alias", "version"):
        return ModelRef(model_uri)
    version = parsed.version
    if parsed.kind == "alias":
        from keel.tracking.context import get_backend

        version = int(get_backend().registry.get_model_version_by_alias(parsed.name, parsed.alias).version)
    return ModelRef(f"models:/{parsed.name}/{version}", parsed.name, version)


def _executor(name: str, ray_address: str | None) -> ChunkExecutor:
    if name == "local":
        if ray_address:
            raise InvalidInput("ray_address: only used with executor='ray'", field="ray_address")
        return LocalExecutor()
    if name == "ray":
        from keel.serving.batch_ray import RayExecutor

        return RayExecutor(ray_address)
    raise InvalidInput(f"executor: expected 'local' or 'ray', got {name!r}", field="executor")


def _check_paths(input_path: str, output: Path) -> None:
    source = Path(input_path)
    if output == source or source in output.parents:
        raise InvalidInput(f"output {str(output)!r} lies inside the input {input_path!r}; write predictions "
                           "elsewhere", field="output")


def _record_lineage(source: InputSource, ref: ModelRef, output: Path) -> bool:
    """``input --scored_by--> model`` and ``model --produced--> predictions`` in the local store."""
    from keel.store import open_database
    from keel.store.lineage import Edge, record_edge
    from keel.tracking.context import get_backend

    settings = get_backend().settings
    if settings.is_remote:
        log.debug("lineage of batch predictions is not recorded against a remote server (%s)", settings.tracking_uri)
        return False
    model_kind, model_id = ref.lineage_node()
    db = open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    with db.write() as conn:
        record_edge(conn, settings.project, Edge(*source.lineage_node(), "scored_by", model_kind, model_id))
        record_edge(conn, settings.project, Edge(model_kind, model_id, "produced", "predictions", str(output)))
    return True
