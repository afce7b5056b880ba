"""``promote``: evaluate a model version, gate it, move an alias only if it passes, and record the decision.

The decision (who, when, candidate and incumbent metrics, each condition with pass/fail, the verdict) is stored
as tags ``keel.promotion.<alias>.*`` on the candidate version on every transport, and as a lineage edge
``model_version <name>/<version> --promoted_to|promotion_refused--> alias <name>@<alias>`` on the local store.
A refusal is a value, not an exception: the CLI turns it into exit code 1 and prints the failing conditions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.config import current_user
from keel.errors import NotFound
from keel.evaluation.evaluate import EvaluationResult, evaluate, load_frame
from keel.evaluation.fairness import FAIRNESS_METRICS, gate_metrics
from keel.evaluation.gates import (
    Comparison,
    Condition,
    ConditionResult,
    check,
    compare,
    parse_conditions,
    primary_metric,
)
from keel.evaluation.metrics import check_task, metric_names
from keel.registry.entities import ModelVersion, check_alias
from keel.tracking.context import Backend, get_backend
from keel.tracking.fluent import active_run, start_run

__all__ = ["PromotionDecision", "promote", "record_lineage", "tag_prefix"]

PROMOTED = "promoted"
REFUSED = "refused"

@dataclass(frozen=True)
class PromotionDecision:
    """The outcome of :func:`promote`: the verdict and the evidence behind it."""

    name: str
    version: int
    alias: str
    promoted: bool
    task: str
    primary_metric: str
    candidate_metrics: dict[str, float]
    conditions: list[ConditionResult]
    comparison: Comparison | None = None
    must_beat: str | None = None
    incumbent_version: int | None = None
    incumbent_metrics: dict[str, float] | None = None
    candidate_run_id: str | None = None
    incumbent_run_id: str | None = None
    user: str = ""
    decided_at: int = 0
    lineage_recorded: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``"promoted"`` or ``"refused"``."""
        return PROMOTED if self.promoted else REFUSED

    @property
    def failures(self) -> list[str]:
        """One line per failed condition or lost comparison (empty when promoted)."""
        lines = [r.message for r in self.conditions if not r.passed]
        if self.comparison is not None and not self.comparison.passed:
            lines.append(f"{self.comparison.message} (incumbent {self.must_beat!r} = version "
                         f"{self.incumbent_version})")
        return lines

    @property
    def decided_at_iso(self) -> str:
        """When the decision was made, as ISO-8601 UTC."""
        return datetime.fromtimestamp(self.decided_at / 1000, tz=UTC).isoformat(timespec="seconds")

    def summary(self) -> str:
        """A short human-readable account, for the CLI."""
        head = f"{self.name} version {self.version} -> @{self.alias}: {self.verdict.upper()}"
        body = [f"  {'ok  ' if r.passed else 'FAIL'} {r.message}" for r in self.conditions]
        if self.comparison is not None:
            body.append(f"  {'ok  ' if self.comparison.passed else 'FAIL'} {self.comparison.message}")
        return "\n".join([head, *body, *(f"  note: {n}" for n in self.notes)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole decision."""
        return {
            "name": self.name, "version": self.version, "alias": self.alias, "verdict": self.verdict,
            "task": self.task, "primary_metric": self.primary_metric, "candidate_metrics": self.candidate_metrics,
            "conditions": [r.to_dict() for r in self.conditions],
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "must_beat": self.must_beat, "incumbent_version": self.incumbent_version,
            "incumbent_metrics": self.incumbent_metrics, "candidate_run_id": self.candidate_run_id,
            "incumbent_run_id": self.incumbent_run_id, "user": self.user, "decided_at": self.decided_at_iso,
            "failures": self.failures, "lineage_recorded": self.lineage_recorded, "notes": self.notes,
        }


def promote(name: str, version: int | str, alias: str, data: pd.DataFrame | str | Path,
            targets: str | Sequence[Any] | np.ndarray[Any, Any], *, task: str = "classification",
            require: Sequence[str] | str = (), must_beat: str | None = None) -> PromotionDecision:
    """Evaluate ``name`` version ``version`` on ``data`` and point ``alias`` at it only if it passes the gate.

    The gate: every ``require`` condition holds (e.g. ``"accuracy >= 0.9"``), and, when ``must_beat`` names an
    alias that points at a version, the candidate is at least as good as that version on the same data on the
    primary metric (the first required metric, else accuracy / rmse). Bad conditions raise :class:`InvalidInput`
    before anything is evaluated; a refusal is returned, not raised.
    """
    conditions, alias = _check_arguments(task, require, alias, must_beat)
    backend = get_backend()
    candidate = backend.registry.get_model_version(name, version)
    fairness_metrics = gate_metrics(conditions, candidate.name, candidate.version, candidate.tags)
    frame = load_frame(data)
    cand_eval = _evaluate(candidate, frame, targets, task)
    incumbent, inc_eval, notes = _incumbent(backend, candidate, must_beat, cand_eval, frame, targets, task)
    results = check(conditions, {**fairness_metrics, **cand_eval.metrics})
    primary = primary_metric(task, conditions)
    comparison = None if inc_eval is None else compare(cand_eval.metrics, inc_eval.metrics, primary)
    promoted = all(r.passed for r in results) and (comparison is None or comparison.passed)
    if promoted:
        backend.registry.set_registered_model_alias(name, alias, candidate.version)
    decision = PromotionDecision(
        name, candidate.version, alias, promoted, task, primary, cand_eval.metrics, results, comparison, must_beat,
        None if incumbent is None else incumbent.version, None if inc_eval is None else inc_eval.metrics,
        cand_eval.run_id, None if inc_eval is None else inc_eval.run_id, current_user(), int(time.time() * 1000),
        notes=[*cand_eval.notes, *notes])
    _record_tags(backend, decision)
    return replace(decision, lineage_recorded=record_lineage(backend, decision))


def _check_arguments(task: str, require: Sequence[str] | str, alias: str,
                     must_beat: str | None) -> tuple[list[Condition], str]:
    check_task(task)
    conditions = parse_conditions(require, known=[*metric_names(task), *FAIRNESS_METRICS])
    check_alias(alias)
    if must_beat is not None:
        check_alias(must_beat)
    return conditions, alias


def _evaluate(mv: ModelVersion, frame: pd.DataFrame, targets: Any, task: str) -> EvaluationResult:
    """Evaluate one version in its own run (nested under the active run, if any, so metrics do not collide)."""
    uri = f"models:/{mv.name}/{mv.version}"
    if active_run() is None:
        return evaluate(uri, frame, targets, task)
    with start_run(run_name=f"evaluate {uri}"[:250], nested=True):
        return evaluate(uri, frame, targets, task)


def _incumbent(backend: Backend, candidate: ModelVersion, must_beat: str | None, cand_eval: EvaluationResult,
               frame: pd.DataFrame, targets: Any,
               task: str) -> tuple[ModelVersion | None, EvaluationResult | None, list[str]]:
    if must_beat is None:
        return None, None, []
    try:
        holder: ModelVersion = backend.registry.get_model_version_by_alias(candidate.name, must_beat)
    except NotFound:
        return None, None, [f"alias {must_beat!r} points at no version yet, so there is no incumbent to beat"]
    if holder.version == candidate.version:
        return holder, cand_eval, [f"version {candidate.version} already holds {must_beat!r}; compared with itself"]
    return holder, _evaluate(holder, frame, targets, task), []


def tag_prefix(alias: str) -> str:
    """The model version tag prefix a decision about ``alias`` is stored under."""
    return f"keel.promotion.{alias}."


def _record_tags(backend: Backend, decision: PromotionDecision) -> None:
    incumbent = "none" if decision.incumbent_version is None else f"{decision.name}/{decision.incumbent_version}"
    tags = {
        "verdict": decision.verdict,
        "by": decision.user,
        "at": decision.decided_at_iso,
        "metrics": json.dumps(decision.candidate_metrics, sort_keys=True),
        "incumbent": incumbent,
        "incumbent_metrics": json.dumps(decision.incumbent_metrics or {}, sort_keys=True),
        "conditions": json.dumps([r.to_dict() for r in decision.conditions]),
        "comparison": json.dumps(None if decision.comparison is None else decision.comparison.to_dict()),
        "failures": "; ".join(decision.failures)[:8000] or "none",
    }
    prefix = tag_prefix(decision.alias)
    for key, value in tags.items():
        backend.registry.set_model_version_tag(decision.name, decision.version, prefix + key, value)


def record_lineage(backend: Backend, decision: PromotionDecision) -> bool:
    """Write the decision's lineage edge through the registry (local store or server): ``model_version
    <name>/<version>`` → ``alias <name>@<alias>``, relation ``promoted_to`` or ``promotion_refused``."""
    backend.registry.record_promotion(decision.name, decision.version, decision.alias, decision.promoted,
                                      decision.decided_at)
    return True


