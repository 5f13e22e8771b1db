"""Reasoning across dialects (C-15, C-31): DeepSeek-style ``reasoning_content`` and Gemini
thoughts become signed-looking thinking blocks for Anthropic clients and go back as
``reasoning_content``; Claude's thinking reaches OpenAI clients as ``reasoning_content``;
an unsigned block never reaches an Anthropic upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from providers import ProviderConfig
from providers.canonical import UNSIGNED_THINKING
from providers.translate import parse_request, render_request
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse
from tests.fakes.replies import anthropic_event as event
from tests.node.harness import Node, running_node, settings_tree

HEAD = {"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": "r1"}


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


REASONING_STREAM = [
    _delta({"role": "assistant", "content": None, "reasoning_content": ""}),
    _delta({"reasoning_content": "Think"}),
    _delta({"reasoning_content": "ing..."}),
    _delta({"content": "Answer."}),
    _delta({}, "stop"),
    "[DONE]",
]
REASONING_REPLY = {
    "id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": "r1",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Answer.", "reasoning_content": "Thinking..."}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}  # fmt: skip
ASK = [{"role": "user", "content": "why?"}]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[Node, FakeUpstream, AnthropicUpstream, GeminiUpstream]]:
    async with FakeUpstream() as oai, AnthropicUpstream() as claude, GeminiUpstream() as gem:
        tree = settings_tree(providers={
            "ds": {"type": "openai", "base_url": oai.base_url, "model": "r1"},
            "cl": {"type": "anthropic", "base_url": claude.base_url, "api_key": "k",
                   "model": "c"},
            "gm": {"type": "gemini", "base_url": gem.base_url, "api_key": "k", "model": "g"},
        })  # fmt: skip
        async with running_node(tree) as node:
            yield node, oai, claude, gem


@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning_content_becomes_a_thinking_block_and_goes_back(
    fakes: tuple[Node, FakeUpstream, AnthropicUpstream, GeminiUpstream], stream: bool
) -> None:
    node, oai, _, _ = fakes
    oai.push(Sse(REASONING_STREAM) if stream else Json(REASONING_REPLY), Json(REASONING_REPLY))
    client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key)
    if stream:
        async with client.messages.stream(model="ds/r1", max_tokens=50, messages=ASK) as s:
            reply = await s.get_final_message()
    else:
        reply = await client.messages.create(model="ds/r1", max_tokens=50, messages=ASK)
    thinking, text = reply.content
    assert thinking.type == "thinking" and thinking.thinking == "Thinking..."
    assert thinking.signature == UNSIGNED_THINKING
    assert text.type == "text" and text.text == "Answer."

    history = [*ASK, {"role": "assistant", "content": [b.model_dump() for b in reply.content]},
               {"role": "user", "content": "and?"}]
    await client.messages.create(model="ds/r1", max_tokens=50, messages=history)
    await client.close()
    replayed = oai.requests[1].body["messages"][1]
    assert replayed == {"role": "assistant", "content": "Answer.",
                        "reasoning_content": "Thinking..."}


async def test_claude_thinking_reaches_openai_clients_as_reasoning_content(
    fakes: tuple[Node, FakeUpstream, AnthropicUpstream, GeminiUpstream],
) -> None:
    node, _, claude, _ = fakes

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 4, "output_tokens": 1}}  # fmt: skip
    frames = [
        event("message_start", {"message": message}),
        event("content_block_start", {"index": 0, "content_block": {
            "type": "thinking", "thinking": "", "signature": ""}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                            "thinking": "Claude thinks"}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta",
                                                            "signature": "EqQBCkYI"}}),
        event("content_block_stop", {"index": 0}),
        event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        event("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
        event("content_block_stop", {"index": 1}),
        event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": 9}}),
        event("message_stop", {}),
    ]  # fmt: skip
    claude.push(Sse(frames))
    client = openai.AsyncOpenAI(base_url=node.url + "/v1", api_key=node.api_key)
    stream = await client.chat.completions.create(model="cl/c", stream=True, messages=ASK)
    reasoning, content = [], []
    async for chunk in stream:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            reasoning.append(extra.get("reasoning_content") or "")
            content.append(choice.delta.content or "")
    await client.close()
    assert "".join(reasoning) == "Claude thinks" and "".join(content) == "Hi"


async def test_gemini_thoughts_become_thinking(
    fakes: tuple[Node, FakeUpstream, AnthropicUpstream, GeminiUpstream],
) -> None:
    node, _, _, gem = fakes
    gem.push(Json({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "pondering", "thought": True}, {"text": "Done."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}))  # fmt: skip
    client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key)
    reply = await client.messages.create(model="gm/g", max_tokens=50, messages=ASK)
    await client.close()
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None))
            for b in reply.content] == [("thinking", "pondering"), ("text", "Done.")]


def test_unsigned_thinking_never_reaches_anthropic() -> None:
    """An OpenAI client's reasoning_content (or a block the gateway marked) is left out for
    an Anthropic upstream; a block Claude signed is replayed byte for byte."""
    body = {"model": "m", "messages": [
        *ASK,
        {"role": "assistant", "content": "A.", "reasoning_content": "mine"},
        {"role": "user", "content": "more"},
    ]}  # fmt: skip
    config = ProviderConfig(key="cl", type="anthropic")
    sent = render_request("anthropic", parse_request("openai", body), config)
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "A."}]
    signed = {"type": "thinking", "thinking": "t", "signature": "EqQB"}
    unsigned = {"type": "thinking", "thinking": "u", "signature": UNSIGNED_THINKING}
    claude_body = {"model": "m", "max_tokens": 5, "messages": [
        *ASK, {"role": "assistant", "content": [signed, unsigned, {"type": "text", "text": "B"}]},
        {"role": "user", "content": "more"}]}  # fmt: skip
    to_openai = render_request("openai", parse_request("anthropic", claude_body), config)
    assert to_openai["messages"][1]["reasoning_content"] == "u"  # Claude's own stays out
