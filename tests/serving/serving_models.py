"""Registered models the serving tests route between: constant regressors whose answer tells their version apart,
and a python-function model that always raises."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor

FEATURES = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1.0, 2.0, 3.0]})


class Failing:
    """A python-function model that always raises."""

    def predict(self, frame: object) -> np.ndarray:
        raise RuntimeError("shadow exploded")


def register(model: object, name: str) -> int:
    """Log ``model`` in a new run and register it as the next version of ``name``; returns the version."""
    import keel

    with keel.start_run():
        info = keel.log_model(model, "model", input_example=FEATURES.head(2), registered_model_name=name)
    assert info.registered_model_version is not None
    return int(info.registered_model_version.version)


def register_constant(name: str, value: float) -> int:
    """Register a model that always predicts ``value``; returns its version."""
    return register(DummyRegressor(strategy="constant", constant=value).fit(FEATURES, [value] * len(FEATURES)), name)
