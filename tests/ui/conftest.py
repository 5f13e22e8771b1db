"""Browser tests of the admin UI: the real app on loopback, Debian's chromium via Playwright.

No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (installed by .ci/run).
Every page guards itself: a request to anything but the node under test is aborted and
fails the test, and console errors, page errors and CSP violations fail it at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from tests.node.harness import Node, running_node, settings_tree

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]
TOKEN = "ui-admin-token-0123456789abcdef"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"


def ui_tree(base_path: str = "", **sections: Any) -> dict[str, Any]:
    server = {"admin_token": TOKEN, "usage_flush_interval": "100ms"}
    if base_path:
        server["base_path"] = base_path
    return settings_tree(server=server, **sections)


@dataclass
class Guarded:
    """A page with its guards' findings."""

    page: Page
    context: BrowserContext
    node: Node
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    @property
    def ui(self) -> str:
        return f"{self.node.url}/ui/"

    async def sign_in(self) -> None:
        """Sign in through the API (test 1 uses the form); the cookie lands in the context."""
        answer = await self.context.request.post(
            f"{self.node.url}/api/v1/session", data={"token": TOKEN})
        assert answer.status == 201

    async def shot(self, tmp_path: Path, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=False)
        return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Browser, node: Node, **context_args: Any) -> Guarded:
    context = await browser.new_context(**context_args)
    page = await context.new_page()
    guarded = Guarded(page, context, node)
    allowed = urlsplit(node.url).netloc

    async def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).netloc == allowed:
            guarded.requests.append(url)
            await route.continue_()
        else:
            guarded.problems.append(f"request left the node: {url}")
            await route.abort()

    await context.route("**/*", guard)
    page.on("console", lambda msg: guarded.problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and not _expected_console(msg.text) else None)
    page.on("pageerror", lambda exc: guarded.problems.append(f"page error: {exc}"))
    page.on("response", lambda response: guarded.responses.append(response))
    return guarded


def _expected_console(text: str) -> bool:
    # The browser logs every non-2xx fetch; tests that provoke one (a wrong token) check
    # the page's message instead. A CSP violation is never expected.
    return "Failed to load resource" in text and "Content Security Policy" not in text


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with running_node(ui_tree()) as running:
        yield running


@pytest.fixture
async def ui(browser: Browser, node: Node) -> AsyncIterator[Guarded]:
    guarded = await open_page(browser, node)
    try:
        yield guarded
    finally:
        await guarded.context.close()
    assert guarded.problems == []
