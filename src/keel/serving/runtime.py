"""What a model server serves, kept current: one model or a deployment's route table, with shadows.

The runtime loads every variant at start, then refreshes on a timer (and on demand): when an alias moves or the
deployment gets a new revision, the new versions load beside the old ones (on a worker thread) and the route table
is replaced in one assignment. Requests read the table once, so none fails or mixes versions during a swap; a load
that fails keeps the old table answering and is retried at the next refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from keel.errors import KeelError
from keel.serving.batching import ADAPTIVE, BatchConfig
from keel.serving.fastlane import Rows
from keel.serving.model import Loaded, ServedModel, describe_uri, missing, resolve_version
from keel.serving.router import RouteTable

__all__ = ["Answer", "ServingRuntime", "new_request_id"]

log = logging.getLogger("keel.serving")

_ids = itertools.count()
_id_prefix = secrets.token_hex(8)


def new_request_id() -> str:
    """A request id unique across processes (32 hex digits: a random per-process prefix and a counter); a tenth of
    the cost of a UUID4, which reads the OS's random source on every call."""
    return f"{_id_prefix}{next(_ids):016x}"


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_id_prefix)


@dataclass(frozen=True)
class Answer:
    """The predictions of one request and the variant that produced them."""

    predictions: Any
    served: ServedModel
    loaded: Loaded

    @property
    def headers(self) -> dict[str, str]:
        """Response headers naming the model and version that answered."""
        return {"x-keel-model": self.served.name, "x-keel-model-version": self.loaded.version}


