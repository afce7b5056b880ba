"""`keel serve --deployment`: weighted A/B within tolerance, sticky routing, shadows that never change or break the
answer, rollback, and every answer naming the version that produced it — with the prediction log as the witness."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serving_models import Failing, register

from keel.serving.deployment import Deployment, Route

BODY = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.5, 1.5]]}}


def _register_failing() -> int:
    return register(Failing(), "failing")


def _deploy(**spec: object) -> Deployment:
    from keel.tracking.context import get_backend

    return get_backend().deployments.create_deployment(Deployment(name="prod", **spec))  # type: ignore[arg-type]


@pytest.fixture
def serve(keel_home: Path, constants: dict[str, int]) -> Iterator[TestClient]:
    from keel.monitoring import PredictionLog
    from keel.serving import create_serving_app

    log = PredictionLog(flush_interval_s=0.05)
    app = create_serving_app(deployment="prod", poll_interval_s=0, prediction_log=log)
    app.state.log = log
    yield app  # type: ignore[misc]


def _versions(client: TestClient, n: int, **headers: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(n):
        response = client.post("/invocations", json=BODY, headers=headers)
        assert response.status_code == 200, response.text
        version = response.headers["x-keel-model-version"]
        assert response.json()["predictions"] == [float(version)]  # the named version is the one that answered
        seen[version] += 1
    return seen


def test_weighted_ab_split_is_within_tolerance(serve: object) -> None:
    _deploy(routes=(Route("const", version=1, weight=70), Route("const", version=2, weight=30)))
    with TestClient(serve) as client:  # type: ignore[arg-type]
        n = 1_500
        seen = _versions(client, n)
    assert abs(seen["2"] - 0.3 * n) < 4 * math.sqrt(n * 0.3 * 0.7), seen


def test_sticky_key_pins_each_user_to_one_variant(serve: object) -> None:
    _deploy(routes=(Route("const", version=1, weight=50), Route("const", version=2, weight=50)),
            sticky_key="x-user-id")
    with TestClient(serve) as client:  # type: ignore[arg-type]
        per_user = {user: _versions(client, 8, **{"x-user-id": user}) for user in (f"user{i}" for i in range(30))}
    assert all(len(seen) == 1 for seen in per_user.values())
    assert {next(iter(seen)) for seen in per_user.values()} == {"1", "2"}


def test_v2_names_the_answering_version_and_can_pin_one(serve: object) -> None:
    _deploy(routes=(Route("const", version=1, weight=50), Route("const", version=3, weight=50)))
    tensor = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 1.5]}]}
    with TestClient(serve) as client:  # type: ignore[arg-type]
        for _ in range(20):
            body = client.post("/v2/models/prod/infer", json=tensor).json()
            assert body["model_name"] == "const" and body["outputs"][0]["data"] == [float(body["model_version"])]
        pinned = client.post("/v2/models/const/versions/3/infer", json=tensor).json()
        assert pinned["model_version"] == "3" and pinned["outputs"][0]["data"] == [3.0]
        missing = client.post("/v2/models/const/versions/2/infer", json=tensor)
        assert missing.status_code == 404 and "const/1" in missing.json()["error"]
        assert client.get("/v2/models/prod").json()["versions"] == ["1", "3"]


def test_failing_shadow_never_changes_the_answer_and_is_logged(serve: object) -> None:
    import keel

    failing = _register_failing()
    _deploy(routes=(Route("const", version=2),), shadows=(Route("failing", version=failing), Route("const", version=3)))
    with TestClient(serve) as client:  # type: ignore[arg-type]
        for _ in range(10):
            response = client.post("/invocations", json=BODY)
            assert response.status_code == 200 and response.json() == {"predictions": [2.0]}
            assert response.headers["x-keel-model-version"] == "2"
    serve.state.log.flush()  # type: ignore[attr-defined]
    log = keel.predictions("prod")
    answered = log[~log["shadow"]]
    assert len(answered) == 10 and set(answered["model_version"]) == {"2"}
    assert set(answered["input.a"]) == {0.5} and set(answered["input.b"]) == {1.5}  # what was asked is logged
    shadows = log[log["shadow"]]
    failed = shadows[shadows["model_name"] == "failing"]
    assert len(failed) == 10 and set(failed["status"]) == {422}
    mirrored = shadows[shadows["model_name"] == "const"]
    assert len(mirrored) == 10 and set(mirrored["output"]) == {3.0}
    assert set(mirrored["request_id"]) == set(answered["request_id"])  # each shadow row mirrors a real request


def test_rollback_restores_the_previous_route_table(serve: object) -> None:
    from keel.tracking.context import get_backend

    store = get_backend().deployments
    _deploy(routes=(Route("const", version=1),))
    with TestClient(serve) as client:  # type: ignore[arg-type]
        assert _versions(client, 3) == {"1": 3}
        store.update_deployment("prod", routes=[Route("const", version=1, weight=90), Route("const", version=2,
                                                                                              weight=10)])
        store.update_deployment("prod", routes=[Route("const", version=2)])
        assert client.post("/v2/repository/models/prod/load").json()["versions"] == ["const/2"]
        assert _versions(client, 3) == {"2": 3}
        store.rollback_deployment("prod")
        client.post("/v2/repository/models/prod/load")
        seen = _versions(client, 400)
        assert set(seen) == {"1", "2"} and seen["1"] > seen["2"]  # back to 90/10


def test_unknown_deployment_leaves_the_server_up_and_not_ready(keel_home: Path) -> None:
    from keel.serving import create_serving_app

    with TestClient(create_serving_app(deployment="nope", poll_interval_s=0, log_predictions=False)) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").status_code == 503
        response = client.post("/invocations", json=BODY)
        assert response.status_code == 503 and "nope" in response.json()["message"]
