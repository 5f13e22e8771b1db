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

_TERMINAL: Final = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')
_FAILURES: Final = ("error", "response.failed")
_FAILURE_MARKS: Final = (b'"type":"error"', b'"type": "error"', b'"type":"response.failed"',
                         b'"type": "response.failed"')


class ResponsesPassthrough:
    """Relays each event unchanged (with its ``event:`` line); reads the final usage.

    A ``response.failed`` or ``error`` event is relayed too: its ``error.code`` is what
    Codex and the Agents SDK act on (``rate_limit_exceeded`` with its delay, ...), and a
    translation could only lose detail. Its text is the upstream's, so ``redact`` (the
    provider's secrets removed, as from every relayed error) runs on those events only.
    """

    def __init__(self, provider: str, redact: Callable[[str], str] | None = None) -> None:
        self.provider = provider
        self.usage = Usage()
        self.done = False
        self._redact = redact
        self._ended = False  # a terminal event (completed, incomplete, failed) or an error

    def feed(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == b"[DONE]":
            self.done = self._ended = True
            return []
        if not object_like(data):
            raise malformed(self.provider)
        head = data[:160]
        if any(mark in head for mark in _TERMINAL) or (
                event.event or "").startswith(("response.completed", "response.incomplete")):
            self._usage(data)
            self._ended = True
        if event.event in _FAILURES or any(mark in head for mark in _FAILURE_MARKS):
            self._ended = True
            if self._redact is not None:
                data = self._redact(data.decode("utf-8", "replace")).encode()
        return [encode_event(data, event=event.event)]

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
