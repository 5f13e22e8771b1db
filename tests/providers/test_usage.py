"""One usage rule: the same upstream answer is the same ``Usage`` on every path.

``input_tokens`` excludes cache reads and writes, whatever the inbound dialect, streamed or
not, passed through or translated.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers import ClientPool, Dialect, ProviderConfig, Usage, build_provider
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse
from tests.fakes.replies import anthropic_event

INBOUND: dict[Dialect, dict[str, Any]] = {
    "openai": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    "anthropic": {"model": "m", "max_tokens": 50,
                  "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}  # fmt: skip

OPENAI_USAGE = {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
                "prompt_tokens_details": {"cached_tokens": 80}}
GEMINI_USAGE = {"promptTokenCount": 100, "cachedContentTokenCount": 80,
                "candidatesTokenCount": 7, "totalTokenCount": 107}
ANTHROPIC_USAGE = {"input_tokens": 20, "output_tokens": 7, "cache_read_input_tokens": 80,
                   "cache_creation_input_tokens": 5}


def _openai(stream: bool) -> Any:
    if not stream:
        return Json({"id": "c", "object": "chat.completion", "model": "m", "usage": OPENAI_USAGE,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "hello"}}]})
    head = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
    return Sse([
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello"},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": OPENAI_USAGE},
        "[DONE]",
    ])


def _anthropic(stream: bool) -> Any:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
               "stop_reason": "end_turn", "stop_sequence": None}
    if not stream:
        return Json({**message, "content": [{"type": "text", "text": "hello"}],
                     "usage": ANTHROPIC_USAGE})
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
    return Sse([
        anthropic_event("message_start", {"type": "message_start", "message": start}),
        anthropic_event("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}}),
        anthropic_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": "hello"}}),
        anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        anthropic_event("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": "end_turn"},
                                          "usage": {"output_tokens": 7}}),
        anthropic_event("message_stop", {"type": "message_stop"}),
    ])


def _gemini(stream: bool) -> Any:
    answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]},
                              "finishReason": "STOP", "index": 0}],
              "usageMetadata": GEMINI_USAGE, "modelVersion": "m"}
    return Sse([answer]) if stream else Json(answer)


UPSTREAMS = {
    "openai": (FakeUpstream, _openai, Usage(20, 7, 80, 0)),
    "anthropic": (AnthropicUpstream, _anthropic, Usage(20, 7, 80, 5)),
    "gemini": (GeminiUpstream, _gemini, Usage(20, 7, 80, 0)),
}


@pytest.mark.parametrize("upstream", sorted(UPSTREAMS))
async def test_one_answer_one_usage_on_every_path(upstream: str) -> None:
    fake_type, answer, expected = UPSTREAMS[upstream]
    seen: dict[tuple[Dialect, bool], Usage] = {}
    async with fake_type() as fake:
        pool = ClientPool()
        config = ProviderConfig(key="up", type=upstream, base_url=fake.base_url, api_key="k")
        provider = build_provider(config, pool)
        try:
            for inbound, body in INBOUND.items():
                fake.push(answer(False))
                reply = await provider.complete(inbound, body, "m")
                seen[(inbound, False)] = reply.usage
                fake.push(answer(True))
                stream = await provider.open_stream(inbound, {**body, "stream": True}, "m")
                frames = [chunk async for chunk in stream]
                assert frames and not stream.failed
                seen[(inbound, True)] = stream.usage
        finally:
            await pool.aclose()
    assert seen == dict.fromkeys(seen, expected)
    assert len(seen) == 6
