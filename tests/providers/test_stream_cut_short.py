"""A same-dialect stream whose upstream stops before the dialect's last event (a connection
cut between events, a proxy that ends the body early) ends with the dialect's error event,
not silently: relayed as it came, it would read as a whole, shorter answer. So does one whose
event cannot be a JSON object."""

from __future__ import annotations

import pytest

from providers.errors import UpstreamServerError
from providers.sse import SSEEvent
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
