"""OpenAI-compatible SSE streams: what is done per event (``SseStream`` runs the loop).

Per event the relay does byte checks only; JSON is parsed just for the rare events that
carry a real ``usage`` object or an ``error`` key.
"""

from __future__ import annotations

import re

import orjson

from providers.dialects import DIALECTS
from providers.dialects.streams import cut_short, malformed
from providers.errors import UpstreamServerError
from providers.sse import SSEEvent, encode_event, object_like, string_marks
from providers.translate import StreamTranslator
from providers.types import Usage
from providers.upstream_errors import upstream_error

__all__ = ["OpenAIEvents"]

_DONE = b"data: [DONE]\n\n"
# A run of well-formed single-line events, as OpenAI and every compatible server write them:
# such a block is relayed as it came, checked by one regex instead of event by event.
_EVENTS = re.compile(rb"(?:data: (?:\{[^\n]*\}|\[DONE\])\n\n)*")


_FINISH = string_marks(b"finish_reason")  # every other chunk says "finish_reason":null


def _finishes(data: bytes) -> bool:
    """Whether a choice in ``data`` carries its finish reason."""
    return _FINISH[0] in data or _FINISH[1] in data


def _is_null(data: bytes, at: int) -> bool:
    """Whether the value after the key ending at ``at`` is ``null`` (OpenAI sends
    ``"usage":null`` in every chunk once usage is asked for; those need no parse)."""
    rest = data[at : at + 8]
    return rest[:5] == b":null" or rest.replace(b" ", b"")[:5] == b":null"


class OpenAIEvents:
    """The per-event work of an OpenAI-compatible stream, run by ``SseStream``.

    Pass-through (no ``translator``): events are re-framed unchanged; only those carrying a
    real ``usage`` or an ``error`` are parsed. ``strip_usage``: the gateway asked for
    ``include_usage`` on the client's behalf, so the usage-only chunk (``choices == []``) is
    recorded but not relayed. ``done`` turns True at ``[DONE]``, where the relay stops.
    A pass-through stream that closes with neither ``[DONE]`` nor a finish reason was cut
    short: it ends with an error event (a translator's decoder judges that itself).
    """

    def __init__(self, provider: str, *, strip_usage: bool,
                 translator: StreamTranslator | None = None) -> None:
        self.usage = Usage()
        self.done = False
        self._finished = False  # a finish_reason went by (pass-through)
        self._provider = provider
        self._strip = strip_usage
        self._translator = translator

    def feed(self, event: SSEEvent) -> list[bytes]:
        return self._on_event(event)

    def raw(self, block: bytes) -> bytes | None:
        """What to relay for ``block`` (whole events, as read), or None when it must go
        event by event through :meth:`feed` (a translator, an error, anything unusual).

        Pass-through only. The result is what :meth:`feed` would give for the same events:
        the events up to ``[DONE]``, less a usage-only chunk the gateway asked for."""
        if self._translator is not None or b'"error"' in block or not _EVENTS.fullmatch(block):
            return None
        end = block.find(_DONE)
        if end >= 0:
            block = block[: end + len(_DONE)]
        usage, at = self.usage, block.find(b'"usage"')
        while at >= 0:
            before = block.rfind(b"\n\n", 0, at)
            start = before + 2 if before >= 0 else 0
            stop = block.find(b"\n\n", at) + 2
            if _is_null(block, at + 7):
                at = block.find(b'"usage"', stop)
                continue
            try:
                usage_only = self._take_usage(block[start + 6 : stop - 2])
            except UpstreamServerError:
                # Event by event, the events before this one still reach the client.
                self.usage = usage
                return None
            if usage_only:
                block = block[:start] + block[stop:]      # the usage-only chunk: kept back
                at = block.find(b'"usage"', start)
            else:
                at = block.find(b'"usage"', stop)
        self.done = end >= 0
        if not self._finished and _finishes(block):
            self._finished = True
        return block

    def finish(self) -> list[bytes]:
        if self.done:
            return []
        if self._translator is not None:
            return self._translator.finish()
        if not self._finished:
            raise cut_short(self._provider, "[DONE]")
        return []

    def _on_event(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == b"[DONE]":
            self.done = True
            return [_DONE] if self._translator is None else self._translator.feed(event)
        # Byte checks only: a JSON object starts with "{" and ends with "}" (what lies
        # between is parsed only when usage or an error is in it).
        if not object_like(data):
            raise malformed(self._provider)
        if event.event == "error" or b'"error"' in data:
            self._check_error(data)
        if self._translator is not None:
            # The translator reads usage itself (it closes the inbound turn with it).
            out = self._translator.feed(event)
            self.usage = self._translator.usage
            return out
        if not self._finished and _finishes(data):
            self._finished = True
        at = data.find(b'"usage"')
        if at >= 0 and not _is_null(data, at + 7) and self._take_usage(data):
            return []
        if b"\n" in data:  # multi-line data (the decoder already turned CRs into LFs)
            return [encode_event(data)]
        return [b"data: " + data + b"\n\n"]

    def _parse(self, data: bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise malformed(self._provider) from exc

    def _check_error(self, data: bytes) -> None:
        obj = self._parse(data)
        if not isinstance(obj, dict) or not obj.get("error"):
            return  # no error, or "error": null beside a chunk (some servers send that)
        err = obj["error"]
        status = 502
        if isinstance(err, dict):
            for key in ("code", "status"):
                value = err.get(key)
                if isinstance(value, int) and 400 <= value < 600:
                    status = value
                    break
        raise upstream_error(self._provider, status, data)

    def _take_usage(self, data: bytes) -> bool:
        """Record usage; True if this is the usage-only chunk and must not be relayed."""
        obj = self._parse(data)
        if not isinstance(obj, dict):
            return False
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.usage = DIALECTS["openai"].usage_from(usage)
        return self._strip and not obj.get("choices")
