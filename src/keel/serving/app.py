"""The real-time model server: a model or a deployment behind Open Inference Protocol v2, MLflow's scoring protocol
and Prometheus metrics.

Routes (see ``/work/shared/compat/open-inference-v2.md``)::

    GET  /v2  /v2/health/live  /v2/health/ready
    GET  /v2/models/{name}[/versions/{v}]          metadata: name, versions, platform, inputs, outputs
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer    tensors in, tensors out; errors as {"error": ...}
    POST /v2/repository/models/{name}/load         re-read the alias / deployment now (hot swap without waiting)
    POST /invocations                               dataframe_split | dataframe_records | instances | inputs | CSV
    GET  /ping  /health  /version  /metrics

``name`` is the served model's name, or with a deployment the deployment's name (any variant answers, by the route
weights) or one routed model's name. Every response names the model and version that answered (headers
``x-keel-model`` / ``x-keel-model-version``, and v2's ``model_version``). A model that fails to load leaves the server
up: readiness answers false and predictions answer 503 with the load error. Bad input is a 400 naming the field; a
model that raises is a 422 carrying the model's message, never a 500.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from keel.asgi import OrjsonResponse, install_error_handlers
from keel.errors import KeelError, Unavailable
from keel.server.permissions import requires
from keel.serving.batching import ADAPTIVE, BatchConfig
from keel.serving.explain import add_explain_routes
from keel.serving.metrics import CONTENT_TYPE_LATEST, ServingMetrics
from keel.serving.protocols import (
    BINARY_HEADER,
    column_names,
    decode_invocations,
    decode_v2_request,
    encode_invocations,
    encode_v2_response,
    model_metadata,
    read_v2_body,
)
from keel.serving.runtime import ServingRuntime, new_request_id

__all__ = ["SERVE_OPTIONS_ENV", "ServeOptions", "ServingApp", "create_serving_app", "create_serving_app_from_env"]

log = logging.getLogger("keel.serving")

#: The environment variable ``keel serve`` puts its options in (JSON) for the uvicorn factory in every worker.
SERVE_OPTIONS_ENV = "KEEL_SERVE_OPTIONS"
STICKY_HEADER = "x-keel-sticky-key"


@dataclass(frozen=True)
class ServeOptions:
    """What one server serves and how: a model URI or a deployment, batching, refresh and prediction logging."""

    model_uri: str | None = None
    deployment: str | None = None
    name: str | None = None
    max_batch_size: int | None = None
    max_wait_ms: float | None = None
    poll_interval_s: float = 10.0
    log_predictions: bool = True

    def batch(self) -> BatchConfig | None:
        """The batching knobs given explicitly (``None``: a deployment's own, or :data:`ADAPTIVE` for one model)."""
        if self.max_batch_size is None and self.max_wait_ms is None:
            return None
        return BatchConfig(self.max_batch_size or ADAPTIVE.max_batch_size,
                           ADAPTIVE.max_wait_ms if self.max_wait_ms is None else self.max_wait_ms)

    def to_env(self) -> str:
        """These options as the JSON the factory reads."""
        return orjson.dumps(asdict(self)).decode()


def create_serving_app(model_uri: str | None = None, name: str | None = None, *, deployment: str | None = None,
                       max_batch_size: int | None = None, max_wait_ms: float | None = None,
                       poll_interval_s: float = 10.0, log_predictions: bool = True,
                       prediction_log: Any = None) -> ServingApp:
    """An ASGI app serving ``model_uri`` (or ``deployment``), loaded at startup and kept current every
    ``poll_interval_s`` seconds (0 turns polling off). Predictions go to the prediction log unless
    ``log_predictions`` is false; pass ``prediction_log`` to use your own."""
    options = ServeOptions(model_uri, deployment, name, max_batch_size, max_wait_ms, poll_interval_s, log_predictions)
    return _build(options, prediction_log)


def create_serving_app_from_env() -> ServingApp:
    """The uvicorn factory for ``keel serve``: options come from ``KEEL_SERVE_OPTIONS``."""
    raw = os.environ.get(SERVE_OPTIONS_ENV)
    if not raw:
        raise Unavailable(f"set {SERVE_OPTIONS_ENV} to the serve options (keel serve does)", field=SERVE_OPTIONS_ENV)
    return _build(ServeOptions(**orjson.loads(raw)), None, server_process=True)


def _build(options: ServeOptions, prediction_log: Any, *, server_process: bool = False) -> ServingApp:
    metrics = ServingMetrics()
    if prediction_log is None and options.log_predictions:
        from keel.monitoring import PredictionLog

        prediction_log = PredictionLog()
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="keel-predict")
    runtime = ServingRuntime(options.model_uri, deployment=options.deployment, name=options.name,
                             batch=options.batch(), poll_interval_s=options.poll_interval_s,
                             prediction_log=prediction_log, executor=executor, on_batch=metrics.observe_batch)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if server_process:
            _tune_server_process()
        try:
            yield
        finally:
            await runtime.stop()
            executor.shutdown(wait=False)

    app = FastAPI(title=f"keel serve {runtime.name}", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, default_response_class=OrjsonResponse)
    app.state.runtime = runtime
    app.state.metrics = metrics
    app.state.keel_access = _access_control()
    install_error_handlers(app)
    _add_v2_routes(app, runtime, metrics)
    _add_mlflow_routes(app, runtime, metrics)
    add_explain_routes(app, runtime)
    return ServingApp(app, runtime, metrics)


