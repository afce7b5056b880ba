"""Registered models the serving tests route between: constant regressors whose answer tells their version apart,
and a python-function model that always raises."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor

FEATURES = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1.0, 2.0, 3.0]})


class ThreadRecorder:
    """A python-function model that notes the thread each predict call runs on, after sleeping ``delay_s``."""

    threads: ClassVar[list[str]] = []

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        ThreadRecorder.threads.append(threading.current_thread().name)
        time.sleep(self.delay_s)
        return np.zeros(len(frame))


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