class ServingRuntime:
    """Serves ``model_uri`` (under ``name``) or, with ``deployment``, that deployment's routes and shadows."""

    def __init__(self, model_uri: str | None = None, *, deployment: str | None = None, name: str | None = None,
                 batch: BatchConfig | None = None, poll_interval_s: float = 10.0, prediction_log: Any = None,
                 executor: Executor | None = None, on_batch: Callable[[str, str, int], None] | None = None) -> None:
        if (model_uri is None) == (deployment is None):
            raise ValueError("serve either a model URI or a deployment")
        self.model_uri, self.deployment = model_uri, deployment
        self.batch_override = batch
        self.poll_interval_s = poll_interval_s
        self.prediction_log = prediction_log
        self._executor, self._on_batch = executor, on_batch
        self.revision: int | None = None
        self.error: str | None = "not loaded yet"
        if model_uri is not None:
            default_name, version = describe_uri(model_uri)
            self.name = name or default_name
            only = self._served(model_uri, self.name, version, batch or ADAPTIVE)
            self.table: RouteTable[ServedModel] = RouteTable((only,), (1.0,))
        else:
            self.name = name or str(deployment)
            self.table = RouteTable((self._served("", self.name, "", BatchConfig()),), (1.0,))
        self._poller: asyncio.Task[None] | None = None
        self._refreshing = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    def _served(self, uri: str, name: str, version: str, batch: BatchConfig) -> ServedModel:
        return ServedModel(uri, name, version, batch, self._executor, self._on_batch)

    # ---------------------------------------------------------------------------------------------------- state

    @property
    def ready(self) -> bool:
        """True when every variant and shadow of the current table has a version loaded."""
        table = self.table
        return self.revision is not None or self.deployment is None and all(v.ready for v in table.variants)

    @property
    def variants(self) -> tuple[ServedModel, ...]:
        """The variants answering now."""
        return self.table.variants

    def describe(self) -> list[str]:
        """``NAME/VERSION`` of every variant, for error messages."""
        return [f"{v.name}/{v.version}" for v in self.table.variants]

    def select(self, name: str, version: str | None = None) -> RouteTable[ServedModel]:
        """The part of the table a request for ``name`` (and ``version``) may go to; :class:`NotFound` if none."""
        table = self.table
        if name == self.name:
            chosen = list(zip(table.variants, table.weights, strict=True))
        else:
            chosen = [(v, w) for v, w in zip(table.variants, table.weights, strict=True) if v.name == name]
        if version is not None:
            chosen = [(v, w) for v, w in chosen if v.version == version]
        if not chosen:
            raise missing(name, version, [self.name, *self.describe()] if self.deployment else self.describe())
        if len(chosen) == len(table.variants):
            return table
        return RouteTable(tuple(v for v, _ in chosen), tuple(w for _, w in chosen), table.shadows, table.sticky_key)

    # -------------------------------------------------------------------------------------------------- predict

    async def predict(self, data: Any, *, name: str, version: str | None = None, sticky: str | None = None,
                      request_id: str | None = None) -> Answer:
        """Route one request, predict, mirror it to the shadows, and log it; returns the answering variant."""
        table = self.select(name, version)
        served = table.choose(sticky)
        start = time.perf_counter()
        predictions, loaded = await served.predict(data)
        latency_ms = (time.perf_counter() - start) * 1000.0
        request_id = request_id or new_request_id()
        self._log(request_id, served.name, loaded.version, data, predictions, latency_ms, shadow=False)
        for shadow in table.shadows:
            self._spawn(self._shadow(shadow, data, request_id))
        return Answer(predictions, served, loaded)

    async def _shadow(self, shadow: ServedModel, data: Any, request_id: str) -> None:
        """Predict with a shadow: its answer is only logged, and its failure only logged."""
        start = time.perf_counter()
        try:
            predictions, loaded = await shadow.predict(data)
        except Exception as exc:
            status = exc.http_status if isinstance(exc, KeelError) else 500
            log.warning("shadow %s/%s failed on request %s: %s", shadow.name, shadow.version, request_id, exc)
            self._log(request_id, shadow.name, shadow.version, data, None, (time.perf_counter() - start) * 1000.0,
                      shadow=True, status=status)
            return
        self._log(request_id, shadow.name, loaded.version, data, predictions,
                  (time.perf_counter() - start) * 1000.0, shadow=True)

    def _log(self, request_id: str, model: str, version: str, data: Any, predictions: Any, latency_ms: float, *,
             shadow: bool, status: int = 200) -> None:
        if self.prediction_log is None:
            return
        try:
            self.prediction_log.record(request_id=request_id, deployment=self.name, model_name=model,
                                       model_version=version,
                                       inputs=data.logged() if isinstance(data, Rows) else data, outputs=predictions,
                                       latency_ms=latency_ms, shadow=shadow, status=status)
        except Exception as exc:  # the log must never break serving
            log.warning("prediction log refused a record: %s", exc)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -------------------------------------------------------------------------------------------------- refresh

    async def start(self) -> None:
        """Load what is to be served, then keep it current every ``poll_interval_s``."""
        await self.refresh()
        if self.poll_interval_s > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop refreshing and wait for shadow predictions still running."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.prediction_log is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.prediction_log.flush)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # keep polling: the store may be back next time
                log.warning("refreshing %s failed: %s", self.name, exc)

    async def refresh(self) -> bool:
        """Bring the served versions up to date; True when anything was swapped."""
        async with self._refreshing:
            if self.deployment is not None:
                return await self._refresh_deployment()
            return await self._refresh_model(self.table.variants[0])

    async def _refresh_model(self, served: ServedModel) -> bool:
        """(Re)load ``served`` when nothing is loaded yet or its alias points at another version now."""
        loop = asyncio.get_running_loop()
        try:
            if served.current is not None:
                if not served.follows_alias:
                    return False
                _, version = await loop.run_in_executor(self._executor, resolve_version, served.uri)
                if version == served.current.version:
                    return False
            loaded = await loop.run_in_executor(self._executor, served.load)
        except Exception as exc:
            served.fail(exc)
            return False
        previous = served.current.version if served.current is not None else None
        served.swap(loaded)
        if previous is not None:
            log.warning("%s: swapped version %s for %s", served.name, previous, loaded.version)
        return True

    async def _refresh_deployment(self) -> bool:
        from keel.tracking.context import get_backend

        loop = asyncio.get_running_loop()
        assert self.deployment is not None
        try:
            spec = await loop.run_in_executor(self._executor, get_backend().deployments.get_deployment,
                                              self.deployment)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("deployment %r could not be read: %s", self.deployment, self.error)
            return False
        if spec.revision == self.revision:
            moved = [await self._refresh_model(v) for v in (*self.table.variants, *self.table.shadows)]
            return any(moved)
        return await self._install(spec)

    async def _install(self, spec: Any) -> bool:
        """Load every variant of deployment revision ``spec`` (reusing loaded ones), then swap the table."""
        batch = self.batch_override or BatchConfig(spec.max_batch_size, spec.max_wait_ms)
        reuse = {v.uri: v for v in (*self.table.variants, *self.table.shadows) if v.ready and v.batch == batch}
        variants = [reuse.get(r.model_uri) or self._served(r.model_uri, r.model, _label(r), batch)
                    for r in spec.routes]
        shadows = [reuse.get(r.model_uri) or self._served(r.model_uri, r.model, _label(r), batch)
                   for r in spec.shadows]
        for served in (*variants, *shadows):
            if not served.ready:
                await self._refresh_model(served)
        broken = [s for s in (*variants, *shadows) if not s.ready]
        if broken:
            self.error = "; ".join(f"{s.name} ({s.uri}): {s.error}" for s in broken)
            log.error("deployment %r revision %s not installed: %s", self.deployment, spec.revision, self.error)
            return False
        self.table = RouteTable(tuple(variants), tuple(float(r.weight) for r in spec.routes), tuple(shadows),
                                spec.sticky_key)
        self.revision, self.error = spec.revision, None
        log.warning("deployment %r now at revision %s: %s", self.deployment, spec.revision, self.describe())
        return True


def _label(route: Any) -> str:
    return str(route.version) if route.version is not None else str(route.alias)
