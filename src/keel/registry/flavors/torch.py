"""PyTorch flavor (CPU): TorchScript when the module can be scripted, else its state dict and class path.

A scripted module loads without its Python code. A module TorchScript cannot compile is saved as a state dict
plus the import path of its class; loading imports the class, builds it with ``init_kwargs`` (given to
``TorchFlavor(init_kwargs=...)`` at save time, default none) and loads the weights, so the class's code must be
importable where the model is loaded.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from keel.errors import InvalidInput
from keel.registry.flavors.base import Flavor, belongs_to, check_version

__all__ = ["TorchFlavor"]

_SCRIPT_FILE = "model.pt"
_STATE_FILE = "state_dict.pt"


class TorchFlavor(Flavor):
    """``torch.nn.Module`` models, run on CPU in eval mode without gradients."""

    name: ClassVar[str] = "torch"
    extra: ClassVar[str] = "torch"
    module: ClassVar[str] = "torch"
    packages: ClassVar[tuple[str, ...]] = ("torch",)

    def __init__(self, init_kwargs: dict[str, Any] | None = None) -> None:
        self.init_kwargs = dict(init_kwargs or {})

    def can_handle(self, model: Any) -> bool:
        """True for ``torch.nn.Module`` instances."""
        return belongs_to(model, "torch") and callable(getattr(model, "state_dict", None))

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Save TorchScript if scripting works, otherwise the state dict and the class path."""
        torch = self.framework()
        config: dict[str, Any] = {"torch_version": torch.__version__.split("+")[0], "dtype": _dtype_name(model)}
        scripted = _script(torch, model)
        if scripted is not None:
            scripted.save(str(path / _SCRIPT_FILE))
            return {**config, "format": "torchscript", "data": _SCRIPT_FILE}
        torch.save(model.state_dict(), str(path / _STATE_FILE))
        return {**config, "format": "state_dict", "data": _STATE_FILE, "init_kwargs": self.init_kwargs,
                "model_class": f"{type(model).__module__}:{type(model).__qualname__}"}

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Load on CPU and switch to eval mode."""
        torch = self.framework()
        check_version("torch", config.get("torch_version"), torch.__version__.split("+")[0], strict=strict)
        file = str(path / str(config["data"]))
        if config.get("format") == "torchscript":
            model = torch.jit.load(file, map_location="cpu")
        else:
            model = _model_class(str(config["model_class"]))(**(config.get("init_kwargs") or {}))
            model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
        model.eval()
        model.keel_dtype = config.get("dtype", "float32")
        return model

    def predict(self, loaded: Any, data: Any) -> Any:
        """Turn the input into a float tensor of the model's dtype, run it, return a numpy array."""
        torch = self.framework()
        values = data.to_numpy() if isinstance(data, pd.DataFrame | pd.Series) else np.asarray(data)
        tensor = torch.as_tensor(values.astype(getattr(loaded, "keel_dtype", "float32")))
        with torch.no_grad():
            return loaded(tensor).cpu().numpy()


def _script(torch: Any, model: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.script(model)
    except Exception:  # TorchScript rejects dynamic Python in many ways; fall back to the state dict
        return None


def _dtype_name(model: Any) -> str:
    parameter = next(iter(model.parameters()), None)
    return "float32" if parameter is None else str(parameter.dtype).removeprefix("torch.")


def _model_class(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot import the model class {path!r} needed to load this state dict; make its "
                           "module importable (or save a TorchScript-compatible module)", field="model_class") from exc
    return target
