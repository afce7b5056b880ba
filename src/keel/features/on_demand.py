"""Running an on-demand view's function on a frame of its inputs, with errors that name the view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.errors import InvalidInput
from keel.features.definitions import OnDemandFeatureView

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_on_demand"]

_PANDAS_DTYPES = {"int64": "Int64", "int32": "Int32", "float64": "float64", "float32": "float32", "string": "string",
                  "bool": "boolean"}


def run_on_demand(view: OnDemandFeatureView, inputs: pd.DataFrame) -> pd.DataFrame:
    """``view.udf(inputs)`` checked to return one row per input row with every feature of the view's schema."""
    import pandas as pd

    try:
        out = view.udf(inputs.copy())
    except Exception as exc:
        raise InvalidInput(f"on-demand view {view.name!r}: its function raised {type(exc).__name__}: {exc}",
                           field="udf") from exc
    if not isinstance(out, pd.DataFrame):
        raise InvalidInput(f"on-demand view {view.name!r}: its function returned a {type(out).__name__}, not a "
                           "pandas DataFrame", field="udf")
    if len(out) != len(inputs):
        raise InvalidInput(f"on-demand view {view.name!r}: its function returned {len(out)} rows for "
                           f"{len(inputs)}", field="udf")
    missing = [f.name for f in view.schema if f.name not in out.columns]
    if missing:
        raise InvalidInput(f"on-demand view {view.name!r}: its function's result lacks {', '.join(missing)}",
                           field="udf")
    out = out.reset_index(drop=True)
    for f in view.schema:
        if f.dtype in _PANDAS_DTYPES:
            try:
                out[f.name] = out[f.name].astype(_PANDAS_DTYPES[f.dtype])
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"on-demand view {view.name!r}: feature {f.name!r} is not {f.dtype} ({exc})",
                                   field="schema") from exc
    return out
