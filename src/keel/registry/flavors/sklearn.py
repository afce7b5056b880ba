"""scikit-learn flavor, written exactly as ``mlflow.sklearn`` writes it so either tool loads the other's models.

The default serialization is cloudpickle, which ``mlflow-skinny`` loads without extra packages; ``skops`` (a safer
format that refuses unknown types) is used when asked for with ``SklearnFlavor(serialization_format="skops")``;
types skops does not trust by default must be reviewed and listed in ``trusted_types`` (they are recorded as
MLflow's ``skops_trusted_types``).
The scikit-learn version is recorded and compared on load: a different major.minor warns, or raises with
``strict=True``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

from keel.errors import InvalidInput
from keel.registry.flavors.base import Flavor, belongs_to, check_version, import_framework, pinned

__all__ = ["SERIALIZATION_FORMATS", "SklearnFlavor"]

#: Formats MLflow's sklearn flavor knows, and the file name each is written to.
SERIALIZATION_FORMATS = {"cloudpickle": "model.pkl", "pickle": "model.pkl", "skops": "model.skops"}


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines."""

    name: ClassVar[str] = "sklearn"
    extra: ClassVar[str] = "sklearn"
    module: ClassVar[str] = "sklearn"
    packages: ClassVar[tuple[str, ...]] = ("scikit-learn",)

    def __init__(self, serialization_format: str = "cloudpickle", trusted_types: list[str] | None = None) -> None:
        if serialization_format not in SERIALIZATION_FORMATS:
            raise InvalidInput(f"unknown sklearn serialization format {serialization_format!r}; use one of "
                               f"{sorted(SERIALIZATION_FORMATS)}", field="serialization_format")
        self.serialization_format = serialization_format
        self.trusted_types = list(trusted_types) if trusted_types else None

    def can_handle(self, model: Any) -> bool:
        """True for scikit-learn estimators (and subclasses of them)."""
        return belongs_to(model, "sklearn")

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Serialize the estimator; the config uses MLflow's keys (``pickled_model``, ``sklearn_version``...)."""
        sklearn = self.framework()
        file_name = SERIALIZATION_FORMATS[self.serialization_format]
        trusted = self._dump(model, path / file_name)
        return {
            "pickled_model": file_name,
            "sklearn_version": sklearn.__version__,
            "serialization_format": self.serialization_format,
            "code": None,
            "skops_trusted_types": trusted,
        }

    def _dump(self, model: Any, file: Path) -> list[str] | None:
        if self.serialization_format == "skops":
            skops_io = import_framework("skops.io", "sklearn")
            skops_io.dump(model, file)
            untrusted = sorted(set(skops_io.get_untrusted_types(file=file)) - set(self.trusted_types or []))
            if untrusted:
                raise InvalidInput(f"skops does not trust the types {untrusted} in this model; if you have reviewed "
                                   "them, pass SklearnFlavor('skops', trusted_types=[...])", field="trusted_types")
            return self.trusted_types
        dumper = import_framework("cloudpickle", "sklearn") if self.serialization_format == "cloudpickle" else pickle
        with file.open("wb") as out:
            dumper.dump(model, out)
        return None

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Load the estimator, checking the scikit-learn version it was saved with."""
        sklearn = self.framework()
        check_version("scikit-learn", config.get("sklearn_version"), sklearn.__version__, strict=strict)
        file = path / str(config.get("pickled_model", "model.pkl"))
        if config.get("serialization_format") == "skops":
            skops_io = import_framework("skops.io", "sklearn")
            return skops_io.load(file, trusted=config.get("skops_trusted_types"))
        with file.open("rb") as stream:
            return pickle.load(stream)  # noqa: S301 - a model directory is trusted code, as in MLflow

    def requirements(self) -> list[str]:
        """scikit-learn, and the serializer's package, pinned."""
        serializer = {"cloudpickle": "cloudpickle", "skops": "skops"}.get(self.serialization_format)
        return [pinned("scikit-learn"), *([pinned(serializer)] if serializer else [])]

    def python_function(self, config: dict[str, Any]) -> dict[str, Any]:
        """Point MLflow at its own sklearn loader, so no Keel install is needed to load the model."""
        return {"loader_module": "mlflow.sklearn", "model_path": config["pickled_model"], "predict_fn": "predict"}

    def __repr__(self) -> str:
        return f"SklearnFlavor({self.serialization_format!r}, trusted_types={self.trusted_types!r})"
