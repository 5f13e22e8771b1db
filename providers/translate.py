"""Cross-dialect translation (inbound dialect <-> upstream dialect), through one canonical form.

Adapters call these functions whenever ``inbound != upstream``; the same dialect passes
through with only the model replaced. Requests and complete responses are pure
functions (``body -> canonical -> body``); streams are ``StreamTranslator`` objects fed
one upstream SSE event at a time (an upstream decoder chained to an inbound encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from providers import dialect_anthropic, dialect_gemini, dialect_openai
from providers.canonical import Request, Response, unfold_signatures
from providers.errors import UpstreamServerError
from providers.sse import SSEEvent, encode_event
from providers.stream_decode import AnthropicDecoder, Decoder, GeminiDecoder, OpenAIDecoder
from providers.stream_encode import AnthropicEncoder, Encoder, GeminiEncoder, OpenAIEncoder
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
    if dialect == "anthropic":
        request = dialect_anthropic.request_from(body)
    elif dialect == "gemini":
        request = dialect_gemini.request_from(body, model)
    else:
        request = dialect_openai.request_from(body)
    return unfold_signatures(request)


def render_request(dialect: Dialect, request: Request, config: ProviderConfig) -> dict[str, Any]:
    """The upstream body for a canonical request (Gemini's has no model: it is in the URL)."""
    if dialect == "anthropic":
        return dialect_anthropic.request_to(request, config.max_tokens)
    if dialect == "gemini":
        return dialect_gemini.request_to(request)
    return dialect_openai.request_to(request)


def to_upstream_request(
    inbound: Dialect,
    upstream: Dialect,
    body: dict[str, Any],
    model: str,
    config: ProviderConfig,
) -> dict[str, Any]:
    """Return the upstream request body for ``body``, with ``model`` as the model.

    Never mutates ``body``. Same dialect: a shallow copy with the model replaced (Gemini
    bodies carry no model and are returned as they are).
    """
    if inbound == upstream:
        if upstream == "gemini" or body.get("model") == model:
            return body
        return {**body, "model": model}
    request = parse_request(inbound, body, model)
    request.model = model
    return render_request(upstream, request, config)


_PARSERS: dict[str, Callable[[dict[str, Any]], Response]] = {
    "openai": dialect_openai.response_from,
    "anthropic": dialect_anthropic.response_from,
    "gemini": dialect_gemini.response_from,
}
_RENDERERS: dict[str, Callable[[Response], dict[str, Any]]] = {
    "openai": dialect_openai.response_to,
    "anthropic": dialect_anthropic.response_to,
    "gemini": dialect_gemini.response_to,
}


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
    return _PARSERS[dialect](data)


def render_response(dialect: Dialect, response: Response) -> bytes:
    return orjson.dumps(_RENDERERS[dialect](response))


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


_DECODERS: dict[str, Callable[[str], Decoder]] = {
    "openai": OpenAIDecoder,
    "anthropic": AnthropicDecoder,
    "gemini": GeminiDecoder,
}


def _encoder(inbound: Dialect, model: str, request: dict[str, Any] | None) -> Encoder:
    if inbound == "anthropic":
        return AnthropicEncoder(model)
    if inbound == "gemini":
        return GeminiEncoder(model)
    options = (request or {}).get("stream_options")
    wanted = isinstance(options, dict) and options.get("include_usage") is True
    return OpenAIEncoder(model, include_usage=wanted)


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
    return _Chain(_DECODERS[upstream](provider), _encoder(inbound, model, request))
