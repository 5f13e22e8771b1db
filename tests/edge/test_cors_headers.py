"""CORS for the gateway routes and for /api/v1 (separate policies, preflights before auth),
the security headers on every answer, and ``server.metrics_auth``."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from node.config import load_settings, parse_settings
from node.errors import ConfigError
from tests.edge.served import Served, served_node
from tests.node.harness import settings_tree

APP = "https://app.example.com"
CONSOLE = "https://console.example.com"
CORS = {"cors": {"allow_origins": [APP]},
        "admin_cors": {"allow_origins": [CONSOLE], "allow_credentials": True, "max_age": 60}}
CHAT = {"model": "demo/mock-1", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]}


def _preflight(origin: str, method: str = "POST",
               headers: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}


async def test_preflight_allowed_before_auth() -> None:
    async with served_node(server=CORS) as node, aiohttp.ClientSession() as session:
        async with session.options(f"{node.url}/v1/chat/completions",
                                   headers=_preflight(APP)) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == APP
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert resp.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
            assert resp.headers["Access-Control-Max-Age"] == "600"
            assert "Access-Control-Allow-Credentials" not in resp.headers
        # The admin API has its own policy: credentials allowed, its own origin and max age.
        async with session.options(f"{node.url}/api/v1/providers",
                                   headers=_preflight(CONSOLE, "PUT")) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == CONSOLE
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"
            assert resp.headers["Access-Control-Max-Age"] == "60"


async def test_preflight_refused() -> None:
    async with served_node(server=CORS) as node, aiohttp.ClientSession() as session:
        refusals = [
            ("/v1/chat/completions", _preflight("https://evil.example.com")),
            ("/v1/chat/completions", _preflight(CONSOLE)),  # the admin origin, not the gateway's
            ("/api/v1/providers", _preflight(APP)),  # and the other way round
            ("/v1/chat/completions", _preflight(APP, "TRACE")),
            ("/v1/chat/completions", _preflight(APP, headers="x-custom-thing")),
        ]
        for path, headers in refusals:
            async with session.options(f"{node.url}{path}", headers=headers) as resp:
                assert resp.status == 403, (path, headers)
                assert "Access-Control-Allow-Origin" not in resp.headers


async def test_actual_requests_carry_cors_headers_for_allowed_origins_only() -> None:
    async with served_node(server=CORS) as node, aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {node.api_key}"}
        async with session.post(f"{node.url}/v1/chat/completions", json=CHAT,
                                headers={**auth, "Origin": APP}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == APP
            assert "x-request-id" in resp.headers["Access-Control-Expose-Headers"]
            assert resp.headers["Vary"] == "Origin"
        async with session.post(f"{node.url}/v1/chat/completions", json={**CHAT, "stream": True},
                                headers={**auth, "Origin": APP}) as resp:
            await resp.read()
            assert resp.headers["Access-Control-Allow-Origin"] == APP  # streams too
        async with session.post(f"{node.url}/v1/chat/completions", json=CHAT,
                                headers={"Origin": APP}) as resp:
            assert resp.status == 401  # errors too: the script can read why
            assert resp.headers["Access-Control-Allow-Origin"] == APP
        async with session.post(f"{node.url}/v1/chat/completions", json=CHAT,
                                headers={**auth, "Origin": "https://evil.example.com"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with session.get(f"{node.url}/api/v1/tokens", headers={
                "Authorization": f"Bearer {node.admin_token}", "Origin": CONSOLE}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == CONSOLE
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"


async def test_cors_off_by_default() -> None:
    async with served_node() as node, aiohttp.ClientSession() as session:
        async with session.options(f"{node.url}/v1/chat/completions",
                                   headers=_preflight(APP)) as resp:
            assert resp.status == 405
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with session.get(f"{node.url}/health", headers={"Origin": APP}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_any_origin_without_credentials() -> None:
    async with served_node(server={"cors": {"allow_origins": ["*"]}}) as node, \
            aiohttp.ClientSession() as session:
        async with session.options(f"{node.url}/v1/models",
                                   headers=_preflight("https://x.example", "GET")) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
        # No admin policy: the admin API answers a preflight as before (auth first).
        async with session.options(f"{node.url}/api/v1/tokens",
                                   headers=_preflight("https://x.example", "GET")) as resp:
            assert resp.status == 401


SECURITY = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "frame-ancestors 'none'"}


async def test_security_headers_on_every_route() -> None:
    async with served_node() as node, aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {node.api_key}"}
        admin = {"Authorization": f"Bearer {node.admin_token}"}
        calls: list[tuple[str, str, dict[str, str], Any]] = [
            ("GET", "/health", {}, None), ("GET", "/ready", {}, None),
            ("GET", "/metrics", {}, None), ("GET", "/v1/models", auth, None),
            ("POST", "/v1/chat/completions", auth, CHAT),
            ("POST", "/v1/chat/completions", auth, {**CHAT, "stream": True}),
            ("POST", "/v1/chat/completions", {}, CHAT),  # 401
            ("POST", "/v1/messages", auth, {"model": "demo/mock-1", "max_tokens": 2,
                                            "messages": [{"role": "user", "content": "x"}]}),
            ("GET", "/api/v1/tokens", admin, None), ("GET", "/api/v1/tokens", {}, None),
            ("GET", "/no/such/route", {}, None),
        ]
        for method, path, headers, body in calls:
            async with session.request(method, f"{node.url}{path}", headers=headers,
                                       json=body) as resp:
                await resp.read()
                for name, value in SECURITY.items():
                    assert resp.headers.get(name) == value, (method, path, resp.status, name)
                assert resp.headers["Server"] == "at-gateway"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _metrics_status(node: Served, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{node.url}/metrics", headers=headers) as resp:
        body = await resp.text()
        if resp.status == 401:
            assert "WWW-Authenticate" in resp.headers
        return resp.status, body


async def test_metrics_basic_auth() -> None:
    auth = {"metrics_auth": {"username": "prom", "password": "scrape-secret-1"}}
    async with served_node(server=auth) as node:
        assert (await _metrics_status(node, {}))[0] == 401
        assert (await _metrics_status(node, _basic("prom", "wrong")))[0] == 401
        assert (await _metrics_status(node, _basic("other", "scrape-secret-1")))[0] == 401
        assert (await _metrics_status(
            node, {"Authorization": "Bearer scrape-secret-1"}))[0] == 401
        status, body = await _metrics_status(node, _basic("prom", "scrape-secret-1"))
        assert status == 200 and "at_http_requests_total" in body
        # Health and readiness stay open for probes.
        async with aiohttp.ClientSession() as session, session.get(f"{node.url}/health") as r:
            assert r.status == 200


async def test_metrics_bearer_token_and_open_by_default() -> None:
    async with served_node(server={"metrics_auth": {"token": "metrics-token-42"}}) as node:
        assert (await _metrics_status(node, {}))[0] == 401
        assert (await _metrics_status(node, {"Authorization": "Bearer nope"}))[0] == 401
        assert (await _metrics_status(node, {"Authorization": "Bearer metrics-token-42"})
                )[0] == 200
    async with served_node() as node:
        assert (await _metrics_status(node, {}))[0] == 200


def test_metrics_password_from_the_environment() -> None:
    settings = load_settings(None, {"AT_SERVER_METRICS_AUTH_USERNAME": "prom",
                                    "AT_SERVER_METRICS_AUTH_PASSWORD": "from-env"})
    assert settings.server.metrics_auth is not None
    assert settings.server.metrics_auth.password == "from-env"


@pytest.mark.parametrize(("server", "message"), [
    ({"cors": {"allow_origins": ["*"], "allow_credentials": True}},
     r"^server\.cors\.allow_origins: '\*' cannot be combined with allow_credentials"),
    ({"admin_cors": {"allow_origins": ["https://x.example/"]}},
     r"^server\.admin_cors\.allow_origins\[0\]: 'https://x\.example/' is not valid"),
    ({"cors": {"allow_origins": ["x"], "bogus": 1}}, r"^server\.cors\.bogus: unknown key"),
    ({"cors": {"allow_origins": [APP], "max_age": -1}}, r"^server\.cors\.max_age: -1"),
    ({"metrics_auth": {"username": "prom"}}, r"^server\.metrics_auth\.password: missing"),
    ({"metrics_auth": {"token": "t", "password": "p"}},
     r"^server\.metrics_auth: both token and username/password"),
])
def test_edge_config_errors(server: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(settings_tree(server=server))
