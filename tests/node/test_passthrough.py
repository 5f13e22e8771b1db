"""OpenAI-compatible upstreams: what is sent, what comes back, and every failure mapping."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from tests.fakes.openai_upstream import Drop, FakeUpstream, Hang, Json, Sse, chat_chunks
from tests.node.harness import Node, post

BODY = {
    "model": "up/fake-model",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 0.25,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "user": "u-1",
}


async def test_only_model_is_rewritten(proxied: Node, upstream: FakeUpstream) -> None:
    status, data, headers = await post(proxied, "/v1/chat/completions", BODY)
    assert status == 200
    assert data["choices"][0]["message"]["content"] == "Hello from the fake."
    sent = upstream.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {**BODY, "model": "fake-model"}
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret-123456"
    assert sent.headers["X-Team"] == "blue"
    assert float(headers["x-at-overhead-ms"]) >= 0
    assert headers["x-request-id"]


async def test_alias_and_request_id_echo(proxied: Node, upstream: FakeUpstream) -> None:
    headers = {**proxied.auth(), "x-request-id": "trace-42"}
    status, _, answer = await post(proxied, "/v1/chat/completions", {**BODY, "model": "nick"},
                                   headers)
    assert status == 200
    assert upstream.requests[0].body["model"] == "real-model"
    assert answer["x-request-id"] == "trace-42"


async def test_stream_usage_requested_upstream_and_stripped(
    proxied: Node, upstream: FakeUpstream
) -> None:
    async with openai.AsyncOpenAI(base_url=f"{proxied.url}/v1", api_key=proxied.api_key) as c:
        stream = await c.chat.completions.create(
            model="up/fake-model", messages=[{"role": "user", "content": "x"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert upstream.requests[0].body["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks), "the usage-only chunk must be stripped"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake."
    await proxied.gateway.usage.flush()
    rows = await proxied.gateway.store.usage_summary(since=None, until=None)
    assert rows[0]["output_tokens"] == 4 and rows[0]["input_tokens"] == 11


@pytest.mark.parametrize(
    ("action", "status", "kind"),
    [
        (Json({"error": {"message": "slow down"}}, 429, {"Retry-After": "7"}), 429,
         "rate_limit_error"),
        (Json({"error": {"message": "boom"}}, 500), 502, None),
        (Json({"error": {"message": "bad"}}, 400), 400, "invalid_request_error"),
        (Hang(10), 504, None),
        (Drop(), 502, None),
    ],
)
async def test_upstream_failures_map_to_status(
    proxied: Node, upstream: FakeUpstream, action: object, status: int, kind: str | None
) -> None:
    upstream.push(action)
    got, data, headers = await post(proxied, "/v1/chat/completions", BODY)
    assert got == status
    assert set(data) == {"error"} and data["error"]["message"]
    assert "Traceback" not in str(data)
    if kind:
        assert data["error"]["type"] == kind
    if status == 429:
        assert headers["Retry-After"] == "7"


async def test_unreachable_upstream_names_provider(proxied: Node) -> None:
    status, data, _ = await post(proxied, "/v1/chat/completions", {**BODY, "model": "dead/m"})
    assert status == 502
    assert "dead" in data["error"]["message"]


async def test_mid_stream_failure_is_an_error_event(proxied: Node, upstream: FakeUpstream) -> None:
    upstream.push(Sse(chat_chunks(["a", "b", "c", "d"]), drop_after=3))
    async with aiohttp.ClientSession() as session, session.post(
        f"{proxied.url}/v1/chat/completions", json={**BODY, "stream": True},
        headers=proxied.auth(),
    ) as resp:
        assert resp.status == 200
        text = (await resp.read()).decode()
    events = [line for line in text.split("\n\n") if line.strip()]
    assert '"error"' in events[-1]
    assert "[DONE]" not in text
    assert text.count('"content"') == 3  # role chunk + 2 words, then the error


async def test_client_disconnect_cancels_upstream(proxied: Node, upstream: FakeUpstream) -> None:
    upstream.push(Sse(chat_chunks([f"w{i} " for i in range(200)]), delay=0.05))
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            f"{proxied.url}/v1/chat/completions", json={**BODY, "stream": True},
            headers=proxied.auth(),
        )
        await resp.content.readline()
        resp.close()
    await asyncio.wait_for(upstream.disconnected.wait(), 5)
    assert upstream.disconnects == 1


async def test_embeddings_pass_through(proxied: Node, upstream: FakeUpstream) -> None:
    status, data, _ = await post(proxied, "/v1/embeddings", {"model": "up/emb", "input": "x"})
    assert status == 200 and data["data"][0]["embedding"] == [0.1, 0.2]
    assert upstream.requests[0].path == "/v1/embeddings"
    assert upstream.requests[0].body == {"model": "emb", "input": "x"}


async def test_context_overflow_reaches_each_dialect_in_its_words(
    proxied: Node, upstream: FakeUpstream
) -> None:
    """Claude Code compacts on exactly this wording; OpenAI clients look at the code."""
    import anthropic

    overflow = {"error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages "
                   "resulted in 9000 tokens.",
        "type": "invalid_request_error", "code": "context_length_exceeded"}}
    upstream.push(Json(overflow, 400), Json(overflow, 400))
    client = anthropic.AsyncAnthropic(base_url=proxied.url, api_key=proxied.api_key,
                                      max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model="up/fake-model", max_tokens=10,
                                     messages=[{"role": "user", "content": "hi"}])
    await client.close()
    assert caught.value.body == {"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 9000 tokens > 8192 maximum"}}
    status, data, _ = await post(proxied, "/v1/chat/completions", BODY)
    assert status == 400
    assert data["error"]["code"] == "context_length_exceeded"
    assert data["error"]["message"] == "prompt is too long: 9000 tokens > 8192 maximum"


async def test_max_output_tokens_caps_an_agents_fallback(upstream: FakeUpstream) -> None:
    """Claude Code's non-stream fallback asks for 64000 output tokens; a small upstream
    configured with max_output_tokens gets its own ceiling instead of refusing."""
    import anthropic

    from tests.node.harness import running_node, settings_tree

    tree = settings_tree(providers={"up": {
        "type": "openai", "base_url": upstream.base_url, "model": "m",
        "max_output_tokens": 2048}})
    async with running_node(tree) as node:
        client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key)
        reply = await client.messages.create(model="up/m", max_tokens=64000, timeout=300,
                                             messages=[{"role": "user", "content": "hi"}])
        await client.close()
    assert reply.content[0].type == "text"
    assert upstream.requests[0].body["max_tokens"] == 2048


async def test_client_gone_at_write_is_not_a_server_error(
    proxied: Node, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that finds the client's socket closing ends the relay quietly: no error
    log with a stack trace, the upstream is closed, the exchange is still accounted."""
    from structlog.testing import capture_logs

    from node.serve import relay as exchange

    writes = 0
    original = exchange.EventStream.write

    async def write(self: exchange.EventStream, data: bytes) -> None:
        nonlocal writes
        writes += 1
        if writes > 1:
            raise ConnectionResetError("Cannot write to closing transport")
        await original(self, data)

    monkeypatch.setattr(exchange.EventStream, "write", write)
    upstream.push(Sse(chat_chunks([f"w{i} " for i in range(50)]), delay=0.01))
    with capture_logs() as logs:
        async with aiohttp.ClientSession() as session, session.post(
            f"{proxied.url}/v1/chat/completions", json={**BODY, "stream": True},
            headers=proxied.auth(),
        ) as resp:
            await asyncio.wait_for(resp.read(), 10)
    assert writes == 2
    assert not [e for e in logs if e["log_level"] == "error"], logs
    await asyncio.wait_for(upstream.disconnected.wait(), 5)
    await proxied.gateway.usage.flush()
    (row,) = await proxied.gateway.store.usage_summary(since=None, until=None)
    assert row["requests"] == 1 and row["model"] == "fake-model"
