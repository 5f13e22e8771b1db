"""More pages in a real browser: a key's scope edited, live numbers at 1 Hz, the event stream
reconnecting, the cluster view with a node catching up live, key rotation confirmed (and
refused without quorum), and scale and errors (100k log rows, a 500, a 401 mid-session)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Route, expect

from store import UsageRecord
from tests.node.harness import Node, running_node
from tests.ui.conftest import TOKEN, Guarded, open_page, ui_tree
from tests.ui.fake_cluster import FakeCluster

# Counts the stats events the browser receives; added before the app's scripts run (through
# the DevTools protocol, so the page's CSP does not apply to it).
COUNT_EVENTS = """
window.__stats = 0;
const Original = window.EventSource;
window.EventSource = class extends Original {
  constructor(...args) { super(...args); this.addEventListener("stats", () => window.__stats++); }
};
"""


async def _chat(node: Node, http: aiohttp.ClientSession, text: str,
                key: str | None = None) -> int:
    body = {"model": "demo/m1", "messages": [{"role": "user", "content": text}]}
    async with http.post(f"{node.url}/v1/chat/completions", json=body,
                         headers=node.auth(key)) as resp:
        await resp.read()
        return resp.status


@pytest.fixture
async def two_models(browser: Browser) -> AsyncIterator[Guarded]:
    tree = ui_tree(providers={"demo": {"type": "mock", "models": ["m1", "m2"]}})
    async with running_node(tree) as node:
        guarded = await open_page(browser, node)
        try:
            yield guarded
        finally:
            await guarded.context.close()
        assert guarded.problems == []


async def test_key_scope_edit_narrows_what_the_key_lists(two_models: Guarded,
                                                         tmp_path: Path) -> None:
    ui = two_models
    await ui.sign_in()
    made = await ui.context.request.post(f"{ui.node.url}/api/v1/tokens", data={"name": "scoped"},
                                         headers={"X-AT-CSRF": "1"})
    assert made.status == 201
    created = await made.json()
    page = ui.page
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ui.node.url}/v1/models", headers=ui.node.auth(created["key"])
                            ) as resp:
            before = sorted(m["id"] for m in (await resp.json())["data"])
        assert len(before) > 1 and "demo/m1" in before  # any model
        await page.goto(f"{ui.ui}#/keys")
        row = page.locator(f"tr[data-key={created['id']}]")
        await expect(row).to_contain_text("any model")
        await row.get_by_role("button", name="Edit").click()
        form = page.get_by_role("form", name="Edit key scoped")
        await form.get_by_label("Allowed models (comma separated, empty: any)").fill("demo/m1")
        await form.get_by_role("button", name="Save key").click()
        await expect(form).to_have_count(0)
        await expect(row).to_contain_text("demo/m1")
        await expect(row).not_to_contain_text("any model")
        await ui.shot(tmp_path, "keys-scope")
        async with http.get(f"{ui.node.url}/v1/models", headers=ui.node.auth(created["key"])
                            ) as resp:
            assert [m["id"] for m in (await resp.json())["data"]] == ["demo/m1"]
        assert await _chat(ui.node, http, "hi", created["key"]) == 200


async def test_live_tiles_follow_traffic_once_a_second(ui: Guarded, tmp_path: Path) -> None:
    await ui.sign_in()
    page = ui.page
    await page.add_init_script(COUNT_EVENTS)
    await page.goto(ui.ui)
    node_tiles = page.locator("[data-scope=node]")
    cluster_tiles = page.locator("[data-scope=cluster]")
    await expect(node_tiles.locator("[data-tile=r5m] .value")).to_have_text("0")
    started = await page.evaluate("window.__stats")
    await page.wait_for_timeout(3500)
    assert await page.evaluate("window.__stats") - started >= 3
    async with aiohttp.ClientSession() as http:
        slow = [asyncio.create_task(_chat(ui.node, http, "mock:slow:3")) for _ in range(5)]
        for tiles in (node_tiles, cluster_tiles):
            await expect(tiles.locator("[data-tile=in-flight] .value")).to_have_text(
                "5", timeout=2500)
        await ui.shot(tmp_path, "overview-live")
        assert await asyncio.gather(*slow) == [200] * 5
        for tiles in (node_tiles, cluster_tiles):
            await expect(tiles.locator("[data-tile=in-flight] .value")).to_have_text("0")
        errors = node_tiles.locator("[data-tile=e5m] .value")
        await expect(errors).to_have_text("0")
        assert await _chat(ui.node, http, "mock:error:500") >= 500
        await expect(errors).to_have_text("1", timeout=3000)
        await expect(cluster_tiles.locator("[data-tile=e5m] .value")).to_have_text("1")
        requests = node_tiles.locator("[data-tile=r5m] .value")
        await expect(requests).to_have_text("6")
        await page.get_by_role("button", name="Pause live updates").click()
        assert await _chat(ui.node, http, "hi") == 200
        await page.wait_for_timeout(2500)
        await expect(requests).to_have_text("6")  # paused: the page stays as it was
        await page.get_by_role("button", name="Resume live updates").click()
        await expect(requests).to_have_text("7", timeout=3000)


@pytest.fixture
async def droppable(browser: Browser) -> AsyncIterator[tuple[Guarded, list[asyncio.Transport]]]:
    """A node whose event streams' connections the test can cut from the server side."""
    streams: list[asyncio.Transport] = []

    @web.middleware
    async def remember(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.endswith("/api/v1/events") and request.transport is not None:
            streams.append(request.transport)
        response: web.StreamResponse = await handler(request)
        return response

    async with running_node(ui_tree(), extend=lambda app: app.middlewares.append(remember)
                            ) as node:
        guarded = await open_page(browser, node)
        try:
            yield guarded, streams
        finally:
            await guarded.context.close()
        assert guarded.problems == []


async def test_the_stream_reconnects_without_a_reload(
        droppable: tuple[Guarded, list[asyncio.Transport]]) -> None:
    ui, streams = droppable
    await ui.sign_in()
    page = ui.page
    await page.add_init_script(COUNT_EVENTS)
    await page.goto(f"{ui.ui}#/live")
    status = page.locator("[data-status]")
    await expect(status).to_have_text("Live")
    await page.evaluate("window.__loaded_once = true")
    assert len(streams) == 1
    streams[0].close()  # the node drops the connection mid-stream
    await expect(status).to_have_text("Reconnecting…", timeout=3000)
    await expect(status).to_have_text("Live", timeout=6000)  # after the stream's retry: 2 s
    assert len(streams) == 2 and not streams[1].is_closing()
    count = await page.evaluate("window.__stats")
    await page.wait_for_timeout(1500)
    assert await page.evaluate("window.__stats") > count  # updates resumed
    assert await page.evaluate("window.__loaded_once") is True  # the same page, not reloaded


@pytest.fixture
async def clustered(ui: Guarded) -> AsyncIterator[FakeCluster]:
    fake = FakeCluster(self_version=ui.node.gateway.store.key_version,
                       versions={"n2": ui.node.gateway.store.key_version,
                                 "n3": ui.node.gateway.store.key_version - 1})
    ui.node.gateway.cluster = fake
    try:
        yield fake
    finally:
        ui.node.gateway.cluster = None


async def test_cluster_view_flags_a_node_behind_until_it_catches_up(
        ui: Guarded, clustered: FakeCluster, tmp_path: Path) -> None:
    clustered.self_version, clustered.versions = 5, {"n2": 5, "n3": 4}
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/cluster")
    await expect(page.get_by_text("this node is follower")).to_be_visible()
    rows = page.locator("tr[data-node]")
    await expect(rows).to_have_count(3)
    leader = page.locator("tr[data-node=n2] [data-flag=leader]")
    await expect(leader).to_have_text("leader")
    await expect(page.locator("[data-flag=leader]")).to_have_count(1)
    behind = page.locator("tr[data-node=n3] [data-flag=behind]")
    await expect(behind).to_have_text("1 key version behind")  # said in words, not colour
    await expect(page.locator("[data-flag=behind]")).to_have_count(1)
    await ui.shot(tmp_path, "cluster")
    await page.evaluate("window.__loaded_once = true")
    clustered.versions["n3"] = clustered.self_version  # n3 catches up
    await expect(behind).to_have_count(0, timeout=3000)
    assert await page.evaluate("window.__loaded_once") is True
    clustered.leader = "n3"  # and a new leader is shown live too
    await expect(page.locator("tr[data-node=n3] [data-flag=leader]")).to_be_visible()


async def test_rotate_key_cancel_confirm_and_no_quorum(
        ui: Guarded, clustered: FakeCluster, tmp_path: Path) -> None:
    await ui.sign_in()
    page = ui.page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "rotate-key" in r.url else None)
    await page.goto(f"{ui.ui}#/settings")
    typed = page.get_by_label('Type "rotate" to confirm')
    button = page.get_by_role("button", name="Rotate key")
    await page.get_by_label("New passphrase (optional)").fill("a new passphrase for the store")
    await page.get_by_label("New passphrase again").fill("a new passphrase for the store")
    await typed.fill("rotate")
    asked: list[str] = []

    async def cancel(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", cancel)
    await button.click()
    await page.wait_for_timeout(300)
    assert asked and "every node" in asked[0]
    assert sent == [] and clustered.notices == []  # cancelled: nothing was sent
    before = clustered.self_version
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await button.click()
    steps = page.locator("[data-steps]")
    await expect(steps).to_contain_text(f"key version {before + 1}")
    for peer in ("n2", "n3"):
        await expect(steps.locator(f"[data-ack={peer}]")).to_contain_text("acknowledged")
    assert clustered.notices == [before + 1] and len(sent) == 1
    await ui.shot(tmp_path, "settings-rotated")
    clustered.quorum = False
    await typed.fill("rotate")
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await button.click()
    alert = page.get_by_role("alert").filter(has_text="no quorum")
    await expect(alert).to_be_visible()
    await expect(button).to_be_enabled()  # the form is usable again, its input kept
    await expect(typed).to_have_value("rotate")
    assert clustered.notices == [before + 1] and len(sent) == 2
    statuses = [r.status for r in ui.responses if "rotate-key" in r.url]
    assert statuses == [200, 503]


async def test_a_hundred_thousand_log_rows_and_a_401_mid_session(ui: Guarded) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    await ui.node.gateway.store.add_usage([
        UsageRecord(at=start + timedelta(milliseconds=500 * i), key_id=f"key{i % 7}",
                    provider="demo", model="m1", input_tokens=1, output_tokens=1, status=200,
                    latency_ms=2.0, request_id=f"req-{i:06d}") for i in range(100_000)])
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/about")
    await expect(page.get_by_role("heading", name="About", exact=True)).to_be_visible()
    began = time.monotonic()
    await page.goto(f"{ui.ui}#/logs")
    await expect(page.locator("tr[data-log]")).to_have_count(50)
    assert time.monotonic() - began < 1.0
    asked = [u for u in ui.requests if "/api/v1/logs" in u]
    assert asked and all("limit=50" in u for u in asked)
    async def broken(route: Route) -> None:
        await route.fulfill(status=500, content_type="application/json",
                            body='{"error": {"message": "internal error; see the node\'s log"}}')

    await page.route("**/api/v1/logs?*", broken)
    await page.get_by_role("button", name="Older").click()
    await expect(page.get_by_role("alert")).to_contain_text("internal error")
    await expect(page.locator("tr[data-log]")).to_have_count(50)  # the rows shown stay
    await page.unroute("**/api/v1/logs?*")
    await page.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("alert")).to_have_count(0)
    await page.get_by_label("Request id").fill("req-000001")  # the second oldest of all
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("tr[data-log]")).to_have_count(1)
    await page.get_by_role("button", name="Details").click()
    await expect(page.locator("[data-request-id]")).to_have_text("req-000001")

    async def signed_out(route: Route) -> None:
        await route.fulfill(status=401, content_type="application/json",
                            body='{"error": {"message": "sign in first"}}')

    await page.goto(f"{ui.ui}#/usage?group_by=key&metric=errors")
    await expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    await expect(page.locator("figure.chart")).to_be_visible()   # loaded: no re-render pending
    await page.route("**/api/v1/usage/buckets?*", signed_out)
    await page.get_by_label("Range").select_option("7d")
    token = page.get_by_label("Admin token")
    await expect(token).to_be_visible()
    await page.unroute("**/api/v1/usage/buckets?*")
    await token.fill(TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    await expect(page.get_by_label("Group by")).to_have_value("key")
    await expect(page.get_by_label("Metric")).to_have_value("errors")
    await expect(page.get_by_label("Range")).to_have_value("7d")
    await expect(page.locator("figure.chart")).to_be_visible()
