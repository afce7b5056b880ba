"""The interface every model flavor implements, and the pieces flavors share.

A flavor knows one framework: whether a Python object belongs to it (:meth:`Flavor.can_handle`), how to write it
into a model directory and describe it in ``MLmodel`` (:meth:`Flavor.save` returns that flavor's config section),
how to read it back (:meth:`Flavor.load`), how to predict with what it loaded (:meth:`Flavor.predict`), and which
pinned packages a fresh environment needs (:meth:`Flavor.requirements`). Heavy frameworks are optional extras:
:func:`import_framework` turns a missing import into an :class:`~keel.errors.InvalidInput` naming the extra.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from keel.errors import InvalidInput

__all__ = ["Flavor", "FrameworkVersionWarning", "belongs_to", "check_version", "import_framework", "pinned"]


class FrameworkVersionWarning(UserWarning):
    """A model is loaded with a different major/minor framework version than it was saved with."""


class Flavor(ABC):
    """One model framework.

    Subclasses set ``name``, ``extra``, ``module`` and ``packages`` and implement the four abstract methods.
    """

    #: The flavor's key in ``MLmodel`` ``flavors`` (``sklearn``, ``xgboost``, ...).
    name: ClassVar[str]
    #: The pip extra of ``keel-mlops`` that installs the framework.
    extra: ClassVar[str]
    #: The framework's import name (``sklearn``, ``xgboost``, ...).
    module: ClassVar[str]
    #: Distribution names whose installed versions :meth:`requirements` pins.
    packages: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def can_handle(self, model: Any) -> bool:
        """True when ``model`` is an object of this framework (never imports the framework to find out)."""

    @abstractmethod
    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Write ``model`` into the directory ``path``; return the flavor's ``MLmodel`` config (relative paths)."""

    @abstractmethod
    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Read the model saved in ``path`` with ``config``; ``strict`` turns version mismatches into errors."""

    def predict(self, loaded: Any, data: Any) -> Any:
        """Predict with a loaded model; the default calls its ``predict`` method."""
        return loaded.predict(data)

    def requirements(self) -> list[str]:
        """Pinned pip requirements (``name==version``) of the framework as installed now."""
        return [pinned(p) for p in self.packages]

    def python_function(self, config: dict[str, Any]) -> dict[str, Any]:
        """The ``python_function`` ``MLmodel`` section that lets ``mlflow.pyfunc.load_model`` load this model.

        By default MLflow is pointed at Keel's own loader, so it works wherever ``keel-mlops`` is installed.
        """
        return {"loader_module": "keel.registry.model_files"}

    def framework(self) -> ModuleType:
        """Import the flavor's framework, or raise naming the extra to install."""
        return import_framework(self.module, self.extra)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def import_framework(module: str, extra: str) -> ModuleType:
    """Import ``module``; if it is missing raise :class:`InvalidInput` saying which Keel extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InvalidInput(f"the {extra} flavor needs the {module!r} package, which is not installed; "
                           f"run: pip install 'keel-mlops[{extra}]'", field="flavor") from exc


def belongs_to(model: Any, *packages: str) -> bool:
    """True when ``model``'s class, or a base class, comes from one of the top-level ``packages``."""
    return any(cls.__module__.split(".")[0] in packages for cls in type(model).__mro__)


def pinned(distribution: str) -> str:
    """``distribution==<installed version>``, or the bare name when it is not installed.

    The version comes from the distribution's metadata, else from the importable module of that name (a module
    can come from another distribution, e.g. ``xgboost`` from ``xgboost-cpu``).
    """
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        module_version = getattr(importlib.import_module(distribution.replace("-", "_")), "__version__", None)
    except ImportError:
        return distribution
    return f"{distribution}=={module_version}" if module_version else distribution


def check_version(framework: str, saved: str | None, installed: str, *, strict: bool) -> None:
    """Compare the framework version a model was saved with to the installed one (major.minor).

    A mismatch warns (:class:`FrameworkVersionWarning`), or raises :class:`InvalidInput` when ``strict``.
    """
    if not saved or _major_minor(saved) == _major_minor(installed):
        return
    message = (f"model was saved with {framework} {saved} but {framework} {installed} is installed; predictions "
               f"may differ or loading may fail. Install {framework}=={saved} to match")
    if strict:
        raise InvalidInput(message, field=f"{framework}_version")
    warnings.warn(message, FrameworkVersionWarning, stacklevel=3)


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])
