"""``POST /api/v1/providers/{key}/test`` and ``GET /api/v1/providers/{key}/upstream-models``
on a real node, against each provider type's fake upstream: live, dead, refusing the key,
echoing it; behind the admin token like every /api/v1 route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.openai_upstream import Echo, FakeUpstream, Hang, Json
from tests.node.harness import Node, running_node, settings_tree
from tests.providers.upstream_kinds import API_KEY, KINDS, MODEL, dead_settings, upstream_for

LISTING = {"azure": {"api_version": "2022-12-01"}}  # a version whose data plane lists deployments
OWNER = {"openai": "fake-org", "anthropic": "anthropic", "gemini": "google",
         "vertex": "google", "azure": "organization-owner"}  # fmt: skip


async def _call(node: Node, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
        method, node.url + path, json=body, headers=node.admin() if headers is None else headers,
    ) as resp:
        return resp.status, await resp.json(content_type=None)


@asynccontextmanager
async def _node(**providers: dict[str, Any]) -> AsyncIterator[Node]:
    async with running_node(settings_tree(providers={"demo": {"type": "mock"}, **providers})) \
            as node:
        yield node


@pytest.mark.parametrize("kind", KINDS)
async def test_a_live_upstream_tests_ok_and_lists_its_models(kind: str, tmp_path: Path) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings), \
            _node(up={**settings, **LISTING.get(kind, {})}) as node:
        fake.model_ids = ["one", "two"]
        status, tested = await _call(node, "POST", "/api/v1/providers/up/test")
        assert status == 200, tested
        assert tested["ok"] is True and tested["status"] == 200 and tested["error"] is None
        assert tested["model"] == MODEL and isinstance(tested["latency_ms"], float)
        assert len(fake.requests) == 1 and fake.requests[0].method == "POST"
        status, listed = await _call(node, "GET", "/api/v1/providers/up/upstream-models")
    assert status == 200, listed
    ids = ["google/one", "google/two"] if kind == "vertex" else ["one", "two"]
    assert listed == {"object": "list", "provider": "up",
                      "data": [{"id": i, "owned_by": OWNER[kind]} for i in ids]}  # fmt: skip
    assert fake.requests[-1].method == "GET"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_dead_upstream_is_a_failed_test_and_a_502_list(kind: str, tmp_path: Path) -> None:
    async with upstream_for(kind, tmp_path) as (_, settings), \
            _node(up={**dead_settings(kind, settings), **LISTING.get(kind, {})}) as node:
        status, tested = await _call(node, "POST", "/api/v1/providers/up/test")
        assert status == 200, tested
        assert tested["ok"] is False and tested["status"] is None
        assert "cannot connect to provider 'up'" in tested["error"]
        status, listed = await _call(node, "GET", "/api/v1/providers/up/upstream-models")
    assert status == 502
    assert "cannot connect to provider 'up'" in listed["error"]["message"]
    assert listed["error"]["code"] == "upstream_error"


async def test_a_hanging_upstream_fails_the_test_in_bounded_time(upstream: FakeUpstream) -> None:
    up = {"type": "openai", "base_url": upstream.base_url, "model": "m", "timeout": "1s"}
    async with _node(up=up) as node:
        upstream.push(Hang(30))
        status, tested = await _call(node, "POST", "/api/v1/providers/up/test")
    assert status == 200 and tested["ok"] is False and tested["status"] is None
    assert "did not answer in time" in tested["error"]


@pytest.mark.parametrize("kind", KINDS)
async def test_an_upstream_401_is_reported_with_its_status(kind: str, tmp_path: Path) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings), \
            _node(up={**settings, **LISTING.get(kind, {})}) as node:
        fake.push(Json({"error": {"message": "bad key"}}, status=401),
                  Json({"error": {"message": "bad key"}}, status=401))
        status, tested = await _call(node, "POST", "/api/v1/providers/up/test")
        assert status == 200
        assert tested["ok"] is False and tested["status"] == 401
        assert tested["error"] == "upstream 'up' answered 401: bad key"
        status, listed = await _call(node, "GET", "/api/v1/providers/up/upstream-models")
    assert status == 502  # the upstream's 401 is not the admin's
    assert listed["error"]["message"] == "upstream 'up' answered 401: bad key"


@pytest.mark.parametrize("kind", KINDS)
async def test_an_upstream_echoing_the_credentials_is_scrubbed(kind: str, tmp_path: Path) -> None:
    secret_header = "hdr-secret-0123456789"
    async with upstream_for(kind, tmp_path) as (fake, settings), _node(up={
        **settings, **LISTING.get(kind, {}), "extra_headers": {"X-Org": secret_header},
    }) as node:
        fake.push(Echo(), Echo())
        answers = [await _call(node, "POST", "/api/v1/providers/up/test"),
                   await _call(node, "GET", "/api/v1/providers/up/upstream-models")]
    (tested_status, tested), (listed_status, listed) = answers
    assert tested_status == 200 and tested["ok"] is False and tested["status"] == 401
    assert listed_status == 502
    for text in (tested["error"], listed["error"]["message"]):
        assert "[redacted]" in text  # the echo did carry the credentials
        assert API_KEY not in text and secret_header not in text and "ya29." not in text


async def test_the_test_uses_the_stored_credentials_over_the_yaml_ones(
    upstream: FakeUpstream,
) -> None:
    yaml = {"type": "openai", "base_url": upstream.base_url, "api_key": "sk-yaml-0123456789",
            "model": "m"}  # fmt: skip
    async with _node(up=yaml) as node:
        status, _ = await _call(node, "PUT", "/api/v1/providers/up",
                                {**yaml, "api_key": "sk-stored-0123456789"})
        assert status == 201  # the store's first copy of 'up', overriding the YAML one
        status, tested = await _call(node, "POST", "/api/v1/providers/up/test")
        status, _ = await _call(node, "GET", "/api/v1/providers/up/upstream-models")
    assert tested["ok"] is True
    assert [sent.headers["Authorization"] for sent in upstream.requests] == [
        "Bearer sk-stored-0123456789"] * 2


async def test_the_body_may_name_the_model_and_aliases_resolve(upstream: FakeUpstream) -> None:
    up = {"type": "openai", "base_url": upstream.base_url, "model": "m",
          "models": ["nick=real-model"]}  # fmt: skip
    async with _node(up=up) as node:
        _, tested = await _call(node, "POST", "/api/v1/providers/up/test", {"model": "nick"})
        _, other = await _call(node, "POST", "/api/v1/providers/up/test", {"model": "x-1"})
    assert tested["model"] == "real-model" and other["model"] == "x-1"
    assert [sent.body["model"] for sent in upstream.requests] == ["real-model", "x-1"]


@pytest.mark.parametrize(("body", "param"), [
    ({"model": 3}, "model"), ({"modle": "m"}, "modle"), ([], None),
])  # fmt: skip
async def test_bad_test_bodies_are_400_naming_the_field(
    upstream: FakeUpstream, body: Any, param: str | None
) -> None:
    async with _node(up={"type": "openai", "base_url": upstream.base_url, "model": "m"}) as node:
        status, answer = await _call(node, "POST", "/api/v1/providers/up/test", body)
    assert status == 400 and answer["error"]["param"] == param
    assert upstream.requests == []


async def test_a_provider_without_a_default_model_needs_one_named(
    upstream: FakeUpstream,
) -> None:
    async with _node(up={"type": "openai", "base_url": upstream.base_url}) as node:
        status, answer = await _call(node, "POST", "/api/v1/providers/up/test")
    assert status == 400 and answer["error"]["param"] == "model"
    assert "no default model" in answer["error"]["message"] and upstream.requests == []


async def test_azure_without_a_deployment_list_is_a_clear_400(tmp_path: Path) -> None:
    async with upstream_for("azure", tmp_path) as (fake, settings), _node(up=settings) as node:
        status, answer = await _call(node, "GET", "/api/v1/providers/up/upstream-models")
    assert status == 400 and fake.requests == []
    assert answer["error"]["message"].startswith("providers.up.api_version: '2024-10-21'")


async def test_the_mock_tests_ok_and_lists_its_models() -> None:
    async with _node(demo={"type": "mock", "models": ["mock-2"]}) as node:
        _, tested = await _call(node, "POST", "/api/v1/providers/demo/test")
        _, listed = await _call(node, "GET", "/api/v1/providers/demo/upstream-models")
    assert tested["ok"] is True and tested["model"] == "mock-1"
    assert [entry["id"] for entry in listed["data"]] == ["mock-1", "mock-2"]


async def test_an_unknown_provider_is_404() -> None:
    async with _node() as node:
        for method, path in (("POST", "test"), ("GET", "upstream-models")):
            status, answer = await _call(node, method, f"/api/v1/providers/nope/{path}")
            assert status == 404 and "nope" in answer["error"]["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-admin-token"}])
async def test_both_routes_need_the_admin_token(
    upstream: FakeUpstream, headers: dict[str, str]
) -> None:
    async with _node(up={"type": "openai", "base_url": upstream.base_url, "model": "m"}) as node:
        for method, path in (("POST", "test"), ("GET", "upstream-models")):
            status, _ = await _call(node, method, f"/api/v1/providers/up/{path}", None, headers)
            assert status == 401
        # The gateway key is not the admin token either.
        status, _ = await _call(node, "POST", "/api/v1/providers/up/test", None, node.auth())
        assert status == 401
    assert upstream.requests == []
