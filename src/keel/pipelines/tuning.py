"""Hyperparameter tuning on Optuna, where every trial is a tracked child run of one parent run.

:func:`tune` drives an Optuna study by ask/tell from the calling thread: it asks for a trial, opens the trial's child
run, hands the trial to a launcher (:mod:`keel.pipelines.trials`: this thread, threads, processes or Ray) and, as
each trial ends, tells Optuna the outcome and logs it on the child run. A trial that raises is told FAIL and its run
marked FAILED; the study goes on. The study lives in an Optuna RDB storage (``<KEEL_HOME>/studies.db`` when Keel's
metadata is SQLite or remote, the ``keel_optuna`` schema of Keel's PostgreSQL database otherwise), so calling
:func:`tune` again with the same ``study_name`` resumes it under the same parent run.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from keel.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from keel.pipelines.trials import (
    Launcher,
    Objective,
    PendingTrial,
    TrialOutcome,
    is_number,
    make_launcher,
    result_of,
)
from keel.tracking.context import get_backend
from keel.tracking.entities import Metric, RunStatus
from keel.tracking.repository import TrackingRepository
from keel.tracking.system_tags import system_tags

__all__ = ["TuneResult", "parse_search_space", "study_storage", "tune"]

EXECUTORS = ("local", "ray")
PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "none": optuna.pruners.NopPruner,
}
_PARENT_ATTR = "keel.parent_run_id"
_RUN_ATTR = "keel.run_id"
_COUNT_TAGS = {TrialState.COMPLETE: "n_complete", TrialState.FAIL: "n_failed", TrialState.PRUNED: "n_pruned"}
_PG_SCHEMA = "keel_optuna"  # Optuna stamps its own alembic_version table: keep it away from Keel's


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`; counts cover the whole study, across resumed sessions."""

    best_params: dict[str, Any]
    best_value: float
    best_run_id: str
    parent_run_id: str
    n_complete: int
    n_failed: int
    n_pruned: int
    study: optuna.Study


def parse_search_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna distributions from a search space: a distribution as is, ``(low, high)`` (ints give an int range),
    ``{"log": (low, high)}`` (log scale) or a list of choices."""
    if not space:
        raise InvalidInput("search_space is empty; give at least one parameter, e.g. {'lr': {'log': (1e-4, 1e-1)}}",
                           field="search_space")
    return {name: _distribution(name, spec) for name, spec in space.items()}


def _distribution(name: str, spec: Any) -> BaseDistribution:
    if isinstance(spec, BaseDistribution):
        return spec
    if isinstance(spec, list):
        if not spec:
            raise InvalidInput(f"search_space.{name}: the list of choices is empty", field=f"search_space.{name}")
        return CategoricalDistribution(spec)
    log = isinstance(spec, Mapping) and set(spec) == {"log"}
    bounds = spec["log"] if log else spec
    if not (isinstance(bounds, tuple) and len(bounds) == 2 and all(is_number(b) for b in bounds)):
        raise InvalidInput(f"search_space.{name}: {spec!r} is not a range; use (low, high), {{'log': (low, high)}}, "
                           "a list of choices or an optuna distribution", field=f"search_space.{name}")
    low, high = bounds
    if low > high or (log and low <= 0):
        need = "0 < low <= high" if log else "low <= high"
        raise InvalidInput(f"search_space.{name}: bounds {bounds!r} need {need}", field=f"search_space.{name}")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


# --- the study and its runs ----------------------------------------------------------------------------------------


def study_storage() -> optuna.storages.RDBStorage:
    """Where studies live: ``<KEEL_HOME>/studies.db``, or the ``keel_optuna`` schema of Keel's PostgreSQL database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    settings = get_backend().settings
    url = make_url(settings.resolved_db_url)
    if settings.is_remote or url.get_backend_name() != "postgresql":
        settings.home.mkdir(parents=True, exist_ok=True)
        path = (settings.home / "studies.db").absolute()
        return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_PG_SCHEMA}"))
    admin.dispose()
    scoped = url.update_query_dict({"options": f"-csearch_path={_PG_SCHEMA}"})
    return optuna.storages.RDBStorage(scoped.render_as_string(hide_password=False))


