"""XGBoost flavor: the model's native JSON format, with MLflow's ``xgboost`` flavor keys.

Both the low-level ``Booster`` and the scikit-learn wrappers (``XGBClassifier``, ``XGBRegressor``...) are
supported; the class is recorded and rebuilt on load. The ``MLmodel`` section uses MLflow's keys (``data``,
``model_class``, ``model_format``, ``xgb_version``), so ``mlflow.xgboost`` can load it too.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from keel.errors import InvalidInput
from keel.registry.flavors.base import Flavor, belongs_to, check_version

__all__ = ["XGBoostFlavor"]

_FILE = "model.json"


class XGBoostFlavor(Flavor):
    """XGBoost boosters and scikit-learn-style XGBoost estimators."""

    name: ClassVar[str] = "xgboost"
    extra: ClassVar[str] = "xgboost"
    module: ClassVar[str] = "xgboost"
    packages: ClassVar[tuple[str, ...]] = ("xgboost",)

    def can_handle(self, model: Any) -> bool:
        """True for ``xgboost.Booster`` and the XGBoost scikit-learn wrappers."""
        return belongs_to(model, "xgboost")

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Write the model with ``save_model`` as native JSON."""
        xgboost = self.framework()
        model.save_model(str(path / _FILE))
        model_class = f"{type(model).__module__}.{type(model).__qualname__}"
        return {"xgb_version": xgboost.__version__, "data": _FILE, "model_class": model_class,
                "model_format": "json", "code": None}

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Rebuild the recorded class and ``load_model`` the JSON file into it."""
        xgboost = self.framework()
        check_version("xgboost", config.get("xgb_version"), xgboost.__version__, strict=strict)
        module_name, _, class_name = str(config.get("model_class", "xgboost.core.Booster")).rpartition(".")
        if module_name.split(".")[0] != "xgboost":
            raise InvalidInput(f"xgboost model_class {config.get('model_class')!r} is not an xgboost class",
                               field="model_class")
        model = getattr(importlib.import_module(module_name), class_name)()
        model.load_model(str(path / str(config.get("data", _FILE))))
        return model

    def predict(self, loaded: Any, data: Any) -> Any:
        """Predict; a bare ``Booster`` gets its input wrapped in a ``DMatrix``."""
        xgboost = self.framework()
        if isinstance(loaded, xgboost.Booster):
            return loaded.predict(data if isinstance(data, xgboost.DMatrix) else xgboost.DMatrix(data))
        return loaded.predict(data)

    def python_function(self, config: dict[str, Any]) -> dict[str, Any]:
        """Point MLflow at its own xgboost loader."""
        return {"loader_module": "mlflow.xgboost", "data": config["data"]}
