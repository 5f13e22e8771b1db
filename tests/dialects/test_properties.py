"""Property tests: text, tool calls and their order survive canonical -> dialect -> canonical,
for requests, complete responses and streams, in every dialect."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import ProviderConfig
from providers.canonical import (
    End,
    Message,
    Part,
    Request,
    Response,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    ToolCall,
    ToolDelta,
    ToolResult,
    ToolStart,
    args_object,
)
from providers.dialects.anthropic.stream import AnthropicDecoder, AnthropicEncoder
from providers.dialects.gemini.stream import GeminiDecoder, GeminiEncoder
from providers.dialects.openai.stream import OpenAIDecoder, OpenAIEncoder
from providers.sse import SSEDecoder
from providers.translate import parse_request, parse_response, render_request, render_response
from providers.types import Usage

DIALECTS = ("openai", "anthropic", "gemini")
CONFIG = ProviderConfig(key="p", type="openai")
text = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")
name = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
scalar = st.one_of(st.integers(-1000, 1000), st.booleans(), st.text(max_size=10), st.none())
args = st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), scalar, max_size=4)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    pending: list[ToolCall] = []
    for turn in range(draw(st.integers(1, 4))):
        user: list[Part] = [ToolResult(c.id, [Text(draw(text))], name=c.name) for c in pending]
        user += [Text(t) for t in draw(st.lists(text, min_size=1, max_size=2))]
        messages.append(Message("user", user))
        calls = [
            ToolCall(f"call_{turn}_{i}", draw(name), orjson.dumps(draw(args)).decode())
            for i in range(draw(st.integers(0, 3)))
        ]
        texts: list[Part] = [Text(t) for t in draw(st.lists(text, max_size=1))]
        if texts or calls:
            messages.append(Message("assistant", [*texts, *calls]))
        pending = calls
    return messages


def _flat(messages: list[Message]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        for part in message.parts:
            if isinstance(part, Text):
                out.append(("text", part.text))
            elif isinstance(part, ToolCall):
                out.append(("call", (part.name, args_object(part.arguments))))
            elif isinstance(part, ToolResult):
                out.append(("result", "".join(t.text for t in part.content
                                              if isinstance(t, Text))))  # fmt: skip
    return out


@settings(max_examples=200, deadline=None)
@given(messages=conversations(), system=st.lists(text, max_size=1))
def test_requests_round_trip(messages: list[Message], system: list[str]) -> None:
    request = Request(model="m", messages=messages, system=system)
    for dialect in DIALECTS:
        body = orjson.loads(orjson.dumps(render_request(dialect, request, CONFIG)))
        back = parse_request(dialect, body, "m")
        assert _flat(back.messages) == _flat(messages), dialect
        inline = [p.text for m in back.messages if m.role == "system" for p in m.parts
                  if isinstance(p, Text)]  # fmt: skip
        assert "\n\n".join(back.system + inline) == "\n\n".join(system), dialect


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(text, max_size=3), calls=st.lists(st.tuples(name, args), max_size=3))
def test_responses_round_trip(texts: list[str], calls: list[tuple[str, Any]]) -> None:
    parts: list[Part] = [Text(t) for t in texts]
    parts += [ToolCall(f"c{i}", n, orjson.dumps(a).decode()) for i, (n, a) in enumerate(calls)]
    response = Response("r1", "m", parts, "tool_calls" if calls else "stop", Usage(3, 4))
    for dialect in DIALECTS:
        back = parse_response(dialect, render_response(dialect, response))
        assert "".join(p.text for p in back.parts if isinstance(p, Text)) == "".join(texts)
        got = [(p.name, args_object(p.arguments)) for p in back.parts if isinstance(p, ToolCall)]
        assert got == calls, dialect
        assert back.usage.output_tokens == 4, dialect


@st.composite
def streams(draw: st.DrawFn) -> list[StreamEvent]:
    events: list[StreamEvent] = [Start("s1", "m", Usage(5, 0))]
    calls = 0
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            events.append(TextDelta(draw(text)))
            continue
        payload = orjson.dumps(draw(args)).decode()
        cuts = sorted(draw(st.lists(st.integers(1, max(len(payload) - 1, 1)), max_size=4)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        events.append(ToolStart(calls, f"call_{calls}", draw(name)))
        events += [ToolDelta(calls, p) for p in pieces if p]
        calls += 1
    events.append(End("tool_calls" if calls else "stop", Usage(5, 7)))
    return events


def _summary(events: list[StreamEvent]) -> tuple[str, list[tuple[str, Any]], int]:
    texts = "".join(e.text for e in events if isinstance(e, TextDelta))
    names = {e.call: e.name for e in events if isinstance(e, ToolStart)}
    pieces: dict[int, str] = dict.fromkeys(names, "")
    for e in events:
        if isinstance(e, ToolDelta):
            pieces[e.call] += e.arguments
    calls = [(names[i], args_object(pieces[i])) for i in sorted(names)]
    ends = [e for e in events if isinstance(e, End)]
    return texts, calls, ends[-1].usage.output_tokens if ends else -1


@settings(max_examples=200, deadline=None)
@given(events=streams())
def test_streams_round_trip(events: list[StreamEvent]) -> None:
    pairs = [
        (OpenAIEncoder("m", include_usage=True), OpenAIDecoder("p")),
        (AnthropicEncoder("m"), AnthropicDecoder("p")),
        (GeminiEncoder("m"), GeminiDecoder("p")),
    ]
    for encoder, decoder in pairs:
        raw = b"".join(frame for event in events for frame in encoder.encode(event))
        back: list[StreamEvent] = []
        for event in SSEDecoder().feed(raw):
            if event.data != b"[DONE]":
                back += decoder.feed(event)
        back += decoder.finish()
        assert _summary(back) == _summary(events), type(encoder).__name__
