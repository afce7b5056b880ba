"""Deployments as pure data: route specs, validation, weight normalisation, canary steps and the JSON codec."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from keel.errors import InvalidInput
from keel.serving.deployment import (
    Deployment,
    Route,
    deployment_from_dict,
    deployment_to_dict,
    parse_route,
    shift_traffic,
    validate_deployment,
)


@pytest.mark.parametrize("spec,expected", [
    ("fraud/3=90", Route("fraud", version=3, weight=90.0)),
    ("fraud@champion=10", Route("fraud", alias="champion", weight=10.0)),
    ("fraud/4", Route("fraud", version=4)),
    ("fraud@challenger", Route("fraud", alias="challenger")),
    ("team/fraud/12=0.5", Route("team/fraud", version=12, weight=0.5)),
    ("  fraud/2=1e2 ", Route("fraud", version=2, weight=100.0)),
])
def test_parse_route_forms(spec: str, expected: Route) -> None:
    assert parse_route(spec) == expected


def test_target_and_model_uri() -> None:
    assert (parse_route("fraud/3").target, parse_route("fraud/3").model_uri) == ("fraud/3", "models:/fraud/3")
    alias = parse_route("fraud@champion=5")
    assert (alias.target, alias.model_uri) == ("fraud@champion", "models:/fraud@champion")


@pytest.mark.parametrize("spec,needle", [
    ("", "empty"),
    ("fraud", "names no version or alias"),
    ("fraud/latest", "names no version or alias"),
    ("fraud/0", "positive integer"),
    ("fraud/3=abc", "'abc' is not a number"),
    ("fraud/3=0", "above 0"),
    ("fraud/3=-5", "above 0"),
    ("fraud/3=nan", "above 0"),
    ("fraud/3=inf", "above 0"),
    ("fraud@latest", "reserved"),
    ("fraud@1bad", "not a valid alias"),
    ("/3", "non-empty name"),
])
def test_bad_route_specs_name_the_spec_and_the_forms(spec: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_route(spec)
    assert needle in err.value.message and err.value.field == "route"
    assert "NAME/VERSION" in err.value.message


def _dep(*routes: Route, **kw: object) -> Deployment:
    return Deployment("fraud-api", routes, **kw)  # type: ignore[arg-type]


def test_weights_are_normalised_to_100_keeping_proportions() -> None:
    d = validate_deployment(_dep(Route("m", 1, weight=3), Route("m", 2, weight=1)))
    assert [r.weight for r in d.routes] == [75.0, 25.0]
    three = validate_deployment(_dep(Route("m", 1), Route("m", 2), Route("m", alias="champion")))
    assert math.isclose(sum(r.weight for r in three.routes), 100.0)
    assert all(math.isclose(r.weight, 100 / 3) for r in three.routes)
    assert validate_deployment(d) == d  # normalising normalised weights changes nothing


def test_shadow_weights_are_ignored() -> None:
    d = validate_deployment(_dep(Route("m", 1), shadows=(Route("m", 2, weight=77),)))
    assert d.shadows == (Route("m", 2, weight=1.0),) and d.routes == (Route("m", 1, weight=100.0),)


@pytest.mark.parametrize("change,field,needle", [
    ({"name": "has space"}, "name", "not a valid deployment name"),
    ({"name": "-lead"}, "name", "starting with a letter or digit"),
    ({"name": "x" * 129}, "name", "1-128"),
    ({"name": "a#1"}, "name", "not a valid deployment name"),
    ({"routes": ()}, "routes", "at least one route"),
    ({"routes": (Route("m", 1, weight=0),)}, "routes", "drop the route"),
    ({"routes": (Route("m", 1, weight=float("nan")),)}, "routes", "finite"),
    ({"routes": (Route("m", 1, weight=-1),)}, "routes", "above 0"),
    ({"routes": (Route("m", 1, weight=True),)}, "routes", "above 0"),  # type: ignore[arg-type]
    ({"routes": (Route("m"),)}, "routes", "exactly one of a version or an alias"),
    ({"routes": (Route("m", 1, "champion"),)}, "routes", "exactly one"),
    ({"routes": (Route("", 1),)}, "routes", "non-empty name"),
    ({"routes": (Route("m", 0),)}, "routes", "positive integer"),
    ({"routes": (Route("m", alias="v2"),)}, "routes", "reserved"),
    ({"routes": (Route("m", 1), Route("m", 1, weight=5))}, "routes", "m/1 given more than once"),
    ({"routes": ("m/1",)}, "routes", "sequence of routes"),
    ({"shadows": (Route("m", 1),)}, "shadows", "m/1 is also a route"),
    ({"shadows": (Route("m", 2), Route("m", 2))}, "shadows", "more than once"),
    ({"shadows": (Route("m"),)}, "shadows", "exactly one"),
    ({"sticky_key": ""}, "sticky_key", "header or field name"),
    ({"sticky_key": "user id"}, "sticky_key", "header or field name"),
    ({"max_batch_size": 0}, "max_batch_size", "from 1 (no batching)"),
    ({"max_batch_size": 100_000}, "max_batch_size", "4096"),
    ({"max_batch_size": 2.5}, "max_batch_size", "integer"),
    ({"max_wait_ms": -1.0}, "max_wait_ms", "from 0"),
    ({"max_wait_ms": float("inf")}, "max_wait_ms", "from 0"),
    ({"description": "x" * 5001}, "description", "5000"),
])
def test_validation_names_the_field(change: dict[str, object], field: str, needle: str) -> None:
    d = replace(_dep(Route("m", 1, weight=90), Route("m", 2, weight=10)), **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as err:
        validate_deployment(d)
    assert err.value.field == field and needle in err.value.message, err.value.message


def test_a_valid_deployment_passes_with_every_option() -> None:
    d = _dep(Route("m", 1, weight=90), Route("m", alias="challenger", weight=10), shadows=(Route("m", 3),),
             sticky_key="X-User-Id", max_batch_size=64, max_wait_ms=5.0, description="fraud scoring")
    assert validate_deployment(d).routes[1] == Route("m", alias="challenger", weight=10.0)


def test_canary_steps_shift_traffic_and_keep_the_rest_in_proportion() -> None:
    base = (Route("m", 1, weight=100.0),)
    ten = shift_traffic(base, Route("m", 2), 10)
    assert ten == (Route("m", 1, weight=90.0), Route("m", 2, weight=10.0))
    half = shift_traffic(ten, Route("m", 2), 50)
    assert half == (Route("m", 1, weight=50.0), Route("m", 2, weight=50.0))
    assert shift_traffic(half, Route("m", 2), 100) == (Route("m", 2, weight=100.0),)
    assert shift_traffic(half, Route("m", 2), 0) == (Route("m", 1, weight=100.0),)
    three = shift_traffic((Route("a", 1, weight=3), Route("b", 1, weight=1)), Route("c", 1), 20)
    assert [(r.target, r.weight) for r in three] == [("a/1", 60.0), ("b/1", 20.0), ("c/1", 20.0)]


@pytest.mark.parametrize("percent", [-1, 101, float("nan")])
def test_canary_percent_out_of_range(percent: float) -> None:
    with pytest.raises(InvalidInput, match="from 0 to 100"):
        shift_traffic((Route("m", 1),), Route("m", 2), percent)


def test_canary_on_the_only_route_must_take_everything() -> None:
    with pytest.raises(InvalidInput, match="only route"):
        shift_traffic((Route("m", 1),), Route("m", 1), 50)


def test_json_round_trip() -> None:
    d = validate_deployment(_dep(Route("m", 1, weight=90), Route("m", alias="challenger", weight=10),
                                 shadows=(Route("m", 3),), sticky_key="user", max_batch_size=8, max_wait_ms=1.5,
                                 description="d", revision=4, created_at=1, updated_at=2, updated_by="ann",
                                 action="rollback"))
    body = deployment_to_dict(d)
    assert body["routes"][1] == {"model": "m", "version": None, "alias": "challenger", "weight": 10.0,
                                 "target": "m@challenger"}
    assert deployment_from_dict(body) == d
    assert deployment_from_dict({"name": "x", "routes": [{"model": "m", "version": "2"}]}).routes == (
        Route("m", 2),)


@pytest.mark.parametrize("body,field", [
    ([], "deployment"),
    ({"routes": []}, "deployment"),
    ({"name": "x", "routes": {"model": "m"}}, "routes"),
    ({"name": "x", "routes": [{"version": 1}]}, "routes"),
    ({"name": "x", "routes": [{"model": "m", "version": 1.5}]}, "routes"),
    ({"name": "x", "routes": [{"model": "m", "version": 1, "weight": "heavy"}]}, "routes"),
    ({"name": "x", "routes": [], "action": "explode"}, "action"),
    ({"name": "x", "routes": [], "max_batch_size": "many"}, "deployment"),
])
def test_malformed_json_is_invalid_input(body: object, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        deployment_from_dict(body)  # type: ignore[arg-type]
    assert err.value.field == field
