"""Prometheus metrics of one node, in a registry owned by the app (no process globals).

Families follow the common gateway set (HTTP, upstream, streaming, auth, tokens) plus the
gateway's own overhead, the time a request spends in this process excluding the upstream.
Label children are cached per label tuple because ``labels()`` costs microseconds on the
request path and the label space here is small and bounded (routes, providers, models, keys).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    """Every metric the node exports, plus cheap helpers for the hot path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "at_http_requests_total", "HTTP requests served", ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "at_http_request_duration_seconds", "Request latency including all middleware",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge(
            "at_http_requests_in_flight", "Requests being served now", registry=r
        )
        self.upstream_requests = Counter(
            "at_upstream_requests_total", "Requests sent to upstream providers",
            ["provider", "status"], registry=r,
        )
        self.upstream_duration = Histogram(
            "at_upstream_request_duration_seconds",
            "Time from sending to an upstream until its response headers (time to first byte)",
            ["provider"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.upstream_errors = Counter(
            "at_upstream_errors_total", "Upstream failures by kind", ["provider", "error_type"],
            registry=r,
        )
        self.stream_events = Counter(
            "at_streaming_events_total", "SSE chunks sent to clients", ["provider"], registry=r
        )
        self.stream_bytes = Counter(
            "at_streaming_bytes_total", "SSE bytes sent to clients", ["provider"], registry=r
        )
        self.stream_duration = Histogram(
            "at_streaming_duration_seconds", "Whole stream duration", ["provider"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.auth = Counter(
            "at_auth_requests_total", "Gateway key checks", ["result"], registry=r
        )
        self.tokens = Counter(
            "at_tokens_total", "Tokens by gateway key, model and direction",
            ["key", "model", "direction"], registry=r,
        )
        self.overhead = Histogram(
            "at_gateway_overhead_seconds",
            "Time spent in the gateway itself, upstream time excluded",
            ["route"], buckets=OVERHEAD_BUCKETS, registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, method, route, str(status)).inc()
        self._child(self.http_duration, route).observe(seconds)

    def upstream_done(self, provider: str, status: int, seconds: float) -> None:
        self._child(self.upstream_requests, provider, str(status)).inc()
        self._child(self.upstream_duration, provider).observe(seconds)

    def upstream_error(self, provider: str, error_type: str) -> None:
        self._child(self.upstream_errors, provider, error_type).inc()

    def overhead_seen(self, route: str, seconds: float) -> None:
        self._child(self.overhead, route).observe(seconds)

    def auth_result(self, result: str) -> None:
        self._child(self.auth, result).inc()

    def tokens_used(self, key: str, model: str, input_tokens: int, output_tokens: int) -> None:
        if input_tokens:
            self._child(self.tokens, key, model, "input").inc(input_tokens)
        if output_tokens:
            self._child(self.tokens, key, model, "output").inc(output_tokens)

    def stream_done(self, provider: str, events: int, size: int, seconds: float) -> None:
        self._child(self.stream_events, provider).inc(events)
        self._child(self.stream_bytes, provider).inc(size)
        self._child(self.stream_duration, provider).observe(seconds)

    def add_gauges(self, name: str, doc: str, read: Any) -> None:
        """Export values read at scrape time (``read() -> dict[label, float]``)."""
        self.registry.register(_ScrapeGauge(name, doc, read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeGauge:
    def __init__(self, name: str, doc: str, read: Any) -> None:
        self._name, self._doc, self._read = name, doc, read

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> list[Any]:
        family = GaugeMetricFamily(self._name, self._doc, labels=["name"])
        for label, value in self._read().items():
            family.add_metric([label], float(value))
        return [family]