class _Session:
    """One call of :func:`tune`: asks trials, opens and closes their child runs, tells Optuna the outcomes."""

    def __init__(self, study: optuna.Study, space: dict[str, BaseDistribution] | None, metric: str,
                 experiment: str | None) -> None:
        self.study, self.space, self.metric = study, space, metric
        self.repo: TrackingRepository = get_backend().tracking
        self.tags = system_tags()
        self.parent_id, self.experiment_id = self._parent(experiment)
        self.first_error: str | None = None

    def _parent(self, experiment: str | None) -> tuple[str, str]:
        from keel.tracking.fluent import active_run

        parent_id = self.study.user_attrs.get(_PARENT_ATTR)
        if parent_id is not None:
            try:
                self.repo.update_run(parent_id, status=RunStatus.RUNNING)
                return parent_id, self.repo.get_run(parent_id).info.experiment_id
            except NotFound:  # the parent run was deleted for good: the study goes on under a new one
                pass
        tags = {**self.tags, "keel.tune.study": self.study.study_name,
                "keel.tune.direction": self.study.direction.name.lower()}
        outer = active_run()
        if outer is not None:
            tags["mlflow.parentRunId"] = outer.run_id
        run = self.repo.create_run(_experiment_id(self.repo, experiment), user_id=tags.get("mlflow.user"),
                                   start_time=_now(), tags=tags, run_name=self.study.study_name)
        self.study.set_user_attr(_PARENT_ATTR, run.info.run_id)
        return run.info.run_id, run.info.experiment_id

    def open_trial(self) -> PendingTrial:
        """Ask Optuna for a trial and create its child run."""
        trial = self.study.ask(self.space)
        tags = {**self.tags, "mlflow.parentRunId": self.parent_id, "keel.tune.study": self.study.study_name,
                "keel.tune.trial": str(trial.number)}
        run = self.repo.create_run(self.experiment_id, user_id=tags.get("mlflow.user"), start_time=_now(), tags=tags,
                                   run_name=f"{self.study.study_name}-trial-{trial.number}")
        trial.set_user_attr(_RUN_ATTR, run.info.run_id)
        return PendingTrial(trial, run.info.run_id)

    def close_trial(self, pending: PendingTrial, outcome: TrialOutcome) -> FrozenTrial:
        """Tell Optuna how the trial ended and log it on its child run."""
        if outcome.state == "FAIL":
            self.first_error = self.first_error or outcome.error
        state = TrialState[outcome.state]
        frozen = self.study.tell(pending.trial, outcome.value if state == TrialState.COMPLETE else None, state)
        now = _now()
        metrics = [Metric(k, v, now) for k, v in outcome.metrics.items()]
        if frozen.value is not None:
            metrics.append(Metric(self.metric, frozen.value, now))
        tags = {"keel.tune.state": outcome.state}
        if outcome.error:
            tags["keel.tune.error"] = outcome.error[:5000]
        self.repo.log_batch(pending.run_id, metrics, {k: str(v) for k, v in frozen.params.items()}, tags)
        status = {"COMPLETE": RunStatus.FINISHED, "FAIL": RunStatus.FAILED}.get(outcome.state, RunStatus.KILLED)
        self.repo.update_run(pending.run_id, status=status, end_time=now)
        return frozen

    def abort_trial(self, pending: PendingTrial) -> None:
        """An interrupted trial: FAIL in Optuna (so a resumed study does not wait for it), KILLED in Keel."""
        self.study.tell(pending.trial, state=TrialState.FAIL, skip_if_finished=True)
        self.repo.log_batch(pending.run_id, tags={"keel.tune.state": "FAIL", "keel.tune.error": "interrupted"})
        self.repo.update_run(pending.run_id, status=RunStatus.KILLED, end_time=_now())

    def finish(self, status: str) -> TuneResult | None:
        """Log the counts and the best trial on the parent run; None when no trial of the study completed."""
        trials = self.study.get_trials(deepcopy=False)
        counts = {s: sum(t.state == s for t in trials) for s in _COUNT_TAGS}
        tags = {f"keel.tune.{_COUNT_TAGS[s]}": str(n) for s, n in counts.items()}
        if not counts[TrialState.COMPLETE]:
            self.repo.log_batch(self.parent_id, tags=tags)
            self.repo.update_run(self.parent_id, status=RunStatus.FAILED if status == RunStatus.FINISHED else status,
                                 end_time=_now())
            return None
        best = self.study.best_trial
        value, best_run_id = float(best.values[0]), best.user_attrs.get(_RUN_ATTR, "")
        tags |= {"keel.tune.best_run_id": best_run_id, "keel.tune.best_trial": str(best.number)}
        self.repo.log_batch(self.parent_id, [Metric(f"best_{self.metric}", value, _now(), len(trials))], tags=tags)
        self._log_best_params(best)
        self.repo.update_run(self.parent_id, status=status, end_time=_now())
        return TuneResult(dict(best.params), value, best_run_id, self.parent_id, counts[TrialState.COMPLETE],
                          counts[TrialState.FAIL], counts[TrialState.PRUNED], self.study)

    def _log_best_params(self, best: FrozenTrial) -> None:
        """The best params as params where they are new; params are immutable, so when a resumed session finds a
        different best the first values stay and ``keel.tune.best_params`` (a tag) holds the current ones."""
        logged = self.repo.get_run(self.parent_id).params
        fresh = {k: str(v) for k, v in best.params.items() if k not in logged}
        self.repo.log_batch(self.parent_id, params=fresh,
                            tags={"keel.tune.best_params": json.dumps(best.params, default=str)})


