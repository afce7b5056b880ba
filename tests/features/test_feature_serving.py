"""Online features over HTTP: the `keel server` endpoint (Feast's response shape), a model served by `keel serve`
that takes entity keys and fetches its features itself, and the Redis online store end to end."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import keel
import keel.features as kf
from keel.config import Settings
from keel_testing import ServeProcess

NOW = datetime.now(UTC).replace(microsecond=0)


def _apply(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    stats = pd.DataFrame({"driver_id": np.arange(50), "event_timestamp": [NOW - timedelta(minutes=5)] * 50,
                          "trips": rng.integers(0, 100, 50), "rating": rng.random(50) * 5})
    stats.to_parquet(tmp_path / "stats.parquet", index=False)
    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView("driver_stats", entities=[driver], source=str(tmp_path / "stats.parquet"),
                          schema=[kf.Field("trips", "int64"), kf.Field("rating", "float64")], ttl=timedelta(days=1))
    kf.apply([driver, view])
    kf.materialize()
    return stats


def test_server_online_endpoint_speaks_feast_shape(keel_home: Path, tmp_path: Path) -> None:
    stats = _apply(tmp_path)
    from keel.server import create_app

    with TestClient(create_app(Settings(home=keel_home))) as client:
        body = {"features": ["driver_stats:trips", "driver_stats:rating"], "entities": {"driver_id": [3, 999]}}
        answer = client.post("/get-online-features", json=body)
        assert answer.status_code == 200
        result = answer.json()
        assert result["metadata"]["feature_names"] == ["driver_id", "trips", "rating"]
        trips = result["results"][1]
        assert trips["values"] == [int(stats.trips[3]), None] and trips["statuses"] == ["PRESENT", "NOT_FOUND"]
        assert client.post("/api/v1/features/online", json=body).json() == result
        bad = client.post("/api/v1/features/online", json={**body, "features": ["driver_stats:trip"]})
        assert bad.status_code == 400 and "did you mean driver_stats:trips" in bad.json()["message"]
        names = [d["name"] for d in client.get("/api/v1/features").json()["definitions"]]
        assert names == ["driver", "driver_stats"]
        assert client.get("/api/v1/features/nope").status_code == 404


def test_keel_serve_fetches_declared_features_for_entity_keys(keel_home: Path, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    stats = _apply(tmp_path)
    train = kf.get_historical_features(pd.DataFrame({"driver_id": np.arange(50), "event_timestamp": [NOW] * 50}),
                                       ["driver_stats:trips", "driver_stats:rating"])
    x = train[["trips", "rating"]]
    model = LinearRegression().fit(x, np.arange(50) * 1.5)
    with keel.start_run():
        keel.log_model(model, "model", input_example=x.head(3), registered_model_name="eta",
                       features=["driver_stats:trips", "driver_stats:rating"])
    proc = ServeProcess(keel_home, "models:/eta/1").start(timeout=60)
    try:
        proc.wait_ready()
        answer = httpx.post(f"{proc.url}/invocations", json={"dataframe_records": [{"driver_id": 7},
                                                                                   {"driver_id": 11}]})
        assert answer.status_code == 200, answer.text
        expected = model.predict(stats.loc[[7, 11], ["trips", "rating"]])
        assert np.allclose(answer.json()["predictions"], expected)
        # features sent directly still work, and win over the store
        direct = httpx.post(f"{proc.url}/invocations", json={"dataframe_records": [{"trips": 1, "rating": 2.0}]})
        assert np.allclose(direct.json()["predictions"], model.predict(pd.DataFrame({"trips": [1], "rating": [2.0]})))
    finally:
        proc.stop()


def test_redis_online_store_end_to_end(keel_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = os.environ.get("KEEL_TEST_REDIS_URL")
    if not url:
        pytest.skip("KEEL_TEST_REDIS_URL is not set; no Redis server to test against")
    from keel.tracking.context import reset_backend

    monkeypatch.setenv("KEEL_ONLINE_STORE", url)
    monkeypatch.setenv("KEEL_PROJECT", f"t{uuid.uuid4().hex[:8]}")
    reset_backend()
    stats = _apply(tmp_path)
    response = kf.get_online_features({"driver_id": [0, 49, 50]}, ["driver_stats:rating"])
    assert response.to_dict()["rating"][:2] == [float(stats.rating[0]), float(stats.rating[49])]
    assert response.statuses["rating"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert kf.skew("driver_stats", 20, seed=0).ok
    from keel.features.stores import online_store

    online_store().delete_view("driver_stats")
