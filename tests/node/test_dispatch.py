"""The node's runner takes its own POST routes directly (node.dispatch), and only those."""

from __future__ import annotations

import aiohttp

from node.dispatch import HotRoutes
from tests.node.harness import Node, post, running_node

CHAT = {"model": "demo/echo", "messages": [{"role": "user", "content": "hi"}]}


def hot_routes(node: Node) -> HotRoutes:
    assert node.runner is not None and node.runner.server is not None
    handler = node.runner.server.request_handler
    assert isinstance(handler, HotRoutes)
    return handler


async def test_a_hot_route_answers_as_through_the_app() -> None:
    async with running_node() as node:
        for _ in range(3):  # the first resolves through the router, the others directly
            status, body, headers = await post(node, "/v1/chat/completions", CHAT)
            assert status == 200, body
            assert body["object"] == "chat.completion"
            # the root app's middleware and response hooks still run
            assert headers["x-request-id"] and float(headers["x-at-overhead-ms"]) >= 0
            assert headers["X-Frame-Options"] == "DENY"
        status, body, _ = await post(node, "/v1/messages", {
            "model": "demo/echo", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200 and body["type"] == "message", body
        assert hot_routes(node).remembered() == {"/v1/chat/completions": True,
                                                 "/v1/messages": True}
        # requests are counted under the route's canonical path, as before
        series = node.gateway.metrics.http_requests.values
        assert series[("POST", "/v1/chat/completions", "200")] == 3


async def test_errors_keep_their_dialect_and_status() -> None:
    async with running_node() as node:
        for _ in range(2):
            status, body, _ = await post(node, "/v1/chat/completions", {"model": 5})
            assert status == 400 and body["error"]["param"] == "model", body
            status, body, _ = await post(node, "/v1/chat/completions", CHAT, headers={})
            assert status == 401, body
            status, body, _ = await post(node, "/v1/messages", CHAT, headers={
                "x-api-key": "sk-at-wrong"})
            assert status == 401 and body["type"] == "error", body


async def test_only_plain_post_paths_of_the_root_app_are_remembered() -> None:
    async with running_node() as node:
        for i in range(20):  # Gemini's model paths: as many as clients choose models
            status, _, _ = await post(
                node, f"/v1beta/models/demo/m{i}:generateContent",
                {"contents": [{"parts": [{"text": "hi"}]}]})
            assert status in (200, 404)
            status, body, _ = await post(node, f"/v1/nothing-{i}", CHAT)
            assert status == 404 and body["error"]["message"] == "no such route"
        status, _, _ = await post(node, "/api/v1/tokens", {"name": "k"}, headers=node.admin())
        assert status == 201
        async with aiohttp.ClientSession() as session, session.get(
                node.url + "/v1/chat/completions", headers=node.auth()) as resp:
            assert resp.status == 405
        assert hot_routes(node).remembered() == {"/api/v1/tokens": False}


async def test_expect_continue_is_answered_through_the_app() -> None:
    async with running_node() as node:
        await post(node, "/v1/chat/completions", CHAT)  # the path is now remembered
        async with aiohttp.ClientSession() as session, session.post(
                node.url + "/v1/chat/completions", json=CHAT, expect100=True,
                headers=node.auth()) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "chat.completion"
