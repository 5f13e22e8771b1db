"""Where an upstream stream ends, and what its end events are, when the upstream writes them
unusually: without ``event:`` lines, with keys sorted (``type`` last), with ``null`` where a
value would end the answer, or with events after its end. The relay stops at the upstream's
end (nothing reaches the client after its own end), knows an error event by its type, and
does not take a ``null`` for a finish or an error."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from providers.errors import ProviderError, UpstreamServerError
from providers.sse import SSEEvent
from providers.translate import stream_translator
from providers.upstreams.openai_stream import OpenAIEvents
from providers.upstreams.responses_stream import ResponsesPassthrough
from providers.upstreams.sse_stream import AnthropicPassthrough, GeminiPassthrough

SECRET = "sk-rs-Pl0Ok9Ij8Uh7Yg6Tf5Rd4Es"


def _sorted(obj: dict[str, object]) -> bytes:
    """JSON as a server with sorted keys writes it (``type`` after ``response``)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def test_an_anthropic_error_event_without_its_event_line_is_an_error() -> None:
    relay = AnthropicPassthrough("up")
    data = b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'
    with pytest.raises(ProviderError) as failed:
        relay.feed(SSEEvent(data=data))
    assert "busy" in failed.value.message


def test_text_that_mentions_an_error_type_is_not_an_error() -> None:
    relay = AnthropicPassthrough("up")
    text = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",' \
           b'"text":"{\\"type\\":\\"error\\"}"}}'
    assert relay.feed(SSEEvent(event="content_block_delta", data=text))


def test_the_anthropic_relay_stops_at_message_stop() -> None:
    relay = AnthropicPassthrough("up")
    assert not relay.done
    relay.feed(SSEEvent(event="message_stop", data=b'{"type":"message_stop"}'))
    assert relay.done and relay.finish() == []


def test_a_translated_anthropic_stream_is_done_at_message_stop() -> None:
    chain: Any = stream_translator("openai", "anthropic", "m", provider="up")  # and .done
    chain.feed(SSEEvent(event="message_start", data=b'{"type":"message_start","message":'
                        b'{"id":"m1","model":"c","usage":{"input_tokens":1}}}'))
    assert not chain.done
    out = chain.feed(SSEEvent(event="message_stop", data=b'{"type":"message_stop"}'))
    assert chain.done and b"[DONE]" in b"".join(out)


COMPLETED = {"type": "response.completed", "sequence_number": 4, "response": {
    "id": "resp_1", "object": "response", "status": "completed", "output": [],
    "usage": {"input_tokens": 13, "output_tokens": 6, "total_tokens": 19}}}
FAILED = {"type": "response.failed", "sequence_number": 3, "response": {
    "id": "resp_1", "object": "response", "status": "failed", "output": [], "usage": None,
    "error": {"code": "server_error", "message": f"Bearer {SECRET} rejected " + "x" * 200}}}


def test_a_sorted_keys_completed_event_without_event_line_ends_the_stream() -> None:
    relay = ResponsesPassthrough("up")
    relay.feed(SSEEvent(data=_sorted(COMPLETED)))
    assert relay.done and relay.finish() == []
    assert (relay.usage.input_tokens, relay.usage.output_tokens) == (13, 6)


def test_a_sorted_keys_failure_without_event_line_is_redacted_and_ends() -> None:
    relay = ResponsesPassthrough("up", redact=lambda text: text.replace(SECRET, "[redacted]"))
    out = b"".join(relay.feed(SSEEvent(data=_sorted(FAILED))))
    assert SECRET.encode() not in out and b"[redacted]" in out
    assert relay.done and relay.finish() == []


def test_an_error_event_is_relayed_and_its_response_failed_follows() -> None:
    relay = ResponsesPassthrough("up")
    relay.feed(SSEEvent(event="error", data=b'{"type":"error","code":"server_error",'
                        b'"message":"boom","sequence_number":2}'))
    assert not relay.done  # OpenAI follows it with response.failed
    relay.feed(SSEEvent(event="response.failed", data=orjson.dumps(FAILED)))
    assert relay.done and relay.finish() == []


def test_done_alone_is_no_end_of_a_responses_stream() -> None:
    relay = ResponsesPassthrough("up")
    relay.feed(SSEEvent(event="response.created", data=b'{"type":"response.created",'
                        b'"response":{"id":"resp_1","status":"in_progress"}}'))
    assert relay.feed(SSEEvent(data=b"[DONE]")) == []
    assert relay.done  # the relay stops there ...
    with pytest.raises(UpstreamServerError) as cut:
        relay.finish()  # ... and says the stream was cut short
    assert "before response.completed" in cut.value.message


def test_an_openai_chunk_with_error_null_is_relayed() -> None:
    events = OpenAIEvents("up", strip_usage=False)
    chunk = (b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
             b'{"content":"Hello"},"finish_reason":null}],"error":null}')
    assert events.feed(SSEEvent(data=chunk)) == [b"data: " + chunk + b"\n\n"]


@pytest.mark.parametrize("value", [b"null", b"[]", b"{}"])
def test_a_gemini_finish_reason_that_is_not_a_string_is_no_end(value: bytes) -> None:
    relay = GeminiPassthrough("up")
    relay.feed(SSEEvent(data=b'{"candidates":[{"content":{"role":"model","parts":[{"text":'
                        b'"Hel"}]},"finishReason":' + value + b',"index":0}]}'))
    with pytest.raises(UpstreamServerError) as cut:
        relay.finish()
    assert "before a finishReason" in cut.value.message


def test_a_blocked_gemini_prompt_is_a_whole_answer() -> None:
    relay = GeminiPassthrough("up")
    relay.feed(SSEEvent(data=b'{"promptFeedback":{"blockReason":"SAFETY"}}'))
    assert relay.finish() == []
