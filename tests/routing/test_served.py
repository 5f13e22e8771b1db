"""A route is a model name: every dialect asks for it, key scopes apply to it and to the
target, /v1/models lists it, limits and usage records go to the target that served, and
every answer (routed or not) names what served it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from node.serve import Finished
from tests.fakes.flaky import FlakyUpstream
from tests.fakes.openai_upstream import Json
from tests.node.harness import Node, running_node
from tests.routing.conftest import chat, tree

Ups = tuple[FlakyUpstream, FlakyUpstream, FlakyUpstream]
TIERED = {"targets": [{"model": "a/m"}, {"model": "b/m", "priority": 2}], "cooldown": "200ms"}
BOOM = Json({"error": {"message": "boom"}}, 500)


async def _key(node: Node, session: aiohttp.ClientSession, **scope: Any) -> str:
    async with session.post(f"{node.url}/api/v1/tokens", headers=node.admin(),
                            json={"name": "scoped", **scope}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["key"])


async def test_every_dialect_asks_for_a_route(ups: Ups, session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.push(BOOM, BOOM, BOOM)  # each dialect's first attempt fails and moves to b
        async with session.post(f"{node.url}/v1/messages", headers=node.auth(), json={
                "model": "smart", "max_tokens": 16,
                "messages": [{"role": "user", "content": "hi"}]}) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["type"] == "message", body
            assert (resp.headers["x-at-provider"], resp.headers["x-at-attempts"]) == ("b", "2")
        for state in node.gateway.routes.states():
            state.succeeded(0.001)
        url = f"{node.url}/v1beta/models/smart:generateContent"
        async with session.post(url, headers={"x-goog-api-key": node.api_key}, json={
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["candidates"], body
            assert (resp.headers["x-at-provider"], resp.headers["x-at-attempts"]) == ("b", "2")
        for state in node.gateway.routes.states():
            state.succeeded(0.001)
        url = f"{node.url}/v1beta/models/smart:streamGenerateContent?alt=sse"
        async with session.post(url, headers={"x-goog-api-key": node.api_key}, json={
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}) as resp:
            text = await resp.text()
            assert resp.status == 200 and "candidates" in text, text
            assert resp.headers["x-at-attempts"] == "2"
        assert [r.body["model"] for r in a.requests] == ["m"] * 3


async def test_models_list_and_key_scopes(ups: Ups, session: aiohttp.ClientSession) -> None:
    route = {"targets": [{"model": "a/m"}, {"model": "b/m"}]}
    async with running_node(tree(ups, {"smart": route})) as node:
        async with session.get(f"{node.url}/v1/models", headers=node.auth()) as resp:
            listed = {m["id"]: m["owned_by"] for m in (await resp.json())["data"]}
        assert listed["smart"] == "route" and "a/m" in listed
        only_route = await _key(node, session, models=["smart"])
        assert (await chat(node, session, "smart", key=only_route))[0] == 200
        assert (await chat(node, session, "a/m", key=only_route))[0] == 403
        not_route = await _key(node, session, models=["a/m"])
        assert (await chat(node, session, "smart", key=not_route))[0] == 403
        async with session.get(f"{node.url}/v1/models", headers=node.auth(not_route)) as resp:
            assert "smart" not in {m["id"] for m in (await resp.json())["data"]}
        only_b = await _key(node, session, providers=["b"])
        for _ in range(10):  # the target must be within the key's providers too
            status, _, headers = await chat(node, session, "smart", key=only_b)
            assert (status, headers["x-at-provider"]) == (200, "b")
        only_c = await _key(node, session, providers=["c"])
        assert (await chat(node, session, "smart", key=only_c))[0] == 403


async def test_records_and_limits_go_to_the_target_that_served(
        ups: Ups, session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    config = tree(ups, {"smart": TIERED})
    # a allows one request a minute; its failed attempt must give that request back.
    config["providers"]["a"]["limits"] = {"requests_per_minute": 1}
    async with running_node(config) as node:
        seen: list[Finished] = []
        node.gateway.finished_hooks.append(seen.append)
        a.push(BOOM)
        status, _, headers = await chat(node, session, "smart")
        assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (200, "b", "2")
        (done,) = seen
        assert (done.provider, done.model, done.attempts, done.status) == ("b", "m", 2, 200)
        plan = node.gateway.routes.get("smart")
        assert plan is not None
        state = plan.targets[0].state
        while time.monotonic() <= state.until:  # the cool-down (200 ms) ends; a probes next
            await asyncio.sleep(0.02)
        status, _, headers = await chat(node, session, "smart")
        # a was admitted: its minute's one request had been released unused.
        assert (status, headers["x-at-provider"]) == (200, "a")
        status, _, headers = await chat(node, session, "smart")
        assert (status, headers["x-at-provider"]) == (200, "b")  # now a's limit is spent
        await node.gateway.usage.flush()
        rows = await node.gateway.store.usage_summary(since=None, until=None)
        assert sorted((r["provider"], r["requests"]) for r in rows) == [("a", 1), ("b", 2)]


async def test_plain_models_name_what_served_them(ups: Ups,
                                                  session: aiohttp.ClientSession) -> None:
    async with running_node(tree(ups, {})) as node:
        status, _, headers = await chat(node, session, "a/m")
        assert (status, headers["x-at-provider"], headers["x-at-model"],
                headers["x-at-attempts"]) == (200, "a", "m", "1")
        status, _, headers = await chat(node, session, "b/m", stream=True)
        assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (200, "b", "1")
        ups[0].push(BOOM)
        status, _, headers = await chat(node, session, "a/m")
        assert (status, headers["x-at-provider"], headers["x-at-attempts"]) == (502, "a", "1")


async def test_outcome_and_cool_down_metrics(ups: Ups, session: aiohttp.ClientSession) -> None:
    a, _, _ = ups
    async with running_node(tree(ups, {"smart": TIERED})) as node:
        a.push(BOOM)
        assert (await chat(node, session, "smart"))[0] == 200
        async with session.get(f"{node.url}/metrics") as resp:
            text = await resp.text()
        assert ('at_upstream_requests_total{outcome="retried",provider="a",status="502"} 1.0'
                in text)
        assert 'at_upstream_requests_total{outcome="ok",provider="b",status="200"} 1.0' in text
        assert 'at_upstream_cooldowns_total{reason="5xx",target="a/m"} 1.0' in text
        assert 'at_route_targets_cooling_down{name="a/m"} 1.0' in text
