"""Cross-dialect translation (inbound dialect <-> upstream dialect), through one canonical form.

Adapters call these functions whenever ``inbound != upstream``; the same dialect passes
through with only the model replaced. Requests and complete responses are pure
functions (``body -> canonical -> body``); streams are ``StreamTranslator`` objects fed
one upstream SSE event at a time (an upstream decoder chained to an inbound encoder).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from providers.canonical import Request, Response, unfold_signatures
from providers.dialects import DIALECTS
from providers.dialects.streams import SHAPE_ERRORS, Decoder, Encoder, wrong_shape
from providers.errors import ProviderError, UpstreamServerError
from providers.sse import SSEEvent, encode_event
from providers.types import Dialect, ProviderConfig, Usage

__all__ = [
    "StreamTranslator",
    "from_upstream_response",
    "parse_request",
    "parse_response",
    "render_for",
    "render_request",
    "render_response",
    "stream_translator",
    "to_upstream_request",
]


class StreamTranslator(Protocol):
    """Turns upstream SSE events into inbound-dialect SSE bytes, one event at a time."""

    @property
    def usage(self) -> Usage:
        """Cumulative usage of the stream so far (complete once ``finish`` ran)."""
        ...

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one upstream event into zero or more complete inbound SSE events."""
        ...

    def finish(self) -> list[bytes]:
        """The upstream ended cleanly: return whatever closes the inbound stream."""
        ...


def parse_request(dialect: Dialect, body: dict[str, Any], model: str = "") -> Request:
    """The canonical request for an inbound ``body`` (``model`` names Gemini's URL model)."""
    return unfold_signatures(DIALECTS[dialect].parse_request(body, model))


def render_request(dialect: Dialect, request: Request, config: ProviderConfig) -> dict[str, Any]:
    """The upstream body for a canonical request (Gemini's has no model: it is in the URL)."""
    return DIALECTS[dialect].render_request(request, config)


def to_upstream_request(
    inbound: Dialect,
    upstream: Dialect,
    body: dict[str, Any],
    model: str,
    config: ProviderConfig,
) -> dict[str, Any]:
    """Return the upstream request body for ``body``, with ``model`` as the model.

    Never mutates ``body``. Same dialect: the dialect's ``with_model`` (a shallow copy
    with the model replaced; Gemini bodies carry no model and are returned as they are).
    """
    if inbound == upstream:
        return DIALECTS[upstream].with_model(body, model)
    request = parse_request(inbound, body, model)
    request.model = model
    return render_request(upstream, request, config)


def parse_response(dialect: Dialect, body: bytes, provider: str = "") -> Response:
    """The canonical form of a complete upstream response body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamServerError(
            f"upstream {provider!r} answered 2xx with a body that is not JSON", provider=provider
        ) from exc
    if not isinstance(data, dict):
        raise UpstreamServerError(
            f"upstream {provider!r} answered 2xx with JSON that is not an object",
            provider=provider,
        )
    try:
        return DIALECTS[dialect].parse_response(data)
    except ProviderError:
        raise
    except SHAPE_ERRORS as exc:  # the codecs read optimistically: see SHAPE_ERRORS
        raise wrong_shape(provider) from exc


def render_response(dialect: Dialect, response: Response) -> bytes:
    return orjson.dumps(DIALECTS[dialect].render_response(response))


def render_for(inbound: Dialect, response: Response, model: str) -> bytes:
    """An upstream's parsed answer as ``inbound``'s body (``model`` when it names none)."""
    response.model = response.model or model
    return render_response(inbound, response)


def from_upstream_response(
    inbound: Dialect, upstream: Dialect, body: bytes, model: str, provider: str = ""
) -> bytes:
    """Return the inbound-dialect body for a complete upstream response body."""
    if inbound == upstream:
        return body
    return render_for(inbound, parse_response(upstream, body, provider), model)


class _Chain:
    """An upstream decoder feeding an inbound encoder."""

    __slots__ = ("_decoder", "_encoder")

    def __init__(self, decoder: Decoder, encoder: Encoder) -> None:
        self._decoder = decoder
        self._encoder = encoder

    @property
    def usage(self) -> Usage:
        return self._decoder.usage

    @property
    def done(self) -> bool:
        """The upstream's stream reached its end (Anthropic's ``message_stop``): the relay
        stops there, so nothing reaches the client after its own end."""
        return self._decoder.ended

    def feed(self, event: SSEEvent) -> list[bytes]:
        encode = self._encoder.encode
        return [frame for ev in self._decoder.feed(event) for frame in encode(ev)]

    def finish(self) -> list[bytes]:
        encode = self._encoder.encode
        return [frame for ev in self._decoder.finish() for frame in encode(ev)]


class _Identity:
    """Re-frames each event unchanged (used only where an adapter has no fast path)."""

    def __init__(self) -> None:
        self.usage = Usage()

    def feed(self, event: SSEEvent) -> list[bytes]:
        return [encode_event(event.data, event=event.event)]

    def finish(self) -> list[bytes]:
        return []


def stream_translator(
    inbound: Dialect,
    upstream: Dialect,
    model: str,
    *,
    request: dict[str, Any] | None = None,
    provider: str = "",
) -> StreamTranslator:
    """Return a translator for one stream from ``upstream`` to ``inbound``.

    ``request`` is the inbound body (an OpenAI client's ``stream_options`` decide whether
    the usage chunk is sent); ``provider`` names the upstream in error messages.
    """
    if inbound == upstream:
        return _Identity()
    return _Chain(DIALECTS[upstream].decoder(provider), DIALECTS[inbound].encoder(model, request))
