"""MLflow's own scoring client and serializers against a ``keel serve`` process's ``/invocations``.

``tests/serving`` posts hand-written bodies in each format; here the bodies are what MLflow writes:
``ScoringServerClient.invoke`` (``dump_input_data``: a ``dataframe_split`` with an index, ``inputs`` as rows or as
records, optional ``params``) and ``convert_input_example_to_serving_input`` (the body MLflow stores beside a
model), and MLflow's ``PredictionsResponse`` parses the answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from keel_testing import ServeProcess, serve_registered

pytest.importorskip("mlflow.pyfunc.scoring_server.client")
from mlflow.deployments import PredictionsResponse  # noqa: E402
from mlflow.models import convert_input_example_to_serving_input  # noqa: E402
from mlflow.pyfunc.scoring_server.client import ScoringServerClient  # noqa: E402

COLUMNS = [f"f{i}" for i in range(20)]


@pytest.fixture(scope="module")
def model_and_rows() -> tuple[LogisticRegression, pd.DataFrame]:
    x, y = make_classification(n_samples=600, n_features=20, random_state=5)
    frame = pd.DataFrame(x, columns=COLUMNS)
    return LogisticRegression(max_iter=1000).fit(frame, y), frame


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           model_and_rows: tuple[LogisticRegression, pd.DataFrame]) -> Iterator[ServeProcess]:
    """``keel serve models:/scorer/1`` in a fresh home where the model was logged and registered."""
    model, frame = model_and_rows
    proc = serve_registered(tmp_path_factory.mktemp("invocations") / "home", model, frame.head(5), "scorer")
    yield proc
    proc.stop()


@pytest.fixture
def scoring(server: ServeProcess) -> ScoringServerClient:
    client = ScoringServerClient("127.0.0.1", server.port)
    client.wait_server_ready(timeout=30)
    return client


def test_ping_and_version(scoring: ScoringServerClient) -> None:
    scoring.ping()
    assert scoring.get_version().strip()[0].isdigit()


@pytest.mark.parametrize("shape", [
    pytest.param(lambda rows: rows, id="dataframe-split-with-index"),
    pytest.param(lambda rows: rows.set_axis(range(100, 100 + len(rows))), id="dataframe-split-other-index"),
    pytest.param(lambda rows: rows.to_numpy(), id="inputs-2d-array"),
    pytest.param(lambda rows: rows.to_dict(orient="records"), id="inputs-records"),
])
def test_scoring_client_invoke(scoring: ScoringServerClient, model_and_rows: tuple[LogisticRegression, pd.DataFrame],
                               shape: Any) -> None:
    model, frame = model_and_rows
    rows = frame.iloc[10:35]
    response = scoring.invoke(shape(rows))
    np.testing.assert_array_equal(response.get_predictions(predictions_format="ndarray"), model.predict(rows))
    assert response.get_predictions()[0].tolist() == model.predict(rows).tolist()  # the DataFrame view


def test_params_next_to_the_data_are_accepted(scoring: ScoringServerClient,
                                              model_and_rows: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = model_and_rows
    rows = frame.tail(6)
    response = scoring.invoke(rows, params={"threshold": 0.5})
    np.testing.assert_array_equal(response.get_predictions(predictions_format="ndarray"), model.predict(rows))


@pytest.mark.parametrize("example", [
    pytest.param(lambda rows: rows, id="dataframe"),
    pytest.param(lambda rows: rows.to_numpy(), id="ndarray"),
    pytest.param(lambda rows: rows.to_dict(orient="list"), id="dict-of-lists"),
    pytest.param(lambda rows: {c: rows[c].to_numpy() for c in rows.columns}, id="dict-of-arrays"),
])
def test_serving_input_from_an_input_example(server: ServeProcess,
                                             model_and_rows: tuple[LogisticRegression, pd.DataFrame],
                                             example: Any) -> None:
    model, frame = model_and_rows
    rows = frame.iloc[200:213]
    body = convert_input_example_to_serving_input(example(rows))
    assert body is not None
    answer = httpx.post(f"{server.url}/invocations", content=body, headers={"content-type": "application/json"},
                        timeout=30)
    assert answer.status_code == 200, answer.text
    parsed = PredictionsResponse.from_json(answer.text)
    np.testing.assert_array_equal(parsed.get_predictions(predictions_format="ndarray"), model.predict(rows))


def test_missing_column_fails_the_client_with_the_field(scoring: ScoringServerClient,
                                                        model_and_rows: tuple[LogisticRegression, pd.DataFrame]
                                                        ) -> None:
    _, frame = model_and_rows
    with pytest.raises(Exception, match="error code 400") as err:
        scoring.invoke(frame.head(3).drop(columns=["f7"]))
    assert '"error_code":"BAD_REQUEST"' in str(err.value).replace(" ", "") and "f7" in str(err.value)
