"""One served model: the version loaded now, swapped atomically when a newer one is ready, and how it predicts.

A request takes the :class:`Loaded` snapshot once and uses it to the end, so a swap never mixes two versions inside
one request and never interrupts one in flight: the old version answers what it started, the new one the rest.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from keel.errors import KeelError, NotFound, Unavailable
from keel.registry.model_files import LoadedModel
from keel.registry.signature import enforce
from keel.registry.uris import parse_model_uri
from keel.serving.batching import BatchConfig, MicroBatcher, call_model
from keel.serving.fastlane import NumericTable, Rows
from keel.serving.features import declared_features, with_online_features
from keel.serving.protocols import row_count

__all__ = ["Loaded", "PredictionFailed", "ServedModel", "describe_uri", "resolve_version"]

log = logging.getLogger("keel.serving")

#: Models whose predict calls take less than this (the median of the latest ones) run inline on the event loop: the
#: loop is busy for the call either way (a worker thread running Python code holds the GIL), so only a model that
#: lets the GIL go while it predicts gains from the hop, and the hop itself costs a GIL hand-over each way.
INLINE_BELOW_S = 0.002


class PredictionFailed(KeelError):
    """The model raised while predicting on valid input."""

    http_status = 422
    error_code = "MODEL_ERROR"


@dataclass(frozen=True)
class Loaded:
    """A model loaded at one version: what answers a request (``fast``: its numeric-table fast lane, if any)."""

    model: LoadedModel
    version: str
    fast: NumericTable | None = field(init=False, default=None)
    features: tuple[str, ...] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast", NumericTable.from_signature(self.model.signature))
        object.__setattr__(self, "features", declared_features(self.model.metadata))


def describe_uri(model_uri: str) -> tuple[str, str]:
    """The name and version a model URI serves under (a directory or run artifact is version ``1``)."""
    try:
        parsed = parse_model_uri(model_uri)
    except KeelError:
        return "model", "1"
    if parsed.kind == "version" and parsed.name:
        return parsed.name, str(parsed.version)
    if parsed.kind == "alias" and parsed.name:
        return parsed.name, str(parsed.alias)
    tail = PurePosixPath(str(parsed.path or "").replace("\\", "/").rstrip("/")).name
    return tail or "model", "1"


def resolve_version(model_uri: str) -> tuple[str, str | None]:
    """``(pinned URI, version)``: an alias URI is pinned to the version it points at now; other URIs pass through
    (version ``None`` unless the URI names one)."""
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "version":
        return model_uri, str(parsed.version)
    if parsed.kind != "alias" or parsed.name is None or parsed.alias is None:
        return model_uri, None
    from keel.tracking.context import get_backend

    version = get_backend().registry.get_model_version_by_alias(parsed.name, parsed.alias).version
    return f"models:/{parsed.name}/{version}", str(version)


class ServedModel:
    """A model a server answers with, under ``name``; ``uri`` may be an alias the server follows (hot swap)."""

    def __init__(self, uri: str, name: str, version: str, batch: BatchConfig | None = None,
                 executor: Executor | None = None, on_batch: Callable[[str, str, int], None] | None = None) -> None:
        self.uri, self.name, self.declared_version = uri, name, version
        self.current: Loaded | None = None
        self.error: str | None = "not loaded yet"
        self.batch = batch or BatchConfig()
        self._executor = executor
        self._recent_s: deque[float] = deque(maxlen=15)  # wall time of the latest predict calls
        self._on_batch = on_batch
        self._batcher: MicroBatcher[Loaded] = MicroBatcher(self._run, self.batch, executor, self._count_batch,
                                                           self._fast)
        self._rows_batcher: MicroBatcher[Loaded] = MicroBatcher(self._run_rows, self.batch, executor,
                                                                self._count_batch, self._fast)

    def _fast(self) -> bool:
        """True while the median of the latest predict calls is below :data:`INLINE_BELOW_S` (a median, so one
        call slowed by a pause elsewhere does not send the next ones to a thread)."""
        recent = self._recent_s
        return not recent or sorted(recent)[len(recent) // 2] < INLINE_BELOW_S

    @property
    def ready(self) -> bool:
        """True once a version is loaded."""
        return self.current is not None

    @property
    def version(self) -> str:
        """The version answering now (the declared one until something is loaded)."""
        return self.current.version if self.current is not None else self.declared_version

    @property
    def follows_alias(self) -> bool:
        """True when the URI is an alias the server re-resolves on every refresh."""
        try:
            return parse_model_uri(self.uri).kind == "alias"
        except KeelError:
            return False

    @property
    def platform(self) -> str:
        """The v2 ``platform``: ``keel_<flavor>``."""
        return f"keel_{self.current.model.flavor.name}" if self.current is not None else ""

    def require(self) -> Loaded:
        """The loaded snapshot, or :class:`Unavailable` saying why there is none."""
        current = self.current
        if current is None:
            raise Unavailable(f"model {self.name!r} is not ready: {self.error}", field="model")
        return current

    def load(self) -> Loaded:
        """Load the version the URI points at now (blocking; call it off the event loop)."""
        import keel

        uri, version = resolve_version(self.uri)
        return Loaded(keel.load_model(uri), version or self.declared_version)

    def swap(self, loaded: Loaded) -> None:
        """Make ``loaded`` answer every request that starts from now on."""
        self.current, self.error = loaded, None

    def fail(self, exc: BaseException) -> None:
        """Record why loading failed; a version already loaded keeps answering."""
        self.error = f"{type(exc).__name__}: {exc}"
        log.error("model %r failed to load from %s: %s", self.name, self.uri, self.error)

    async def predict(self, data: Any) -> tuple[Any, Loaded]:
        """Check ``data`` against the signature (a 400 naming the column) and predict, batching when enabled.
        Fast-lane :class:`Rows` decoded for this model's columns skip the check: decoding already did it."""
        current = self.require()
        if isinstance(data, Rows):
            if data.table.same_as(current.fast):
                return await self._dispatch(self._rows_batcher, self._run_rows, current, data.values), current
            data = data.frame()
        if current.features is not None:
            import asyncio

            data = await asyncio.get_running_loop().run_in_executor(self._executor, with_online_features, data,
                                                                    current.features)
        data = enforce(current.model.signature, data)
        return await self._dispatch(self._batcher, self._run, current, data), current

    async def _dispatch(self, batcher: MicroBatcher[Loaded], run: Callable[[Loaded, Any], Any], current: Loaded,
                        data: Any) -> Any:
        rows = row_count(data)
        if self.batch.enabled:
            return await batcher.submit(current, data, rows)
        predictions = await call_model(run, current, data, self._executor, self._fast)
        self._count_batch(rows)
        return predictions

    def _run_rows(self, current: Loaded, values: Any) -> Any:
        assert current.fast is not None
        return self._run(current, current.fast.frame(values))

    def _run(self, current: Loaded, data: Any) -> Any:
        start = time.perf_counter()
        try:
            return current.model.flavor.predict(current.model.model, data)
        except KeelError:
            raise
        except Exception as exc:
            raise PredictionFailed(f"model {self.name!r} version {current.version} failed to predict: "
                                   f"{type(exc).__name__}: {exc}", field="model") from exc
        finally:
            self._recent_s.append(time.perf_counter() - start)

    def _count_batch(self, rows: int) -> None:
        if self._on_batch is not None:
            self._on_batch(self.name, self.version, rows)


def missing(name: str, version: str | None, served: list[str]) -> NotFound:
    """The error for a model or version this server does not serve, listing what it does serve."""
    what = f"model {name!r}" + (f" version {version!r}" if version is not None else "")
    return NotFound(f"{what} is not served here; this server serves {', '.join(served) or 'nothing yet'}",
                    field="version" if version is not None else "name")