def _experiment_id(repo: TrackingRepository, name: str | None) -> str:
    if name is None:
        from keel.tracking.fluent import current_experiment_id

        return current_experiment_id()
    found = repo.get_experiment_by_name(name)
    if found is None:
        try:
            return repo.create_experiment(name)
        except AlreadyExists:  # created by another process a moment ago
            found = repo.get_experiment_by_name(name)
            assert found is not None
    return found.experiment_id


def _now() -> int:
    return int(time.time() * 1000)


# --- the driver ----------------------------------------------------------------------------------------------------


def _drive(session: _Session, launcher: Launcher, n_trials: int, parallel: int, deadline: float,
           advance: Callable[[FrozenTrial], None]) -> None:
    """Keep up to ``parallel`` trials in flight until ``n_trials`` were launched (or the deadline passed, or the study
    was stopped)."""
    in_flight: dict[Future[TrialOutcome], PendingTrial] = {}
    launched, interrupted = 0, False

    def fill() -> None:
        nonlocal launched
        while (launched < n_trials and len(in_flight) < parallel and time.monotonic() < deadline
               and not session.study._stop_flag):
            pending = session.open_trial()
            launched += 1
            try:
                in_flight[launcher.submit(pending)] = pending
            except BaseException:
                session.abort_trial(pending)
                raise

    try:
        while True:
            fill()
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            finished = [(in_flight.pop(future), result_of(future)) for future in done]
            if parallel > 1:
                fill()  # workers get new trials before the finished ones are recorded (inline would run them now)
            for pending, outcome in finished:
                advance(session.close_trial(pending, outcome))
    except BaseException:
        interrupted = True
        for future, pending in in_flight.items():
            future.cancel()
            session.abort_trial(pending)
        raise
    finally:
        launcher.close(interrupted=interrupted)


@contextmanager
def _optimize_loop(study: optuna.Study) -> Iterator[None]:
    """Let ``study.stop()`` work as inside ``optimize()``: GridSampler calls it when the grid is done, and so may an
    objective running in this thread. Optuna only offers it there, hence its private flags."""
    study._stop_flag = False
    study._thread_local.in_optimize_loop = True
    try:
        yield
    finally:
        study._thread_local.in_optimize_loop = False


