"""The request path as one exchange: exactly one finished record per exchange, whatever
ends it, with what accounting needs; and OpenAI error bodies that name the field."""

from __future__ import annotations

import asyncio

import aiohttp

from node.serve import Finished
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse, chat_chunks
from tests.node.harness import Node, post

BODY = {"model": "up/fake-model", "messages": [{"role": "user", "content": "hi"}]}


def recorder(node: Node) -> list[Finished]:
    """Hook a list onto the node's finished exchanges (a real hook, as limits will be)."""
    seen: list[Finished] = []
    node.gateway.finished_hooks.append(seen.append)
    return seen


async def test_one_record_for_a_json_exchange(proxied: Node, upstream: FakeUpstream) -> None:
    seen = recorder(proxied)
    headers = {**proxied.auth(), "x-request-id": "trace-7"}
    status, _, _ = await post(proxied, "/v1/chat/completions", BODY, headers)
    assert status == 200
    (done,) = seen
    assert (done.request_id, done.dialect, done.endpoint) == ("trace-7", "openai", "chat")
    assert (done.provider, done.model, done.stream, done.status) == ("up", "fake-model", False,
                                                                      200)
    assert done.attempts == 1 and done.error == ""
    assert done.usage.input_tokens + done.usage.cache_read_tokens == 11
    assert done.usage.output_tokens == 5
    assert 0 < done.upstream_seconds <= done.latency_seconds


async def test_one_record_for_a_stream_and_its_usage(proxied: Node,
                                                     upstream: FakeUpstream) -> None:
    seen = recorder(proxied)
    async with aiohttp.ClientSession() as session, session.post(
        f"{proxied.url}/v1/messages", headers=proxied.auth(),
        json={**BODY, "max_tokens": 20, "stream": True},
    ) as resp:
        assert resp.status == 200
        await resp.read()
    (done,) = seen
    assert (done.dialect, done.stream, done.status, done.attempts) == ("anthropic", True, 200, 1)
    assert done.usage.output_tokens == 4


async def test_upstream_failure_and_refusals(proxied: Node, upstream: FakeUpstream) -> None:
    seen = recorder(proxied)
    upstream.push(Json({"error": {"message": "boom"}}, 500))
    assert (await post(proxied, "/v1/chat/completions", BODY))[0] == 502
    assert (await post(proxied, "/v1/chat/completions", {**BODY, "model": "nope/x"}))[0] == 404
    assert (await post(proxied, "/v1/chat/completions", {"model": 3}))[0] == 400
    failed, unknown, malformed = seen
    assert (failed.status, failed.attempts, failed.error) == (502, 1, "UpstreamServerError")
    assert (unknown.status, unknown.attempts, unknown.provider) == (404, 0, "")
    assert (malformed.status, malformed.attempts) == (400, 0)
    # Only the exchange that reached an upstream is a usage record.
    await proxied.gateway.usage.flush()
    rows = await proxied.gateway.store.usage_summary(since=None, until=None)
    assert [(r["requests"], r["errors"]) for r in rows] == [(1, 1)]


async def test_a_bad_key_finishes_nothing(proxied: Node) -> None:
    seen = recorder(proxied)
    status, _, _ = await post(proxied, "/v1/chat/completions", BODY,
                              {"Authorization": "Bearer nope"})
    assert status == 401 and seen == []


async def test_client_gone_mid_stream_is_finished_once(proxied: Node,
                                                       upstream: FakeUpstream) -> None:
    seen = recorder(proxied)
    upstream.push(Sse(chat_chunks([f"w{i} " for i in range(200)]), delay=0.05))
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"{proxied.url}/v1/chat/completions",
                                  json={**BODY, "stream": True}, headers=proxied.auth())
        await resp.content.readline()
        resp.close()
    await asyncio.wait_for(upstream.disconnected.wait(), 5)
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert len(seen) == 1 and seen[0].stream and seen[0].attempts == 1
    assert seen[0].status == 499  # client closed, not a server error
    async with aiohttp.ClientSession() as session, session.get(
            proxied.url + "/metrics") as resp:
        text = await resp.text()
    assert 'route="/v1/chat/completions",status="499"' in text
    assert 'route="/v1/chat/completions",status="500"' not in text


async def test_a_broken_hook_does_not_fail_the_answer(proxied: Node,
                                                      upstream: FakeUpstream) -> None:
    def broken(done: Finished) -> None:
        raise RuntimeError("hook bug")

    proxied.gateway.finished_hooks.insert(0, broken)
    status, data, _ = await post(proxied, "/v1/chat/completions", BODY)
    assert status == 200 and data["choices"]
    await proxied.gateway.usage.flush()
    rows = await proxied.gateway.store.usage_summary(since=None, until=None)
    assert rows[0]["requests"] == 1  # the hooks after the broken one still ran


async def test_openai_errors_name_the_field(proxied: Node) -> None:
    status, data, _ = await post(proxied, "/v1/chat/completions", {**BODY, "stream": "yes"})
    assert status == 400 and data["error"]["param"] == "stream"
    status, data, _ = await post(proxied, "/v1/chat/completions",
                                 {**BODY, "temperature": "hot"})
    assert status == 400 and data["error"]["param"] == "temperature"
    status, data, _ = await post(proxied, "/v1/chat/completions", {**BODY, "model": "nope/x"})
    assert status == 404 and data["error"]["param"] == "model"


async def test_usage_api_reports_the_four_token_counts(proxied: Node,
                                                       upstream: FakeUpstream) -> None:
    assert (await post(proxied, "/v1/chat/completions", BODY))[0] == 200
    async with aiohttp.ClientSession() as session, session.get(
            f"{proxied.url}/api/v1/usage", headers=proxied.admin()) as resp:
        assert resp.status == 200
        (row,) = (await resp.json())["data"]
    assert {"input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens"} <= set(row)
    assert row["input_tokens"] + row["cache_read_tokens"] == 11 and row["output_tokens"] == 5
