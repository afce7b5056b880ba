"""Browser tests of the operations pages on the demo's store: data (versions, diff, validation), features
(freshness, skew), deployments (routes, live charts, rollback with confirmation), monitoring (drift heatmap,
histograms, acknowledging the fired alert), lineage (cytoscape graph, clickable nodes, search) and pipelines (runs,
cached steps, logs). Actions go through the REST API; the tests check the store through it afterwards."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(900)


def _text(ui: Any, selector: str) -> str:
    return str(ui.page.locator(selector).inner_text())


def test_data_pages(ui: Any) -> None:
    ui.goto("/ui/data")
    row = ui.page.locator("tr[data-dataset='breast-cancer-data']")
    assert "passed" in row.inner_text() and "v1" in row.inner_text()
    ui.shot("data")
    row.locator("a").first.click()
    ui.page.wait_for_selector("body[data-ready='1']")
    assert ui.page.url.endswith("/ui/data/breast-cancer-data")
    assert ui.page.locator("#versions tbody tr").count() == 1
    report = _text(ui, ".report")
    assert "passed" in report and "569 rows" in report
    assert "mean_radius" in _text(ui, "#columns")
    ui.goto("/ui/data/ct-raw")  # two versions: pick the diff v1 -> v2
    ui.page.select_option("#old", "1")
    ui.page.select_option("#new", "2")
    ui.page.click("#diff-button")
    ui.page.wait_for_selector("body[data-ready='1']")
    diff = _text(ui, "#diff")
    assert "ct-raw@v1 → ct-raw@v2" in diff and "rows 569 → 500" in diff and "ct_newer.csv" in diff
    assert ui.page.locator("#stat-deltas tbody tr").count() > 10
    ui.shot("dataset-diff")


def test_features_page_freshness_and_skew(ui: Any) -> None:
    ui.goto("/ui/features")
    row = ui.page.locator("#view-measurements")
    assert "fresh" in row.locator(".freshness").inner_text() and "569" in row.inner_text()
    assert "patient_id" in _text(ui, "#entities")
    row.locator(".skew-button").click()
    ui.page.wait_for_selector("#skew-measurements .badge")
    assert "50/50 keys match" in _text(ui, "#skew-measurements")
    ui.shot("features")


def test_deployment_page_charts_and_rollback(ui: Any, ui_server: Any) -> None:
    ui.goto("/ui/deployments")
    assert "breast-cancer@champion 90" in _text(ui, "tr[data-deployment='cancer-prod']")
    ui.page.click("tr[data-deployment='cancer-prod'] a")
    ui.page.wait_for_selector("body[data-ready='1']")
    revisions = ui.page.locator("#history tbody tr")
    assert revisions.count() == 3 and "rollback" in revisions.first.inner_text()  # create, update, rollback
    assert "breast-cancer/2" in _text(ui, "#routes")  # the shadow
    assert re.search(r"\b40 answered requests", _text(ui, "#traffic-summary"))  # the demo's canary traffic
    for chart in ("#chart-rate", "#chart-latency", "#chart-errors"):
        assert ui.page.locator(f"{chart}[data-chart-ready='1'] canvas").count() == 1
    ui.shot("deployment")
    button = ui.page.locator("tr[data-revision='1'] button.rollback")
    ui.page.once("dialog", lambda dialog: dialog.dismiss())  # changing one's mind sends nothing
    button.click()
    before = httpx.get(f"{ui_server.url}/api/v1/deployments/cancer-prod").json()["deployment"]
    assert before["revision"] == 3
    ui.page.once("dialog", lambda dialog: dialog.accept())
    with ui.page.expect_navigation():
        button.click()
    ui.page.wait_for_selector("body[data-ready='1']")
    after = httpx.get(f"{ui_server.url}/api/v1/deployments/cancer-prod").json()["deployment"]
    assert (after["revision"], after["action"]) == (4, "rollback")  # the routes of #1, as a new revision
    assert "revision #4" in _text(ui, "#current-revision") and ui.page.locator("#history tbody tr").count() == 4
    ui.shot("deployment-rolled-back")


def test_monitoring_heatmap_histograms_and_ack(ui: Any, ui_server: Any) -> None:
    ui.goto("/ui/monitoring")
    row = ui.page.locator("tr[data-monitor='ct-drift']")
    share = re.search(r"([\d.]+)%", row.inner_text())
    assert "ct-model" in row.inner_text() and share and float(share.group(1)) > 30  # past the alert's threshold
    ui.page.click("tr[data-monitor='ct-drift'] a")
    ui.page.wait_for_selector("body[data-ready='1']")
    features = ui.page.locator("#heatmap th.heat-feature").count()
    assert features == 30 and ui.page.locator("#heatmap td.heat-cell.flagged").count() >= 30 * 0.3
    assert ui.page.locator("#histograms .hist .chart[data-chart-ready='1']").count() == features
    assert "No labels yet" in _text(ui, "#performance")
    alert = ui.page.locator("#alerts tr[data-rule='ct-drift-alert']")
    assert "firing" in alert.inner_text()
    ui.shot("monitor")
    alert_id = int(alert.get_attribute("data-alert") or 0)
    ui.page.once("dialog", lambda dialog: dialog.accept())
    with ui.page.expect_navigation():
        alert.locator("button.ack-button").click()
    ui.page.wait_for_selector("body[data-ready='1']")
    assert "acked" in _text(ui, f"#alerts tr[data-alert='{alert_id}'] .ack")
    stored = httpx.get(f"{ui_server.url}/api/v1/alerts").json()["alerts"]
    assert next(a for a in stored if a["id"] == alert_id)["acked_at"] is not None
    ui.shot("monitor-acked")


def _click_node(ui: Any, node_id: str) -> None:
    """Click a cytoscape node where it is drawn on the canvas."""
    x, y = ui.page.evaluate("(id) => { const p = window.keelCy.getElementById(id).renderedPosition(); "
                            "return [p.x, p.y]; }", node_id)
    box = ui.page.locator("#graph").bounding_box()
    ui.page.mouse.click(box["x"] + x, box["y"] + y)


def test_lineage_graph_is_clickable_and_searchable(ui: Any) -> None:
    ui.goto("/ui/lineage?id=breast-cancer%40champion")
    assert _text(ui, "#lineage-root").startswith("model_version:breast-cancer/")  # what the alias points at
    ids = ui.page.evaluate("window.keelCy.nodes().map((n) => n.id())")
    assert any(i.startswith("dataset_version:") for i in ids) and any(i.startswith("run:") for i in ids)
    assert "alias:breast-cancer@champion" in ids and "deployment_revision:cancer-prod#1" in ids
    ui.shot("lineage")
    with ui.page.expect_navigation():
        _click_node(ui, "deployment_revision:cancer-prod#1")
    assert ui.page.url.endswith("/ui/deployments/cancer-prod")
    ui.page.wait_for_selector("body[data-ready='1']")
    ui.goto("/ui/lineage")  # no id: a search box and places to start
    starts = _text(ui, "#lineage-starts")
    assert "breast-cancer@champion" in starts and "cancer-prod" in starts and "ct-drift" in starts
    ui.page.fill("#lineage-id", "monitor:ct-drift")
    ui.page.click("#lineage-search button")
    ui.page.wait_for_selector("body[data-ready='1']")
    ids = ui.page.evaluate("window.keelCy.nodes().map((n) => n.id())")
    assert {"monitor:ct-drift", "deployment:ct-model"} <= set(ids)
    ui.goto("/ui/lineage?id=no-such-object")
    assert "no object 'no-such-object'" in _text(ui, "#lineage-error")


def test_pipeline_runs_cache_hits_and_logs(ui: Any) -> None:
    ui.goto("/ui/pipelines?pipeline=ct")
    runs = ui.page.locator("#runs tbody tr")
    assert runs.count() == 3  # run, re-run from the cache, and the retraining the drift alert triggered
    cached = [int(c) for c in ui.page.locator("#runs td.cached").all_inner_texts()]
    assert sorted(cached) == [0, 0, 5]
    ui.shot("pipelines")
    runs.nth(cached.index(5)).locator("a").click()
    ui.page.wait_for_selector("body[data-ready='1']")
    assert set(ui.page.locator("#steps tr[data-step] .cache-hit").all_inner_texts()) == {"yes"}
    assert ui.page.locator("#steps tr[data-status='CACHED']").count() == 5
    ui.goto("/ui/pipelines?pipeline=ct")
    ui.page.locator("#runs tbody tr").nth(cached.index(0)).locator("a").click()
    ui.page.wait_for_selector("body[data-ready='1']")
    assert ui.page.locator("#steps tr[data-status='SUCCEEDED']").count() == 5
    button = ui.page.locator(".log-button").first
    node = button.get_attribute("data-node")
    button.click()
    ui.page.wait_for_selector(f"#log-{node}:not([hidden])")
    assert _text(ui, f"#log-{node}").strip()
    ui.shot("pipeline-run")
