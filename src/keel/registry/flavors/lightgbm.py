"""LightGBM flavor: the booster's native text model file.

A scikit-learn wrapper (``LGBMRegressor``, ``LGBMClassifier``...) is saved as its booster's text file; for
classifiers the class labels are kept in the config, so predictions on load are labels as the wrapper gives
(the booster alone gives probabilities).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from keel.registry.flavors.base import Flavor, belongs_to, check_version

__all__ = ["LightGBMFlavor"]

_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    """LightGBM boosters and scikit-learn-style LightGBM estimators."""

    name: ClassVar[str] = "lightgbm"
    extra: ClassVar[str] = "lightgbm"
    module: ClassVar[str] = "lightgbm"
    packages: ClassVar[tuple[str, ...]] = ("lightgbm",)

    def can_handle(self, model: Any) -> bool:
        """True for ``lightgbm.Booster`` and the LightGBM scikit-learn wrappers."""
        return belongs_to(model, "lightgbm")

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Write the booster with ``save_model`` as text; keep a classifier's labels."""
        lightgbm = self.framework()
        booster = model if isinstance(model, lightgbm.Booster) else model.booster_
        booster.save_model(str(path / _FILE))
        classes = getattr(model, "classes_", None)
        return {"lgb_version": lightgbm.__version__, "data": _FILE,
                "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "classes": None if classes is None else np.asarray(classes).tolist()}

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Load the booster, paired with the class labels when the model was a classifier."""
        lightgbm = self.framework()
        check_version("lightgbm", config.get("lgb_version"), lightgbm.__version__, strict=strict)
        booster = lightgbm.Booster(model_file=str(path / str(config.get("data", _FILE))))
        classes = config.get("classes")
        return booster if classes is None else _Classifier(booster, np.asarray(classes))

    def predict(self, loaded: Any, data: Any) -> Any:
        """Booster output (regression, ranking) or class labels (classification)."""
        return loaded.predict(data)


class _Classifier:
    """A loaded booster that turns class probabilities into labels, as ``LGBMClassifier.predict`` does."""

    def __init__(self, booster: Any, classes: np.ndarray[Any, Any]) -> None:
        self.booster = booster
        self.classes = classes

    def predict_proba(self, data: Any) -> np.ndarray[Any, Any]:
        proba = np.asarray(self.booster.predict(data))
        return np.column_stack([1.0 - proba, proba]) if proba.ndim == 1 else proba

    def predict(self, data: Any) -> np.ndarray[Any, Any]:
        return self.classes[np.argmax(self.predict_proba(data), axis=1)]
