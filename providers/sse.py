"""Server-sent events, sans-IO: an incremental decoder and an encoder.

The decoder follows the WHATWG event-stream rules: lines end in CRLF, LF or CR (a CR at
the end of a chunk is held back in case an LF follows), lines starting with ``:`` are
comments, ``data`` lines of one event are joined with LF, a blank line dispatches the
event, and an event with no ``data`` line is dropped. ``data`` stays ``bytes`` so a
pass-through proxy never decodes what it only forwards.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEDecoder", "SSEEvent", "encode_event", "object_like", "string_marks"]


class SSEEvent(NamedTuple):
    """One dispatched event; ``event`` is "" for the default ``message`` type.

    A NamedTuple, not a dataclass: one is built per streamed event, and this is cheaper.
    """

    data: bytes
    event: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it byte chunks in any split; it returns each event once it is complete."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_retry")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk``; return the events it completed (often none or one)."""
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            if buf.endswith(b"\r"):
                # It may be the first half of a CRLF: decide when the next byte arrives.
                buf = buf[:-1]
                held = True
            else:
                held = False
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buf.split(b"\n")
            if held:
                self._buf = lines.pop() + b"\r"
                return self._lines(lines)
        else:
            lines = buf.split(b"\n")
        self._buf = lines.pop()
        return self._lines(lines)

    def flush(self) -> list[SSEEvent]:
        """End of stream: finish a last line missing its terminator, dispatch what is due.

        Per the spec an event not followed by a blank line is incomplete and dropped; but a
        trailing unterminated ``data:`` line is accepted as the last event, because real
        upstreams close streams that way.
        """
        tail, self._buf = self._buf.rstrip(b"\r"), b""
        lines = [tail] if tail else []
        return self._lines([*lines, b""])

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in lines:
            if line.startswith(b"data: "):  # the common case, without the general parse
                self._data.append(line[6:])
            elif line.startswith(b"event: "):  # Anthropic names every event
                self._event = line[7:].decode("utf-8", "replace")
            elif not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
            elif line[0] != 0x3A:  # ":" starts a comment
                self._field(line)
        return events

    def _field(self, line: bytes) -> None:
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SSEEvent(data, self._event, self._id, self._retry)
        self._data = []
        self._event = ""
        self._retry = None
        return event


def encode_event(
    data: bytes, *, event: str = "", id: str | None = None, retry: int | None = None
) -> bytes:
    """Frame one event; multi-line ``data`` becomes one ``data:`` line per line."""
    head = b""
    if event:
        head += b"event: " + event.encode() + b"\n"
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    if retry is not None:
        head += b"retry: " + str(retry).encode() + b"\n"
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def object_like(data: bytes) -> bool:
    """Whether an event's data can be a JSON object, by its first and last bytes (whitespace
    aside): the per-event check of a relayed stream, which parses only the events it must."""
    if data[:1] == b"{" and data[-1:] == b"}":
        return True
    data = data.strip()
    return data[:1] == b"{" and data[-1:] == b"}"


def string_marks(key: bytes, value: bytes = b"") -> tuple[bytes, bytes]:
    """The two ways JSON writers spell ``"key":"value...`` (compact, or a space after the
    colon), for a byte check of an event that is not parsed: ``key`` holds a string that
    starts with ``value``. Inside a JSON string the quotes would be escaped, so text that
    merely mentions the key does not match."""
    return b'"' + key + b'":"' + value, b'"' + key + b'": "' + value
