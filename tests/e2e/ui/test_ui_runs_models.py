"""The UI in a real browser over the demo's store: experiments → run → model version → deployment → lineage,
compare two runs (both curves drawn), the run page's artifacts, and promoting an alias with confirmation."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(900)  # the first test pays for the shared demo run

SGD_RUNS = "attributes.run_name LIKE 'sgd-alpha%'"


def _alias(server_url: str, model: str, alias: str) -> int | None:
    response = httpx.get(f"{server_url}/api/v1/registered-models/{model}/aliases/{alias}", timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return int(response.json()["model_version"]["version"])


def test_click_through_experiments_run_version_deployment_lineage(ui: Any) -> None:
    page = ui.page
    ui.goto("/")  # the server's front page is the UI
    assert page.url.endswith("/ui/experiments")
    page.fill("#filter", SGD_RUNS)
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    rows = page.locator("#runs-table tbody tr[data-run-id]")
    assert rows.count() == 3  # the demo's three training runs, found with the API's filter grammar
    ui.shot("experiments")

    rows.first.locator("td:nth-child(2) a").click()
    page.wait_for_selector("body[data-ready='1']")
    assert "/ui/runs/" in page.url
    assert page.locator("#params-table").inner_text().count("alpha") == 1
    assert page.locator("#charts .chart[data-chart-ready='1']").count() >= 2  # train/val curves over 20 steps
    inputs = page.locator(".input")  # the training set and the validated dataset version, each linked
    assert sorted(text.split()[0] for text in inputs.all_inner_texts()) == ["breast-cancer-data",
                                                                            "breast-cancer-training"]
    for i in range(2):
        name = inputs.nth(i).inner_text().split()[0]
        link = inputs.nth(i).locator("a").first.get_attribute("href") or ""
        data_page = httpx.get(ui.base_url + link, timeout=30)
        assert data_page.status_code == 200 and name in data_page.text
    ui.shot("run")

    page.click("a.model-version-link")  # the output model version
    page.wait_for_selector("body[data-ready='1']")
    assert "/ui/models/breast-cancer/versions/" in page.url
    assert page.locator("#signature-inputs tbody tr").count() == 30
    card = httpx.get(ui.base_url + (page.get_attribute("#card-link", "href") or ""), timeout=30)
    assert card.status_code == 200 and "Model card: breast-cancer v" in card.text
    ui.shot("model-version")

    page.click("a.deployment-link >> text=cancer-prod")  # every demo version is routed or shadowed by cancer-prod
    page.wait_for_selector("body[data-ready='1']")
    assert page.url.endswith("/ui/deployments/cancer-prod")
    ui.shot("deployment")

    page.locator("main a[href^='/ui/lineage?']").first.click()
    page.wait_for_selector("body[data-ready='1']")
    assert "/ui/lineage" in page.url
    assert "breast-cancer" in page.content()
    ui.shot("lineage")


def test_compare_two_runs_draws_both_curves(ui: Any) -> None:
    page = ui.page
    ui.goto("/ui/experiments?filter=" + httpx.QueryParams({"f": SGD_RUNS})["f"].replace(" ", "+"))
    boxes = page.locator("#runs-table .run-select")
    names = [page.locator("#runs-table tbody tr[data-run-id]").nth(i).locator("td:nth-child(2)").inner_text()
             for i in range(2)]
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare-btn")
    page.wait_for_selector("body[data-ready='1']")
    assert "/ui/compare?runs=" in page.url
    chart = page.locator("#charts .chart[data-metric='val_loss']")
    drawn = chart.evaluate("el => el.uplot.series.slice(1).map(s => [s.label, s.show])")
    assert sorted(label for label, shown in drawn if shown) == sorted(names)  # two curves, one per run
    points = chart.evaluate("el => el.uplot.data.slice(1).map(ys => ys.filter(v => v != null).length)")
    assert points == [20, 20]  # 20 epochs each
    assert page.locator("#diff-table tr.diff-changed[data-key='param:alpha']").count() == 1
    assert page.locator("#scatter canvas").count() == 1
    ui.shot("compare-step")
    page.select_option("#x-axis", "relative")  # the time axis redraws from the server
    relative = "el => el.uplot && el.uplot.axes[0].label === 'relative' && el.uplot.series.length === 3"
    page.wait_for_function(f"({relative})(document.querySelector(\"#charts .chart[data-metric='val_loss']\"))")
    ui.shot("compare-relative")


def test_run_page_previews_artifacts(ui: Any, ui_server: Any) -> None:
    page = ui.page
    ui.goto("/ui/experiments?filter=attributes.run_name+%3D+%27sgd-alpha-0.01%27")
    run_id = page.get_attribute("#runs-table tbody tr[data-run-id]", "data-run-id")
    ui.goto(f"/ui/runs/{run_id}")
    page.click("#artifact-tree a.artifact-dir >> text=model")
    page.click("#artifact-tree a.artifact-file >> text=MLmodel")
    page.wait_for_selector("#preview-body pre")
    assert "flavors" in page.locator("#preview-body pre").inner_text()  # the YAML file, inline
    download = page.get_attribute("#artifact-download", "href")
    body = httpx.get(ui_server.url + download, timeout=10)
    assert body.status_code == 200 and b"flavors" in body.content
    ui.shot("artifact-preview")


@pytest.mark.parametrize("accept", [False, True], ids=["dismissed", "accepted"])
def test_promote_alias_asks_for_confirmation(ui: Any, ui_server: Any, accept: bool) -> None:
    page = ui.page
    model, alias = "breast-cancer", "ui-staging"
    httpx.put(f"{ui_server.url}/api/v1/registered-models/{model}/aliases/{alias}", json={"version": 1},
              timeout=10).raise_for_status()
    try:
        ui.goto(f"/ui/models/{model}")
        page.fill("#promote-alias", alias)
        page.select_option("#promote-version", "2")
        questions: list[str] = []

        def answer(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", answer)
        page.click("#promote-btn")
        if accept:
            page.wait_for_selector(f".badge.alias[data-alias='{alias}'][data-version='2']")  # reloaded
        else:
            page.wait_for_timeout(300)
        assert questions == [f"Move @{alias} of {model} from v1 to v2?"]
        assert _alias(ui_server.url, model, alias) == (2 if accept else 1)
        ui.shot("promoted" if accept else "dismissed")
    finally:
        httpx.delete(f"{ui_server.url}/api/v1/registered-models/{model}/aliases/{alias}", timeout=10)


def test_experiments_page_sorts_pages_and_reports_bad_filters(ui: Any) -> None:
    page = ui.page
    ui.goto("/ui/experiments?size=2&filter=" + "attributes.run_name+LIKE+%27sgd-alpha%25%27"
            + "&order=metrics.val_accuracy+DESC&m=val_accuracy")
    values = [float(t) for t in page.locator("#runs-table tbody td.num:last-child").all_inner_texts()]
    assert len(values) == 2 and values == sorted(values, reverse=True)
    page.click("#next-page")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#runs-table tbody tr[data-run-id]").count() == 1  # 3 runs, 2 per page
    last = float(page.locator("#runs-table tbody td.num:last-child").inner_text())
    assert last <= values[-1]
    ui.goto("/ui/experiments?filter=metrics.val_accuracy+%3E%3E+oops")
    assert page.locator("#search-error").is_visible()
    ui.shot("bad-filter")


def test_the_urls_the_demo_prints_open(ui: Any, demo_store: Any) -> None:
    paths = re.findall(r"http://127\.0\.0\.1:5000(/ui/\S+)", demo_store.output)
    assert any(p.startswith("/ui/models/") for p in paths) and any(p.startswith("/ui/runs/") for p in paths)
    for path in paths:
        response = ui.goto(path)
        assert response.status == 200, path
        ui.shot(path.strip("/").replace("/", "-"))


def test_keel_ui_opens_the_running_servers_ui(ui_server: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "keel", "ui", "--no-open", "--port", str(ui_server.port),
                           "--page", "/ui/models/breast-cancer"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"Keel UI: {ui_server.url}/ui/models/breast-cancer" in proc.stdout
    assert "starting keel server" not in proc.stdout  # one was already answering there
