"""OpenAI Responses to a Responses client: events relayed as they came (``SseStream`` runs
the loop); only the terminal events, which carry the usage, are parsed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import orjson

from providers.dialects import DIALECTS
from providers.dialects.streams import cut_short, malformed
from providers.sse import SSEEvent, encode_event, object_like
from providers.types import Usage

__all__ = ["ResponsesPassthrough"]

_TERMINAL: Final = ("response.completed", "response.incomplete", "response.failed")
_FAILURES: Final = ("error", "response.failed")


class ResponsesPassthrough:
    """Relays each event unchanged (with its ``event:`` line); reads the final usage.

    An event's kind is its ``event:`` line, as OpenAI writes one for every event; from a
    server that sends none, the event's ``type`` (parsed: a byte check could find a nested
    or late ``type``). The relay stops at the first terminal event (completed, incomplete,
    failed): nothing reaches the client after its own end. ``[DONE]`` alone is no end:
    without ``response.completed`` the stream was cut short.

    A ``response.failed`` or ``error`` event is relayed too: its ``error.code`` is what
    Codex and the Agents SDK act on (``rate_limit_exceeded`` with its delay, ...), and a
    translation could only lose detail. Its text is the upstream's, so ``redact`` (the
    provider's secrets removed, as from every relayed error) runs on those events only.
    """

    def __init__(self, provider: str, redact: Callable[[str], str] | None = None) -> None:
        self.provider = provider
        self.usage = Usage()
        self.done = False  # a terminal event, or [DONE]: the relay stops
        self._redact = redact
        self._ended = False  # a terminal or error event came (not [DONE] alone)

    def feed(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == b"[DONE]":
            self.done = True
            return []
        if not object_like(data):
            raise malformed(self.provider)
        kind = event.event or self._kind(data)
        if kind in _TERMINAL:
            self._usage(data)
            self.done = self._ended = True
        if kind in _FAILURES:
            # An error event is an end too, but not the last event: OpenAI follows it with
            # response.failed, which carries the same error to clients that read only that.
            self._ended = True
            if self._redact is not None:
                data = self._redact(data.decode("utf-8", "replace")).encode()
        return [encode_event(data, event=event.event)]

    def _kind(self, data: bytes) -> str:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise malformed(self.provider) from exc
        kind = obj.get("type") if isinstance(obj, dict) else None
        return kind if isinstance(kind, str) else ""

    def _usage(self, data: bytes) -> None:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        response = obj.get("response") if isinstance(obj, dict) else None
        if isinstance(response, dict):
            self.usage = DIALECTS["responses"].usage_from(response.get("usage"))

    def finish(self) -> list[bytes]:
        if not self._ended:
            raise cut_short(self.provider, "response.completed")
        return []
