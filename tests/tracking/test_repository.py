"""One suite for every TrackingRepository: SQLite, PostgreSQL and HTTP against a live server."""

from __future__ import annotations

import math
import uuid

import pytest

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.tracking.entities import DatasetInput, Metric
from keel.tracking.points import MetricPoints
from keel.tracking.repository import TrackingRepository


def _name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_default_experiment_exists(repo: TrackingRepository) -> None:
    exp = repo.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"


def test_experiment_lifecycle(repo: TrackingRepository) -> None:
    name = _name()
    exp_id = repo.create_experiment(name, tags={"team": "ml"})
    exp = repo.get_experiment(exp_id)
    assert (exp.name, exp.tags) == (name, {"team": "ml"})
    assert repo.get_experiment_by_name(name) == exp
    assert repo.get_experiment_by_name(_name("missing")) is None
    with pytest.raises(AlreadyExists, match=name):
        repo.create_experiment(name)
    repo.set_experiment_tag(exp_id, "team", "platform")
    assert repo.get_experiment(exp_id).tags == {"team": "platform"}
    renamed = _name("renamed")
    repo.rename_experiment(exp_id, renamed)
    assert repo.get_experiment(exp_id).name == renamed
    repo.delete_experiment(exp_id)
    assert repo.get_experiment(exp_id).lifecycle_stage == "deleted"
    active, _ = repo.search_experiments()
    assert exp_id not in {e.experiment_id for e in active}
    deleted, _ = repo.search_experiments(view_type="DELETED_ONLY")
    assert exp_id in {e.experiment_id for e in deleted}
    repo.restore_experiment(exp_id)
    assert repo.get_experiment(exp_id).lifecycle_stage == "active"


def test_search_experiments_filter_and_paging(repo: TrackingRepository) -> None:
    prefix = _name("paged")
    ids = [repo.create_experiment(f"{prefix}-{i}") for i in range(5)]
    page1, token = repo.search_experiments(max_results=3, filter_string=f"name LIKE '{prefix}-%'",
                                           order_by=["name ASC"])
    assert [e.experiment_id for e in page1] == ids[:3]
    assert token is not None
    page2, token2 = repo.search_experiments(max_results=3, filter_string=f"name LIKE '{prefix}-%'",
                                            order_by=["name ASC"], page_token=token)
    assert [e.experiment_id for e in page2] == ids[3:]
    assert token2 is None
    with pytest.raises(InvalidInput, match="filter"):
        repo.search_experiments(filter_string="name ~~ 'x'")


def test_unknown_objects_raise_not_found(repo: TrackingRepository) -> None:
    with pytest.raises(NotFound, match="experiment"):
        repo.get_experiment("987654")
    with pytest.raises(NotFound, match="run"):
        repo.get_run(uuid.uuid4().hex)
    with pytest.raises(InvalidInput, match="run_id"):
        repo.get_run("../etc")


def test_run_lifecycle(repo: TrackingRepository) -> None:
    exp_id = repo.create_experiment(_name())
    run = repo.create_run(exp_id, user_id="ada", start_time=1000, tags={"k": "v"}, run_name="first")
    assert run == repo.get_run(run.info.run_id)  # what create_run returns is what the store holds
    info = run.info
    assert (info.status, info.run_name, info.user_id, info.start_time) == ("RUNNING", "first", "ada", 1000)
    assert run.tags["k"] == "v" and run.tags["mlflow.runName"] == "first"
    assert info.artifact_uri.endswith(f"{info.run_id}/artifacts")
    updated = repo.update_run(info.run_id, status="FINISHED", end_time=2000)
    assert (updated.status, updated.end_time) == ("FINISHED", 2000)
    repo.update_run(info.run_id, run_name="renamed")
    assert repo.get_run(info.run_id).info.run_name == "renamed"
    with pytest.raises(InvalidInput, match="status"):
        repo.update_run(info.run_id, status="DONE")
    repo.delete_run(info.run_id)
    assert repo.get_run(info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidInput, match="deleted"):
        repo.log_batch(info.run_id, params={"a": "1"})
    repo.restore_run(info.run_id)
    assert repo.get_run(info.run_id).info.lifecycle_stage == "active"


def test_log_batch_params_tags_metrics(repo: TrackingRepository) -> None:
    run_id = repo.create_run(repo.create_experiment(_name())).info.run_id
    repo.log_batch(run_id, metrics=[Metric("acc", 0.5, 10, 0), Metric("acc", 0.7, 5, 1)],
                   params={"lr": "0.1", "depth": "3"}, tags={"stage": "dev"})
    repo.log_batch(run_id, params={"lr": "0.1"})  # same value again: accepted
    with pytest.raises(InvalidInput, match="lr"):
        repo.log_batch(run_id, params={"lr": "0.2"})
    run = repo.get_run(run_id)
    assert run.params == {"lr": "0.1", "depth": "3"}
    assert run.tags["stage"] == "dev"
    # The latest value is the one at the highest step, even with an older timestamp.
    assert run.metrics["acc"] == Metric("acc", 0.7, 5, 1)
    repo.delete_tag(run_id, "stage")
    assert "stage" not in repo.get_run(run_id).tags
    with pytest.raises(NotFound):
        repo.delete_tag(run_id, "stage")


