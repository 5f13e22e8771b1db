"""The pages in a real browser: keys shown once, providers, usage, log search, rotation,
errors, accessibility in both themes, a two-segment base path at phone width, and scale."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Route, expect

from node.admin.session import COOKIE, sign
from node.ui import ROOT
from store import ApiKeyRecord, UsageRecord
from tests.node.harness import Node, running_node
from tests.ui.conftest import Guarded, open_page, ui_tree
from tests.ui.test_shell import PAGES

VENDOR = ROOT / "static" / "vendor" / "preact-htm-10.27.2.js"


def test_vendored_file_matches_its_vendor_note() -> None:
    note = (VENDOR.parent / "VENDOR.md").read_text()
    digest = hashlib.sha256(VENDOR.read_bytes()).hexdigest()
    assert f"| `{digest}` |" in note
    exports = re.search(r"export\{([^}]*)\}", VENDOR.read_text())
    assert exports is not None
    names = {part.split(" as ")[1] for part in exports.group(1).split(",")}
    used: set[str] = set()
    for module in (ROOT / "static").rglob("*.js"):
        for imported in re.findall(r'import \{([^}]*)\} from "[./]*vendor/', module.read_text()):
            used |= {name.strip() for name in imported.split(",")}
    assert used and used <= names


async def test_key_is_shown_once_works_and_revokes(ui: Guarded, tmp_path: Path) -> None:
    await ui.sign_in()
    await ui.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = ui.page
    await page.goto(f"{ui.ui}#/keys")
    await page.get_by_role("button", name="Create key").click()
    await page.get_by_label("Name", exact=True).fill("ci")
    await page.get_by_label("Allowed models (comma separated, empty: any)").fill("demo/*")
    await page.get_by_role("button", name="Create key").last.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    secret = (await dialog.locator("[data-secret]").inner_text()).strip()
    assert secret.startswith("at-") and len(secret) > 20
    await dialog.get_by_role("button", name="Copy key").click()
    await expect(dialog.get_by_text("Copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await ui.shot(tmp_path, "keys-show-once")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("[data-secret]")).to_have_count(0)  # dropped, not just hidden
    assert secret not in await page.content()
    stored = await page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert secret not in stored
    body = {"model": "demo/m1", "messages": [{"role": "user", "content": "hi"}]}
    url = f"{ui.node.url}/v1/chat/completions"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers=ui.node.auth(secret)) as resp:
            assert resp.status == 200
        listing = await ui.context.request.get(f"{ui.node.url}/api/v1/tokens")
        assert secret not in await listing.text()
        row = page.locator("tr[data-key]", has_text="ci")
        page.once("dialog", lambda d: d.accept())
        await row.get_by_role("button", name="Revoke").click()
        await expect(row).to_have_count(0)
        async with http.post(url, json=body, headers=ui.node.auth(secret)) as resp:
            assert resp.status == 401


async def test_provider_add_test_and_yaml_read_only(ui: Guarded) -> None:
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/providers")
    yaml_row = page.locator("tr[data-provider=demo]")
    await expect(yaml_row.get_by_text("YAML (read-only)")).to_be_visible()
    await expect(yaml_row.get_by_role("button", name="Edit")).to_have_count(0)
    await page.get_by_role("button", name="Add provider").click()
    await page.get_by_label("Key", exact=True).fill("extra")
    await page.get_by_label("Type").select_option("mock")
    await page.get_by_label("API key").fill("sk-never-shown-123456")
    await page.get_by_label("Default model").fill("m9")
    await page.get_by_role("button", name="Save provider").click()
    row = page.locator("tr[data-provider=extra]")
    await row.get_by_role("button", name="Test").click()
    await expect(row.locator("[data-test-result=ok]")).to_be_visible()
    assert "sk-never-shown-123456" not in await page.content()
    answer = await ui.context.request.get(f"{ui.node.url}/api/v1/providers/extra")
    assert "sk-never-shown-123456" not in await answer.text()


async def test_usage_chart_and_totals_match_the_api(ui: Guarded, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    await ui.node.gateway.store.add_usage([
        UsageRecord(at=now - timedelta(hours=h), key_id=key, provider="demo", model=model,
                    input_tokens=7, output_tokens=3, status=200, latency_ms=5.0,
                    cost_usd=0.002)
        for h in range(1, 20) for key in ("k1", "k2") for model in ("m1", "m2", "m3")])
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/usage?group_by=model&metric=requests")
    chart = page.locator("figure.chart")
    await expect(chart).to_have_attribute("data-series", "3")
    await expect(page.locator("[data-timezone]")).to_contain_text("UTC")
    assert await chart.get_by_role("img").count() == 1
    cells = page.locator("table[data-totals] td[data-metric=requests]")
    await expect(cells).to_have_text(["38", "38", "38"])
    await ui.shot(tmp_path, "usage")
    await page.get_by_label("Group by").select_option("key")
    await expect(chart).to_have_attribute("data-series", "2")
    await expect(cells).to_have_text(["57", "57"])
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Export CSV").click()
    text = Path(await (await download.value).path()).read_text()
    header = "bucket,key,label,requests,input_tokens,output_tokens,errors,cost_usd"
    assert text.splitlines()[0] == header
    assert sum(int(line.split(",")[3]) for line in text.splitlines()[1:]) == 114


async def test_request_log_search_survives_reload(ui: Guarded) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    await ui.node.gateway.store.add_usage([
        UsageRecord(at=start + timedelta(seconds=i), key_id=f"key{i % 5}", provider="demo",
                    model=f"m{i % 3}", input_tokens=1, output_tokens=1,
                    status=503 if i == 7 else 200, latency_ms=3.0, request_id=f"rq-{i:03d}")
        for i in range(500)])
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/logs")
    await expect(page.locator("tr[data-log]")).to_have_count(50)
    await page.get_by_label("Key id").fill("key2")
    await page.get_by_label("Status").select_option("error")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("tr[data-log]")).to_have_count(1)
    await expect(page.locator("tr[data-log]")).to_contain_text("503")
    await page.reload()
    await expect(page.get_by_label("Key id")).to_have_value("key2")
    await expect(page.locator("tr[data-log]")).to_have_count(1)
    await page.go_back()
    await expect(page.locator("tr[data-log]")).to_have_count(50)
    await page.get_by_role("button", name="Older").click()
    await expect(page.locator("tr[data-log]").first).to_contain_text("key4")  # row 449
    await page.get_by_label("Request id").fill("rq-003")  # on the last of 10 pages
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("tr[data-log]")).to_have_count(1)
    await expect(page.locator("tr[data-log]")).to_contain_text("key3")
    assert "request_id=rq-003" in page.url


async def test_rotate_needs_typed_confirmation(ui: Guarded) -> None:
    await ui.sign_in()
    page = ui.page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "rotate-key" in r.url else None)
    await page.goto(f"{ui.ui}#/settings")
    button = page.get_by_role("button", name="Rotate key")
    await expect(button).to_be_disabled()
    await page.get_by_label('Type "rotate" to confirm').fill("rotat")
    await expect(button).to_be_disabled()
    assert sent == []
    await page.get_by_label('Type "rotate" to confirm').fill("rotate")
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await button.click()
    await expect(page.get_by_role("status")).to_contain_text("key version")
    assert len(sent) == 1


async def test_errors_show_in_place_and_expired_session_goes_to_login(ui: Guarded) -> None:
    await ui.sign_in()
    page = ui.page

    async def fail(route: Route) -> None:
        await route.fulfill(status=500, content_type="application/json",
                            body='{"error": {"message": "internal error; see the node\'s log"}}')

    await page.route("**/api/v1/tokens?*", fail)
    await page.goto(f"{ui.ui}#/keys")
    await expect(page.get_by_role("alert")).to_contain_text("internal error")
    await page.unroute("**/api/v1/tokens?*")
    await page.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("alert")).to_have_count(0)
    await expect(page.locator("[data-total]")).to_be_visible()
    expired = sign(ui.node.gateway, int(time.time()) - 5)
    await ui.context.clear_cookies()
    await ui.context.add_cookies([{"name": COOKIE, "value": expired, "url": ui.node.url}])
    await page.goto(f"{ui.ui}#/usage")
    await expect(page.get_by_label("Admin token")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_nothing_serious(ui: Guarded, scheme: str, tmp_path: Path) -> None:
    await ui.sign_in()
    await ui.page.emulate_media(color_scheme=scheme)
    axe = Axe()
    found: dict[str, list[str]] = {}
    for path, title in PAGES.items():
        await ui.page.goto(f"{ui.ui}#/{path}")
        await expect(ui.page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        result = await axe.run(ui.page)
        bad = [v["id"] for v in result.response["violations"]
               if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    background = await ui.page.evaluate(
        "getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(255, 255, 255)")
    await ui.shot(tmp_path, f"about-{scheme}")
    assert found == {}


@pytest.fixture
async def deep() -> AsyncIterator[Node]:
    async with running_node(ui_tree(base_path="/at/gw")) as running:
        yield running


async def test_two_segment_base_path_at_phone_width(browser: Browser, deep: Node,
                                                    tmp_path: Path) -> None:
    ui = await open_page(browser, deep, viewport={"width": 390, "height": 844})
    try:
        await ui.sign_in()
        for path, title in PAGES.items():
            await ui.page.goto(f"{ui.ui}#/{path}")
            await expect(ui.page.get_by_role("heading", name=title, exact=True)).to_be_visible()
            width = await ui.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"#{path} scrolls sideways at phone width"
        await ui.shot(tmp_path, "phone-usage")
        assert ui.requests and all("/at/gw/" in url for url in ui.requests)
    finally:
        await ui.context.close()
    assert ui.problems == []


async def test_theme_toggle_overrides_and_persists(ui: Guarded) -> None:
    await ui.sign_in()
    page = ui.page
    await page.emulate_media(color_scheme="light")
    await page.goto(ui.ui)
    await page.get_by_label("Theme").select_option("dark")
    await page.reload()
    await expect(page.get_by_label("Theme")).to_have_value("dark")
    assert await page.evaluate(
        "getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"


async def test_ten_thousand_keys_page_loads_one_page(ui: Guarded) -> None:
    store = ui.node.gateway.store
    created = datetime.now(UTC)
    for i in range(10_000):
        await store.create_api_key(ApiKeyRecord(
            id=f"id{i:05d}", name=f"bulk-{i:05d}", key_hash=f"{i:064x}", prefix="sk-at-x",
            providers=None, models=None, expires_at=None, enabled=True,
            created_at=created + timedelta(microseconds=i)))
    await ui.sign_in()
    page = ui.page
    await page.goto(f"{ui.ui}#/about")
    await expect(page.get_by_role("heading", name="About", exact=True)).to_be_visible()
    began = time.monotonic()
    await page.goto(f"{ui.ui}#/keys?q=bulk-09")
    await expect(page.locator("[data-total]")).to_have_attribute("data-total", "1000")
    await expect(page.locator("tr[data-key]")).to_have_count(50)
    assert time.monotonic() - began < 1.0
    asked = [u for u in ui.requests if "/api/v1/tokens" in u]
    assert asked and all("limit=50" in u for u in asked)
