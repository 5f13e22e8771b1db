"""The spans themselves (imported only when telemetry is on: see :mod:`node.telemetry`).

Times on the request path are ``time.perf_counter()`` readings (monotonic); a span needs
nanoseconds since the epoch, so each reading is placed relative to the wall clock at the
moment it is turned into a span. Spans are made whole at the end (a child span for an upstream
call is recorded once its duration is known): nothing is kept open across awaits but the
exchange's own span.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from node.config.telemetry import GRPC_MISSING, TelemetrySection
from node.errors import ConfigError
from node.serve.finished import Finished

__all__ = ["Tracing"]

# gen_ai.operation.name per endpoint (the GenAI conventions' names where one fits).
_OPERATIONS = {"chat": "chat", "responses": "chat", "embeddings": "embeddings"}
# gen_ai.provider.name per provider type: the conventions' well-known values.
_PROVIDER_NAMES = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic",
                   "gemini": "gcp.gemini", "vertex": "gcp.vertex_ai"}


def _exporter(section: TelemetrySection) -> SpanExporter:
    if section.protocol == "grpc":
        try:  # checked with the settings too; a package removed since still says so
            grpc = importlib.import_module(
                "opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        except ImportError:
            raise ConfigError(GRPC_MISSING) from None
        exporter: SpanExporter = grpc.OTLPSpanExporter(endpoint=section.otlp_endpoint)
        return exporter
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "telemetry.otlp_endpoint: set, but the package opentelemetry-exporter-otlp-proto-"
            "http is not installed: install at-gateway[otel]") from None
    return OTLPSpanExporter(endpoint=section.otlp_endpoint)


def _wall_ns(perf: float) -> int:
    """A ``perf_counter()`` reading as nanoseconds since the epoch."""
    return time.time_ns() - int((time.perf_counter() - perf) * 1e9)


class Tracing:
    """One node's tracer: the exchange span, its upstream children, the ``traceparent``."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("at-gateway")
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def of(cls, section: TelemetrySection, exporter: SpanExporter | None) -> Tracing:
        """Spans to ``exporter`` as they end (tests), else in batches to the collector."""
        processor: SpanProcessor = (SimpleSpanProcessor(exporter) if exporter is not None
                                    else BatchSpanProcessor(_exporter(section)))
        provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(section.sample_ratio)),
            resource=Resource.create({"service.name": section.service_name}),
            shutdown_on_exit=False)
        provider.add_span_processor(processor)
        return cls(provider)

    def start(self, headers: Mapping[str, str], endpoint: str, started: float) -> Span:
        """The exchange's span, a child of the client's ``traceparent`` if it sent one."""
        parent = self._propagator.extract(headers)
        operation = _OPERATIONS.get(endpoint, endpoint)
        return self._tracer.start_span(
            operation, context=parent, kind=SpanKind.SERVER, start_time=_wall_ns(started),
            attributes={"gen_ai.operation.name": operation})

    def headers(self, span: Span) -> dict[str, str]:
        """``traceparent`` (and ``tracestate``) for the upstream: the exchange's span."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, trace.set_span_in_context(span))
        return carrier

    def upstream(self, span: Span, provider: str, provider_type: str, model: str,
                 sent: float, failure: BaseException | None) -> None:
        """One upstream call as a child of the exchange's span, from ``sent`` to now."""
        child = self._tracer.start_span(
            f"upstream {provider}", context=trace.set_span_in_context(span),
            kind=SpanKind.CLIENT, start_time=_wall_ns(sent),
            attributes={"gen_ai.provider.name": _PROVIDER_NAMES.get(provider_type,
                                                                    provider_type),
                        "gen_ai.request.model": model, "at.provider": provider})
        if failure is not None:
            child.set_attribute("error.type", type(failure).__name__)
            status = getattr(failure, "status", None)
            if isinstance(status, int):
                child.set_attribute("http.response.status_code", status)
            child.set_status(Status(StatusCode.ERROR, type(failure).__name__))
        child.end()

    def end(self, span: Span, done: Finished, provider_type: str, requested: str) -> None:
        """Name, attributes and status of the finished exchange; the span ends here."""
        operation = _OPERATIONS.get(done.endpoint, done.endpoint)
        if requested:
            span.update_name(f"{operation} {requested}")
        usage = done.usage
        attributes: dict[str, str | int | float | bool] = {
            "http.response.status_code": done.status,
            "at.dialect": done.dialect, "at.endpoint": done.endpoint,
            "at.key_id": done.key.id, "at.attempts": done.attempts,
            "at.stream": done.stream,
            "at.upstream_seconds": done.upstream_seconds,
            "at.overhead_seconds": max(done.latency_seconds - done.upstream_seconds, 0.0),
        }
        if done.request_id:
            attributes["at.request_id"] = done.request_id
        if done.provider:
            name = _PROVIDER_NAMES.get(provider_type, provider_type)
            attributes.update({
                "gen_ai.provider.name": name, "gen_ai.system": name,
                "gen_ai.request.model": requested or done.model,
                "gen_ai.response.model": done.model, "at.provider": done.provider,
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "at.cost_usd": done.cost_usd})
        span.set_attributes(attributes)
        if done.error:
            span.set_attribute("error.type", done.error)
        if done.status >= 500:  # a server span's error: the conventions leave 4xx unset
            span.set_status(Status(StatusCode.ERROR, done.error or str(done.status)))
        span.end()

    def shutdown(self) -> None:
        """Send what is queued and stop (at the node's shutdown)."""
        self._provider.shutdown()
