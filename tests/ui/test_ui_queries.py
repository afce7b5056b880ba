"""The UI's pure pieces, without a browser: downsampling, gate decisions, signatures, compare/run queries, and the
frame's routes (redirects, login cookie, static files, error pages) in-process."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from keel.errors import InvalidInput
from keel.ui.downsample import lttb, minmax_buckets
from keel.ui.queries_compare import parse_run_ids
from keel.ui.queries_experiments import toggle_order
from keel.ui.queries_models import gate_decisions, parse_signature


def test_lttb_keeps_the_ends_and_the_peak_within_the_budget() -> None:
    xs = list(range(10_000))
    ys = [math.sin(i / 500) for i in xs]
    ys[4321] = 50.0  # a spike must survive
    out_x, out_y = lttb(xs, ys, 1500)
    assert len(out_x) == 1500 and out_x[0] == 0 and out_x[-1] == 9999
    assert out_x == sorted(out_x) and 50.0 in out_y
    assert lttb(xs[:10], ys[:10], 1500) == (xs[:10], ys[:10])  # small curves pass through


def test_minmax_buckets_keep_each_buckets_extremes() -> None:
    xs = list(range(1000))
    ys = [(-1) ** i * i for i in xs]
    out_x, out_y = minmax_buckets(xs, ys, 100)
    assert len(out_x) <= 100 and max(out_y) == max(ys) and min(out_y) == min(ys)


def test_gate_decisions_and_signature_parse_what_promote_and_log_model_store() -> None:
    tags = {"keel.promotion.champion.verdict": "refused", "keel.promotion.champion.by": "ana",
            "keel.promotion.champion.conditions": '[{"condition": "acc >= 0.9", "value": 0.8, "passed": false}]',
            "keel.promotion.champion.failures": "acc >= 0.9", "other": "x"}
    [decision] = gate_decisions(tags)
    assert decision["alias"] == "champion" and decision["verdict"] == "refused"
    assert decision["conditions"][0]["passed"] is False
    signature = parse_signature('{"inputs": "[{\\"type\\": \\"double\\", \\"name\\": \\"a\\"}]", '
                                '"outputs": "[{\\"type\\": \\"tensor\\", \\"tensor-spec\\": {\\"dtype\\": \\"int64\\"'
                                ', \\"shape\\": [-1]}}]", "params": null}')
    assert signature is not None and signature["inputs"] == [{"name": "a", "type": "double", "required": True}]
    assert signature["outputs"][0]["type"].startswith("tensor int64")
    assert parse_signature(None) is None


def test_compare_ids_and_sort_toggles() -> None:
    assert parse_run_ids(" a, b,a ,,c") == ["a", "b", "c"]
    with pytest.raises(InvalidInput, match="runs"):
        parse_run_ids(" , ")
    assert toggle_order("", "metrics.acc") == "metrics.acc DESC"
    assert toggle_order("metrics.acc DESC", "metrics.acc") == "metrics.acc ASC"


def test_frame_routes_redirect_serve_static_and_set_a_strict_cookie(tmp_path: Path) -> None:
    from keel.config import Settings
    from keel.server import create_app

    client = TestClient(create_app(Settings(home=tmp_path / "home")))
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/experiments"
    js = client.get("/ui/static/vendor/uplot/uPlot.iife.min.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/ui/static/../../server/app.py").status_code == 404  # never outside the static folder
    assert 'data-next="/ui/models"' in client.get("/ui/login?next=/ui/models").text
    assert 'data-next="/ui/"' in client.get("/ui/login?next=//evil.example/x").text  # never off-site
    login = client.post("/ui/login", json={"token": "keel_x_y"})
    cookie = login.headers["set-cookie"].lower()
    assert login.status_code == 204 and "httponly" in cookie and "samesite=strict" in cookie
    bad = client.post("/ui/login", json={})
    assert bad.status_code == 400 and "token" in bad.json()["message"]  # JSON for scripts, not a page
    missing = client.get("/ui/runs/nope")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "nope" in missing.text  # the error page names what was not found
    assert client.get("/ui/compare?runs=").status_code == 400
    assert client.get("/ui/api/runs/nope/series").json()["error_code"]  # JSON errors under /ui/api
    page = client.get("/ui/experiments?filter=metrics.acc+%3E%3E+1")
    assert page.status_code == 200 and 'id="search-error"' in page.text  # a bad filter is shown, not a 500
