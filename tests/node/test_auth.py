"""Gateway keys and scopes on every dialect; the admin API is never open."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from tests.node.harness import Node, post, running_node, settings_tree

CHAT = {"model": "demo/mock-1", "messages": [{"role": "user", "content": "hi"}]}


async def _new_key(node: Node, **fields: object) -> dict[str, object]:
    status, data, _ = await post(node, "/api/v1/tokens", {"name": "t", **fields}, node.admin())
    assert status == 201, data
    return data


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-goog-api-key"])
async def test_key_accepted_in_each_header(node: Node, header: str) -> None:
    value = f"Bearer {node.api_key}" if header == "Authorization" else node.api_key
    status, _, _ = await post(node, "/v1/chat/completions", CHAT, {header: value})
    assert status == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer at-nope"}, {"x-api-key": ""}])
async def test_missing_or_bad_key_is_401(node: Node, headers: dict[str, str]) -> None:
    status, data, _ = await post(node, "/v1/chat/completions", CHAT, headers)
    assert status == 401
    assert data["error"]["type"] == "authentication_error"


async def test_401_in_anthropic_and_gemini_dialects(node: Node) -> None:
    status, data, _ = await post(node, "/v1/messages", {"model": "x"}, {})
    assert status == 401 and data["type"] == "error"
    assert data["error"]["type"] == "authentication_error"
    status, data, _ = await post(node, "/v1beta/models/demo/mock-1:generateContent", {}, {})
    assert status == 401 and data["error"]["status"] == "UNAUTHENTICATED"


async def test_disabled_and_expired_keys(node: Node) -> None:
    made = await _new_key(node)
    headers = {"Authorization": f"Bearer {made['key']}"}
    assert (await post(node, "/v1/chat/completions", CHAT, headers))[0] == 200
    async with aiohttp.ClientSession() as session, session.patch(
        f"{node.url}/api/v1/tokens/{made['id']}", json={"enabled": False}, headers=node.admin()
    ) as resp:
        assert resp.status == 200
    assert (await post(node, "/v1/chat/completions", CHAT, headers))[0] == 401
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    expired = await _new_key(node, expires_at=past)
    headers = {"Authorization": f"Bearer {expired['key']}"}
    assert (await post(node, "/v1/chat/completions", CHAT, headers))[0] == 401


async def test_scope_needs_provider_and_model_both() -> None:
    tree = settings_tree(providers={"demo": {"type": "mock"},
                                    "other": {"type": "mock", "model": "m2"}})
    async with running_node(tree) as node:
        only_demo = await _new_key(node, providers=["demo"])
        only_model = await _new_key(node, models=["other/m2"])
        both = await _new_key(node, providers=["demo"], models=["other/m2"])
        cases = [
            (only_demo, "demo/mock-1", 200), (only_demo, "other/m2", 403),
            (only_model, "other/m2", 200), (only_model, "demo/mock-1", 403),
            # Provider list allows demo, model list allows only other/m2: nothing passes both.
            (both, "demo/mock-1", 403), (both, "other/m2", 403),
        ]
        for made, model, expected in cases:
            headers = {"Authorization": f"Bearer {made['key']}"}
            status, data, _ = await post(node, "/v1/chat/completions", {**CHAT, "model": model},
                                         headers)
            assert status == expected, (made["providers"], made["models"], model, data)
            if status == 403:
                assert data["error"]["type"] == "permission_error"
        async with aiohttp.ClientSession() as session, session.get(
            f"{node.url}/v1/models", headers={"Authorization": f"Bearer {only_model['key']}"}
        ) as resp:
            listed = [m["id"] for m in (await resp.json())["data"]]
        assert listed == ["other/m2"]


def _admin_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route under ``/api/v1``, sub-apps included; ``{x}`` filled."""
    found: list[tuple[str, str]] = []
    for resource in app.router.resources():
        sub = resource.get_info().get("app")
        if isinstance(sub, web.Application):
            found += _admin_routes(sub)
            continue
        for route in resource:
            path = re.sub(r"\{[^}]+\}", "x", resource.canonical)
            if path.startswith("/api/v1"):
                found.append((route.method, path))
    return found


def _wrong_credentials(node: Node) -> list[dict[str, str]]:
    token = node.admin_token
    return [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wrong-admin-token"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": "bearer wrong-admin-token"},
        {"Authorization": token},
        {"Authorization": f"Basic {token}"},
        {"x-api-key": token},
        node.auth(),  # a gateway API key is not an admin token
    ]