def _tune_server_process() -> None:
    """Tail-latency settings for a process that only serves (not for apps built inside another program, e.g. a
    test session): every stall here holds up every request in flight, so p99 and max latency count it."""
    # Everything loaded so far (libraries, the model) lives as long as the process: keep it out of the cyclic
    # garbage collector, and make full passes rare: with the startup heap frozen, the default thresholds would run
    # one over the prediction log's buffer about every second, a 5-10 ms stall each time.
    gc.freeze()
    gc.set_threshold(5_000, 20, 1_000)
    # The prediction log encodes on a thread of its own; a request waiting for the GIL waits at most this long.
    sys.setswitchinterval(0.0005)


def _access_control() -> Any:
    """The access control of ``keel serve`` with auth on (predictions need ``read``), else None."""
    from keel.config import get_settings

    settings = get_settings()
    if not settings.auth:
        return None
    from keel.governance.access import access_control
    from keel.store import open_database

    return access_control(open_database(settings.resolved_db_url), settings)


# ------------------------------------------------------------------------------------------------ prediction routes


_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


class ServingApp:
    """The ASGI app ``keel serve`` runs: ``POST /invocations`` and ``POST /v2/models/…/infer`` are answered here
    directly (the hot path skips the framework's routing and middleware), everything else by the FastAPI app."""

    def __init__(self, app: FastAPI, runtime: ServingRuntime, metrics: ServingMetrics) -> None:
        self.app, self.runtime, self.metrics = app, runtime, metrics
        self.access: Any = getattr(app.state, "keel_access", None)

    @property
    def state(self) -> Any:
        """The FastAPI app's state (``runtime``, ``metrics``)."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path == "/invocations" and b"explain=" not in scope["query_string"]:  # explain: the app's route
                if self.access is not None and await self._refused(scope, receive, send, _mlflow_error):
                    return
                await self._answer(invocations(Request(scope, receive), self.runtime, self.metrics), scope, send)
                return
            match = _INFER.fullmatch(path)
            if match is not None:
                if self.access is not None and await self._refused(scope, receive, send, _v2_error):
                    return
                request = Request(scope, receive)
                await self._answer(infer(request, self.runtime, self.metrics, *match.groups()), scope, send)
                return
        await self.app(scope, receive, send)

    async def _refused(self, scope: Scope, receive: Receive, send: Send,
                       on_error: Callable[[KeelError], dict[str, Any]]) -> bool:
        """With auth on, answer 401/403 (and return True) unless the caller may read (predict)."""
        try:
            await self.access.authorize(Request(scope, receive), "read")
        except KeelError as exc:
            await OrjsonResponse(on_error(exc), status_code=exc.http_status)(scope, _no_receive, send)
            return True
        return False

    @staticmethod
    async def _answer(pending: Awaitable[Response], scope: Scope, send: Send) -> None:
        try:
            response = await pending
        except Exception:  # a bug of ours: answer 500 with a body, never a traceback
            log.exception("prediction request failed")
            response = OrjsonResponse({"error": "internal error; see the server log"}, status_code=500)
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _is_json(content_type: str | None) -> bool:
    return content_type is None or "json" in content_type


async def invocations(request: Request, runtime: ServingRuntime, metrics: ServingMetrics) -> Response:
    """``POST /invocations``: MLflow's scoring protocol."""
    async def handle() -> tuple[Response, str, str]:
        served = runtime.table.variants[0].require()
        raw, content_type = await request.body(), request.headers.get("content-type")
        data: Any = None
        if served.fast is not None and _is_json(content_type):
            with contextlib.suppress(orjson.JSONDecodeError):
                body = orjson.loads(raw)
                data = served.fast.from_invocations(body) if isinstance(body, dict) else None
        if data is None:
            data = decode_invocations(raw, content_type, column_names(served.model.signature))
        answer = await runtime.predict(data, name=runtime.name, sticky=_sticky(request, runtime))
        return (OrjsonResponse(encode_invocations(answer.predictions), headers=answer.headers), answer.served.name,
                answer.loaded.version)

    return await _timed(runtime, metrics, "invocations", runtime.name, handle, _mlflow_error)


