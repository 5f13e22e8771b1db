"""An upstream stream cut before its end (the connection closed after some events, no
[DONE] and no finish reason) reaches the client as its dialect's error event, whether the
gateway relays the stream as it came or translates it: ending quietly, it would read as a
whole, shorter answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.openai_upstream import FakeUpstream, Sse
from tests.fakes.replies import anthropic_sse
from tests.node.harness import Node, running_node, settings_tree

CHUNK = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"},
                      "finish_reason": None}]}
FINISH = {**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


async def _stream(node: Node, path: str, body: dict[str, Any]) -> bytes:
    async with aiohttp.ClientSession() as session, session.post(
            node.url + path, json=body, headers=node.auth()) as resp:
        assert resp.status == 200
        return await resp.read()


def _tree(upstream: FakeUpstream) -> dict[str, Any]:
    return settings_tree(providers={"up": {"type": "openai", "base_url": upstream.base_url,
                                           "api_key": "sk-up"}})


async def test_an_openai_client_reads_an_error_event(upstream: FakeUpstream) -> None:
    upstream.push(Sse([CHUNK]))
    async with running_node(_tree(upstream)) as node:
        raw = await _stream(node, "/v1/chat/completions", {
            "model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    datas = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert orjson.loads(datas[0])["choices"][0]["delta"]["content"] == "Hel"
    last = orjson.loads(datas[-1])
    assert "ended the stream before [DONE]" in last["error"]["message"], raw
    assert b"data: [DONE]" not in raw


async def test_an_anthropic_client_reads_an_error_event(upstream: FakeUpstream) -> None:
    upstream.push(Sse([CHUNK]))
    async with running_node(_tree(upstream)) as node:
        raw = await _stream(node, "/v1/messages", {
            "model": "up/m", "stream": True, "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]})
    names = [line[7:] for line in raw.split(b"\n") if line.startswith(b"event: ")]
    assert names[-1] == b"error" and b"message_stop" not in names, raw
    assert b"ended the stream before [DONE]" in raw


async def test_a_finish_without_done_is_still_a_whole_answer(upstream: FakeUpstream) -> None:
    """Some compatible servers close right after the finish chunk."""
    upstream.push(Sse([CHUNK, FINISH]))
    async with running_node(_tree(upstream)) as node:
        raw = await _stream(node, "/v1/chat/completions", {
            "model": "up/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert b'"error"' not in raw and b'"finish_reason":"stop"' in raw, raw


async def test_nothing_reaches_the_client_after_the_upstreams_end() -> None:
    """An Anthropic upstream that goes on after message_stop (late text, an error, a second
    stop): the relay stopped at the first message_stop, relayed or translated."""
    late = [b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"LATE"}}\n\n',
            b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
            b'"message":"late"}}\n\n']
    async with AnthropicUpstream() as upstream:
        upstream.push(Sse([*anthropic_sse("text"), *late]), Sse([*anthropic_sse("text"), *late]))
        tree = settings_tree(providers={"up": {"type": "anthropic",
                                               "base_url": upstream.base_url,
                                               "api_key": "sk-ant-up"}})
        async with running_node(tree) as node:
            native = await _stream(node, "/v1/messages", {
                "model": "up/m", "stream": True, "max_tokens": 16,
                "messages": [{"role": "user", "content": "hi"}]})
            chat = await _stream(node, "/v1/chat/completions", {
                "model": "up/m", "stream": True,
                "messages": [{"role": "user", "content": "hi"}]})
    assert native.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n'), native
    assert b"LATE" not in native and b"late" not in native
    assert chat.endswith(b"data: [DONE]\n\n") and b"LATE" not in chat, chat
