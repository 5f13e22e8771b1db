"""Gemini wire details beyond messages: the JSON-array stream framing."""

from __future__ import annotations

__all__ = ["ArrayFramer"]


class ArrayFramer:
    """SSE ``data:`` events as the elements of one JSON array, fed incrementally.

    ``streamGenerateContent`` without ``alt=sse`` answers a JSON array whose elements are
    the chunks: ``[`` before the first, ``,\\r\\n`` between, ``]`` at the end (``[]`` when
    nothing came). An event's ``data:`` lines are one element, joined as SSE joins them.
    """

    __slots__ = ("_first",)

    def __init__(self) -> None:
        self._first = True

    def feed(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        for frame in chunk.split(b"\n\n"):
            data = [line[5:].strip() for line in frame.splitlines() if line.startswith(b"data:")]
            if data:
                out.append((b"[" if self._first else b",\r\n") + b"\n".join(data))
                self._first = False
        return b"".join(out)

    def end(self) -> bytes:
        return b"[]" if self._first else b"]"
