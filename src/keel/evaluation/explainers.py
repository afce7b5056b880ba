"""SHAP explainers chosen by what a model is: per-row feature contributions that add up to the model's output.

:class:`ModelExplainer` looks through the flavor's object (a scikit-learn ``Pipeline`` whose preprocessing keeps
one column per feature, LightGBM's classifier wrapper) to the estimator and picks:

- ``tree``: :class:`shap.TreeExplainer` for tree ensembles and gradient boosting (scikit-learn, XGBoost, LightGBM,
  CatBoost) — exact, fast, and without background data it needs none (path-dependent);
- ``linear``: :class:`shap.LinearExplainer` for scikit-learn linear models (it explains the decision function);
- ``permutation``: :class:`shap.PermutationExplainer` over the model's ``predict_proba`` / ``predict``, sampled on
  at most 100 background rows and explained in chunks until a deadline, for everything else.

For a classifier with several outputs the contributions are those of the positive class (binary) or of each row's
predicted class. SHAP is imported only when an explainer is built; without it the error names the extra.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput, KeelError
from keel.registry.model_files import LoadedModel
from keel.registry.signature import enforce

__all__ = ["EXPLAIN_EXTRA", "Contributions", "ModelExplainer", "feature_frame", "import_shap"]

EXPLAIN_EXTRA = "pip install 'keel-mlops[explain]'"
BACKGROUND_ROWS = 100
_TREE_MODULES = ("xgboost", "lightgbm", "catboost", "sklearn.ensemble", "sklearn.tree")
_PROBABILITY_TREES = ("RandomForest", "ExtraTrees", "DecisionTree")
_CHUNK = {"tree": 2000, "linear": 5000, "permutation": 25}


def import_shap() -> Any:
    """The ``shap`` module, or :class:`InvalidInput` naming the extra that installs it."""
    try:
        import shap
    except ImportError as exc:
        raise InvalidInput(f"explanations need SHAP, which is not installed; run {EXPLAIN_EXTRA}",
                           field="explain") from exc
    return shap


@dataclass(frozen=True)
class Contributions:
    """Per-row SHAP values: ``base_values[i] + values[i].sum() == outputs[i]``, the model output named by ``output``.

    ``explained_class`` holds, per row, the class whose output was explained (``None`` for regressors).
    """

    values: np.ndarray[Any, Any]
    base_values: np.ndarray[Any, Any]
    features: list[str]
    output: str
    explainer: str
    index: pd.Index
    explained_class: list[Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def outputs(self) -> np.ndarray[Any, Any]:
        """The explained model output per row: base value plus the sum of the contributions."""
        return np.asarray(self.base_values + self.values.sum(axis=1))

    def importance(self) -> dict[str, float]:
        """Global importance: mean absolute contribution per feature, largest first."""
        means = np.abs(self.values).mean(axis=0) if len(self.values) else np.zeros(len(self.features))
        order = np.argsort(-means, kind="stable")
        return {self.features[i]: float(means[i]) for i in order}

    def top(self, row: int, k: int) -> list[tuple[str, float]]:
        """The ``k`` largest contributions (by magnitude) of row number ``row``."""
        values = self.values[row]
        order = np.argsort(-np.abs(values), kind="stable")[:k]
        return [(self.features[i], float(values[i])) for i in order]

    def frame(self) -> pd.DataFrame:
        """One row per explained row, one column per feature; ``attrs`` carry base values, output and explainer."""
        result = pd.DataFrame(self.values, columns=self.features, index=self.index)
        result.attrs.update({"base_values": self.base_values.tolist(), "output": self.output,
                             "explainer": self.explainer, "notes": list(self.notes)})
        if self.explained_class is not None:
            result.attrs["explained_class"] = list(self.explained_class)
        return result


def feature_frame(model: LoadedModel, data: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns of ``data``, checked against the signature (extra columns such as a target are
    dropped). A model that takes tensors cannot be explained per feature."""
    signature = model.signature
    if signature is not None and signature.inputs.is_tensor:
        raise InvalidInput(f"model flavor {model.flavor.name!r} takes tensors, and SHAP explanations need a table "
                           "of named columns; log the model with a DataFrame input example", field="model")
    if signature is None:
        return data
    frame = enforce(signature, data)
    if not isinstance(frame, pd.DataFrame):  # unnamed columns: keep the data's own names
        frame = pd.DataFrame(np.asarray(frame), columns=data.columns[:np.shape(frame)[1]], index=data.index)
    return frame


