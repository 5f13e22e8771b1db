"""What every dialect's stream decoder and encoder share.

A decoder is a small state machine (sans-IO): ``feed`` takes one decoded upstream SSE event
and returns canonical stream events, ``finish`` is called when the upstream ended, ``usage``
is cumulative. An upstream error event raises the matching ``UpstreamError`` (the stream
turns it into the inbound dialect's error event). An encoder turns canonical stream events
into the client's SSE bytes.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from providers.canonical import End, Finish, Start, StreamEvent
from providers.errors import ProviderError, UpstreamServerError
from providers.sse import SSEEvent
from providers.types import Usage

__all__ = ["SHAPE_ERRORS", "Decoder", "Encoder", "cut_short", "load_event", "malformed",
           "wrong_shape"]

SHAPE_ERRORS: Final = (TypeError, KeyError, AttributeError, IndexError, ValueError)
"""What the codecs raise when upstream JSON has the wrong types (``choices: 5``,
``delta: null``, ...): they read upstream answers optimistically, and a wrong type is the
upstream breaking its own dialect, so it is caught once, where the answer enters."""


def wrong_shape(provider: str) -> UpstreamServerError:
    """The error (502) for an upstream answer whose JSON has the wrong shape."""
    return UpstreamServerError(
        f"upstream {provider!r} sent an answer of the wrong shape", provider=provider)


def malformed(provider: str) -> UpstreamServerError:
    """An event whose data cannot be a JSON object: relayed, it would break the client's
    parser mid-answer; it ends the stream with the dialect's error event instead."""
    return UpstreamServerError(f"upstream {provider!r} sent a malformed stream event",
                               provider=provider)


def cut_short(provider: str, terminal: str) -> UpstreamServerError:
    """An upstream stream that ended before its dialect's last event: a relay that just
    stopped would look like a whole (shorter) answer to the client, so it ends with the
    dialect's error event instead."""
    return UpstreamServerError(f"upstream {provider!r} ended the stream before {terminal}",
                               provider=provider)


def load_event(provider: str, data: bytes) -> Any:
    """An upstream event's JSON; a malformed one is the upstream's failure."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise malformed(provider) from exc


class Decoder:
    """Shared state: whether ``Start`` went out, the finish reason and the usage.

    ``terminal`` names what ends the upstream dialect's stream. An upstream that closes
    before it and before any finish reason was cut short: ``finish`` raises then, so the
    client reads an error event, not a whole but shorter answer.
    """

    terminal = "its last event"

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.usage = Usage()
        self.finish_reason: Finish | None = None
        self.started = False
        self.ended = False
        self.calls = 0

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """The canonical events of one upstream event; a wrong shape is a 502, raised as
        ``UpstreamServerError`` so the stream ends with the client dialect's error event."""
        try:
            return self.read(event)
        except ProviderError:
            raise
        except SHAPE_ERRORS as exc:
            raise wrong_shape(self.provider) from exc

    def read(self, event: SSEEvent) -> list[StreamEvent]:
        """``feed`` without the guard: each dialect's decoding."""
        raise NotImplementedError

    def finish(self) -> list[StreamEvent]:
        """The upstream ended: close the turn unless it was closed already."""
        if self.ended:
            return []
        if self.finish_reason is None:
            raise cut_short(self.provider, self.terminal)
        self.ended = True
        head: list[StreamEvent] = [] if self.started else [Start("", "", self.usage)]
        self.started = True
        return [*head, End(self.finish_reason, self.usage)]


class Encoder:
    """Canonical stream events in, one inbound dialect's SSE frames out."""

    def __init__(self, model: str) -> None:
        self.model = model

    def encode(self, event: StreamEvent) -> list[bytes]:
        raise NotImplementedError
