"""Every inbound dialect x every upstream type x stream or not x text, tools or an image.

Adapters are driven directly (no node) against fakes that speak each upstream's wire
format; the inbound reply is read back in its own dialect and the upstream request is
checked for what must have been carried across.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers import ClientPool, build_provider
from tests.dialects.conftest import Upstream
from tests.dialects.readers import read_reply, read_sent, read_stream
from tests.fakes.replies import TEXT, TOOL_ARGS, TOOL_NAME, reply

PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _openai(kind: str) -> dict[str, Any]:
    user: Any = "What now?"
    if kind == "image":
        user = [{"type": "text", "text": "What now?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]
    messages: list[Any] = [{"role": "system", "content": "Be brief."}]
    if kind == "tools":
        messages += [
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_0", "type": "function",
                 "function": {"name": TOOL_NAME, "arguments": '{"city":"Rome"}'}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "rainy"},
        ]
    messages.append({"role": "user", "content": user})
    body: dict[str, Any] = {"model": "m", "messages": messages, "max_tokens": 50}
    if kind == "tools":
        body["tools"] = [{"type": "function", "function": {"name": TOOL_NAME,
                                                           "parameters": SCHEMA}}]
    return body


def _anthropic(kind: str) -> dict[str, Any]:
    user: Any = "What now?"
    if kind == "image":
        user = [{"type": "text", "text": "What now?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PIXEL}}]
    messages: list[Any] = []
    if kind == "tools":
        messages += [
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_0", "name": TOOL_NAME,
                 "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_0", "content": "rainy"}]},
        ]
    messages.append({"role": "user", "content": user})
    body: dict[str, Any] = {"model": "m", "system": "Be brief.", "messages": messages,
                            "max_tokens": 50}
    if kind == "tools":
        body["tools"] = [{"name": TOOL_NAME, "description": "w", "input_schema": SCHEMA}]
    return body


def _gemini(kind: str) -> dict[str, Any]:
    user: list[Any] = [{"text": "What now?"}]
    if kind == "image":
        user.append({"inlineData": {"mimeType": "image/png", "data": PIXEL}})
    contents: list[Any] = []
    if kind == "tools":
        contents += [
            {"role": "user", "parts": [{"text": "Weather in Rome?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": TOOL_NAME,
                                                          "args": {"city": "Rome"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": TOOL_NAME,
                                                             "response": {"result": "rainy"}}}]},
        ]
    contents.append({"role": "user", "parts": user})
    body: dict[str, Any] = {"contents": contents,
                            "systemInstruction": {"parts": [{"text": "Be brief."}]},
                            "generationConfig": {"maxOutputTokens": 50}}
    if kind == "tools":
        body["tools"] = [{"functionDeclarations": [{"name": TOOL_NAME, "parameters": SCHEMA}]}]
    return body


BODIES = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}
FINISH = {
    ("openai", "text"): "stop", ("openai", "tools"): "tool_calls",
    ("anthropic", "text"): "end_turn", ("anthropic", "tools"): "tool_use",
    ("gemini", "text"): "STOP", ("gemini", "tools"): "STOP",
}  # fmt: skip


@pytest.mark.parametrize("content", ["text", "tools", "image"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("inbound", ["openai", "anthropic", "gemini"])
async def test_matrix(inbound: str, stream: bool, content: str, upstream: Upstream) -> None:
    answer = "tools" if content == "tools" else "text"
    upstream.fake.push(reply(upstream.wire, answer, stream=stream))
    body = BODIES[inbound](content)
    if stream and inbound != "gemini":
        body["stream"] = True
    pool = ClientPool()
    try:
        provider = build_provider(upstream.config(), pool)
        if stream:
            opened = await provider.open_stream(inbound, body, "up-model")  # type: ignore[arg-type]
            raw = b"".join([chunk async for chunk in opened])
            text, calls, finish = read_stream(inbound, raw)
            usage = opened.usage
        else:
            done = await provider.complete(inbound, body, "up-model")  # type: ignore[arg-type]
            text, calls, finish = read_reply(inbound, done.body)
            usage = done.usage
    finally:
        await pool.aclose()
    assert finish == FINISH[(inbound, answer)]
    assert usage.output_tokens > 0
    if answer == "tools":
        assert calls == [(TOOL_NAME, TOOL_ARGS)]
    else:
        assert (text, calls) == (TEXT, [])
    sent = upstream.fake.requests[-1]
    texts, images, results = read_sent(upstream.wire, sent.body)
    assert "What now?" in texts
    assert images == (1 if content == "image" else 0)
    if content == "tools":
        assert len(results) == 1 and "rainy" in results[0]
        tools = str(sent.body.get("tools"))
        assert TOOL_NAME in tools
        assert "thinking" not in str(sent.body) or upstream.wire == "anthropic"
    if upstream.wire == "gemini":
        assert "model" not in sent.body and "up-model" in sent.path
    else:
        assert sent.body["model"] == "up-model"
