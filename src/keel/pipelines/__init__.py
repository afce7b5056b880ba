"""Pipelines: ``@keel.step`` / ``@keel.pipeline`` DAGs with content-hash caching, run locally (parallel processes)
or on Ray; schedules and triggers; hyperparameter tuning on Optuna.

Names load on first use, so importing :mod:`keel.pipelines` stays cheap.
"""

from __future__ import annotations

from keel.lazy import lazy_names

# One entry per line: "public name": "module under keel.pipelines".
_LAZY: dict[str, str] = {
    "step": "steps",
    "pipeline": "steps",
    "Step": "steps",
    "Pipeline": "steps",
    "StepOutput": "steps",
    "run_pipeline": "runner",
    "run_ref": "runner",
    "PipelineFailed": "runner",
    "PipelineRun": "runs_sql",
    "StepRun": "runs_sql",
    "StepFailure": "execute",
    "load_pipeline": "params",
    "tune": "tuning",
    "TuneResult": "tuning",
    "emit": "triggers",
    "Scheduler": "scheduler",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = sorted(_LAZY)
