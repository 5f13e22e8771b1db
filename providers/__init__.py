"""Upstream adapters and protocol translation.

The node builds one ``Provider`` per configured upstream with ``build_provider`` (all
sharing one ``ClientPool``). Everything about a wire dialect (request checks, error bodies
and events, keep-alive pings, forwarded headers, output limit, model list, usage, JSON-array
framing) is asked of its ``DialectSpec`` in ``DIALECTS``; ``check_request``, ``error_body``
and ``error_event`` taking a dialect name remain as shorthands. Every failure is a
``ProviderError``.

Inside: ``dialects/`` (pure codecs, one folder per dialect), ``upstreams/`` (one adapter per
provider type), ``transport/`` (the HTTP/1.1 client), and the shared core (``canonical``,
``translate``, ``sse``, ``tokens``, ``errors``, ``types``).
"""

from providers.const import PROVIDER_TYPES
from providers.dialects import (
    DIALECTS,
    ArrayFramer,
    DialectSpec,
    Framer,
    StreamTranscript,
    check_embedding_request,
    check_request,
    dialect,
    error_body,
    error_event,
    finish_response,
    reply_output,
    request_shape,
)
from providers.errors import (
    ContextOverflow,
    InvalidConfig,
    InvalidRequest,
    ProviderError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from providers.transport.client import ClientPool
from providers.types import Dialect, Provider, ProviderConfig, Reply, Stream, Usage
from providers.upstreams.factory import build_provider

__all__ = [
    "DIALECTS",
    "PROVIDER_TYPES",
    "ArrayFramer",
    "ClientPool",
    "ContextOverflow",
    "Dialect",
    "DialectSpec",
    "Framer",
    "InvalidConfig",
    "InvalidRequest",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "Reply",
    "Stream",
    "StreamTranscript",
    "UpstreamClientError",
    "UpstreamError",
    "UpstreamRateLimited",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "Usage",
    "build_provider",
    "check_embedding_request",
    "check_request",
    "dialect",
    "error_body",
    "error_event",
    "finish_response",
    "reply_output",
    "request_shape",
]
