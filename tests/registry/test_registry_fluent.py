"""log_model / register / alias / load_model on both transports, and clear errors for bad URIs."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import keel
from keel.errors import InvalidInput, NotFound
from keel.registry.uris import parse_model_uri


@pytest.fixture(scope="module")
def iris_model() -> tuple[LogisticRegression, pd.DataFrame]:
    data = load_iris(as_frame=True)
    return LogisticRegression(max_iter=500).fit(data.data, data.target), data.data


def test_log_register_alias_and_load(sdk: str, iris_model: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris_model
    name = f"iris-{uuid.uuid4().hex[:6]}"
    with keel.start_run() as run:
        first = keel.log_model(model, "model", input_example=frame.head(3), registered_model_name=name)
        second = keel.log_model(model, "model2", input_example=frame.head(3), registered_model_name=name)
    assert first.model_uri == f"runs:/{run.run_id}/model" and first.flavor == "sklearn"
    assert first.registered_model_version is not None and first.registered_model_version.version == 1
    assert second.registered_model_version is not None and second.registered_model_version.version == 2
    keel.set_registered_model_alias(name, "champion", 2)
    expected = model.predict(frame)
    for uri in (first.model_uri, f"models:/{name}/1", f"models:/{name}@champion"):
        loaded = keel.load_model(uri)
        assert np.array_equal(loaded.predict(frame), expected), uri
    with pytest.raises(InvalidInput, match="sepal length"):
        keel.load_model(f"models:/{name}@champion").predict(frame.drop(columns=["sepal length (cm)"]))


def test_unknown_versions_and_aliases(sdk: str, iris_model: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris_model
    name = f"known-{uuid.uuid4().hex[:6]}"
    with keel.start_run():
        keel.log_model(model, "m", registered_model_name=name)
    with pytest.raises(NotFound, match="version=7"):
        keel.load_model(f"models:/{name}/7")
    with pytest.raises(NotFound):
        keel.load_model(f"models:/{name}@nobody")
    with pytest.raises(NotFound):
        keel.load_model(f"models:/missing-{uuid.uuid4().hex}/1")
    with pytest.raises(NotFound):
        keel.load_model(f"runs:/{uuid.uuid4().hex}/m")


@pytest.mark.parametrize("uri", ["", "runs:/", "runs:/abc", "models:/", "models:/name", "models:/name/0",
                                 "models:/name@1bad", "s3://bucket/model", "models:/a/b/c"])
def test_bad_uris_are_invalid_input(uri: str) -> None:
    with pytest.raises(InvalidInput, match="model URI"):
        parse_model_uri(uri)


def test_uri_forms() -> None:
    assert parse_model_uri("runs:/abc123/model/sub").path == "model/sub"
    alias = parse_model_uri("models:/iris@champion")
    assert (alias.kind, alias.name, alias.alias) == ("alias", "iris", "champion")
    version = parse_model_uri("models:/iris/12")
    assert (version.kind, version.version) == ("version", 12)
    assert parse_model_uri("/tmp/some/dir").kind == "path"
