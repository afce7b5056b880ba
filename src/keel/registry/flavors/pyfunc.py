"""python-function flavor: any object with a ``predict`` method (or any callable), code included.

The object is written with cloudpickle. Classes defined in ``__main__``, a notebook or a local module that is not
an installed package are pickled *by value* (their code travels inside the file), so the model loads where that
code does not exist; classes from installed packages are pickled by reference and need the package installed.
"""

from __future__ import annotations

import importlib.metadata
import pickle
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from keel.registry.flavors.base import Flavor, pinned

__all__ = ["PyfuncFlavor"]

_FILE = "python_model.pkl"


class PyfuncFlavor(Flavor):
    """Generic Python models; the catch-all flavor, tried last."""

    name: ClassVar[str] = "pyfunc"
    extra: ClassVar[str] = "pyfunc"
    module: ClassVar[str] = "cloudpickle"
    packages: ClassVar[tuple[str, ...]] = ("cloudpickle",)

    def can_handle(self, model: Any) -> bool:
        """True for any object with a ``predict`` method, and for plain callables."""
        return callable(getattr(model, "predict", None)) or callable(model)

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Pickle the object with its local code captured by value."""
        cloudpickle = self.framework()
        local = [m for m in _defining_modules(model) if _is_local(m)]
        for module in local:
            cloudpickle.register_pickle_by_value(module)
        try:
            with (path / _FILE).open("wb") as out:
                cloudpickle.dump(model, out)
        finally:
            for module in local:
                cloudpickle.unregister_pickle_by_value(module)
        return {"python_model": _FILE, "cloudpickle_version": cloudpickle.__version__,
                "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "by_value": [m.__name__ for m in local]}

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Unpickle the object (cloudpickle must be importable for by-value code)."""
        self.framework()
        with (path / str(config.get("python_model", _FILE))).open("rb") as stream:
            return pickle.load(stream)  # noqa: S301 - a model directory is trusted code, as in MLflow

    def predict(self, loaded: Any, data: Any) -> Any:
        """Call ``loaded.predict(data)``, or ``loaded(data)`` for a plain callable."""
        method = getattr(loaded, "predict", None)
        return method(data) if callable(method) else loaded(data)

    def requirements(self) -> list[str]:
        """cloudpickle, pinned; the user adds the model's own dependencies with ``pip_requirements``."""
        return [pinned("cloudpickle")]


def _defining_modules(model: Any) -> list[ModuleType]:
    names = {cls.__module__ for cls in type(model).__mro__}
    names.add(getattr(model, "__module__", None) or type(model).__module__)
    return [sys.modules[n] for n in sorted(names) if n in sys.modules and n not in ("builtins", "__main__")]


def _is_local(module: ModuleType) -> bool:
    """True for the user's own code: not the standard library and not part of an installed distribution."""
    top = module.__name__.split(".")[0]
    if top in sys.stdlib_module_names or top in importlib.metadata.packages_distributions():
        return False
    return getattr(module, "__file__", None) is not None
