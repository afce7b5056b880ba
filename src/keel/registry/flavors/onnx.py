"""ONNX flavor: an ``onnx.ModelProto`` saved as ``model.onnx`` and run with an onnxruntime ``InferenceSession``.

``predict`` feeds one array (a DataFrame or array, cast to the graph input's element type) or a dict of arrays
keyed by input name, and returns the graph's first output (the label for skl2onnx classifiers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from keel.registry.flavors.base import Flavor, belongs_to, import_framework, pinned

__all__ = ["OnnxFlavor"]

_FILE = "model.onnx"
_ELEMENT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
                  "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_}


class OnnxFlavor(Flavor):
    """ONNX graphs, run on CPU with onnxruntime."""

    name: ClassVar[str] = "onnx"
    extra: ClassVar[str] = "onnx"
    module: ClassVar[str] = "onnx"
    packages: ClassVar[tuple[str, ...]] = ("onnx", "onnxruntime")

    def can_handle(self, model: Any) -> bool:
        """True for ``onnx.ModelProto`` objects."""
        return belongs_to(model, "onnx") and hasattr(model, "graph")

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Check the graph and write it as ``model.onnx``."""
        onnx = self.framework()
        onnx.checker.check_model(model)
        onnx.save_model(model, str(path / _FILE))
        return {"onnx_version": onnx.__version__, "data": _FILE, "providers": ["CPUExecutionProvider"]}

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """Open an onnxruntime session on the saved graph."""
        runtime = import_framework("onnxruntime", self.extra)
        providers = list(config.get("providers") or ["CPUExecutionProvider"])
        return runtime.InferenceSession(str(path / str(config.get("data", _FILE))), providers=providers)

    def predict(self, loaded: Any, data: Any) -> Any:
        """Run the session (or an in-memory ``ModelProto``) on ``data`` and return its first output."""
        if not hasattr(loaded, "get_inputs"):
            runtime = import_framework("onnxruntime", self.extra)
            loaded = runtime.InferenceSession(loaded.SerializeToString(), providers=["CPUExecutionProvider"])
        inputs = loaded.get_inputs()
        if isinstance(data, dict):
            feed = {i.name: _as_input(data[i.name], i.type) for i in inputs}
        else:
            feed = {inputs[0].name: _as_input(data, inputs[0].type)}
        return loaded.run(None, feed)[0]

    def requirements(self) -> list[str]:
        """onnx and onnxruntime, pinned."""
        return [pinned("onnx"), pinned("onnxruntime")]


def _as_input(data: Any, element_type: str) -> np.ndarray[Any, Any]:
    values = data.to_numpy() if isinstance(data, pd.DataFrame | pd.Series) else np.asarray(data)
    return values.astype(_ELEMENT_TYPES.get(element_type, values.dtype.type))
