"""A stream whose upstream stops before the dialect's last event (a connection cut between
events, a proxy that ends the body early) ends with the client dialect's error event, not
silently: relayed as it came, or closed by a translator, it would read as a whole, shorter
answer. So does a same-dialect one whose event cannot be a JSON object."""

from __future__ import annotations

import pytest

from providers.errors import UpstreamServerError
from providers.sse import SSEEvent
from providers.translate import stream_translator
from providers.types import Dialect
from providers.upstreams.openai_stream import OpenAIEvents
from providers.upstreams.responses_stream import ResponsesPassthrough
from providers.upstreams.sse_stream import AnthropicPassthrough, GeminiPassthrough

ANTHROPIC = [SSEEvent(event="message_start", data=b'{"type":"message_start","message":'
                      b'{"usage":{"input_tokens":3,"output_tokens":1}}}'),
             SSEEvent(event="content_block_delta", data=b'{"type":"content_block_delta",'
                      b'"index":0,"delta":{"type":"text_delta","text":"Hel"}}')]
GEMINI = [SSEEvent(data=b'{"candidates":[{"content":{"parts":[{"text":"Hel"}],'
                   b'"role":"model"}}]}')]
RESPONSES = [SSEEvent(event="response.created", data=b'{"type":"response.created",'
                      b'"response":{"id":"resp_1","status":"in_progress"}}'),
             SSEEvent(event="response.output_text.delta", data=b'{"type":'
                      b'"response.output_text.delta","delta":"Hel"}')]

ENDS = {
    "anthropic": SSEEvent(event="message_stop", data=b'{"type":"message_stop"}'),
    "gemini": SSEEvent(data=b'{"candidates":[{"content":{"parts":[{"text":"lo"}],'
                       b'"role":"model"},"finishReason":"STOP"}]}'),
    "responses": SSEEvent(event="response.completed", data=b'{"type":"response.completed",'
                          b'"response":{"id":"resp_1","status":"completed","usage":'
                          b'{"input_tokens":3,"output_tokens":2}}}'),
}


def _handler(dialect: str) -> AnthropicPassthrough | GeminiPassthrough | ResponsesPassthrough:
    return {"anthropic": AnthropicPassthrough, "gemini": GeminiPassthrough,
            "responses": ResponsesPassthrough}[dialect]("up")


@pytest.mark.parametrize(("dialect", "events", "last"), [
    ("anthropic", ANTHROPIC, "message_stop"),
    ("gemini", GEMINI, "a finishReason"),
    ("responses", RESPONSES, "response.completed"),
])
def test_a_stream_cut_before_its_last_event_is_an_upstream_failure(
        dialect: str, events: list[SSEEvent], last: str) -> None:
    handler = _handler(dialect)
    for event in events:
        assert handler.feed(event)  # relayed as it came
    with pytest.raises(UpstreamServerError) as cut:
        handler.finish()
    assert cut.value.message == f"upstream 'up' ended the stream before {last}"


@pytest.mark.parametrize("dialect", ["anthropic", "gemini", "responses"])
def test_a_whole_stream_ends_quietly(dialect: str) -> None:
    handler = _handler(dialect)
    for event in {"anthropic": ANTHROPIC, "gemini": GEMINI, "responses": RESPONSES}[dialect]:
        handler.feed(event)
    handler.feed(ENDS[dialect])
    assert handler.finish() == []


@pytest.mark.parametrize("dialect", ["anthropic", "gemini", "responses"])
@pytest.mark.parametrize("data", [b"{not json", b"garbage", b"[1, 2]"])
def test_an_event_that_cannot_be_an_object_is_an_upstream_failure(dialect: str,
                                                                  data: bytes) -> None:
    """Once relayed as it came, breaking the client's parser mid-answer."""
    name = {"anthropic": "content_block_delta", "gemini": "",
            "responses": "response.output_text.delta"}[dialect]
    with pytest.raises(UpstreamServerError) as bad:
        _handler(dialect).feed(SSEEvent(event=name, data=data))
    assert bad.value.message == "upstream 'up' sent a malformed stream event"


