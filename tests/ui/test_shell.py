"""The shell: sign-in, session cookie, sign-out, headers, every page by deep link."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.ui.conftest import Guarded

PAGES = {"": "Overview", "live": "Live", "providers": "Providers", "keys": "API keys",
         "routes": "Routes", "usage": "Usage", "logs": "Request log", "cluster": "Cluster",
         "settings": "Settings", "about": "About"}


async def test_login_wrong_token_then_right_then_logout(ui: Guarded, tmp_path: Path) -> None:
    page = ui.page
    await page.goto(ui.ui)
    token = page.get_by_label("Admin token")
    await token.fill("not-the-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("That is not the admin token.")).to_be_visible()
    assert await ui.context.cookies() == []
    await ui.shot(tmp_path, "login")
    await token.fill("ui-admin-token-0123456789abcdef")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    (cookie,) = await ui.context.cookies()
    assert cookie["name"] == "at_session" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    assert await ui.context.cookies() == []
    answer = await ui.context.request.get(f"{ui.node.url}/api/v1/tokens")
    assert answer.status == 401


async def test_every_page_by_deep_link_with_strict_headers(ui: Guarded, tmp_path: Path) -> None:
    await ui.sign_in()
    for path, title in PAGES.items():
        await ui.page.goto(f"{ui.ui}#/{path}")
        await expect(ui.page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        await expect(ui.page.locator(".banner")).to_have_count(0)
        await ui.shot(tmp_path, path or "overview")
    ui_answers = [r for r in ui.responses if "/ui/" in r.url]
    assert ui_answers
    for answer in ui_answers:
        headers = await answer.all_headers()
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
