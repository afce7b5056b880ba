"""Hot swap: when the alias moves, the server loads the new version beside the old and switches with no failed
request — under load, against a real `keel serve` process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from keel_testing import ServeProcess

BODY = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.5, 1.5]]}}


def _hammer(url: str, stop: threading.Event, answers: list[tuple[str, float]], failures: list[str]) -> None:
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                response = client.post(f"{url}/invocations", json=BODY)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text}")
                continue
            answers.append((response.headers["x-keel-model-version"], response.json()["predictions"][0]))


@pytest.mark.timeout(180)
def test_alias_move_swaps_versions_under_load_without_failures(keel_home: Path, constants: dict[str, int]) -> None:
    import keel

    server = ServeProcess(keel_home, "models:/const@champion", "--poll-interval", "0.2", "--no-log-predictions",
                          extra_env={"KEEL_HOME": str(keel_home)})
    server.start()
    try:
        server.wait_ready()
        stop, answers, failures = threading.Event(), [], []
        threads = [threading.Thread(target=_hammer, args=(server.url, stop, answers, failures)) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        keel.set_registered_model_alias("const", "champion", constants["v2"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(v == "2" for v, _ in answers[-20:]):
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(30)
    finally:
        server.stop()
    assert failures == [], failures[:3]
    print("versions", [v for v, _ in answers][::10])
    assert len(answers) > 100, len(answers)
    assert {v for v, _ in answers} == {"1", "2"}
    assert all(float(v) == prediction for v, prediction in answers)  # the version named is the one that answered
    assert all(v == "2" for v, _ in answers[-50:])


def test_load_endpoint_swaps_at_once(keel_home: Path, constants: dict[str, int]) -> None:
    from fastapi.testclient import TestClient

    import keel
    from keel.serving import create_serving_app

    app = create_serving_app("models:/const@champion", poll_interval_s=0, log_predictions=False)
    with TestClient(app) as client:
        assert client.post("/invocations", json=BODY).json() == {"predictions": [1.0]}
        keel.set_registered_model_alias("const", "champion", constants["v3"])
        assert client.post("/invocations", json=BODY).json() == {"predictions": [1.0]}  # no polling: still v1
        swapped = client.post("/v2/repository/models/const/load").json()
        assert swapped["swapped"] is True and swapped["versions"] == ["const/3"]
        response = client.post("/invocations", json=BODY)
        assert response.json() == {"predictions": [3.0]} and response.headers["x-keel-model-version"] == "3"
        assert client.get("/v2/models/const").json()["versions"] == ["3"]
        assert client.post("/v2/repository/models/const/load").json()["swapped"] is False
        assert client.post("/v2/repository/models/other/load").status_code == 404