@pytest.mark.parametrize("key", ["", "a" * 251, "bad$key", "../up", "/abs", "a//b"])
def test_invalid_metric_keys_are_refused(repo: TrackingRepository, key: str) -> None:
    run_id = repo.create_run("0").info.run_id
    with pytest.raises(InvalidInput, match="key"):
        repo.log_batch(run_id, metrics=[Metric(key, 1.0, 1, 0)])


def test_too_long_values_are_refused(repo: TrackingRepository) -> None:
    run_id = repo.create_run("0").info.run_id
    with pytest.raises(InvalidInput, match="6000"):
        repo.log_batch(run_id, params={"p": "x" * 6001})
    with pytest.raises(InvalidInput, match="8000"):
        repo.log_batch(run_id, tags={"t": "x" * 8001})
    repo.log_batch(run_id, params={"p": "x" * 6000}, tags={"t": "y" * 8000})
    run = repo.get_run(run_id)
    assert len(run.params["p"]) == 6000 and len(run.tags["t"]) == 8000


def test_columnar_points_are_idempotent_per_batch(repo: TrackingRepository) -> None:
    run_id = repo.create_run("0").info.run_id
    points = MetricPoints(["loss"] * 1000, [1.0 / (i + 1) for i in range(1000)], list(range(1000)),
                          list(range(1000)))
    assert repo.log_metric_columns(run_id, points, batch_id="b-1") == 1000
    assert repo.log_metric_columns(run_id, points, batch_id="b-1") == 0
    history, token = repo.get_metric_history(run_id, "loss")
    assert token is None
    assert [m.step for m in history] == list(range(1000))
    assert history[10].value == pytest.approx(1 / 11)
    assert repo.get_run(run_id).metrics["loss"].step == 999
    with pytest.raises(InvalidInput, match="length"):
        repo.log_metric_columns(run_id, MetricPoints(["a", "b"], [1.0], [1, 2], [0, 0]))


def test_non_finite_values_round_trip(repo: TrackingRepository) -> None:
    run_id = repo.create_run("0").info.run_id
    repo.log_batch(run_id, metrics=[Metric("x", math.inf, 1, 0), Metric("x", -math.inf, 2, 1),
                                    Metric("x", math.nan, 3, 2)])
    values = [m.value for m in repo.get_metric_history(run_id, "x")[0]]
    assert values[0] == math.inf and values[1] == -math.inf and math.isnan(values[2])
    assert math.isnan(repo.get_run(run_id).metrics["x"].value)


def test_metric_history_pages(repo: TrackingRepository) -> None:
    run_id = repo.create_run("0").info.run_id
    repo.log_metric_columns(run_id, MetricPoints(["m"] * 25, [float(i) for i in range(25)], [7] * 25,
                                                 list(range(25))))
    seen: list[float] = []
    token = None
    while True:
        page, token = repo.get_metric_history(run_id, "m", max_results=10, page_token=token)
        seen += [m.value for m in page]
        if token is None:
            break
    assert seen == [float(i) for i in range(25)]


def test_search_runs_filter_order_and_pages(repo: TrackingRepository) -> None:
    exp_id = repo.create_experiment(_name())
    ids = []
    for i in range(7):
        run_id = repo.create_run(exp_id, start_time=1000 + i).info.run_id
        repo.log_batch(run_id, metrics=[Metric("acc", i / 10, 1, 0)], params={"lr": str(i % 2)},
                       tags={"team": "a" if i < 4 else "b"})
        ids.append(run_id)
    found, _ = repo.search_runs([exp_id], "metrics.acc >= 0.3 and params.lr = '1'", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in found] == [ids[5], ids[3]]
    found, _ = repo.search_runs([exp_id], "tags.team LIKE 'b%'")
    assert {r.info.run_id for r in found} == set(ids[4:])
    first, token = repo.search_runs([exp_id], order_by=["metrics.acc ASC"], max_results=4)
    rest, end = repo.search_runs([exp_id], order_by=["metrics.acc ASC"], max_results=4, page_token=token)
    assert [r.info.run_id for r in first + rest] == ids and end is None
    default_order, _ = repo.search_runs([exp_id])
    assert [r.info.run_id for r in default_order] == ids[::-1]  # newest first
    repo.delete_run(ids[0])
    assert ids[0] not in {r.info.run_id for r in repo.search_runs([exp_id])[0]}
    assert [r.info.run_id for r in repo.search_runs([exp_id], run_view_type="DELETED_ONLY")[0]] == [ids[0]]


@pytest.mark.parametrize("bad", ["metrics.acc >", "metrics.acc > 'x'", "params.lr > 1", "foo.bar = 1",
                                 "metrics.acc > 1 or metrics.acc < 0", "attributes.nope = 'x'"])
def test_malformed_filters_are_invalid_input(repo: TrackingRepository, bad: str) -> None:
    with pytest.raises(InvalidInput):
        repo.search_runs(["0"], bad)


def test_log_inputs(repo: TrackingRepository) -> None:
    run_id = repo.create_run("0").info.run_id
    ds = DatasetInput("iris", "abc123", "keel", "iris@v1", '{"cols": []}', '{"rows": 150}', "training")
    repo.log_inputs(run_id, [ds])
    repo.log_inputs(run_id, [ds])  # repeated: stored once
    assert repo.get_run(run_id).inputs == [ds]
    found, _ = repo.search_runs(["0"], "datasets.name = 'iris' and datasets.context = 'training'")
    assert run_id in {r.info.run_id for r in found}
