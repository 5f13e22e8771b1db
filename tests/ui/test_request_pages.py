"""The request detail in a real browser: the log's drawer (timings of a real streamed
request, keyboard in and Escape out, axe-clean), the Overview's cluster line and last errors
(each linking to the log), and the Live page's tail of recent requests with Pause."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.node.harness import Node
from tests.ui.conftest import Guarded
from tests.ui.fake_cluster import FakeCluster


async def _chat(node: Node, request_id: str, text: str = "hi", *,
                stream: bool = False) -> dict[str, str]:
    body = {"model": "demo/m1", "stream": stream,
            "messages": [{"role": "user", "content": text}]}
    async with aiohttp.ClientSession() as http, http.post(
            f"{node.url}/v1/chat/completions", json=body,
            headers={**node.auth(), "X-Request-ID": request_id}) as resp:
        await resp.read()
        return dict(resp.headers)


def _ms(text: str) -> float:
    assert text.endswith(" ms"), text
    return float(text.removesuffix(" ms").replace(",", ""))


async def test_the_drawer_shows_a_real_requests_timings(ui: Guarded) -> None:
    await _chat(ui.node, "rq-drawer", "mock:slow:0.05", stream=True)
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/logs?request_id=rq-drawer")
    row = page.locator("tr[data-log]")
    await expect(row).to_have_count(1)
    details = row.get_by_role("button", name="Details")
    await details.focus()
    await page.keyboard.press("Enter")  # reachable by keyboard
    drawer = page.get_by_role("dialog", name="Request detail")
    await expect(drawer).to_be_visible()
    await expect(drawer.locator("[data-field=attempts]")).to_have_text("1")
    ttft = _ms(await drawer.locator("[data-field=ttft]").inner_text())
    total = _ms(await drawer.locator("[data-field=total]").inner_text())
    overhead = _ms(await drawer.locator("[data-field=overhead]").inner_text())
    assert 40 <= ttft < total and 0 <= overhead < total
    await expect(drawer.locator("[data-field=error]")).to_have_text("none")
    await expect(drawer.locator("[data-field=upstream]")).to_have_text("demo / m1")
    await expect(drawer.locator("[data-request-id]")).to_have_text("rq-drawer")
    assert "mock:slow" not in await drawer.inner_text()  # no prompt (nor answer) is shown
    result = await Axe().run(page)
    assert [v["id"] for v in result.response["violations"]
            if v["impact"] in ("serious", "critical")] == []
    await page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(details).to_be_focused()  # back where the keyboard was


async def test_overview_cluster_line_and_last_errors_link_to_the_log(ui: Guarded) -> None:
    await _chat(ui.node, "rq-fine")
    await _chat(ui.node, "rq-broken", "mock:error:500")
    await ui.sign_in()
    page = ui.page
    await page.goto(ui.ui)
    await expect(page.locator("[data-nodes-up]")).to_have_text("1 of 1 node up")
    versions = page.locator("[data-key-versions]")
    await expect(versions).to_have_attribute("data-key-versions", "agree")
    await expect(versions).to_contain_text("key versions agree ✓")
    errors = page.locator("tr[data-error-row]")
    await expect(errors).to_have_count(1)
    await expect(errors.locator("td").nth(1)).to_have_text("502")  # an upstream 500: a 502
    await expect(errors.locator("td").nth(3)).to_contain_text("500")  # the error text
    await errors.get_by_role("link", name="rq-broken").click()
    await expect(page.get_by_role("heading", name="Request log")).to_be_visible()
    assert "request_id=rq-broken" in page.url
    await expect(page.locator("tr[data-log]")).to_have_count(1)
    await expect(page.locator("tr[data-log]")).to_contain_text("502")


@pytest.fixture
async def clustered(ui: Guarded) -> AsyncIterator[FakeCluster]:
    fake = FakeCluster(self_version=5, versions={"n2": 5, "n3": 4})
    ui.node.gateway.cluster = fake
    try:
        yield fake
    finally:
        ui.node.gateway.cluster = None


async def test_overview_says_when_key_versions_differ(ui: Guarded,
                                                      clustered: FakeCluster) -> None:
    await ui.sign_in()
    page = ui.page
    await page.goto(ui.ui)
    await expect(page.locator("[data-nodes-up]")).to_have_text("3 of 3 nodes up")
    await expect(page.locator("[data-cluster] [data-leader]")).to_have_text("n2")
    versions = page.locator("[data-key-versions]")
    await expect(versions).to_have_attribute("data-key-versions", "differ")
    await expect(versions).to_contain_text("✗")
    await expect(versions).to_contain_text("n3: 4")  # said in words, not only a glyph
    clustered.versions["n3"] = 5  # n3 catches up: the line follows the live stream
    await expect(versions).to_have_attribute("data-key-versions", "agree", timeout=3000)


async def test_live_page_tails_recent_requests_and_pauses(ui: Guarded) -> None:
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/live")
    tail = page.locator("table[data-tail]")
    await expect(tail).to_contain_text("No requests yet.")
    await _chat(ui.node, "rq-tail-1", "mock:slow:0.02", stream=True)
    first = tail.locator("tr[data-tail-row]", has_text="rq-tail-1")
    await expect(first).to_have_count(1, timeout=5000)
    await expect(first).to_contain_text("demo/m1")
    await page.get_by_role("button", name="Pause live updates").click()
    await page.wait_for_timeout(300)  # a poll already under way may still land
    await _chat(ui.node, "rq-tail-2")
    await page.wait_for_timeout(2500)
    await expect(tail.locator("tr[data-tail-row]", has_text="rq-tail-2")).to_have_count(0)
    await page.get_by_role("button", name="Resume live updates").click()
    await expect(tail.locator("tr[data-tail-row]", has_text="rq-tail-2")).to_have_count(
        1, timeout=5000)
    await tail.get_by_role("link", name="rq-tail-2").click()
    await expect(page.locator("tr[data-log]")).to_have_count(1)
