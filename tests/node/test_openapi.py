"""The OpenAPI description of the admin API against the router, and against the running API.

The router comparison keeps the document complete both ways; the schemathesis run sends
generated requests (bounded in number, on a real node in a thread of its own) to every
operation and fails on any 5xx or any answer that breaks its documented schema.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis import checks

from node.admin import admin_app
from node.admin.openapi import describe
from node.app import create_app
from node.config import parse_settings
from tests.node.harness import settings_tree

METHODS = {"get", "post", "put", "patch", "delete"}
TOKEN = "admin-token-for-openapi-0123456789"


def _router_operations() -> set[tuple[str, str]]:
    found = set()
    for route in admin_app().router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        found.add((route.method.lower(), route.resource.canonical))
    return found


def _documented_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in spec["paths"].items()
            for method in item if method in METHODS}


def test_every_route_is_documented_and_every_operation_exists() -> None:
    spec = describe()
    routed, documented = _router_operations(), _documented_operations(spec)
    assert routed - documented == set(), "routes with no OpenAPI operation"
    assert documented - routed == set(), "OpenAPI operations with no route"
    assert spec["openapi"] == "3.1.0"
    # The session routes are the only ones open without a credential.
    open_ops = {(m, p) for p, item in spec["paths"].items() for m, op in item.items()
                if m in METHODS and op.get("security") == []}
    assert open_ops == {("post", "/session"), ("delete", "/session")}


def test_every_operation_documents_401_but_sign_in() -> None:
    for path, item in describe()["paths"].items():
        for method, op in item.items():
            if method in METHODS and op.get("security") != []:
                assert "401" in op["responses"], (method, path)


async def test_served_document_matches_and_needs_auth() -> None:
    tree = settings_tree(server={"admin_token": TOKEN, "base_path": "/gw/x"})
    app = create_app(parse_settings(tree))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/gw/x/api/v1/openapi.json"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 401
            async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                served = await resp.json()
        assert served == describe("/gw/x")
        assert served["servers"] == [{"url": "/gw/x/api/v1"}]
    finally:
        await runner.cleanup()


class _NodeThread:
    """A real node on loopback in a thread with its own event loop (schemathesis calls are
    blocking, so they cannot share the test's loop)."""

    def __init__(self) -> None:
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # the audit log on, so /audit answers rather than saying it is off (a 503)
        audit_dir = tempfile.mkdtemp(prefix="at-openapi-audit-")
        tree = settings_tree(server={"admin_token": TOKEN},
                             providers={"demo": {"type": "mock", "model": "m1"}},
                             audit={"path": audit_dir})
        runner = web.AppRunner(create_app(parse_settings(tree), say=lambda _: None))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> _NodeThread:
        self._thread.start()
        assert self._ready.wait(30), "the node did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def live_api() -> Iterator[str]:
    with _NodeThread() as node:
        yield node.url


schema = schemathesis.openapi.from_dict(describe()).exclude(
    path="/events")  # an endless stream: checked by tests/ui/test_admin_api.py instead


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_api_conforms(case: Any, live_api: str) -> None:
    # What this run promises: no 5xx, and every answer (status, content type, headers, body)
    # as documented. Whether a generated body is valid depends on meaning the schema does
    # not carry (a provider type's fields, a route's targets), so the data-rejection checks
    # are left to the handlers' own tests.
    case.call_and_validate(
        base_url=live_api, headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[checks.not_a_server_error, checks.status_code_conformance,
                checks.content_type_conformance, checks.response_schema_conformance,
                checks.response_headers_conformance])
