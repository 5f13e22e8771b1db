"""Fuzz every translator with mutated bodies: nothing a client or an upstream sends may
escape as anything but a ``ProviderError`` (so never as a 500 or a broken stream).

Client side: ``check_request`` raises ``InvalidRequest`` or passes; whatever passes
translates to every other dialect, and the answers of every upstream translate back.
Upstream side: mutated JSON answers and SSE events, through every translator and
pass-through handler. Derandomized, so the suite is deterministic; a bug found here is
fixed in the codecs or the checks, never by narrowing the strategies.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers import InvalidRequest, ProviderConfig, ProviderError, check_request
from providers.sse import SSEEvent
from providers.translate import (
    StreamTranslator,
    from_upstream_response,
    stream_translator,
    to_upstream_request,
)
from providers.types import Dialect
from providers.upstreams.openai_stream import OpenAIEvents
from providers.upstreams.sse_stream import AnthropicPassthrough, GeminiPassthrough
from tests.fakes.mutants import events_of, mutants, stream_mutants
from tests.fakes.replies import anthropic_message, gemini_response, reply

DIALECTS: tuple[Dialect, ...] = ("openai", "anthropic", "gemini")
CONFIG = ProviderConfig(key="p", type="openai")
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

_TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": False}
SEEDS: dict[Dialect, list[dict[str, Any]]] = {
    "openai": [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "stream": True, "stream_options": {"include_usage": True},
         "max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "n": 1, "stop": ["END"],
         "user": "u", "response_format": {"type": "json_object"},
         "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                                                     "parameters": _TOOL_SCHEMA}}],
         "tool_choice": {"type": "function", "function": {"name": "f"}},
         "messages": [
             {"role": "system", "content": "be brief"},
             {"role": "user", "content": [
                 {"type": "text", "text": "look"},
                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                 {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA"}}]},
             {"role": "assistant", "content": None, "reasoning_content": "hm",
              "tool_calls": [{"id": "c1", "type": "function",
                              "function": {"name": "f", "arguments": "{\"city\":\"P\"}"}}]},
             {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]},
    ],
    "anthropic": [
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "max_tokens": 50, "stream": True, "temperature": 0.5, "top_p": 0.9,
         "top_k": 4, "stop_sequences": ["END"], "metadata": {"user_id": "u"},
         "system": [{"type": "text", "text": "be brief"}],
         "tools": [{"name": "f", "description": "d", "input_schema": _TOOL_SCHEMA},
                   {"type": "web_search_20250305", "name": "web_search"}],
         "tool_choice": {"type": "tool", "name": "f"},
         "messages": [
             {"role": "user", "content": [
                 {"type": "text", "text": "look"},
                 {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                              "data": "AA"}},
                 {"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}}]},
             {"role": "assistant", "content": [
                 {"type": "thinking", "thinking": "hm", "signature": "sig"},
                 {"type": "tool_use", "id": "t1", "name": "f", "input": {"city": "P"}}]},
             {"role": "user", "content": [
                 {"type": "tool_result", "tool_use_id": "t1", "is_error": False,
                  "content": [{"type": "text", "text": "sunny"}]}]}]},
    ],
    "gemini": [
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        {"systemInstruction": {"parts": [{"text": "be brief"}]},
         "tools": [{"functionDeclarations": [{"name": "f", "description": "d",
                                              "parameters": _TOOL_SCHEMA}]}],
         "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                  "allowedFunctionNames": ["f"]}},
         "generationConfig": {"maxOutputTokens": 50, "temperature": 0.5, "topP": 0.9,
                              "topK": 4, "stopSequences": ["END"],
                              "responseMimeType": "application/json"},
         "contents": [
             {"role": "user", "parts": [
                 {"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}},
                 {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://x"}}]},
             {"role": "model", "parts": [
                 {"text": "hm", "thought": True},
                 {"functionCall": {"name": "f", "args": {"city": "P"}},
                  "thoughtSignature": "sig"}]},
             {"role": "user", "parts": [
                 {"functionResponse": {"name": "f", "response": {"result": "sunny"}}}]}]},
    ],
}
ANSWERS: dict[Dialect, list[dict[str, Any]]] = {
    "openai": [reply("openai", kind, stream=False).body for kind in ("text", "tools")],
    "anthropic": [anthropic_message(kind) for kind in ("text", "tools")],
    "gemini": [gemini_response(kind) for kind in ("text", "tools")],
}
STREAMS: dict[Dialect, list[list[SSEEvent]]] = {
    dialect: [events_of(reply(dialect, kind, stream=True).events) for kind in ("text", "tools")]
    for dialect in DIALECTS
}


def _relay(handler: StreamTranslator, events: list[SSEEvent]) -> None:
    """What ``SseStream`` does with a handler: only a ``ProviderError`` may stop it."""
    try:
        for event in events:
            for frame in handler.feed(event):
                assert isinstance(frame, bytes)
        handler.finish()
    except ProviderError:
        pass


def _handlers(upstream: Dialect, inbound: Dialect) -> list[StreamTranslator]:
    """The stream handlers the adapters build for ``upstream`` answering ``inbound``."""
    body = SEEDS[inbound][-1]
    if inbound != upstream:
        translator = stream_translator(inbound, upstream, "m", request=body, provider="p")
        if upstream != "openai":
            return [translator]
        return [OpenAIEvents("p", strip_usage=True, translator=translator)]
    if upstream == "openai":
        return [OpenAIEvents("p", strip_usage=True), OpenAIEvents("p", strip_usage=False)]
    return [AnthropicPassthrough("p") if upstream == "anthropic" else GeminiPassthrough("p")]


@pytest.mark.parametrize("inbound", DIALECTS)
@FUZZ
@given(data=st.data())
def test_requests_are_refused_or_translate(inbound: Dialect, data: st.DataObject) -> None:
    body = data.draw(mutants(SEEDS[inbound]))
    try:
        check_request(inbound, body)
    except InvalidRequest as exc:
        assert exc.status == 400
        return
    for upstream in DIALECTS:
        with contextlib.suppress(ProviderError):
            orjson.dumps(to_upstream_request(inbound, upstream, body, "m", CONFIG))
        for answer in ANSWERS[upstream]:
            assert from_upstream_response(inbound, upstream, orjson.dumps(answer), "m", "p")
        for handler in _handlers(upstream, inbound):
            _relay(handler, STREAMS[upstream][-1])


@pytest.mark.parametrize("upstream", DIALECTS)
@FUZZ
@given(data=st.data())
def test_wrong_upstream_answers_are_provider_errors(upstream: Dialect,
                                                   data: st.DataObject) -> None:
    raw = orjson.dumps(data.draw(mutants(ANSWERS[upstream])))
    for inbound in DIALECTS:
        try:
            assert isinstance(from_upstream_response(inbound, upstream, raw, "m", "p"), bytes)
        except ProviderError as exc:
            assert exc.status == 502


@pytest.mark.parametrize("upstream", DIALECTS)
@FUZZ
@given(data=st.data())
def test_wrong_upstream_events_are_provider_errors(upstream: Dialect,
                                                  data: st.DataObject) -> None:
    events = data.draw(stream_mutants(STREAMS[upstream]))
    for inbound in DIALECTS:
        for handler in _handlers(upstream, inbound):
            _relay(handler, events)