@contextmanager
def _progress(show: bool | None, study: str, n_trials: int,
              minimize: bool) -> Iterator[Callable[[FrozenTrial], None]]:
    """A Rich progress bar on stderr (trials done of ``n_trials``, best so far); shown when ``show`` is True, or
    None and stderr is a terminal."""
    if not (show or (show is None and sys.stderr.isatty())):
        yield lambda _trial: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]tune {task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("best {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(study, total=n_trials, best="-")
        best: list[float] = []

        def advance(trial: FrozenTrial) -> None:
            if trial.state == TrialState.COMPLETE and trial.value is not None:
                best.append(trial.value)
            shown = (min(best) if minimize else max(best)) if best else None
            bar.update(task, advance=1, best="-" if shown is None else f"{shown:.6g}")

        yield advance


# --- the entry point -----------------------------------------------------------------------------------------------


def tune(objective: Objective, search_space: Mapping[str, Any] | None = None, *, n_trials: int = 20,
         direction: str = "minimize", metric: str = "score", parallel: int = 1, executor: str = "local",
         study_name: str | None = None, pruner: optuna.pruners.BasePruner | str | None = None,
         sampler: optuna.samplers.BaseSampler | None = None, seed: int | None = None,
         timeout_s: float | None = None, progress: bool | None = None, experiment: str | None = None) -> TuneResult:
    """Tune ``objective`` with Optuna; every trial is a child run of a parent run named after the study.

    With ``search_space`` (see :func:`parse_search_space`) the objective takes a dict of params; without it, it takes
    an Optuna trial and calls ``trial.suggest_*`` (and ``trial.report``/``trial.should_prune`` to be pruned). It
    returns a number or a dict of metrics holding ``metric``. ``parallel`` trials run at once: search-space
    objectives in worker processes (forked on Linux), Optuna-style ones in threads; ``executor="ray"`` runs each
    trial as a Ray task (search-space objectives only). ``keel.log_metric`` inside an objective that runs in this
    process, its threads or its worker processes lands on the trial's run.

    Each child run gets the trial's params, the value as metric ``metric`` (plus the dict's other numbers), tag
    ``keel.tune.state`` (COMPLETE, FAIL or PRUNED) and status FINISHED, FAILED (with the error in tag
    ``keel.tune.error``) or KILLED (pruned). The parent gets the best trial's params, metric ``best_<metric>`` and
    tags ``keel.tune.n_complete``/``n_failed``/``n_pruned`` and ``keel.tune.best_run_id``.

    Calling again with an existing ``study_name`` resumes that study under its parent run (in the parent's
    experiment); ``n_trials`` counts the trials to run in this call (Optuna's ``optimize`` semantics), ``timeout_s``
    stops launching new trials after that long. Params are immutable, so when a resumed study finds a new best with
    other values, the parent's params keep the old ones; tag ``keel.tune.best_params`` and the result are current.

    A failing trial never stops the study; when no trial of the whole study completed, :class:`Conflict` is raised
    with the first error (the parent run is marked FAILED). Ctrl-C marks running trials failed (runs KILLED) and the
    parent KILLED; the study resumes from there.
    """
    _check(n_trials=n_trials, direction=direction, metric=metric, parallel=parallel, executor=executor,
           timeout_s=timeout_s)
    space = parse_search_space(search_space) if search_space is not None else None
    launcher = make_launcher(objective, metric, space is not None, parallel, executor)  # starts no worker yet
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # Keel's runs and progress bar report each trial
    try:
        study = _load_study(study_name, direction, _pruner(pruner), sampler or optuna.samplers.TPESampler(seed=seed))
        session = _Session(study, space, metric, experiment)
        deadline = time.monotonic() + timeout_s if timeout_s is not None else math.inf
        status = RunStatus.FAILED
        try:
            with (_optimize_loop(study),
                  _progress(progress, study.study_name, n_trials, direction == "minimize") as advance):
                _drive(session, launcher, n_trials, parallel, deadline, advance)
            status = RunStatus.FINISHED
        except KeyboardInterrupt:
            status = RunStatus.KILLED
            raise
        finally:
            result = session.finish(status)
    finally:
        optuna.logging.set_verbosity(level)
    if result is None:
        raise Conflict(f"study {study.study_name!r}: no trial completed ({session.first_error or 'all pruned'}); "
                       f"fix the objective and call tune(study_name={study.study_name!r}) again to resume under "
                       f"parent run {session.parent_id}", field="objective")
    return result


def _check(*, n_trials: int, direction: str, metric: str, parallel: int, executor: str,
           timeout_s: float | None) -> None:
    if direction not in ("minimize", "maximize"):
        raise InvalidInput(f"direction {direction!r}: use 'minimize' or 'maximize'", field="direction")
    if not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidInput(f"n_trials must be an integer >= 1, got {n_trials!r}", field="n_trials")
    if not isinstance(parallel, int) or parallel < 1:
        raise InvalidInput(f"parallel must be an integer >= 1, got {parallel!r}", field="parallel")
    if executor not in EXECUTORS:
        raise InvalidInput(f"unknown executor {executor!r}: use {' or '.join(map(repr, EXECUTORS))}",
                           field="executor")
    if not metric or not isinstance(metric, str):
        raise InvalidInput("metric must be a non-empty metric name, e.g. 'score' or 'val_loss'", field="metric")
    if timeout_s is not None and timeout_s <= 0:
        raise InvalidInput(f"timeout_s must be > 0 seconds, got {timeout_s!r}", field="timeout_s")


def _pruner(pruner: optuna.pruners.BasePruner | str | None) -> optuna.pruners.BasePruner | None:
    if pruner is None or isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner not in PRUNERS:
        raise InvalidInput(f"unknown pruner {pruner!r}: use one of {', '.join(PRUNERS)} or an optuna pruner",
                           field="pruner")
    return PRUNERS[pruner]()


def _load_study(name: str | None, direction: str, pruner: optuna.pruners.BasePruner | None,
                sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    """The study called ``name`` (created if missing); a new name when None."""
    study = optuna.create_study(storage=study_storage(), study_name=name or f"tune-{uuid.uuid4().hex[:8]}",
                                direction=optuna.study.StudyDirection[direction.upper()], pruner=pruner,
                                sampler=sampler, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise InvalidInput(f"study {study.study_name!r} was created to {study.direction.name.lower()}; pass "
                           f"direction={study.direction.name.lower()!r} or a new study_name", field="direction")
    return study
