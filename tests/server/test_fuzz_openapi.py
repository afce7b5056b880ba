"""schemathesis against `keel server`'s own /openapi.json, in process: a few generated requests per operation
(deterministic seed), and no answer may be a 5xx or break the declared response schema. Run with `-s` to see the
figures (operations, cases, 5xx)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from keel.config import Settings
from keel.server import create_app

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES_PER_OPERATION = 8
SEED = 20261124


def test_every_operation_survives_generated_requests(keel_home: Path) -> None:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    # keel_home: routes that call the SDK (monitoring) use the process settings, so they too write under tmp
    app = create_app(Settings(home=keel_home, log_format="text", request_timeout_s=20))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    figures = {"cases": 0, "5xx": 0}
    failures: list[str] = []
    started = time.perf_counter()

    for operation in operations:

        @seed(SEED)
        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            figures["cases"] += 1
            response = case.call()
            figures["5xx"] += response.status_code >= 500
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            except AssertionError as exc:  # keep going: report every operation that fails, not just the first
                failures.append(f"{case.operation.label}: {response.status_code} {str(exc)[:300]}")

        try:
            check()
        except Exception as exc:  # an exception escaping the app is a server error too
            figures["5xx"] += 1
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:300]}")

    elapsed = time.perf_counter() - started
    print(f"\nschemathesis: {len(operations)} operations, {figures['cases']} cases, {figures['5xx']} 5xx, "
          f"{len(failures)} failures in {elapsed:.1f}s (seed {SEED}, {EXAMPLES_PER_OPERATION} examples each)")
    assert len(operations) >= 100  # the whole API is covered, not a handful of routes
    assert figures["cases"] >= len(operations)
    assert not failures, "\n".join(failures[:20])
    assert figures["5xx"] == 0
