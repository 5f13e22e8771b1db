"""The seam for cross-dialect translation (inbound dialect <-> upstream dialect).

Adapters call these functions whenever ``inbound != upstream``. Today only the identity
is available; any other pair raises ``InvalidRequest`` (400) naming the pair. Translators
for Anthropic and Gemini plug in here, through one canonical form, without the adapters
changing: requests and complete responses are pure functions, streams are incremental
``StreamTranslator`` objects fed one upstream SSE event at a time.
"""

from __future__ import annotations

from typing import Any, Protocol

from providers.errors import InvalidRequest
from providers.sse import SSEEvent, encode_event
from providers.types import Dialect, ProviderConfig, Usage

__all__ = [
    "StreamTranslator",
    "from_upstream_response",
    "stream_translator",
    "to_upstream_request",
]


class StreamTranslator(Protocol):
    """Turns upstream SSE events into inbound-dialect SSE bytes, one event at a time."""

    usage: Usage

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one upstream event into zero or more complete inbound SSE events."""
        ...

    def finish(self) -> list[bytes]:
        """The upstream ended cleanly: return whatever closes the inbound stream."""
        ...


def _unavailable(inbound: Dialect, upstream: Dialect) -> InvalidRequest:
    return InvalidRequest(f"translation from {inbound} to {upstream} is not available yet")


def to_upstream_request(
    inbound: Dialect,
    upstream: Dialect,
    body: dict[str, Any],
    model: str,
    config: ProviderConfig,
) -> dict[str, Any]:
    """Return the upstream request body for ``body``, with ``model`` as the model.

    Never mutates ``body``. Raises ``InvalidRequest`` for pairs not yet translatable.
    """
    if inbound != upstream:
        raise _unavailable(inbound, upstream)
    if body.get("model") == model:
        return body
    return {**body, "model": model}


def from_upstream_response(inbound: Dialect, upstream: Dialect, body: bytes, model: str) -> bytes:
    """Return the inbound-dialect body for a complete upstream response body."""
    if inbound != upstream:
        raise _unavailable(inbound, upstream)
    return body


class _Identity:
    """Re-frames each event unchanged (used only where an adapter has no fast path)."""

    def __init__(self) -> None:
        self.usage = Usage()

    def feed(self, event: SSEEvent) -> list[bytes]:
        return [encode_event(event.data, event=event.event)]

    def finish(self) -> list[bytes]:
        return []


def stream_translator(inbound: Dialect, upstream: Dialect, model: str) -> StreamTranslator:
    """Return a translator for one stream from ``upstream`` to ``inbound``."""
    if inbound != upstream:
        raise _unavailable(inbound, upstream)
    return _Identity()
