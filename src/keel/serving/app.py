"""The real-time model server: one model behind Open Inference Protocol v2, MLflow's scoring protocol and metrics.

Routes (see ``/work/shared/compat/open-inference-v2.md``)::

    GET  /v2  /v2/health/live  /v2/health/ready
    GET  /v2/models/{name}[/versions/{v}]          metadata: name, versions, platform, inputs, outputs
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer    tensors in, tensors out; errors as {"error": ...}
    POST /invocations                               dataframe_split | dataframe_records | instances | inputs | CSV
    GET  /ping  /health  /version  /metrics

The model is loaded at startup through :func:`keel.load_model`. A model that fails to load leaves the server up:
readiness answers false and predictions answer 503 with the load error. Bad input is a 400 naming the field; a
model that raises while predicting is a 422 carrying the model's message, never a 500.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response

from keel.asgi import OrjsonResponse, install_error_handlers, read_json
from keel.errors import KeelError, NotFound, Unavailable
from keel.registry.model_files import LoadedModel
from keel.registry.uris import parse_model_uri
from keel.serving.metrics import CONTENT_TYPE_LATEST, ServingMetrics
from keel.serving.protocols import (
    column_names,
    decode_invocations,
    decode_v2_request,
    encode_invocations,
    encode_v2_response,
    model_metadata,
    row_count,
)

__all__ = ["MODEL_URI_ENV", "PredictionFailed", "ServedModel", "create_serving_app", "create_serving_app_from_env"]

log = logging.getLogger("keel.serving")

#: Environment variables the uvicorn factory reads (``keel serve`` sets them before starting workers).
MODEL_URI_ENV = "KEEL_SERVE_MODEL_URI"
MODEL_NAME_ENV = "KEEL_SERVE_MODEL_NAME"


class PredictionFailed(KeelError):
    """The model raised while predicting on valid input."""

    http_status = 422
    error_code = "MODEL_ERROR"


@dataclass
class ServedModel:
    """The model a server answers for: its name, version, and the loaded model or the reason it is not loaded."""

    uri: str
    name: str
    version: str
    model: LoadedModel | None = None
    error: str | None = "not loaded yet"

    @property
    def ready(self) -> bool:
        """True once the model is loaded."""
        return self.model is not None

    @property
    def platform(self) -> str:
        """The v2 ``platform``: ``keel_<flavor>``."""
        return f"keel_{self.model.flavor.name}" if self.model is not None else ""

    def require(self) -> LoadedModel:
        """The loaded model, or :class:`Unavailable` saying why it is not there."""
        if self.model is None:
            raise Unavailable(f"model {self.name!r} is not ready: {self.error}", field="model")
        return self.model

    def check(self, name: str, version: str | None) -> None:
        """Raise :class:`NotFound` unless ``name`` (and ``version``, when given) is this model."""
        if name != self.name:
            raise NotFound(f"model {name!r} is not served here; this server serves {self.name!r}", field="name")
        if version is not None and version != self.version:
            raise NotFound(f"model {name!r} version {version!r} is not served here; the served version is "
                           f"{self.version!r}", field="version")

    def predict(self, data: Any) -> Any:
        """Predict, turning a model's own exception into :class:`PredictionFailed` (signature errors pass)."""
        model = self.require()
        try:
            return model.predict(data)
        except KeelError:
            raise
        except Exception as exc:
            raise PredictionFailed(f"model {self.name!r} version {self.version} failed to predict: "
                                   f"{type(exc).__name__}: {exc}", field="model") from exc


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


def load_served(served: ServedModel) -> None:
    """Load the model into ``served`` (an alias is pinned to the version it points at now); record any failure."""
    import keel

    try:
        uri = _pin_alias(served)
        served.model, served.error = keel.load_model(uri), None
    except Exception as exc:  # the server stays up and reports not ready
        served.model, served.error = None, f"{type(exc).__name__}: {exc}"
        log.error("model %r failed to load from %s: %s", served.name, served.uri, served.error)


def _pin_alias(served: ServedModel) -> str:
    parsed = parse_model_uri(served.uri)
    if parsed.kind != "alias" or parsed.name is None or parsed.alias is None:
        return served.uri
    from keel.tracking.context import get_backend

    version = get_backend().registry.get_model_version_by_alias(parsed.name, parsed.alias).version
    served.version = str(version)
    return f"models:/{parsed.name}/{version}"


# ------------------------------------------------------------------------------------------------------------ app


