"""Keep-alive pings while the upstream is silent mid-stream, in each inbound dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anthropic
import openai
import pytest

from tests.fakes.openai_upstream import FakeUpstream, Sse, chat_chunks
from tests.node.harness import Node, running_node, settings_tree

WORDS = ["slow", " thinker"]
# Each event waits 0.2 s upstream; pings are due after 50 ms of silence.
SLOW = Sse(chat_chunks(WORDS), delay=0.2)


@pytest.fixture
async def slow_node(upstream: FakeUpstream) -> AsyncIterator[Node]:
    tree = settings_tree(
        server={"stream_keepalive": "50ms"},
        providers={"up": {"type": "openai", "base_url": upstream.base_url, "model": "m"}},
    )
    async with running_node(tree) as running:
        yield running


async def _raw(node: Node, path: str, body: dict[str, object]) -> bytes:
    async with aiohttp.ClientSession() as session, session.post(
        node.url + path, json=body, headers=node.auth()
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert "Content-Encoding" not in resp.headers
        return await resp.read()


async def test_openai_stream_gets_comment_pings(slow_node: Node, upstream: FakeUpstream) -> None:
    upstream.push(SLOW)
    body = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    raw = await _raw(slow_node, "/v1/chat/completions", body)
    assert raw.count(b": ping\n\n") >= 3
    assert raw.endswith(b"data: [DONE]\n\n")
    assert b'"content":"slow"' in raw


async def test_anthropic_stream_gets_ping_events(slow_node: Node, upstream: FakeUpstream) -> None:
    upstream.push(SLOW)
    body = {"model": "up/m", "stream": True, "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]}
    raw = await _raw(slow_node, "/v1/messages", body)
    assert raw.count(b'event: ping\ndata: {"type": "ping"}\n\n') >= 3
    assert raw.rstrip().endswith(b'{"type":"message_stop"}')


async def test_sdks_ignore_the_pings(slow_node: Node, upstream: FakeUpstream) -> None:
    upstream.push(SLOW, SLOW)
    oai = openai.AsyncOpenAI(base_url=slow_node.url + "/v1", api_key=slow_node.api_key)
    stream = await oai.chat.completions.create(
        model="up/m", stream=True, messages=[{"role": "user", "content": "hi"}])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await oai.close()
    assert text == "slow thinker"
    ant = anthropic.AsyncAnthropic(base_url=slow_node.url, api_key=slow_node.api_key)
    async with ant.messages.stream(model="up/m", max_tokens=50,
                                   messages=[{"role": "user", "content": "hi"}]) as events:
        final = await events.get_final_message()
    await ant.close()
    assert [block.text for block in final.content if block.type == "text"] == ["slow thinker"]


async def test_gemini_sdk_survives_the_pings(slow_node: Node, upstream: FakeUpstream) -> None:
    """google-genai parses any line that is not ``data:`` as JSON, so a Gemini client's
    keep-alive is a bare line break (an empty SSE line, which dispatches nothing)."""
    from google import genai
    from google.genai import types

    upstream.push(SLOW)
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    raw = await _raw(slow_node, "/v1beta/models/up/m:streamGenerateContent?alt=sse", body)
    assert b"ping" not in raw and b"}\n\n\n" in raw  # an extra empty line after an event
    upstream.push(SLOW)
    client = genai.Client(api_key=slow_node.api_key, http_options=types.HttpOptions(
        base_url=slow_node.url, api_version="v1beta"))
    pieces = [chunk.text or "" async for chunk in await client.aio.models.generate_content_stream(
        model="up/m", contents="hi")]
    await client.aio.aclose()
    assert "".join(pieces) == "slow thinker"


async def test_a_chatty_upstream_gets_no_pings(upstream: FakeUpstream) -> None:
    tree = settings_tree(
        server={"stream_keepalive": "2s"},
        providers={"up": {"type": "openai", "base_url": upstream.base_url, "model": "m"}},
    )
    upstream.push(Sse(chat_chunks(WORDS), delay=0.05))
    body = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with running_node(tree) as node:
        raw = await _raw(node, "/v1/chat/completions", body)
    assert b"ping" not in raw and raw.endswith(b"data: [DONE]\n\n")


async def test_headers_do_not_wait_long_for_a_slow_first_chunk(upstream: FakeUpstream) -> None:
    """Headers ride with the first chunk, but a client never waits more than HEADERS_WITHIN
    for them: an upstream still thinking by then gets them sent with a ping."""
    import asyncio

    tree = settings_tree(
        server={"stream_keepalive": "10s"},
        providers={"up": {"type": "openai", "base_url": upstream.base_url, "model": "m"}},
    )
    events = chat_chunks(["late"])
    upstream.push(Sse([events[1], "[DONE]"], delay=2.0))  # 2 s of thinking before the text
    body = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    loop = asyncio.get_running_loop()
    async with running_node(tree) as node, aiohttp.ClientSession() as session:
        began = loop.time()
        async with session.post(node.url + "/v1/chat/completions", json=body,
                                headers=node.auth()) as resp:
            headers_at = loop.time() - began
            first = await resp.content.readuntil(b"data: ")
            data_at = loop.time() - began
            rest = await resp.read()
    assert resp.status == 200 and first.startswith(b": ping\n\n")
    assert headers_at < data_at - 0.5, (headers_at, data_at)
    assert b'"late"' in rest


async def test_without_pings_headers_go_out_at_once(upstream: FakeUpstream) -> None:
    """With pings off nothing would bound the wait, so headers leave when the upstream
    answers, as soon as the stream opens."""
    import asyncio

    tree = settings_tree(
        server={"stream_keepalive": "0s"},
        providers={"up": {"type": "openai", "base_url": upstream.base_url, "model": "m"}},
    )
    upstream.push(Sse([chat_chunks(["late"])[1], "[DONE]"], delay=2.0))
    body = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    loop = asyncio.get_running_loop()
    async with running_node(tree) as node, aiohttp.ClientSession() as session:
        began = loop.time()
        async with session.post(node.url + "/v1/chat/completions", json=body,
                                headers=node.auth()) as resp:
            headers_at = loop.time() - began
            raw = await resp.content.readuntil(b"data: ")
            data_at = loop.time() - began
            raw += await resp.read()
    assert headers_at < data_at - 1.0, (headers_at, data_at)
    assert b"ping" not in raw and b'"late"' in raw


async def test_only_a_stream_that_may_wait_gets_a_heartbeat(
        slow_node: Node, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer whose body arrived whole with its headers cannot fall silent: no timer is
    armed for it. One still arriving gets its pings as before."""
    from node.serve import relay

    armed: list[object] = []

    class Counted(relay.Heartbeat):
        def __init__(self, *args: object, **kwargs: object) -> None:
            armed.append(self)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(relay, "Heartbeat", Counted)
    body = {"model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    upstream.push(Sse(chat_chunks(WORDS)))
    raw = await _raw(slow_node, "/v1/chat/completions", body)
    assert raw.endswith(b"data: [DONE]\n\n") and b": ping" not in raw
    assert armed == []
    upstream.push(SLOW)
    raw = await _raw(slow_node, "/v1/chat/completions", body)
    assert raw.count(b": ping\n\n") >= 3 and len(armed) == 1
