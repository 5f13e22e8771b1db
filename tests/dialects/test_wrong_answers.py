"""An upstream answer with wrong types is the upstream's failure: ``UpstreamServerError``
(502) from every response parser, stream decoder and pass-through handler, never a
TypeError, KeyError or AttributeError (which would be a 500, or a broken stream)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from providers import (
    ClientPool,
    ProviderConfig,
    ProviderError,
    UpstreamServerError,
    build_provider,
)
from providers.dialects import ArrayFramer
from providers.sse import SSEDecoder, SSEEvent
from providers.translate import parse_response, stream_translator
from providers.types import Dialect
from providers.upstreams.openai_stream import OpenAIEvents
from providers.upstreams.sse_stream import AnthropicPassthrough, GeminiPassthrough
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.openai_upstream import Json

CHOICE = {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}


def _chat(**fields: Any) -> dict[str, Any]:
    return {"id": "c", "model": "m", "choices": [CHOICE], **fields}


JSON_ANSWERS: list[tuple[Dialect, Any]] = [
    ("openai", _chat(choices=5)),
    ("openai", _chat(choices=[{"message": {"content": [1]}}])),
    ("openai", _chat(choices=[{"message": {"tool_calls": [{"function": 3}]}}])),
    ("openai", _chat(choices=[{"message": {"tool_calls": 7}}])),
    ("openai", _chat(choices=[{"message": {"content": [{"type": "image_url",
                                                        "image_url": {"url": 4}}]}}])),
    ("anthropic", {"id": "m", "content": [{"type": "image", "source": 5}]}),
    ("anthropic", {"id": "m", "content": [{"type": "tool_result", "content": [{"type": "image",
                                                                               "source": [1]}]}]}),
    ("gemini", {"candidates": [{"content": {"parts": [1]}}]}),
    ("gemini", {"candidates": [{"content": 5}]}),
    ("gemini", {"candidates": [{"content": {"parts": [{"functionCall": "f"}]}}]}),
]


@pytest.mark.parametrize(("dialect", "answer"), JSON_ANSWERS)
def test_wrong_json_answers_are_502(dialect: Dialect, answer: Any) -> None:
    with pytest.raises(UpstreamServerError) as caught:
        parse_response(dialect, orjson.dumps(answer), "up")
    assert caught.value.status == 502
    assert caught.value.provider == "up"


def test_usage_of_the_wrong_type_counts_nothing() -> None:
    response = parse_response("openai", orjson.dumps(_chat(usage="x")), "up")
    assert response.usage.input_tokens == 0 and response.parts
    huge = {"prompt_tokens": 2**64 - 1, "completion_tokens": -4}
    response = parse_response("openai", orjson.dumps(_chat(usage=huge)), "up")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (0, 0)


def _chunk(delta: Any) -> bytes:
    return orjson.dumps({"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta}]})


STREAM_EVENTS: list[tuple[Dialect, SSEEvent]] = [
    ("openai", SSEEvent(orjson.dumps({"id": "c", "choices": 5}))),
    ("openai", SSEEvent(_chunk([1]))),
    ("openai", SSEEvent(_chunk({"content": [1]}))),
    ("openai", SSEEvent(_chunk({"tool_calls": [{"function": 3}]}))),
    ("openai", SSEEvent(_chunk({"tool_calls": [{"index": 0, "id": 5,
                                                "function": {"name": "f"}}]}))),
    ("openai", SSEEvent(b"[1, 2]")),
    ("anthropic", SSEEvent(b'{"type": "content_block_start", "content_block": 5}',
                           "content_block_start")),
    ("anthropic", SSEEvent(b'{"type": "message_start", "message": [1]}', "message_start")),
    ("anthropic", SSEEvent(b'{"type": "content_block_delta", "delta": {"type": '
                           b'"input_json_delta", "partial_json": "x"}, "index": "a"}',
                           "content_block_delta")),
    ("gemini", SSEEvent(b'{"candidates": [5]}')),
    ("gemini", SSEEvent(b'{"candidates": [{"content": {"parts": [{"functionCall": 1}]}}]}')),
]


@pytest.mark.parametrize(("upstream", "event"), STREAM_EVENTS)
@pytest.mark.parametrize("inbound", ["openai", "anthropic", "gemini"])
def test_wrong_stream_events_are_502(upstream: Dialect, event: SSEEvent,
                                     inbound: Dialect) -> None:
    if inbound == upstream:
        return  # pass-through: relayed as it came (see below)
    translator = stream_translator(inbound, upstream, "m", provider="up")
    start = {"openai": _chunk({"role": "assistant"}), "gemini": b'{"candidates": []}',
             "anthropic": b'{"type": "ping"}'}[upstream]
    translator.feed(SSEEvent(start))
    with pytest.raises(UpstreamServerError) as caught:
        translator.feed(event)
    assert caught.value.status == 502


# An object with a wrong-typed usage is the client's to judge; an event that is not an
# object at all (``[1]``) ends the stream instead: tests/providers/test_stream_cut_short.py.
@pytest.mark.parametrize("data", [b'{"message": [1]}', b'{"usage": 5}',
                                  b'{"message": {"usage": []}}'])
def test_anthropic_passthrough_relays_wrong_usage_unread(data: bytes) -> None:
    handler = AnthropicPassthrough("up")
    assert handler.feed(SSEEvent(data, "message_delta")) == [
        b"event: message_delta\ndata: " + data + b"\n\n"]
    assert handler.usage.output_tokens == 0


@pytest.mark.parametrize("data", [b'{"error": oops', b'{"usageMetadata": ['])
def test_gemini_passthrough_malformed_events_are_502(data: bytes) -> None:
    with pytest.raises(UpstreamServerError) as caught:
        GeminiPassthrough("up").feed(SSEEvent(data))
    assert caught.value.status == 502


def test_gemini_passthrough_finds_an_error_anywhere_in_the_event() -> None:
    data = orjson.dumps({"candidates": [], "modelVersion": "gemini-2.5-flash-preview-05-20",
                         "error": {"code": 429, "message": "quota"}}, option=orjson.OPT_INDENT_2)
    assert data.index(b'"error"') > 40
    with pytest.raises(ProviderError) as caught:
        GeminiPassthrough("up").feed(SSEEvent(data))
    assert caught.value.status == 429 and "quota" in caught.value.message


def test_gemini_passthrough_relays_a_multi_line_event_whole() -> None:
    chunk = {"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}}],
             "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}
    data = orjson.dumps(chunk, option=orjson.OPT_INDENT_2)
    handler = GeminiPassthrough("up")
    out = b"".join(handler.feed(SSEEvent(data)))
    relayed = SSEDecoder().feed(out)
    assert [orjson.loads(e.data) for e in relayed] == [chunk]
    framer = ArrayFramer()
    assert orjson.loads(framer.feed(out) + framer.end()) == [chunk]
    assert handler.usage.input_tokens == 3


@pytest.mark.parametrize("data", [b'{"usageMetadata": [3]}',
                                  b'{"usageMetadata": {"promptTokenCount": "3"}}'])
def test_gemini_passthrough_relays_wrong_usage_unread(data: bytes) -> None:
    handler = GeminiPassthrough("up")
    assert handler.feed(SSEEvent(data)) == [b"data: " + data + b"\n\n"]
    assert handler.usage.input_tokens == 0


def test_openai_events_pass_wrong_usage_through() -> None:
    handler = OpenAIEvents("up", strip_usage=True)
    data = b'{"choices": [], "usage": ["x"]}'
    assert handler.feed(SSEEvent(data)) == []  # the usage-only chunk the gateway asked for
    assert handler.usage.input_tokens == 0


@pytest.mark.parametrize(("values", "encoding"), [
    (5, "float"), ("abc", "float"), ({"a": 1}, "float"), ([1, "a"], "float"),
    ([True, 0.5], "float"), (["a"], "base64"), ([None], "base64"), ([1e39], "base64"),
])  # fmt: skip
async def test_gemini_embeddings_of_the_wrong_type_are_502(values: Any, encoding: str) -> None:
    async with GeminiUpstream() as fake:
        fake.push(Json({"embeddings": [{"values": values}]}))
        pool = ClientPool()
        provider = build_provider(
            ProviderConfig(key="g", type="gemini", base_url=fake.base_url, api_key="k"), pool)
        try:
            with pytest.raises(UpstreamServerError) as caught:
                await provider.embed({"input": "x", "encoding_format": encoding}, "emb")
        finally:
            await pool.aclose()
    assert caught.value.status == 502 and caught.value.provider == "g"


async def test_gemini_embeddings_of_numbers_still_pass() -> None:
    async with GeminiUpstream() as fake:
        fake.push(Json({"embeddings": [{"values": [1, 0.5, -2]}]}))
        pool = ClientPool()
        provider = build_provider(
            ProviderConfig(key="g", type="gemini", base_url=fake.base_url, api_key="k"), pool)
        try:
            reply = await provider.embed({"input": "x"}, "emb")
        finally:
            await pool.aclose()
    assert orjson.loads(reply.body)["data"][0]["embedding"] == [1, 0.5, -2]
