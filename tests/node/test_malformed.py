"""Upstream answers with wrong types, end to end: a JSON answer is a 502 in the client's
dialect; a stream that breaks after its headers went out ends with exactly one error event
of the client's dialect and a clean chunked end (no second status line in the body)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_parser import HttpResponseParserPy
from yarl import URL

from providers.sse import SSEDecoder, SSEEvent
from providers.types import Dialect
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse, chat_chunks
from tests.fakes.replies import anthropic_event, anthropic_sse, gemini_chunks
from tests.node.harness import Node, running_node, settings_tree

PROVIDER: dict[Dialect, str] = {"openai": "oa", "anthropic": "an", "gemini": "ge"}
PAIRS = [(inbound, upstream) for inbound in PROVIDER for upstream in PROVIDER
         if inbound != upstream]  # same dialect: relayed as it came, unread
WRONG_JSON: dict[Dialect, Any] = {
    "openai": {"id": "chatcmpl-x", "model": "m", "choices": 5},
    "anthropic": {"id": "msg_x", "type": "message", "model": "m", "content": [1]},
    "gemini": {"candidates": [{"content": {"role": "model", "parts": [1]}}]},
}


def _wrong_stream(upstream: Dialect) -> list[Any]:
    """The fake's text stream with its third event's types wrong (Anthropic's: the event
    after the first text delta, as its first three carry no text to see before it)."""
    if upstream == "openai":
        events = chat_chunks()
        events[2] = {**events[2], "choices": [{"index": 0, "delta": {"content": [1]}}]}
    elif upstream == "anthropic":
        events = anthropic_sse("text")
        events[4] = anthropic_event("content_block_delta", {"index": 0, "delta": [1]})
    else:
        events = gemini_chunks("text")
        events[2] = {"candidates": [5]}
    return events


@pytest.fixture
async def fakes() -> AsyncIterator[dict[Dialect, FakeUpstream]]:
    found: dict[Dialect, FakeUpstream] = {
        "openai": FakeUpstream(), "anthropic": AnthropicUpstream(), "gemini": GeminiUpstream()}
    for fake in found.values():
        await fake.__aenter__()
    try:
        yield found
    finally:
        for fake in found.values():
            await fake.__aexit__(None, None, None)


@pytest.fixture
async def gateway(fakes: dict[Dialect, FakeUpstream]) -> AsyncIterator[Node]:
    providers = {PROVIDER[kind]: {"type": kind, "base_url": fake.base_url, "api_key": "sk-up",
                                  "model": "up-model", "timeout": "5s"}
                 for kind, fake in fakes.items()}  # fmt: skip
    async with running_node(settings_tree(providers=providers)) as node:
        yield node


def _request(inbound: Dialect, upstream: Dialect, *, stream: bool) -> tuple[str, dict[str, Any]]:
    model = f"{PROVIDER[upstream]}/up-model"
    hello = [{"role": "user", "content": "hi"}]
    if inbound == "openai":
        return "/v1/chat/completions", {"model": model, "messages": hello, "stream": stream}
    if inbound == "anthropic":
        return "/v1/messages", {"model": model, "max_tokens": 50, "messages": hello,
                                "stream": stream}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{action}", {"contents": [{"role": "user",
                                                              "parts": [{"text": "hi"}]}]}


async def _exchange(node: Node, path: str, body: dict[str, Any]) -> bytes:
    """POST over a raw socket with ``Connection: close``; every byte the node sent."""
    url = URL(node.url + path)
    payload = orjson.dumps(body)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (f"POST {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}\r\n"
            f"Authorization: Bearer {node.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    writer.write(head.encode() + payload)
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    return raw


async def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """The one HTTP response in ``raw`` (status, headers, de-chunked body), parsed by aiohttp;
    a second response behind it fails the test."""
    loop = asyncio.get_running_loop()
    parser = HttpResponseParserPy(BaseProtocol(loop), loop, 2**16, max_line_size=8190,
                                  max_field_size=8190)
    messages, _, tail = parser.feed_data(raw)
    parser.feed_eof()
    assert len(messages) == 1 and not tail, raw
    message, payload = messages[0]
    assert payload.is_eof(), "the body must end cleanly"
    return message.code, dict(message.headers), await payload.read()


def _is_error(inbound: Dialect, event: SSEEvent) -> bool:
    if inbound == "anthropic":
        return event.event == "error"
    return event.data != b"[DONE]" and "error" in orjson.loads(event.data)


@pytest.mark.parametrize(("inbound", "upstream"), PAIRS)
async def test_wrong_json_answer_is_502_in_the_client_dialect(
    gateway: Node, fakes: dict[Dialect, FakeUpstream], inbound: Dialect, upstream: Dialect
) -> None:
    fakes[upstream].push(Json(WRONG_JSON[upstream]))
    path, body = _request(inbound, upstream, stream=False)
    status, headers, data = await _parse(await _exchange(gateway, path, body))
    assert status == 502 and headers["Content-Type"].startswith("application/json")
    error = orjson.loads(data)
    if inbound == "anthropic":
        assert error["type"] == "error" and error["error"]["type"] == "api_error"
    elif inbound == "gemini":
        assert error["error"]["code"] == 502 and error["error"]["message"]
    else:
        assert set(error) == {"error"} and error["error"]["message"]
    assert "wrong shape" in data.decode()


@pytest.mark.parametrize(("inbound", "upstream"), PAIRS)
async def test_wrong_stream_event_ends_with_one_error_event(
    gateway: Node, fakes: dict[Dialect, FakeUpstream], inbound: Dialect, upstream: Dialect
) -> None:
    fakes[upstream].push(Sse(_wrong_stream(upstream)))
    path, body = _request(inbound, upstream, stream=True)
    status, headers, data = await _parse(await _exchange(gateway, path, body))
    assert status == 200
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers
    assert b"HTTP/1." not in data
    decoder = SSEDecoder()
    events = [*decoder.feed(data), *decoder.flush()]
    errors = [i for i, event in enumerate(events) if _is_error(inbound, event)]
    assert errors == [len(events) - 1], events  # exactly one, and nothing after it
    assert errors[0] > 0, "the events before the broken one reach the client"
    assert b"wrong shape" in events[-1].data


async def test_count_tokens_checks_the_body_shape(node: Node) -> None:
    """A wrong-typed body to count_tokens is a 400 naming the field, never a 500."""
    async with aiohttp.ClientSession() as session:
        for body, param in (({"model": "demo/mock-1", "messages": "x"}, "messages"),
                            ({"model": "demo/mock-1",
                              "messages": [{"role": "user", "content": [1]}]},
                             "messages[0].content[0]")):
            async with session.post(f"{node.url}/v1/messages/count_tokens", json=body,
                                    headers={"x-api-key": node.api_key}) as resp:
                data = await resp.json()
                assert resp.status == 400, data
                assert data["type"] == "error" and param in data["error"]["message"]
