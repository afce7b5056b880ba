"""Explanations from a running model server: the prediction of each row plus its top-k feature contributions.

Routes (registered by :func:`add_explain_routes`; each declares the ``read`` permission)::

    POST /v2/models/{name}[/versions/{v}]/explain   a v2 inference request; parameters.top_k (default 5)
    POST /invocations?explain=true[&top_k=5]         MLflow's scoring formats

Per row the answer holds ``prediction``, ``base_value``, ``output`` (base value + every contribution, the explained
model output), the ``top_k`` largest ``contributions`` (feature, value, contribution) and ``other`` (the sum of the
rest), so ``base_value + sum(contributions) + other == output``. The prediction goes through the runtime as any
request does; the explainer is built once per loaded version (on first use, cached) and runs on its own small
thread pool, so plain ``/infer`` and ``/invocations`` requests never wait for it or pay for it.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from starlette.responses import Response

from keel.asgi import OrjsonResponse
from keel.errors import InvalidInput, KeelError
from keel.jsonable import json_safe
from keel.serving.model import Loaded
from keel.serving.protocols import BINARY_HEADER, column_names, decode_invocations, decode_v2_request, read_v2_body
from keel.serving.runtime import Answer, ServingRuntime

__all__ = ["MAX_ROWS", "ExplainerCache", "add_explain_routes", "explain_rows"]

MAX_ROWS = 1000
DEFAULT_TOP_K = 5
TIME_BUDGET_S = 30.0


class ExplainerCache:
    """One :class:`~keel.evaluation.explainers.ModelExplainer` per loaded model version, built on first use."""

    def __init__(self) -> None:
        self._explainers: dict[tuple[str, str], tuple[Loaded, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, loaded: Loaded) -> Any:
        """The explainer of ``loaded`` (blocking: call it off the event loop)."""
        from keel.evaluation.explainers import ModelExplainer

        key = (name, loaded.version)
        with self._lock:
            cached = self._explainers.get(key)
            if cached is not None and cached[0] is loaded:
                return cached[1]
            example = loaded.model.input_example()
            background = example if isinstance(example, pd.DataFrame) else None
            explainer = ModelExplainer(loaded.model, background)
            self._explainers[key] = (loaded, explainer)
            return explainer


def explain_rows(cache: ExplainerCache, answer: Answer, data: Any, top_k: int) -> list[dict[str, Any]]:
    """The per-row explanations of ``data`` for the version that answered (blocking)."""
    import time

    from keel.evaluation.explainers import feature_frame

    explainer = cache.get(answer.served.name, answer.loaded)
    features = feature_frame(answer.loaded.model, data if isinstance(data, pd.DataFrame) else pd.DataFrame(data))
    if explainer.needs_background:
        raise InvalidInput(f"model {answer.served.name!r} has no input example to explain against; log it with an "
                           "input_example (tree models need none)", field="model")
    contributions = explainer.explain(features, deadline=time.monotonic() + TIME_BUDGET_S)
    predictions = _rows(answer.predictions)
    out = []
    for row in range(len(contributions.values)):
        top = contributions.top(row, top_k)
        shown = sum(value for _, value in top)
        record = {
            "prediction": predictions[row] if row < len(predictions) else None,
            "base_value": float(contributions.base_values[row]), "output": float(contributions.outputs[row]),
            "contributions": [{"feature": f, "value": features.iloc[row][f], "contribution": c} for f, c in top],
            "other": float(contributions.values[row].sum() - shown),
        }
        if contributions.explained_class is not None:
            record["explained_class"] = contributions.explained_class[row]
        out.append(record)
    return json_safe(out)


def add_explain_routes(app: FastAPI, runtime: ServingRuntime) -> None:
    """Register the explain routes on the serving app (``/invocations?explain=true`` reaches this app because
    :class:`~keel.serving.app.ServingApp` answers only plain ``/invocations`` itself)."""
    from keel.server.permissions import requires

    cache = ExplainerCache()
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="keel-explain")

    async def explained(answer: Answer, data: Any, top_k: int) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(pool, explain_rows, cache, answer, data, top_k)

    async def v2_explain(request: Request, name: str, version: str | None = None) -> Response:
        try:
            body = read_v2_body(await request.body(), request.headers.get(BINARY_HEADER))
            served = runtime.select(name, version).variants[0].require()
            data = decode_v2_request(body, column_names(served.model.signature))
            top_k = _top_k((body.get("parameters") or {}).get("top_k"))
            _check_rows(data)
            answer = await runtime.predict(data, name=name, version=version)
            rows = await explained(answer, data, top_k)
        except KeelError as exc:
            return OrjsonResponse(_error(exc, v2=True), status_code=exc.http_status)
        return OrjsonResponse({"model_name": answer.served.name, "model_version": answer.loaded.version,
                               "id": body.get("id"), "explanations": rows}, headers=answer.headers)

    async def invocations_explain(request: Request) -> Response:
        if request.query_params.get("explain", "").lower() not in ("true", "1", "yes"):
            from keel.serving.app import invocations

            return await invocations(request, runtime, request.app.state.metrics)
        try:
            served = runtime.table.variants[0].require()
            raw, content_type = await request.body(), request.headers.get("content-type")
            data = decode_invocations(raw, content_type, column_names(served.model.signature))
            top_k = _top_k(request.query_params.get("top_k"))
            _check_rows(data)
            answer = await runtime.predict(data, name=runtime.name)
            rows = await explained(answer, data, top_k)
        except KeelError as exc:
            return OrjsonResponse(_error(exc, v2=False), status_code=exc.http_status)
        return OrjsonResponse({"predictions": [r["prediction"] for r in rows], "explanations": rows},
                              headers=answer.headers)

    read = [requires("read")]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.add_api_route(f"{prefix}/explain", v2_explain, methods=["POST"], dependencies=read)
    app.add_api_route("/invocations", invocations_explain, methods=["POST"], dependencies=read)


def _top_k(raw: Any) -> int:
    if raw is None:
        return DEFAULT_TOP_K
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise InvalidInput(f"top_k: expected a positive whole number, got {raw!r}", field="top_k")
    return value


def _check_rows(data: Any) -> None:
    rows = len(data) if hasattr(data, "__len__") else 1
    if rows > MAX_ROWS:
        raise InvalidInput(f"explain takes at most {MAX_ROWS} rows per request, got {rows}; split the request or "
                           "use keel models explain for large data", field="inputs")


def _rows(predictions: Any) -> list[Any]:
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    values = np.asarray(predictions)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return list(values.tolist())


def _error(exc: KeelError, *, v2: bool) -> dict[str, Any]:
    if v2:
        body: dict[str, Any] = {"error": exc.message}
    else:
        body = {"error_code": "BAD_REQUEST" if exc.http_status < 500 else exc.error_code, "message": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    return body
