"""OpenAI to OpenAI streams pass whole blocks of events through unparsed: the result must be
byte for byte what the event-by-event path gives, whatever the upstream's read boundaries."""

from __future__ import annotations

from itertools import pairwise

import orjson
import pytest

from providers import ProviderError, Usage
from providers.sse import SSEDecoder
from providers.upstreams.openai_stream import OpenAIEvents
from providers.upstreams.sse_stream import _Reader


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    return b"data: " + orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}], "usage": None}) + b"\n\n"


USAGE = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}}\n\n'
PLAIN = b"".join([_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Hel"}),
                  _chunk({"content": 'lo "usage" \\n'}), _chunk({}, "stop"), USAGE,
                  b"data: [DONE]\n\n"])
STREAMS = {
    "plain": PLAIN,
    "after-done": PLAIN + b"data: {not json\n\n",
    "crlf": PLAIN.replace(b"\n", b"\r\n"),
    "comments": b": keep-alive\n\n" + PLAIN,
    "named-events": PLAIN.replace(b"data: {", b"event: chunk\ndata: {", 2),
    "multi-line": _chunk({"content": "a"}) + b'data: {"choices":\ndata: []}\n\n' + PLAIN,
    "no-space": PLAIN.replace(b"data: ", b"data:"),
    "malformed": _chunk({"content": "a"}) + b"data: <html>oops</html>\n\n" + PLAIN,
    "error": _chunk({"content": "a"}) + b'data: {"error":{"message":"overloaded",'
             b'"code":529}}\n\n',
    "bad-usage": _chunk({"content": "a"}) + b'data: {"choices":[],"usage":{"x":}\n\n',
    "no-done": PLAIN[: PLAIN.index(b"data: [DONE]")],
}


def _events_path(stream: bytes, cuts: list[int], strip: bool) -> tuple[bytes, Usage, str]:
    """The event-by-event path, as the relay ran it before blocks were passed through."""
    handler, decoder, out = OpenAIEvents("p", strip_usage=strip), SSEDecoder(), []
    try:
        for chunk, ended in _reads(stream, cuts):
            events = decoder.feed(chunk) if chunk else []
            if ended:
                events += decoder.flush()
            for event in events:
                out += handler.feed(event)
                if handler.done:
                    return b"".join(out), handler.usage, ""
    except ProviderError as exc:
        return b"".join(out), handler.usage, type(exc).__name__
    return b"".join(out), handler.usage, ""


def _block_path(stream: bytes, cuts: list[int], strip: bool) -> tuple[bytes, Usage, str]:
    handler, out = OpenAIEvents("p", strip_usage=strip), []
    reader = _Reader(handler)
    try:
        for chunk, ended in _reads(stream, cuts):
            passed, events = reader.take(chunk, ended)
            out += [] if passed is None else [passed]
            if handler.done:
                return b"".join(out), handler.usage, ""
            for event in events:
                out += handler.feed(event)
                if handler.done:
                    return b"".join(out), handler.usage, ""
    except ProviderError as exc:
        return b"".join(out), handler.usage, type(exc).__name__
    return b"".join(out), handler.usage, ""


def _reads(stream: bytes, cuts: list[int]) -> list[tuple[bytes, bool]]:
    edges = [0, *cuts, len(stream)]
    pieces = [stream[a:b] for a, b in pairwise(edges)]
    return [(piece, i == len(pieces) - 1) for i, piece in enumerate(pieces)]


@pytest.mark.parametrize("strip", [False, True], ids=["kept", "stripped"])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_blocks_relay_exactly_what_events_relay_at_every_split(name: str, strip: bool) -> None:
    stream = STREAMS[name]
    whole = _events_path(stream, [], strip)
    assert _block_path(stream, [], strip) == whole
    for at in range(1, len(stream)):             # every way one read can end
        assert _block_path(stream, [at], strip) == _events_path(stream, [at], strip), at
    thirds = [len(stream) // 3, 2 * len(stream) // 3]
    assert _block_path(stream, thirds, strip) == _events_path(stream, thirds, strip)


def test_a_plain_stream_passes_as_one_block_with_its_usage_read() -> None:
    handler = OpenAIEvents("p", strip_usage=True)
    passed, events = _Reader(handler).take(PLAIN, True)
    assert events == [] and passed == PLAIN.replace(USAGE, b"")     # nothing decoded
    assert handler.usage == Usage(input_tokens=12, output_tokens=7) and handler.done
