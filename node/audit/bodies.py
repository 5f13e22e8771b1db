"""The bodies of an exchange's audit record (``audit.bodies``), made in the writer's thread.

On the request path an exchange only keeps references to the bytes it already had
(:class:`~node.serve.finished.Bodies`); everything here runs in the audit writer's thread:

- ``metadata``: the exchange's shape without content: request and response sizes in bytes,
  the message count, the tools offered and called, the stream flag, the sampling
  parameters and the finish reason (``shape``).
- ``full``: the shape, plus the request body as the client sent it and the response
  (``request_body``, ``response_body``): a non-streamed answer's JSON as answered, a
  stream's assembled output (text, tool calls, finish reason), not its SSE bytes. Every
  secret the node knows is replaced by ``<redacted>``, and a record that would be longer than
  ``max_record_bytes`` has its bodies cut, each into a string ending in a visible
  ``...[truncated: N bytes]`` marker, so the record stays valid JSON.

The client's bytes and the answer's go into the record as they are (``orjson.Fragment``,
checked to be JSON still after redaction): never decoded and encoded again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from node.logging import REDACTED, SECRET_PATTERNS
from node.serve.finished import Bodies
from providers import StreamTranscript, reply_output, request_shape

__all__ = ["BODY_MODES", "BodyRecord", "BodyRedactor"]

BODY_MODES = ("metadata", "full")
_SHORTEST = 6  # shorter values would shred ordinary words and protect nothing
_MARK = REDACTED.encode()
_ROOM = 64  # bytes a truncation marker and its quotes may take beyond the text kept


class BodyRedactor:
    """Every known secret (as sent and JSON-escaped) and the secret-looking patterns of the
    log redactor, replaced in bytes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[bytes] = set()
        for secret in secrets:
            if len(secret) >= _SHORTEST:
                forms.add(secret.encode())
                forms.add(orjson.dumps(secret)[1:-1])  # as it reads inside a JSON string
        self._secrets = sorted(forms, key=len, reverse=True)
        self._patterns = [re.compile(pattern.pattern.encode()) for pattern in SECRET_PATTERNS]

    def __call__(self, data: bytes) -> bytes:
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, _MARK)
        for pattern in self._patterns:
            data = pattern.sub(_MARK, data)
        return data


class BodyRecord:
    """One exchange record whose bodies are still to be rendered (in the writer's thread)."""

    __slots__ = ("at", "bodies", "full", "record")

    def __init__(self, record: dict[str, Any], bodies: Bodies, *, full: bool) -> None:
        self.at: str = record["at"]
        self.record = record
        self.bodies = bodies
        self.full = full

    def render(self, redact: BodyRedactor, max_bytes: int) -> tuple[bytes, bool]:
        """The record's JSON line (no newline) and whether its bodies were cut."""
        bodies, record = self.bodies, self.record
        response = (orjson.dumps(StreamTranscript(bodies.dialect).output(bodies.chunks))
                    if bodies.chunks is not None else bodies.reply)
        record["shape"] = self._shape(response)
        if not self.full:
            return orjson.dumps(record), False
        request = redact(bodies.raw)
        answer = redact(response) if response is not None else None
        line = orjson.dumps({**record, "request_body": _json_or_text(request),
                             "response_body": _json_or_text(answer) if answer else None})
        if len(line) < max_bytes:
            return line, False
        return self._cut(max_bytes, request, answer), True

    def _shape(self, response: bytes | None) -> dict[str, Any]:
        bodies = self.bodies
        shape: dict[str, Any] = {
            "request_bytes": len(bodies.raw), "stream": bodies.chunks is not None,
            **request_shape(bodies.dialect, bodies.request)}
        if bodies.chunks is not None:
            shape["response_bytes"] = sum(len(chunk) for chunk in bodies.chunks)
            output = orjson.loads(response) if response is not None else {}
        else:
            shape["response_bytes"] = len(bodies.reply) if bodies.reply is not None else 0
            output = (reply_output(bodies.dialect, bodies.reply)
                      if bodies.reply is not None else {})
        shape["tool_calls"] = [call["name"] for call in output.get("tool_calls", [])]
        shape["finish_reason"] = output.get("finish_reason")
        return shape

    def _cut(self, max_bytes: int, request: bytes, answer: bytes | None) -> bytes:
        """The record with its bodies cut to fit ``max_bytes`` (each marked)."""
        head = orjson.dumps({**self.record, "request_body": "", "response_body": "",
                             "truncated": True})
        room = max(max_bytes - len(head) - 2 * _ROOM, 0)
        sizes = [len(request), len(answer or b"")]
        # Each body gets half the room; what one does not need, the other may use.
        shares = [room // 2, room - room // 2]
        for mine, other in ((0, 1), (1, 0)):
            if sizes[mine] <= room // 2:
                shares = [0, 0]
                shares[mine], shares[other] = sizes[mine], room - sizes[mine]
        return orjson.dumps({
            **self.record, "request_body": _within(request, shares[0]),
            "response_body": _within(answer, shares[1]) if answer is not None else None,
            "truncated": True})


def _json_or_text(data: bytes) -> Any:
    """``data`` as it is when it is JSON (a redaction inside a string keeps it so), else as
    text: a record must stay valid JSON whatever a redaction or an upstream did."""
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode(errors="replace")
    return orjson.Fragment(data)


def _within(data: bytes, share: int) -> Any:
    """``data`` whole when it fits in ``share`` bytes, else about ``share`` bytes of it as a
    JSON string ending in the truncation marker."""
    if len(data) <= share:
        return _json_or_text(data)
    keep = share
    while True:
        text = data[:keep].decode(errors="ignore")  # a character cut in two is left out
        marked = f"{text}...[truncated: {len(data)} bytes]"
        excess = len(orjson.dumps(marked)) - share - _ROOM
        if excess <= 0 or keep == 0:
            return marked
        keep = max(keep - excess, 0)
