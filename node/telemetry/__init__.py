"""OpenTelemetry traces of every exchange, sent to an OTLP collector.

Configured by ``telemetry: {otlp_endpoint, protocol, service_name, sample_ratio}``. Off while
``otlp_endpoint`` is empty, and then nothing here runs and no OpenTelemetry package is even
imported: ``Gateway.tracing`` stays None and the request path checks only that.

When on, each exchange is one server span, started when the request arrived (the client's
``traceparent`` is its parent) and ended when the exchange finishes, with the GenAI semantic
convention attributes; each upstream call is a child span (its duration is the upstream's time
to the answer's head, or to a routed stream's first event), and the upstream gets a
``traceparent`` naming the exchange's span. The spans of :mod:`node.telemetry.tracing`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from node.config import Settings
from node.state import GATEWAY

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["SPAN_EXPORTER", "telemetry_ctx"]

SPAN_EXPORTER: web.AppKey[SpanExporter] = web.AppKey("span_exporter")
"""Set before the app starts to send spans there instead of to the collector (tests)."""


async def telemetry_ctx(settings: Settings, app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: build the tracer and hand it to the gateway; at shutdown, send the
    spans still queued. Nothing at all when ``telemetry.otlp_endpoint`` is empty."""
    section = settings.telemetry
    if not section.enabled:
        yield
        return
    from node.telemetry.tracing import Tracing  # only now: OpenTelemetry costs nothing when off

    tracing = Tracing.of(section, app.get(SPAN_EXPORTER))
    gateway = app[GATEWAY]
    gateway.tracing = tracing
    try:
        yield
    finally:
        gateway.tracing = None
        tracing.shutdown()
