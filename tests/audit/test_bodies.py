"""``audit.bodies``: off keeps nothing, metadata the exchange's shape without content, full the
bodies (a stream's assembled output), with every secret the node knows redacted and the record
capped at ``max_record_bytes``; real exchanges through a node to the OpenAI fake, which
records what it was sent, and the day files read back with the ``brotli`` package."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import brotli
import orjson
import pytest

from tests.fakes.openai_upstream import FakeUpstream, Json, Sse, chat_chunks, chat_completion
from tests.node.harness import Node, running_node, settings_tree

# Provider keys that follow no well-known pattern: only knowing them can redact them.
YAML_KEY = "upstream-key-0f9e8d7c6b5a4"
STORED_KEY = "stored-provider-key-77aa55cc33"
TOOL = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}
CHAT = {"model": "up/fake-model", "max_tokens": 50, "temperature": 0.2, "tools": [TOOL],
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "What is the weather in Oslo?"}]}


def _tool_reply() -> dict[str, Any]:
    reply = chat_completion()
    reply["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}
    reply["choices"][0]["finish_reason"] = "tool_calls"
    return reply


def _tool_chunks() -> list[Any]:
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
            "model": "fake-model"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    call = {"index": 0, "id": "call_9", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}
    return [chunk({"role": "assistant", "content": "Let me look."}),
            chunk({"tool_calls": [call]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            chunk({}, "tool_calls"), "[DONE]"]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


def _tree(path: Path, upstream: FakeUpstream, bodies: str, **audit: Any) -> dict[str, Any]:
    return settings_tree(
        providers={"up": {"type": "openai", "base_url": upstream.base_url,
                          "api_key": YAML_KEY, "model": "fake-model"}},
        audit={"path": str(path), "flush_interval": 0.1, "bodies": bodies, **audit})


async def _send(node: Node, path: str, body: dict[str, Any], request_id: str
                ) -> tuple[bytes, bytes]:
    """(the bytes sent, the bytes answered)."""
    sent = orjson.dumps(body)
    async with aiohttp.ClientSession() as session, session.post(
            f"{node.url}{path}", data=sent, headers={
                **node.auth(), "x-request-id": request_id,
                "Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()
        return sent, await resp.read()


def _lines(path: Path) -> list[bytes]:
    """Every record line of the (closed) day files."""
    return [line for file in sorted(path.glob("*.jsonl.br"))
            for line in brotli.decompress(file.read_bytes()).splitlines()]


def _record(path: Path, request_id: str) -> dict[str, Any]:
    (record,) = [r for r in map(orjson.loads, _lines(path)) if r["request_id"] == request_id]
    assert isinstance(record, dict)
    return record


async def test_off_keeps_no_body(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with running_node(_tree(tmp_path, upstream, "off")) as node:
        assert node.gateway.keep_bodies is False  # the request path keeps nothing
        await _send(node, "/v1/chat/completions", CHAT, "off-1")
    record = _record(tmp_path, "off-1")
    assert record["model"] == "fake-model"
    assert not {"shape", "request_body", "response_body"} & set(record)
    assert b"Oslo" not in b"".join(_lines(tmp_path))


async def test_metadata_is_the_shape_without_content(tmp_path: Path,
                                                     upstream: FakeUpstream) -> None:
    upstream.push(Json(_tool_reply()))
    async with running_node(_tree(tmp_path, upstream, "metadata")) as node:
        sent, answered = await _send(node, "/v1/chat/completions", CHAT, "meta-1")
        streamed_sent, streamed = await _send(
            node, "/v1/chat/completions", {**CHAT, "stream": True}, "meta-2")
    assert upstream.requests[0].body["messages"][1]["content"] == CHAT["messages"][1]["content"]
    record = _record(tmp_path, "meta-1")
    assert record["shape"] == {
        "request_bytes": len(sent), "response_bytes": len(answered), "stream": False,
        "messages": 2, "tools": ["get_weather"],
        "sampling": {"max_tokens": 50, "temperature": 0.2},
        "tool_calls": ["get_weather"], "finish_reason": "tool_calls"}
    shape = _record(tmp_path, "meta-2")["shape"]
    assert shape["stream"] is True and shape["finish_reason"] == "stop"
    assert (shape["request_bytes"], shape["response_bytes"]) == (len(streamed_sent),
                                                                 len(streamed))
    assert "request_body" not in record and "response_body" not in record
    raw = b"".join(_lines(tmp_path))
    assert b"Oslo" not in raw and b"be brief" not in raw and b"Hello from" not in raw


async def test_full_redacts_every_provider_key_echoed_in_a_prompt(
        tmp_path: Path, upstream: FakeUpstream) -> None:
    async with running_node(_tree(tmp_path, upstream, "full")) as node:
        async with aiohttp.ClientSession() as session, session.post(
                f"{node.url}/api/v1/providers", headers=node.admin(), json={
                    "key": "stored", "type": "openai", "api_key": STORED_KEY,
                    "base_url": upstream.base_url, "model": "fake-model"}) as resp:
            assert resp.status in (200, 201), await resp.text()
        prompt = f"my keys are {YAML_KEY} and {STORED_KEY}, also at-{'x' * 30}"
        body = {**CHAT, "messages": [{"role": "user", "content": prompt}]}
        sent, answered = await _send(node, "/v1/chat/completions", body, "full-1")
    assert upstream.requests[-1].body["messages"][0]["content"] == prompt  # sent as asked
    record = _record(tmp_path, "full-1")
    assert record["request_body"]["messages"][0]["content"] == (
        "my keys are <redacted> and <redacted>, also <redacted>")
    assert record["request_body"]["tools"] == [TOOL]
    assert record["response_body"] == orjson.loads(answered)
    assert record["shape"]["request_bytes"] == len(sent)
    assert "truncated" not in record
    raw = b"".join(_lines(tmp_path))
    assert YAML_KEY.encode() not in raw and STORED_KEY.encode() not in raw


async def test_full_stream_is_its_assembled_output(tmp_path: Path,
                                                   upstream: FakeUpstream) -> None:
    upstream.push(Sse(_tool_chunks()), Sse(chat_chunks(["Hi", " there", "."])),
                  Sse(chat_chunks(["Hej", "!"])))
    async with running_node(_tree(tmp_path, upstream, "full")) as node:
        _, relayed = await _send(node, "/v1/chat/completions", {**CHAT, "stream": True},
                                 "stream-1")
        await _send(node, "/v1/messages", {
            "model": "up/fake-model", "max_tokens": 20, "stream": True,
            "messages": [{"role": "user", "content": "greet me"}]}, "stream-2")
        # Gemini without alt=sse: one JSON array; the record reads the events inside it.
        _, array = await _send(node, "/v1beta/models/up/fake-model:streamGenerateContent", {
            "contents": [{"role": "user", "parts": [{"text": "hej"}]}]}, "stream-3")
    assert b"data: " in relayed  # the client got SSE; the record keeps what it said
    record = _record(tmp_path, "stream-1")
    assert record["response_body"] == {
        "text": "Let me look.", "finish_reason": "tool_calls",
        "tool_calls": [{"id": "call_9", "name": "get_weather", "arguments": '{"city":"Oslo"}'}]}
    assert record["shape"]["response_bytes"] == len(relayed)
    assert record["request_body"]["stream"] is True
    anthropic = _record(tmp_path, "stream-2")  # assembled from the Anthropic events sent
    assert anthropic["response_body"] == {"text": "Hi there.", "tool_calls": [],
                                          "finish_reason": "stop"}
    assert anthropic["request_body"]["messages"][0]["content"] == "greet me"
    assert array.startswith(b"[")
    gemini = _record(tmp_path, "stream-3")
    assert gemini["response_body"] == {"text": "Hej!", "tool_calls": [],
                                       "finish_reason": "stop"}
    assert gemini["shape"]["stream"] is True


async def test_full_caps_the_record_with_visible_markers(tmp_path: Path,
                                                         upstream: FakeUpstream) -> None:
    long = "Oslo weather " * 800  # about 10 KB of prompt
    upstream.push(Json(chat_completion("sunny " * 600)), Json(chat_completion("rain " * 900)))
    async with running_node(_tree(tmp_path, upstream, "full", max_record_bytes=2048)) as node:
        sent, answered = await _send(node, "/v1/chat/completions", {
            **CHAT, "messages": [{"role": "user", "content": long}]}, "cap-1")
        short, _ = await _send(node, "/v1/chat/completions", CHAT, "cap-2")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{node.url}/api/v1/audit", headers=node.admin(),
                                   params={"request_id": "cap-1"}) as resp:
                (listed,) = (await resp.json())["data"]  # written (the read flushes first)
                assert listed["truncated"] is True
            async with session.get(f"{node.url}/metrics") as resp:
                metrics = await resp.text()
    (line,) = [line for line in _lines(tmp_path) if b'"cap-1"' in line]
    assert len(line) <= 2048
    record = orjson.loads(line)  # still one valid JSON record
    assert record["truncated"] is True and record["request_id"] == "cap-1"
    request, response = record["request_body"], record["response_body"]
    assert request.endswith(f"...[truncated: {len(sent)} bytes]")
    assert response.endswith(f"...[truncated: {len(answered)} bytes]")
    assert request.startswith('{"model":"up/fake-model"') and "Oslo weather" in request
    assert response.startswith("{") and len(request) > 400 and len(response) > 400
    assert record["shape"]["request_bytes"] == len(sent)
    # A body that fits stays JSON; the other one takes the rest of the room.
    (line,) = [line for line in _lines(tmp_path) if b'"cap-2"' in line]
    record = orjson.loads(line)
    assert len(line) <= 2048 and record["truncated"] is True
    assert record["request_body"] == orjson.loads(short)
    assert record["response_body"].endswith(" bytes]") and "rain rain" in record[
        "response_body"]
    truncated = re.search(r'at_audit_records\{name="truncated"\} (\S+)', metrics)
    assert truncated is not None and float(truncated.group(1)) >= 1