def create_serving_app(model_uri: str, name: str | None = None) -> FastAPI:
    """An ASGI app serving the model at ``model_uri`` (loaded at startup) under ``name`` (default from the URI)."""
    default_name, version = describe_uri(model_uri)
    served = ServedModel(model_uri, name or default_name, version)
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        load_served(served)
        yield

    app = FastAPI(title=f"keel serve {served.name}", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, default_response_class=OrjsonResponse)
    app.state.served = served
    app.state.metrics = metrics
    install_error_handlers(app)
    _add_v2_routes(app, served, metrics)
    _add_mlflow_routes(app, served, metrics)
    return app


def create_serving_app_from_env() -> FastAPI:
    """The uvicorn factory for ``keel serve``: the model URI and name come from the environment."""
    uri = os.environ.get(MODEL_URI_ENV)
    if not uri:
        raise Unavailable(f"set {MODEL_URI_ENV} to the model URI to serve", field=MODEL_URI_ENV)
    return create_serving_app(uri, os.environ.get(MODEL_NAME_ENV) or None)


def _headers(served: ServedModel) -> dict[str, str]:
    return {"x-keel-model": served.name, "x-keel-model-version": served.version}


async def _timed(served: ServedModel, metrics: ServingMetrics, protocol: str,
                 handle: Callable[[], Awaitable[tuple[Response, int | None]]],
                 on_error: Callable[[KeelError], dict[str, Any]]) -> Response:
    """Run one prediction request, turning Keel errors into ``on_error`` bodies, and record its metrics."""
    start = time.perf_counter()
    rows: int | None = None
    try:
        response, rows = await handle()
    except KeelError as exc:
        response = OrjsonResponse(on_error(exc), status_code=exc.http_status, headers=_headers(served))
    metrics.observe(served.name, served.version, protocol, time.perf_counter() - start, response.status_code, rows)
    return response


# ------------------------------------------------------------------------------------------------------------- v2


def _v2_error(exc: KeelError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    return body


def _add_v2_routes(app: FastAPI, served: ServedModel, metrics: ServingMetrics) -> None:
    from keel import __version__

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "keel", "version": __version__, "extensions": []}

    @app.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return OrjsonResponse({"ready": served.ready}, status_code=200 if served.ready else 503)

    async def metadata(name: str, version: str | None = None) -> Response:
        try:
            served.check(name, version)
        except KeelError as exc:
            return OrjsonResponse(_v2_error(exc), status_code=exc.http_status)
        signature = served.model.signature if served.model is not None else None
        return OrjsonResponse(model_metadata(served.name, served.version, served.platform, signature))

    async def model_ready(name: str, version: str | None = None) -> Response:
        try:
            served.check(name, version)
        except KeelError as exc:
            return OrjsonResponse(_v2_error(exc), status_code=exc.http_status)
        return OrjsonResponse({"name": served.name, "ready": served.ready}, status_code=200 if served.ready else 503)

    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        async def handle() -> tuple[Response, int | None]:
            served.check(name, version)
            model = served.require()
            body = await read_json(request)
            frame = decode_v2_request(body, column_names(model.signature))
            predictions = served.predict(frame)
            request_id = body.get("id") if isinstance(body.get("id"), str) else uuid.uuid4().hex
            payload = encode_v2_response(predictions, served.name, served.version, request_id)
            return OrjsonResponse(payload, headers=_headers(served)), len(frame)

        return await _timed(served, metrics, "v2", handle, _v2_error)

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.add_api_route(prefix, metadata, methods=["GET"])
        app.add_api_route(f"{prefix}/ready", model_ready, methods=["GET"])
        app.add_api_route(f"{prefix}/infer", infer, methods=["POST"])


# --------------------------------------------------------------------------------------------------------- MLflow


def _mlflow_error(exc: KeelError) -> dict[str, Any]:
    code = "BAD_REQUEST" if exc.http_status < 500 else exc.error_code
    body: dict[str, Any] = {"error_code": code, "message": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    return body


def _add_mlflow_routes(app: FastAPI, served: ServedModel, metrics: ServingMetrics) -> None:
    from keel import __version__

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        async def handle() -> tuple[Response, int | None]:
            model = served.require()
            data = decode_invocations(await request.body(), request.headers.get("content-type"),
                                      column_names(model.signature))
            predictions = served.predict(data)
            return OrjsonResponse(encode_invocations(predictions), headers=_headers(served)), row_count(data)

        return await _timed(served, metrics, "invocations", handle, _mlflow_error)

    @app.get("/ping")
    @app.get("/health")
    async def ping() -> Response:
        return PlainTextResponse("\n", status_code=200 if served.ready else 503)

    @app.get("/version")
    async def version() -> Response:
        return PlainTextResponse(__version__)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
