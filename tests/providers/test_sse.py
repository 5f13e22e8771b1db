"""The SSE codec: spec cases, and any chunking of a stream gives the same events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from providers.sse import SSEDecoder, SSEEvent, encode_event


def decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.flush()


def test_basic_events_and_line_endings() -> None:
    for sep in (b"\n", b"\r\n", b"\r"):
        stream = sep.join([b"data: one", b"", b"event: ping", b"data: two", b"", b""])
        assert decode_all([stream]) == [SSEEvent(b"one"), SSEEvent(b"two", "ping")]


def test_comments_multiline_data_id_retry() -> None:
    stream = b": keep-alive\ndata: a\ndata:b\nid: 7\nretry: 1500\n\n: x\n\n"
    assert decode_all([stream]) == [SSEEvent(b"a\nb", "", "7", 1500)]


def test_field_without_colon_and_empty_data() -> None:
    assert decode_all([b"data\n\n"]) == [SSEEvent(b"")]
    assert decode_all([b"event: lonely\n\n"]) == []  # no data line: nothing dispatched


def test_id_persists_and_nul_is_ignored() -> None:
    events = decode_all([b"id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n"])
    assert [e.id for e in events] == ["1", "1", "1"]


def test_crlf_split_across_chunks() -> None:
    assert decode_all([b"data: a\r", b"\n\r", b"\n"]) == [SSEEvent(b"a")]


def test_feed_returns_events_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x"') == []
    assert decoder.feed(b": 1}\n") == []
    assert decoder.feed(b"\n") == [SSEEvent(b'{"x": 1}')]


def test_flush_accepts_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.flush() == [SSEEvent(b"[DONE]")]
    assert decoder.flush() == []


def test_encode_event() -> None:
    assert encode_event(b"x") == b"data: x\n\n"
    assert (
        encode_event(b"a\nb", event="error", id="3") == b"event: error\nid: 3\ndata: a\ndata: b\n\n"
    )


_text = st.binary(max_size=40).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")
)
_event = st.builds(
    SSEEvent,
    data=st.lists(_text, min_size=1, max_size=3).map(b"\n".join),
    event=st.sampled_from(["", "message_start", "error"]),
    id=st.none(),
    retry=st.none(),
)
_newline = st.sampled_from([b"\n", b"\r\n", b"\r"])


def _encode(events: list[SSEEvent], newline: bytes, comment: bool) -> bytes:
    out = b""
    for event in events:
        framed = encode_event(event.data, event=event.event)
        if comment:
            framed = b": note\n" + framed
        out += framed.replace(b"\n", newline)
    return out


@given(
    events=st.lists(_event, max_size=6),
    newline=_newline,
    comment=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_chunking_gives_the_same_events(
    events: list[SSEEvent], newline: bytes, comment: bool, cuts: list[int]
) -> None:
    stream = _encode(events, newline, comment)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode_all(chunks) == events
    assert decode_all([stream]) == events


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_arbitrary_bytes_chunking_is_invariant(stream: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode_all(chunks) == decode_all([stream])