async def infer(request: Request, runtime: ServingRuntime, metrics: ServingMetrics, name: str,
                version: str | None = None) -> Response:
    """``POST /v2/models/{name}[/versions/{version}]/infer``: Open Inference Protocol v2."""
    async def handle() -> tuple[Response, str, str]:
        table = runtime.select(name, version)
        body = read_v2_body(await request.body(), request.headers.get(BINARY_HEADER))
        served = table.variants[0].require()
        data: Any = served.fast.from_v2(body) if served.fast is not None else None
        if data is None:
            data = decode_v2_request(body, column_names(served.model.signature))
        request_id = body.get("id") if isinstance(body.get("id"), str) else new_request_id()
        answer = await runtime.predict(data, name=name, version=version, request_id=request_id,
                                       sticky=_sticky(request, runtime, body.get("parameters")))
        payload = encode_v2_response(answer.predictions, answer.served.name, answer.loaded.version, request_id)
        return OrjsonResponse(payload, headers=answer.headers), answer.served.name, answer.loaded.version

    return await _timed(runtime, metrics, "v2", name, handle, _v2_error)


def _sticky(request: Request, runtime: ServingRuntime, parameters: Any = None) -> str | None:
    """The request's sticky routing key: the ``x-keel-sticky-key`` header, a header named like the deployment's
    sticky key, or (v2) that key among the request parameters."""
    key = runtime.table.sticky_key
    value = request.headers.get(STICKY_HEADER)
    if value is None and key:
        value = request.headers.get(key)
        if value is None and isinstance(parameters, dict) and parameters.get(key) is not None:
            value = str(parameters[key])
    return value


async def _timed(runtime: ServingRuntime, metrics: ServingMetrics, protocol: str, model: str,
                 handle: Callable[[], Awaitable[tuple[Response, str, str]]],
                 on_error: Callable[[KeelError], dict[str, Any]]) -> Response:
    """Run one prediction request, turning Keel errors into ``on_error`` bodies, and record its metrics."""
    start = time.perf_counter()
    try:
        response, name, version = await handle()
    except KeelError as exc:
        name, version = model, runtime.variants[0].version if len(runtime.variants) == 1 else ""
        response = OrjsonResponse(on_error(exc), status_code=exc.http_status)
    metrics.observe(name, version, protocol, time.perf_counter() - start, response.status_code)
    return response


# ------------------------------------------------------------------------------------------------------------- v2


def _v2_error(exc: KeelError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    return body


def _add_v2_routes(app: FastAPI, runtime: ServingRuntime, metrics: ServingMetrics) -> None:
    """The v2 routes but ``POST …/infer``, which :class:`ServingApp` answers."""
    from keel import __version__

    @app.get("/v2", dependencies=[requires("public")])
    async def server_metadata() -> dict[str, Any]:
        return {"name": "keel", "version": __version__, "extensions": ["model_repository", "binary_tensor_data"]}

    @app.get("/v2/health/live", dependencies=[requires("public")])
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready", dependencies=[requires("public")])
    async def ready() -> Response:
        return OrjsonResponse({"ready": runtime.ready}, status_code=200 if runtime.ready else 503)

    async def metadata(name: str, version: str | None = None) -> Response:
        try:
            table = runtime.select(name, version)
        except KeelError as exc:
            return OrjsonResponse(_v2_error(exc), status_code=exc.http_status)
        served = table.variants[0]
        signature = served.current.model.signature if served.current is not None else None
        body = model_metadata(name, served.version, served.platform, signature)
        body["versions"] = sorted({v.version for v in table.variants})
        return OrjsonResponse(body)

    async def model_ready(name: str, version: str | None = None) -> Response:
        try:
            table = runtime.select(name, version)
        except KeelError as exc:
            return OrjsonResponse(_v2_error(exc), status_code=exc.http_status)
        ok = all(v.ready for v in table.variants)
        return OrjsonResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.post("/v2/repository/models/{name}/load", dependencies=[requires("maintain")])
    async def load(name: str) -> Response:
        runtime.select(name)
        swapped = await runtime.refresh()
        return OrjsonResponse({"name": name, "swapped": swapped, "ready": runtime.ready,
                               "versions": runtime.describe()})

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.add_api_route(prefix, metadata, methods=["GET"], dependencies=[requires("read")])
        app.add_api_route(f"{prefix}/ready", model_ready, methods=["GET"], dependencies=[requires("read")])


# --------------------------------------------------------------------------------------------------------- MLflow


def _mlflow_error(exc: KeelError) -> dict[str, Any]:
    code = "BAD_REQUEST" if exc.http_status < 500 else exc.error_code
    body: dict[str, Any] = {"error_code": code, "message": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    return body


def _add_mlflow_routes(app: FastAPI, runtime: ServingRuntime, metrics: ServingMetrics) -> None:
    """Everything of MLflow's scoring protocol but ``POST /invocations``, which :class:`ServingApp` answers."""
    from keel import __version__

    @app.get("/ping", dependencies=[requires("public")])
    @app.get("/health", dependencies=[requires("public")])
    async def ping() -> Response:
        return PlainTextResponse("\n", status_code=200 if runtime.ready else 503)

    @app.get("/version", dependencies=[requires("public")])
    async def version() -> Response:
        return PlainTextResponse(__version__)

    @app.get("/metrics", dependencies=[requires("public")])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

