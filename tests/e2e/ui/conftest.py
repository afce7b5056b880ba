"""Browser fixtures for the UI tests: a `keel server` over the demo's store, ONE headless Debian Chromium per
module, and a ``ui`` page fixture that records console errors and saves a screenshot per test.

Every test using these needs ``@pytest.mark.timeout(900)``: the first one pays for the shared demo run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keel_testing import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "ui"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless (never `playwright install`)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)


@pytest.fixture(scope="session")
def ui_server(demo_store: Any) -> Iterator[ServerProcess]:
    """`keel server` (auth off) over the store the quick-start filled."""
    if demo_store.returncode != 0:
        pytest.fail(f"the quick-start demo failed, so the UI has nothing to show:\n{demo_store.stderr[-3000:]}")
    server = ServerProcess(demo_store.home).start(timeout=60)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module: Playwright's sync API keeps an asyncio loop running in this thread
    while it is open, so it must close before other packages' tests call ``asyncio.run``."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never playwright install)")
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class UI:
    """A browser page on a server, with the console errors it logged and a screenshot helper."""

    def __init__(self, page: Any, base_url: str, name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
        self.errors: list[str] = []
        page.on("console", lambda msg: self.errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def goto(self, path: str, *, ready: bool = True) -> Any:
        """Open ``path`` on the server; with ``ready``, wait until the page says it is drawn (body[data-ready])."""
        response = self.page.goto(self.base_url + path)
        if ready:
            self.page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        return response

    def shot(self, label: str) -> Path:
        """Save a full-page screenshot as test-artifacts/ui/<test>-<label>.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_errors(self) -> None:
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)


def open_ui(browser: Any, base_url: str, name: str, **context_args: Any) -> tuple[Any, UI]:
    """A fresh browser context and page (own cookies) on ``base_url``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, **context_args)
    return context, UI(context.new_page(), base_url, name)


@pytest.fixture
def ui(browser: Any, ui_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[UI]:
    """A page on the demo server; saves a final screenshot and fails the test on console errors."""
    context, page = open_ui(browser, ui_server.url, request.node.name)
    yield page
    try:
        page.shot("final")
    finally:
        context.close()
    page.assert_no_errors()


@pytest.fixture
def new_ui(browser: Any) -> Iterator[Any]:
    """``new_ui(base_url, name)`` → a UI in a fresh browser context (own cookies), closed after the test; for
    servers other than the demo's (e.g. one with auth on). Check ``ui.assert_no_errors()`` yourself."""
    contexts: list[Any] = []

    def make(base_url: str, name: str) -> UI:
        context, page = open_ui(browser, base_url, name)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()
