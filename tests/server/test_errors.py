"""Bad input gets a 4xx with a JSON body naming the field, never a 500."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

MLFLOW = "/api/2.0/mlflow"


def _error(resp, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code
    return str(body["message"])


def test_malformed_json_is_a_400(http: TestClient) -> None:
    resp = http.post(f"{MLFLOW}/runs/create", content=b"{not json", headers={"Content-Type": "application/json"})
    assert "malformed JSON" in _error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("key", ["bad key!", "../up", "x" * 251, ""])
def test_invalid_metric_key(http: TestClient, run_id: str, key: str) -> None:
    resp = http.post(f"{MLFLOW}/runs/log-metric", json={"run_id": run_id, "key": key, "value": 1.0,
                                                        "timestamp": 1, "step": 0})
    assert "key" in _error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_param_relogged_with_other_value(http: TestClient, run_id: str) -> None:
    ok = http.post(f"{MLFLOW}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"})
    assert ok.status_code == 200
    resp = http.post(f"{MLFLOW}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.2"})
    message = _error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "'lr'" in message and "0.1" in message and "0.2" in message


def test_too_long_values(http: TestClient, run_id: str) -> None:
    resp = http.post(f"{MLFLOW}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "v" * 6001})
    assert "6000" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(f"{MLFLOW}/runs/set-tag", json={"run_id": run_id, "key": "t", "value": "v" * 8001})
    assert "8000" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(f"{MLFLOW}/experiments/create", json={"name": "n" * 501})
    assert "500" in _error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("bad", ["metrics.acc >", "metrics.acc > 'x'", "params.lr > 0.1", "nope.x = 1",
                                 "metrics.a > 1 OR metrics.b < 2", "metrics.acc > 1 and", "tags.x = 'unterminated"])
def test_malformed_filters(http: TestClient, bad: str) -> None:
    resp = http.post(f"{MLFLOW}/runs/search", json={"experiment_ids": ["0"], "filter": bad})
    assert "filter" in _error(resp, 400, "INVALID_PARAMETER_VALUE").lower()


def test_bad_order_by_and_page_token(http: TestClient) -> None:
    resp = http.post(f"{MLFLOW}/runs/search", json={"experiment_ids": ["0"], "order_by": ["metrics.acc SIDEWAYS"]})
    _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(f"{MLFLOW}/runs/search", json={"experiment_ids": ["0"], "page_token": "garbage!"})
    assert "page_token" in _error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_unknown_ids_are_404(http: TestClient) -> None:
    resp = http.get(f"{MLFLOW}/runs/get", params={"run_id": "0123456789abcdef0123456789abcdef"})
    assert "0123456789abcdef0123456789abcdef" in _error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    resp = http.get(f"{MLFLOW}/experiments/get", params={"experiment_id": "999"})
    _error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    resp = http.post(f"{MLFLOW}/runs/log-batch", json={"run_id": "0123456789abcdef0123456789abcdef",
                                                        "metrics": [{"key": "a", "value": 1, "timestamp": 1}]})
    _error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    resp = http.get(f"{MLFLOW}/experiments/get", params={"experiment_id": "abc"})
    assert "experiment_id" in _error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_batch_limits_and_types(http: TestClient, run_id: str) -> None:
    metrics = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    resp = http.post(f"{MLFLOW}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert "1000" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    params = [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]
    resp = http.post(f"{MLFLOW}/runs/log-batch", json={"run_id": run_id, "params": params})
    assert "duplicate" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(f"{MLFLOW}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": "abc"})
    assert "number" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(f"{MLFLOW}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1, "step": "x"})
    assert "step" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(f"{MLFLOW}/runs/log-parameter", json={"run_id": run_id, "value": "1"})
    assert "key" in _error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_keel_columnar_route_checks_shapes(http: TestClient, run_id: str) -> None:
    url = f"/api/v1/runs/{run_id}/metrics"
    resp = http.post(url, json={"keys": ["a", "b"], "values": [1.0], "timestamps": [1, 2], "steps": [0, 0]})
    assert "length" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(url, json={"keys": ["a"], "values": [1.0], "timestamps": ["x"], "steps": [0]})
    assert "timestamps" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.post(url, json={"keys": "a", "values": [1.0], "timestamps": [1], "steps": [0]})
    assert "keys" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    ok = http.post(url, json={"keys": ["a"], "values": ["NaN"], "timestamps": [1], "steps": [0], "batch_id": "z"})
    assert ok.json() == {"stored": 1}


def test_artifact_paths_escaping_the_root_are_refused(http: TestClient) -> None:
    resp = http.put("/api/v1/artifacts/0/x/%2e%2e/%2e%2e/%2e%2e/escape.txt", content=b"data")
    assert "path" in _error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "../../etc"})
    _error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_unknown_route_is_json_404(http: TestClient) -> None:
    resp = http.get("/api/2.0/mlflow/nothing-here")
    _error(resp, 404, "ENDPOINT_NOT_FOUND")


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_no_route_answers_garbage_with_a_500(http: TestClient) -> None:
    bodies = [b"{not json", b"[]", b'{"run_id": 5, "experiment_id": [], "key": {}, "value": [], "name": 7,'
              b' "metrics": "x", "params": {"a": 1}, "tags": 3, "datasets": [1], "max_results": "many"}']
    checked = 0
    for path, operations in http.get("/openapi.json").json()["paths"].items():
        for method in operations:
            if method in ("get", "head", "delete"):
                resp = http.request(method, _fill(path), params={"max_results": "-3", "run_id": "../x",
                                                                  "experiment_id": "?", "path": "../../x"})
                assert resp.status_code < 500, (method, path, resp.text)
                continue
            for body in bodies:
                resp = http.request(method, _fill(path), content=body, headers={"Content-Type": "application/json"})
                assert resp.status_code < 500, (method, path, body, resp.text)
                checked += 1
    assert checked > 50


def test_openapi_is_published(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    assert "/api/v1/runs/search" in spec["paths"] and "/api/2.0/mlflow/runs/log-batch" in spec["paths"]
