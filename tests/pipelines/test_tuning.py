"""keel.tune: Optuna studies whose trials are child runs, failing/pruned trials, resume, parallelism and Ray."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

import keel
from keel.errors import Conflict, InvalidInput
from keel.pipelines.trials import outcome_of
from keel.pipelines.tuning import parse_search_space, study_storage, tune
from keel.tracking.context import get_backend
from keel.tracking.entities import Run


def children(parent_run_id: str) -> list[Run]:
    repo = get_backend().tracking
    parent = repo.get_run(parent_run_id)
    runs, _ = repo.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    return runs


def quadratic(params: dict[str, Any]) -> float:
    return float((params["x"] - 2) ** 2)


# --- pure parts -----------------------------------------------------------------------------------------------------


def test_search_space_shorthands_become_optuna_distributions() -> None:
    space = parse_search_space({"lr": {"log": (1e-4, 1e-1)}, "depth": (2, 8), "alpha": (0, 1.0),
                                "kind": ["a", "b"], "u": optuna.distributions.FloatDistribution(0, 1, step=0.5)})
    assert space["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    assert space["depth"] == optuna.distributions.IntDistribution(2, 8)
    assert space["alpha"] == optuna.distributions.FloatDistribution(0.0, 1.0)
    assert space["kind"] == optuna.distributions.CategoricalDistribution(["a", "b"])
    assert space["u"].step == 0.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(("space", "field"), [
    ({}, "search_space"), ({"x": (3, 1)}, "search_space.x"), ({"x": {"log": (0.0, 1.0)}}, "search_space.x"),
    ({"x": []}, "search_space.x"), ({"x": "big"}, "search_space.x"), ({"x": (1, 2, 3)}, "search_space.x"),
])
def test_bad_search_spaces_name_the_parameter(space: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_search_space(space)
    assert err.value.field == field


def test_objective_return_values() -> None:
    assert outcome_of(1, "score").value == 1.0
    full = outcome_of({"loss": 0.5, "acc": 0.9, "note": "text"}, "loss")
    assert (full.state, full.value, full.metrics) == ("COMPLETE", 0.5, {"acc": 0.9})
    assert outcome_of({"acc": 0.9}, "loss").error == "objective returned a dict without 'loss'; add it or pass metric="
    assert outcome_of(math.nan, "score").state == "FAIL"
    assert "return a number" in (outcome_of("0.3", "score").error or "")


# --- studies ----------------------------------------------------------------------------------------------------------


def test_search_space_study_finds_the_minimum_and_logs_every_trial(keel_home: Path) -> None:
    def objective(params: dict[str, Any]) -> dict[str, float]:
        keel.log_metric("inside", params["x"])  # lands on the trial's run
        return {"score": quadratic(params), "abs_x": abs(params["x"])}

    result = tune(objective, {"x": (-10.0, 10.0)}, n_trials=12, seed=0, study_name="quad", experiment="tuning")
    assert abs(result.best_params["x"] - 2) < 1 and result.best_value == pytest.approx(quadratic(result.best_params))
    assert (result.n_complete, result.n_failed, result.n_pruned) == (12, 0, 0)
    runs = children(result.parent_run_id)
    assert len(runs) == 12
    for run in runs:
        x = float(run.params["x"])
        assert run.metrics["score"].value == pytest.approx((x - 2) ** 2)
        assert run.metrics["inside"].value == pytest.approx(x) and run.metrics["abs_x"].value == pytest.approx(abs(x))
        assert run.info.status == "FINISHED" and run.tags["keel.tune.state"] == "COMPLETE"
    parent = keel.get_run(result.parent_run_id)
    assert parent.info.run_name == "quad" and parent.info.status == "FINISHED"
    assert get_backend().tracking.get_experiment(parent.info.experiment_id).name == "tuning"
    assert float(parent.params["x"]) == result.best_params["x"]
    assert parent.metrics["best_score"].value == result.best_value
    assert parent.tags["keel.tune.n_complete"] == "12" and parent.tags["keel.tune.best_run_id"] == result.best_run_id
    assert float(keel.get_run(result.best_run_id).params["x"]) == result.best_params["x"]


def test_optuna_style_study_with_failing_trials_finishes(keel_home: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        if x > 4:
            raise ValueError(f"x={x} is too big")
        return (x - 2) ** 2

    result = tune(objective, n_trials=12, seed=1)
    assert result.n_failed > 0 and result.n_complete + result.n_failed == 12
    assert abs(result.best_params["x"] - 2) < 1.5
    failed = [r for r in children(result.parent_run_id) if r.info.status == "FAILED"]
    assert len(failed) == result.n_failed
    for run in failed:
        assert float(run.params["x"]) > 4 and "score" not in run.metrics
        assert run.tags["keel.tune.state"] == "FAIL" and run.tags["keel.tune.error"].startswith("ValueError: x=")
    parent = keel.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.tags["keel.tune.n_failed"] == str(result.n_failed)


def test_a_study_resumes_under_the_same_parent(keel_home: Path) -> None:
    first = tune(quadratic, {"x": (-10.0, 10.0)}, n_trials=5, study_name="again", seed=0)
    second = tune(quadratic, {"x": (-10.0, 10.0)}, n_trials=5, study_name="again", seed=1)
    assert second.parent_run_id == first.parent_run_id
    assert len(second.study.trials) == 10 and second.n_complete == 10
    assert second.best_value <= first.best_value
    assert len(children(first.parent_run_id)) == 10
    parents, _ = get_backend().tracking.search_runs(["0"], "tags.`keel.tune.study` = 'again'")
    assert {r.info.run_name for r in parents} == {"again"} | {f"again-trial-{i}" for i in range(10)}
    tags = keel.get_run(first.parent_run_id).tags
    assert tags["keel.tune.n_complete"] == "10" and json.loads(tags["keel.tune.best_params"]) == second.best_params
    with pytest.raises(InvalidInput, match="created to minimize") as err:
        tune(quadratic, {"x": (-10.0, 10.0)}, n_trials=1, study_name="again", direction="maximize")
    assert err.value.field == "direction"


def test_an_interrupted_study_resumes(keel_home: Path) -> None:
    calls: list[float] = []

    def objective(params: dict[str, Any]) -> float:
        calls.append(params["x"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return quadratic(params)

    with pytest.raises(KeyboardInterrupt):
        tune(objective, {"x": (-10.0, 10.0)}, n_trials=6, study_name="stopped")
    [parent] = get_backend().tracking.search_runs(["0"], "attributes.run_name = 'stopped'")[0]
    assert parent.info.status == "KILLED" and parent.tags["keel.tune.n_failed"] == "1"
    resumed = tune(objective, {"x": (-10.0, 10.0)}, n_trials=3, study_name="stopped")
    runs = sorted(children(resumed.parent_run_id), key=lambda r: int(r.tags["keel.tune.trial"]))
    states = [r.tags["keel.tune.state"] for r in runs]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert (resumed.n_complete, resumed.n_failed) == (5, 1)
    interrupted = keel.get_run(resumed.study.trials[2].user_attrs["keel.run_id"])
    assert interrupted.info.status == "KILLED" and interrupted.tags["keel.tune.error"] == "interrupted"
    assert keel.get_run(resumed.parent_run_id).info.status == "FINISHED"


def test_tuning_inside_a_run_nests_under_it_and_timeout_stops_launching(keel_home: Path) -> None:
    def slow(params: dict[str, Any]) -> float:
        time.sleep(0.3)
        return quadratic(params)

    with keel.start_run() as outer:
        result = tune(slow, {"x": (0.0, 4.0)}, n_trials=100, timeout_s=0.5)
        assert keel.active_run() is outer
    assert 1 <= len(result.study.trials) <= 3
    assert keel.get_run(result.parent_run_id).tags["mlflow.parentRunId"] == outer.run_id


def test_when_no_trial_completes_conflict_names_the_error(keel_home: Path) -> None:
    def broken(params: dict[str, Any]) -> float:
        raise RuntimeError("no data")

    with pytest.raises(Conflict, match=r"no trial completed \(RuntimeError: no data\).*study_name='doomed'"):
        tune(broken, {"x": (0.0, 1.0)}, n_trials=3, study_name="doomed")
    [parent] = get_backend().tracking.search_runs(["0"], "attributes.run_name = 'doomed'")[0]
    assert parent.info.status == "FAILED" and parent.tags["keel.tune.n_failed"] == "3"
    fixed = tune(quadratic, {"x": (0.0, 1.0)}, n_trials=2, study_name="doomed")
    assert fixed.parent_run_id == parent.info.run_id and (fixed.n_complete, fixed.n_failed) == (2, 3)


def test_median_pruner_prunes_and_marks_runs(keel_home: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        for step in range(4):
            trial.report((x - 2) ** 2 + 1 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned
        return (x - 2) ** 2

    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    result = tune(objective, n_trials=10, pruner=pruner, seed=3)
    assert result.n_pruned > 0 and result.n_complete + result.n_pruned == 10
    pruned = [r for r in children(result.parent_run_id) if r.tags["keel.tune.state"] == "PRUNED"]
    assert len(pruned) == result.n_pruned and {r.info.status for r in pruned} == {"KILLED"}
    assert all("x" in r.params for r in pruned)


def test_progress_bar_shows_trials_and_best(keel_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tune(quadratic, {"x": [2]}, n_trials=3, progress=True, study_name="shown")
    err = capsys.readouterr().err
    assert "tune shown" in err and "3/3" in err and "best 0" in err


# --- parallelism ------------------------------------------------------------------------------------------------------


def spans(runs: list[Run]) -> list[tuple[float, float]]:
    return sorted((r.metrics["start"].value, r.metrics["end"].value) for r in runs)


def assert_concurrent(times: list[tuple[float, float]]) -> None:
    """Trials ran at the same time: timed inside the trials, as wall-clock bounds flake on a loaded machine."""
    assert any(b[0] < a[1] - 0.1 for a, b in zip(times, times[1:], strict=False)), times


def test_parallel_search_space_trials_run_in_concurrent_processes(keel_home: Path) -> None:
    def slow(params: dict[str, Any]) -> dict[str, float]:
        start = time.time()
        keel.log_metric("pid", os.getpid())  # lands on the trial's run from the worker process
        time.sleep(0.5)
        return {"score": params["x"], "start": start, "end": time.time()}

    result = tune(slow, {"x": (0.0, 1.0)}, n_trials=4, parallel=2)
    runs = children(result.parent_run_id)
    assert_concurrent(spans(runs))
    pids = {r.metrics["pid"].value for r in runs}
    assert len(pids) == 2 and os.getpid() not in pids


def test_parallel_optuna_style_trials_run_in_threads(keel_home: Path) -> None:
    def slow(trial: optuna.Trial) -> dict[str, float]:
        start = time.time()
        x = trial.suggest_int("x", 0, 10)
        keel.log_metric("inside", x)
        time.sleep(0.4)
        return {"score": x, "start": start, "end": time.time()}

    result = tune(slow, n_trials=4, parallel=2, direction="maximize")
    assert result.n_complete == 4
    runs = children(result.parent_run_id)
    assert_concurrent(spans(runs))
    for run in runs:
        assert run.metrics["inside"].value == float(run.params["x"]) == run.metrics["score"].value


def test_a_trial_that_kills_its_worker_fails_and_the_study_goes_on(keel_home: Path, tmp_path: Path) -> None:
    crashed_once = tmp_path / "crashed"

    def objective(params: dict[str, Any]) -> float:
        if not crashed_once.exists():
            crashed_once.touch()
            os._exit(1)
        time.sleep(0.2)
        return float(params["x"])

    result = tune(objective, {"x": (0.0, 1.0)}, n_trials=4, parallel=2)
    # the crash also fails a trial sharing the dead pool, if one was running; a new pool runs the rest
    assert len(result.study.trials) == 4 and result.n_complete >= 2 and result.n_failed >= 1
    failed = [r for r in children(result.parent_run_id) if r.info.status == "FAILED"]
    assert len(failed) == result.n_failed and all("worker process" in r.tags["keel.tune.error"] for r in failed)
    assert keel.get_run(result.parent_run_id).info.status == "FINISHED"


def test_grid_sampler_stops_the_study_when_the_grid_is_done(keel_home: Path) -> None:
    grid = optuna.samplers.GridSampler({"x": [0, 1, 2]})
    result = tune(quadratic, {"x": [0, 1, 2]}, n_trials=10, sampler=grid)
    assert len(result.study.trials) == 3 and result.best_params == {"x": 2}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_executor_runs_each_trial_as_a_task(local_ray: Any, keel_home: Path) -> None:
    def objective(params: dict[str, Any]) -> float:  # Ray workers cannot import this test module: no globals
        if params["x"] < -8:
            raise ValueError("off the map")
        return float((params["x"] - 2) ** 2)

    result = tune(objective, {"x": (-10.0, 10.0)}, n_trials=4, parallel=2, executor="ray", seed=0)
    assert result.n_complete + result.n_failed == 4 and result.n_complete >= 1
    runs = children(result.parent_run_id)
    assert len(runs) == 4 and all(r.info.status in ("FINISHED", "FAILED") for r in runs)
    best = keel.get_run(result.best_run_id)
    assert best.metrics["score"].value == result.best_value
    assert local_ray.is_initialized()  # a Ray the caller started is left running


# --- inputs and storage ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"direction": "up"}, "direction"), ({"n_trials": 0}, "n_trials"), ({"parallel": 0}, "parallel"),
    ({"executor": "spark"}, "executor"), ({"pruner": "sometimes"}, "pruner"), ({"metric": ""}, "metric"),
    ({"timeout_s": 0}, "timeout_s"),
])
def test_bad_arguments_name_the_field(keel_home: Path, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        tune(quadratic, {"x": (0.0, 1.0)}, **kwargs)
    assert err.value.field == field


def test_ray_needs_a_search_space(keel_home: Path) -> None:
    with pytest.raises(InvalidInput, match="needs a search_space") as err:
        tune(lambda trial: trial.suggest_float("x", 0, 1), executor="ray")
    assert err.value.field == "executor"


def test_studies_stay_out_of_keels_sqlite_file(keel_home: Path) -> None:
    tune(quadratic, {"x": (0.0, 1.0)}, n_trials=1)
    assert (keel_home / "studies.db").is_file()
    assert study_storage().url.endswith(str(keel_home / "studies.db"))


def test_on_postgres_studies_live_in_their_own_schema(keel_home: Path, postgres_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import create_engine, inspect

    from keel.tracking.context import reset_backend

    monkeypatch.setenv("KEEL_DB_URL", postgres_url)
    reset_backend()
    first = tune(quadratic, {"x": (0.0, 4.0)}, n_trials=3, study_name="pg")
    second = tune(quadratic, {"x": (0.0, 4.0)}, n_trials=2, study_name="pg")
    assert second.parent_run_id == first.parent_run_id and second.n_complete == 5
    engine = create_engine(postgres_url)
    try:
        inspector = inspect(engine)
        assert {"studies", "trials", "alembic_version"} <= set(inspector.get_table_names(schema="keel_optuna"))
        assert "studies" not in inspector.get_table_names(schema="public")
    finally:
        engine.dispose()
    study_storage().engine.dispose()