# Signing in is how the token is presented and signing out needs none: the only open routes.
# POST /session checks the token itself (below); the UI's own tests cover the cookie.
SIGN_IN = {("POST", "/api/v1/session"), ("DELETE", "/api/v1/session")}


async def test_every_admin_route_needs_the_admin_token(node: Node) -> None:
    routes = _admin_routes(node.app)
    assert len({path for _, path in routes}) >= 7 and len(routes) >= 13, routes
    assert set(routes) >= SIGN_IN
    async with aiohttp.ClientSession() as session:
        token = node.admin_token
        for wrong in (f"{token}x", token[:-1], "wrong-admin-token", node.api_key):
            async with session.post(node.url + "/api/v1/session",
                                    json={"token": wrong}) as resp:
                assert resp.status == 401 and "Set-Cookie" not in resp.headers
        for method, path in routes:
            if (method, path) in SIGN_IN:
                continue
            for headers in _wrong_credentials(node):
                async with session.request(method, node.url + path, headers=headers) as resp:
                    assert resp.status == 401, (method, path, headers)
                    assert resp.headers["x-request-id"] and resp.headers["x-at-overhead-ms"]
                    if method != "HEAD":
                        body = await resp.json()
                        assert body["error"]["type"] == "authentication_error"
        async with session.get(node.url + "/api/v1/providers", headers=node.admin()) as resp:
            assert resp.status == 200 and resp.headers["x-at-overhead-ms"]
        async with session.get(node.url + "/metrics") as resp:
            metrics = await resp.text()
    assert 'route="/api/v1/providers"' in metrics


async def test_configured_admin_token_is_not_printed() -> None:
    tree = settings_tree(server={"admin_token": "configured-admin-token-1234"})
    async with running_node(tree) as node:
        assert "configured-admin-token-1234" not in "\n".join(node.said)
        assert "admin token" not in "\n".join(node.said)
        async with aiohttp.ClientSession() as session, session.get(
            node.url + "/api/v1/providers",
            headers={"Authorization": "Bearer configured-admin-token-1234"},
        ) as resp:
            assert resp.status == 200


@contextlib.asynccontextmanager
async def forward_auth_node(
    check: Callable[[web.Request], Awaitable[web.Response]],
    extend: Callable[[web.Application], object] | None = None,
) -> AsyncIterator[Node]:
    """A node whose admin API asks ``check`` (a forward-auth service on loopback), which
    names the caller in ``X-User``."""
    auth_app = web.Application()
    auth_app.router.add_get("/auth", check)
    runner = web.AppRunner(auth_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    address = f"http://127.0.0.1:{runner.addresses[0][1]}/auth"
    tree = settings_tree(server={"forward_auth": {"address": address,
                                                  "auth_response_headers": ["X-User"]}})
    try:
        async with running_node(tree, extend=extend) as node:
            yield node
    finally:
        await runner.cleanup()


async def test_forward_auth_admits_and_refuses() -> None:
    seen: list[dict[str, str]] = []

    async def check(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        ok = request.headers.get("Cookie") == "session=good"
        return web.Response(status=200 if ok else 403, headers={"X-User": "ada"})

    async with forward_auth_node(check) as node, aiohttp.ClientSession() as session:
        async with session.get(node.url + "/api/v1/tokens",
                               headers={"Cookie": "session=good"}) as resp:
            assert resp.status == 200
        async with session.get(node.url + "/api/v1/tokens",
                               headers={"Cookie": "session=bad"}) as resp:
            assert resp.status == 403
    assert seen[0]["X-Forwarded-Uri"] == "/api/v1/tokens"


async def test_an_admin_identity_stays_with_its_own_request() -> None:
    """The node binds each request's log context without clearing it first: what an admin
    request bound (its forward-auth identity) must not reach the next request on the same
    keep-alive connection."""
    import structlog

    async def check(request: web.Request) -> web.Response:
        return web.Response(headers={"X-User": "ada"})

    async def context(request: web.Request) -> web.Response:
        return web.json_response(structlog.contextvars.get_contextvars())

    async with forward_auth_node(check, lambda app: app.router.add_get(
            "/test-context", context)) as node, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1)) as session:
        for _ in range(2):
            async with session.get(node.url + "/api/v1/tokens") as resp:
                assert resp.status == 200  # admitted by the forward-auth service
            async with session.get(node.url + "/test-context",
                                   headers={"x-request-id": "next-one"}) as resp:
                bound = await resp.json()
            assert bound == {"request_id": "next-one"}