OPENAI = [b'{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
          b'"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}']
OPENAI_FINISH = (b'{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
                 b'"delta":{},"finish_reason":"stop"}]}')


def _frames(*datas: bytes) -> bytes:
    return b"".join(b"data: " + data + b"\n\n" for data in datas)


@pytest.mark.parametrize("raw", [True, False], ids=["raw-blocks", "event-by-event"])
def test_an_openai_stream_cut_before_a_finish_reason_is_an_upstream_failure(raw: bool) -> None:
    events = OpenAIEvents("up", strip_usage=False)
    if raw:
        assert events.raw(_frames(*OPENAI)) == _frames(*OPENAI)
    else:
        assert events.feed(SSEEvent(data=OPENAI[0])) == [_frames(OPENAI[0])]
    with pytest.raises(UpstreamServerError) as cut:
        events.finish()
    assert cut.value.message == "upstream 'up' ended the stream before [DONE]"


@pytest.mark.parametrize("raw", [True, False], ids=["raw-blocks", "event-by-event"])
def test_an_openai_stream_with_its_finish_reason_but_no_done_is_whole(raw: bool) -> None:
    """Some compatible servers close after the finish chunk without [DONE]."""
    events = OpenAIEvents("up", strip_usage=False)
    if raw:
        events.raw(_frames(*OPENAI, OPENAI_FINISH))
    else:
        for data in (*OPENAI, OPENAI_FINISH):
            events.feed(SSEEvent(data=data))
    assert events.finish() == []


UPSTREAM_STREAMS: dict[Dialect, tuple[list[SSEEvent], SSEEvent, str]] = {
    "openai": ([SSEEvent(data=OPENAI[0])], SSEEvent(data=OPENAI_FINISH), "[DONE]"),
    "anthropic": (ANTHROPIC, ENDS["anthropic"], "message_stop"),
    "gemini": (GEMINI, ENDS["gemini"], "a finishReason"),
    "responses": (RESPONSES, ENDS["responses"], "response.completed"),
}
# A client of another dialect for each upstream (the pairs a translator serves).
CLIENT: dict[Dialect, Dialect] = {"openai": "anthropic", "anthropic": "openai",
                                  "gemini": "responses", "responses": "gemini"}


@pytest.mark.parametrize("upstream", sorted(UPSTREAM_STREAMS))
def test_a_translated_stream_cut_short_is_an_upstream_failure(upstream: Dialect) -> None:
    """Across dialects the translator would otherwise close the client's stream itself,
    with a finish the upstream never sent."""
    events, _, last = UPSTREAM_STREAMS[upstream]
    translator = stream_translator(CLIENT[upstream], upstream, "m", provider="up")
    for event in events:
        translator.feed(event)
    with pytest.raises(UpstreamServerError) as cut:
        translator.finish()
    assert cut.value.message == f"upstream 'up' ended the stream before {last}"


@pytest.mark.parametrize("upstream", sorted(UPSTREAM_STREAMS))
def test_a_whole_translated_stream_closes_the_client_stream(upstream: Dialect) -> None:
    events, end, _ = UPSTREAM_STREAMS[upstream]
    translator = stream_translator(CLIENT[upstream], upstream, "m", provider="up")
    out = [frame for event in events for frame in translator.feed(event)]
    out += translator.feed(end) + translator.finish()
    closing = {"anthropic": b"message_stop", "openai": b"[DONE]", "gemini": b'"finishReason"',
               "responses": b"response.completed"}[CLIENT[upstream]]
    assert closing in b"".join(out)


def test_done_without_a_finish_reason_closes_a_translated_openai_stream() -> None:
    events = OpenAIEvents("up", strip_usage=False,
                          translator=stream_translator("anthropic", "openai", "m", provider="up"))
    events.feed(SSEEvent(data=OPENAI[0]))
    out = b"".join(events.feed(SSEEvent(data=b"[DONE]")))
    assert events.done and b"event: message_stop" in out
    assert events.finish() == []
