"""Model flavors: one per framework, looked up by name or chosen for a Python object.

Flavors are tried in order by :func:`flavor_for`; the specific frameworks come first (XGBoost and LightGBM
estimators are also scikit-learn estimators), python-function last as the catch-all. Importing this package
imports no framework: each flavor imports its own only when used.
"""

from __future__ import annotations

from typing import Any

from keel.errors import InvalidInput
from keel.registry.flavors.base import Flavor, FrameworkVersionWarning
from keel.registry.flavors.lightgbm import LightGBMFlavor
from keel.registry.flavors.onnx import OnnxFlavor
from keel.registry.flavors.pyfunc import PyfuncFlavor
from keel.registry.flavors.sklearn import SklearnFlavor
from keel.registry.flavors.torch import TorchFlavor
from keel.registry.flavors.xgboost import XGBoostFlavor

__all__ = [
    "FLAVORS",
    "Flavor",
    "FrameworkVersionWarning",
    "LightGBMFlavor",
    "OnnxFlavor",
    "PyfuncFlavor",
    "SklearnFlavor",
    "TorchFlavor",
    "XGBoostFlavor",
    "flavor_for",
    "get_flavor",
    "register_flavor",
]

#: Flavors by name, in the order :func:`flavor_for` tries them.
FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (OnnxFlavor(), TorchFlavor(), XGBoostFlavor(), LightGBMFlavor(), SklearnFlavor(), PyfuncFlavor())
}


def get_flavor(name: str) -> Flavor:
    """The registered flavor called ``name``."""
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidInput(f"unknown model flavor {name!r}; known flavors: {', '.join(FLAVORS)}",
                           field="flavor") from None


def flavor_for(model: Any) -> Flavor:
    """The first flavor that can handle ``model``."""
    for flavor in FLAVORS.values():
        if flavor.can_handle(model):
            return flavor
    raise InvalidInput(f"no flavor can save a {type(model).__module__}.{type(model).__qualname__}; give it a "
                       "predict method or pass flavor=...", field="model")


def register_flavor(flavor: Flavor, *, before: str | None = "pyfunc") -> None:
    """Add (or replace) a flavor; it is tried before ``before`` (default: before the catch-all python-function)."""
    items = [(n, f) for n, f in FLAVORS.items() if n != flavor.name]
    index = next((i for i, (n, _) in enumerate(items) if n == before), len(items))
    items.insert(index, (flavor.name, flavor))
    FLAVORS.clear()
    FLAVORS.update(items)
