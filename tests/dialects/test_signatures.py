"""Gemini's thoughtSignature survives a round trip through clients that have no field for it
(C-16): it rides in the tool-call id, goes back to Gemini, and never reaches other upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from providers.canonical import signed_id, split_signed_id
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse
from tests.node.harness import Node, running_node, settings_tree

SIGNATURE = "CiQBjz1rX2Fn+/sig=="  # opaque, base64 with + / = like Gemini's
CALL = {"name": "get_weather", "args": {"city": "Rome"}}
SIGNED = {"candidates": [{"content": {"role": "model", "parts": [
    {"functionCall": CALL, "thoughtSignature": SIGNATURE}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3}}  # fmt: skip
TOOLS = [{"name": "get_weather", "description": "weather",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def test_signed_id_round_trip() -> None:
    call_id = signed_id("call_get_weather_0", SIGNATURE)
    assert call_id.startswith("call_get_weather_0")
    assert all(c.isalnum() or c in "_-" for c in call_id)  # Anthropic's tool id rule
    assert split_signed_id(call_id) == ("call_get_weather_0", SIGNATURE)
    assert split_signed_id("toolu_01abc") == ("toolu_01abc", "")
    assert signed_id("x", "") == "x"


@pytest.fixture
async def node_and_fakes() -> AsyncIterator[tuple[Node, GeminiUpstream, FakeUpstream]]:
    async with GeminiUpstream() as gemini, FakeUpstream() as oai:
        tree = settings_tree(providers={
            "gem": {"type": "gemini", "base_url": gemini.base_url, "api_key": "g-key",
                    "model": "gemini-3-pro"},
            "oai": {"type": "openai", "base_url": oai.base_url, "model": "m"},
        })  # fmt: skip
        async with running_node(tree) as node:
            yield node, gemini, oai


def _second_turn(tool_use: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "weather in Rome?"},
        {"role": "assistant", "content": [tool_use.model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                      "content": "sunny"}]},
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_client_carries_the_signature_back_to_gemini(
    node_and_fakes: tuple[Node, GeminiUpstream, FakeUpstream], stream: bool
) -> None:
    node, gemini, oai = node_and_fakes
    gemini.push(Sse([SIGNED]) if stream else Json(SIGNED), Json(SIGNED))
    client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key)
    first = {"role": "user", "content": "weather in Rome?"}
    if stream:
        async with client.messages.stream(model="gem/gemini-3-pro", max_tokens=100,
                                          tools=TOOLS, messages=[first]) as events:
            reply = await events.get_final_message()
    else:
        reply = await client.messages.create(model="gem/gemini-3-pro", max_tokens=100,
                                             tools=TOOLS, messages=[first])
    tool_use = next(block for block in reply.content if block.type == "tool_use")
    assert split_signed_id(tool_use.id)[1] == SIGNATURE

    await client.messages.create(model="gem/gemini-3-pro", max_tokens=100, tools=TOOLS,
                                 messages=_second_turn(tool_use))
    replayed = gemini.requests[1].body["contents"][1]["parts"][0]
    assert replayed == {"functionCall": CALL, "thoughtSignature": SIGNATURE}

    # The same history sent to an OpenAI-compatible upstream carries plain, short ids.
    oai.push(Json({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": "ok"}}]}))
    await client.messages.create(model="oai/m", max_tokens=100, tools=TOOLS,
                                 messages=_second_turn(tool_use))
    await client.close()
    messages = oai.requests[0].body["messages"]
    call_id = messages[1]["tool_calls"][0]["id"]
    assert call_id == split_signed_id(tool_use.id)[0] and len(call_id) <= 40
    assert messages[2]["tool_call_id"] == call_id


async def test_history_from_another_model_is_marked_unsigned(
    node_and_fakes: tuple[Node, GeminiUpstream, FakeUpstream],
) -> None:
    """A call Gemini never made gets the documented bypass value, not a 400 from Gemini 3."""
    node, gemini, _ = node_and_fakes
    client = openai.AsyncOpenAI(base_url=node.url + "/v1", api_key=node.api_key)
    await client.chat.completions.create(model="gem/gemini-3-pro", messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ])  # fmt: skip
    await client.close()
    part = gemini.requests[0].body["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == "skip_thought_signature_validator"