class ModelExplainer:
    """A SHAP explainer for one loaded model, built once and reused (serving caches one per loaded version)."""

    def __init__(self, model: LoadedModel, background: pd.DataFrame | None = None, *, seed: int = 0) -> None:
        self.model, self.seed = model, seed
        self.shap = import_shap()
        obj, self.classes = _unwrap(model.model)
        prefix, estimator = _split_pipeline(obj)
        self._background = None if background is None else feature_frame(model, background)
        self.kind = _kind(estimator)
        if self.kind == "permutation" or (prefix is not None and not _keeps_columns(prefix, self._background)):
            prefix, estimator, self.kind = None, obj, "permutation"  # explain the whole model as a black box
            if not callable(getattr(obj, "predict_proba", None)):
                self.classes = None  # its predictions are explained as numbers, not per class
        self._prefix, self.estimator = prefix, estimator
        self.output = _output_name(self.kind, estimator, self.classes)
        self._explainer: Any = None

    def explain(self, features: pd.DataFrame, *, deadline: float | None = None,
                on_rows: Callable[[int], None] | None = None) -> Contributions:
        """Contributions for every row of ``features`` (the model's input columns), in chunks; past ``deadline``
        (a ``time.monotonic()`` value) the rows explained so far are returned, with a note saying so."""
        if self._explainer is None:
            self._explainer = self._build(features)
        chunks, done, notes = [], 0, []
        step = _CHUNK[self.kind]
        while done < len(features):
            if deadline is not None and done and time.monotonic() > deadline:
                notes.append(f"time budget reached: explained {done} of {len(features)} rows")
                break
            part = features.iloc[done:done + step]
            chunks.append(self._shap_values(part))
            done += len(part)
            if on_rows is not None:
                on_rows(len(part))
        values, base = _combine(chunks, len(self.features(features)))
        values, base, chosen = self._select(values, base)
        return Contributions(values, base, self.features(features), self.output, self.kind,
                             features.index[:len(values)], chosen, notes)

    @property
    def needs_background(self) -> bool:
        """True when no background was given and the explainer would take the first data it explains as one."""
        return self.kind != "tree" and self._background is None

    def features(self, data: pd.DataFrame) -> list[str]:
        """The feature names contributions are reported for (the model's input columns)."""
        return [str(c) for c in data.columns]

    # ---------------------------------------------------------------------------------------------- internals

    def _build(self, sample: pd.DataFrame) -> Any:
        shap, background = self.shap, self._background
        try:
            if self.kind == "tree":
                if background is None:
                    return shap.TreeExplainer(self.estimator)
                return shap.TreeExplainer(self.estimator, self._transform(_sample(background, self.seed)),
                                          feature_perturbation="interventional")
            masker_rows = _sample(background if background is not None else sample, self.seed)
            if self.kind == "linear":
                return shap.LinearExplainer(self.estimator, self._transform(masker_rows))
            predict = self._predict_fn(list(sample.columns))
            predict(masker_rows.head(2).to_numpy())  # fail fast on a model whose outputs cannot be explained
            masker = shap.maskers.Independent(masker_rows.to_numpy(), max_samples=BACKGROUND_ROWS)
            return shap.PermutationExplainer(predict, masker, seed=self.seed)
        except KeelError:
            raise
        except Exception as exc:
            raise InvalidInput(f"SHAP cannot explain this {self.model.flavor.name} model "
                               f"({type(self.estimator).__name__}): {exc}", field="model") from exc

    def _shap_values(self, part: pd.DataFrame) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        try:
            if self.kind == "permutation":
                count = part.shape[1]
                evals = max(2 * count + 1, min(500, 10 * (2 * count + 1)))
                result = self._explainer(part.to_numpy(), max_evals=evals, silent=True)
            else:
                result = self._explainer(self._transform(part))
        except KeelError:
            raise
        except Exception as exc:
            raise InvalidInput(f"SHAP failed on this {self.model.flavor.name} model "
                               f"({type(self.estimator).__name__}): {type(exc).__name__}: {exc}",
                               field="model") from exc
        return np.asarray(result.values, dtype=float), np.asarray(result.base_values, dtype=float)

    def _transform(self, data: pd.DataFrame) -> Any:
        if self._prefix is None:
            return data
        return pd.DataFrame(np.asarray(self._prefix.transform(data), dtype=float), columns=data.columns,
                            index=data.index)

    def _predict_fn(self, columns: list[str]) -> Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]:
        model, obj = self.model, self.estimator
        proba = getattr(obj, "predict_proba", None)

        def predict(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            frame = pd.DataFrame(rows, columns=columns)
            if callable(proba):
                return np.asarray(proba(enforce(model.signature, frame)), dtype=float)
            out = np.asarray(model.predict(frame))
            if not np.issubdtype(out.dtype, np.number):
                raise InvalidInput(f"model flavor {model.flavor.name!r}: its predictions are not numbers "
                                   f"({out.dtype}) and it has no predict_proba, so SHAP cannot explain it",
                                   field="model")
            return out.astype(float)

        return predict

    def _select(self, values: np.ndarray[Any, Any],
                base: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[Any] | None]:
        """One output per row: the positive class of a binary classifier, else each row's predicted class."""
        rows = values.shape[0]
        if values.ndim == 2:
            chosen = [self.classes[-1]] * rows if self.classes else None
            return values, base.reshape(rows), chosen
        outputs = base + values.sum(axis=1)
        picked = np.full(rows, 1) if values.shape[2] == 2 else np.argmax(outputs, axis=1)
        return (values[np.arange(rows), :, picked], base[np.arange(rows), picked],
                self._class_names(picked.tolist()))

    def _class_names(self, positions: list[int]) -> list[Any] | None:
        if self.classes is None:
            return None
        labels = list(self.classes)
        return [labels[p] if p < len(labels) else p for p in positions]


def _unwrap(obj: Any) -> tuple[Any, list[Any] | None]:
    """The object SHAP sees, and the class labels when it is a classifier."""
    booster = getattr(obj, "booster", None)
    if type(obj).__name__ == "_Classifier" and booster is not None:  # keel's LightGBM classifier wrapper
        return booster, list(np.asarray(obj.classes).tolist())
    classes = getattr(obj, "classes_", None)
    return obj, None if classes is None else list(np.asarray(classes).tolist())


def _split_pipeline(obj: Any) -> tuple[Any, Any]:
    steps = getattr(obj, "steps", None)
    if type(obj).__name__ != "Pipeline" or not steps or len(steps) < 2:
        return None, obj
    return obj[:-1], steps[-1][1]


def _keeps_columns(prefix: Any, background: pd.DataFrame | None) -> bool:
    """True when the preprocessing maps each input column to one output column of the same name (a scaler)."""
    names_in = getattr(prefix, "feature_names_in_", None)
    try:
        names_out = prefix.get_feature_names_out()
    except Exception:  # noqa: BLE001 - a step without feature names: explain the whole pipeline instead
        return False
    if names_in is None:
        return background is not None and list(names_out) == [f"x{i}" for i in range(background.shape[1])]
    return list(map(str, names_out)) == list(map(str, names_in))


def _kind(estimator: Any) -> str:
    module = type(estimator).__module__
    if module.startswith(_TREE_MODULES) and not type(estimator).__name__.startswith(("Bagging", "Voting",
                                                                                       "Stacking", "AdaBoost")):
        return "tree"
    if module.startswith("sklearn.linear_model") and hasattr(estimator, "coef_"):
        return "linear"
    return "permutation"


def _output_name(kind: str, estimator: Any, classes: list[Any] | None) -> str:
    if classes is None:
        return "prediction"
    which = f"class {classes[1]!r}" if len(classes) == 2 else "the predicted class"
    if kind == "permutation" or (kind == "tree" and type(estimator).__name__.startswith(_PROBABILITY_TREES)):
        return f"probability of {which}"
    return f"log-odds (raw margin) of {which}"


def _sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= BACKGROUND_ROWS else frame.sample(BACKGROUND_ROWS, random_state=seed)


def _combine(chunks: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
             features: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    if not chunks:
        return np.zeros((0, features)), np.zeros(0)
    values = np.concatenate([v for v, _ in chunks])
    bases = [_per_row(b, v) for v, b in chunks]
    return values, np.concatenate(bases)


def _per_row(base: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Base values as one entry (or one row of class entries) per explained row."""
    rows = len(values)
    if base.ndim == 0 or (values.ndim == 2 and base.size == 1):
        return np.full(rows, float(base.reshape(-1)[0]))
    if values.ndim == 3 and base.ndim == 1 and len(base) == values.shape[2] and len(base) != rows:
        return np.tile(base, (rows, 1))
    return base
