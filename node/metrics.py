"""Prometheus metrics of one node, owned by the app (no process globals).

Families follow the common gateway set (HTTP, upstream, streaming, auth, tokens) plus the
gateway's own overhead, the time a request spends in this process excluding the upstream.

The request path only adds to plain dicts: everything runs on the event loop, so no lock is
needed, and the Prometheus objects are built at scrape time. (prometheus_client's own metric
objects take a lock and a label lookup on every update, several microseconds per request.)
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from providers import Usage

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

Labels = tuple[str, ...]


class Counter:
    """A counter family: label values -> running total."""

    def __init__(self, name: str, doc: str, labels: Iterable[str]) -> None:
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.values: dict[Labels, float] = {}

    def add(self, key: Labels, amount: float = 1.0) -> None:
        self.values[key] = self.values.get(key, 0.0) + amount

    def absorb(self, rows: Iterable[Any]) -> None:
        """Add another worker's values (``[[labels, value], ...]``)."""
        for labels, value in rows:
            self.add(tuple(labels), float(value))

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in sorted(self.values.items()):
            family.add_metric(list(key), value)
        return family


class Histogram:
    """A histogram family: label values -> per-bucket counts, sum and count."""

    def __init__(self, name: str, doc: str, labels: Iterable[str],
                 buckets: tuple[float, ...]) -> None:
        self.name, self.doc, self.labels, self.buckets = name, doc, list(labels), buckets
        self.values: dict[Labels, list[float]] = {}  # counts per bucket (+Inf last), sum

    def observe(self, key: Labels, value: float) -> None:
        slots = self.values.get(key)
        if slots is None:
            slots = self.values[key] = [0.0] * (len(self.buckets) + 2)
        slots[bisect_left(self.buckets, value)] += 1
        slots[-1] += value

    def absorb(self, rows: Iterable[Any]) -> None:
        """Add another worker's buckets and sums (``[[labels, slots], ...]``)."""
        for labels, slots in rows:
            key = tuple(labels)
            mine = self.values.get(key)
            if mine is None:
                self.values[key] = [float(x) for x in slots]
            else:
                for i, value in enumerate(slots):
                    mine[i] += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, slots in sorted(self.values.items()):
            running, cumulative = 0.0, []
            for bound, count in zip((*self.buckets, float("inf")), slots[:-1], strict=True):
                running += count
                cumulative.append((_bound(bound), running))
            family.add_metric(list(key), cumulative, sum_value=slots[-1])
        return family


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class Metrics:
    """Every metric the node exports, with cheap helpers for the hot path."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.http_requests = Counter(
            "at_http_requests_total", "HTTP requests served", ["method", "route", "status"])
        self.http_duration = Histogram(
            "at_http_request_duration_seconds", "Request latency including all middleware",
            ["route"], LATENCY_BUCKETS)
        self.upstream_requests = Counter(
            "at_upstream_requests_total",
            "Requests sent to upstream providers; outcome: ok, retried (another target was "
            "tried next) or failed (the exchange ended with this failure)",
            ["provider", "status", "outcome"])
        self.upstream_duration = Histogram(
            "at_upstream_request_duration_seconds",
            "Time from sending to an upstream until its response headers (time to first byte)",
            ["provider"], LATENCY_BUCKETS)
        self.upstream_errors = Counter(
            "at_upstream_errors_total", "Upstream failures by kind", ["provider", "error_type"])
        self.stream_events = Counter(
            "at_streaming_events_total", "SSE chunks sent to clients", ["provider"])
        self.stream_bytes = Counter(
            "at_streaming_bytes_total", "SSE bytes sent to clients", ["provider"])
        self.stream_duration = Histogram(
            "at_streaming_duration_seconds", "Whole stream duration", ["provider"],
            LATENCY_BUCKETS)
        self.cooldowns = Counter(
            "at_upstream_cooldowns_total", "Route targets cooled down, by why",
            ["target", "reason"])
        self.auth = Counter("at_auth_requests_total", "Gateway key checks", ["result"])
        self.tokens = Counter(
            "at_tokens_total", "Tokens by gateway key, model and direction",
            ["key", "model", "direction"])
        self.rate_limited_total = Counter(
            "at_rate_limit_exceeded_total", "Requests refused by a request or token limit",
            ["key", "limit"])
        self.quota_exceeded_total = Counter(
            "at_quota_exceeded_total", "Requests refused by a USD budget", ["key", "limit"])
        self.cost = Counter(
            "at_cost_usd_total", "USD spent by gateway key, provider and model",
            ["key", "provider", "model"])
        self.overhead = Histogram(
            "at_gateway_overhead_seconds",
            "Time spent in the gateway itself, upstream time excluded", ["route"],
            OVERHEAD_BUCKETS)
        self._gauges: list[tuple[str, str, Callable[[], Mapping[str, float]], str]] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.add((method, route, str(status)))
        self.http_duration.observe((route,), seconds)

    def upstream_done(self, provider: str, status: int, seconds: float,
                      outcome: str = "") -> None:
        """One upstream attempt; ``outcome`` defaults to ok for a 2xx, failed otherwise."""
        self.upstream_requests.add(
            (provider, str(status), outcome or ("ok" if status < 400 else "failed")))
        self.upstream_duration.observe((provider,), seconds)

    def cooled_down(self, target: str, reason: str) -> None:
        self.cooldowns.add((target, reason))

    def upstream_error(self, provider: str, error_type: str) -> None:
        self.upstream_errors.add((provider, error_type))

    def overhead_seen(self, route: str, seconds: float) -> None:
        self.overhead.observe((route,), seconds)

    def auth_result(self, result: str) -> None:
        self.auth.add((result,))

    def tokens_used(self, key: str, model: str, usage: Usage) -> None:
        """One series per direction; cached prompt tokens are not in ``input`` (they are
        billed apart), so they get series of their own."""
        for direction, count in (("input", usage.input_tokens),
                                 ("output", usage.output_tokens),
                                 ("cache_read", usage.cache_read_tokens),
                                 ("cache_write", usage.cache_write_tokens)):
            if count:
                self.tokens.add((key, model, direction), count)

    def rate_limited(self, key: str, limit: str) -> None:
        self.rate_limited_total.add((key, limit))

    def quota_exceeded(self, key: str, limit: str) -> None:
        self.quota_exceeded_total.add((key, limit))

    def cost_used(self, key: str, provider: str, model: str, usd: float) -> None:
        self.cost.add((key, provider, model), usd)

    def stream_done(self, provider: str, events: int, size: int, seconds: float) -> None:
        self.stream_events.add((provider,), events)
        self.stream_bytes.add((provider,), size)
        self.stream_duration.observe((provider,), seconds)

    def add_gauges(self, name: str, doc: str, read: Callable[[], Mapping[str, float]], *,
                   merge: str = "sum") -> None:
        """Export values read at scrape time (``read() -> {label: value}``). ``merge`` says
        how the workers of one node combine: ``sum`` (counts) or ``max`` (flags)."""
        self._gauges.append((name, doc, read, merge))

    def _families(self) -> list[Counter | Histogram]:
        return [
            self.http_requests, self.http_duration, self.upstream_requests,
            self.upstream_duration, self.upstream_errors, self.cooldowns, self.stream_events,
            self.stream_bytes, self.stream_duration, self.auth, self.tokens, self.overhead,
            self.rate_limited_total, self.quota_exceeded_total,
            self.cost,
        ]

    def snapshot(self) -> dict[str, Any]:
        """Every value as JSON-ready data, for the node's one exposition of all its workers."""
        return {
            "families": {f.name: [[list(k), v] for k, v in f.values.items()]
                         for f in self._families()},
            "in_flight": self.in_flight,
            "gauges": [[name, doc, merge, dict(read())] for name, doc, read, merge
                       in self._gauges],
        }

    def render_merged(self, snapshots: Iterable[Mapping[str, Any]]) -> bytes:
        """This process's exposition with other workers' snapshots added in: counters and
        histogram buckets sum, gauges combine by their ``merge``."""
        total = Metrics()
        gauges: dict[str, tuple[str, str, dict[str, float]]] = {}
        for snap in (self.snapshot(), *snapshots):
            total.in_flight += int(snap.get("in_flight", 0))
            families = {f.name: f for f in total._families()}
            for name, rows in snap.get("families", {}).items():
                family = families.get(name)
                if family is not None:
                    family.absorb(rows)
            for name, doc, merge, values in snap.get("gauges", []):
                _, _, seen = gauges.setdefault(name, (doc, merge, {}))
                for label, value in values.items():
                    old = seen.get(label)
                    seen[label] = float(value) if old is None else (
                        max(old, value) if merge == "max" else old + value)
        for name, (doc, merge, values) in gauges.items():
            total.add_gauges(name, doc, values.copy, merge=merge)
        return total.render()

    def collect(self) -> Iterable[Any]:
        """The prometheus_client collector protocol: every family, built now."""
        yield from (family.family() for family in self._families())
        in_flight = GaugeMetricFamily("at_http_requests_in_flight", "Requests being served now")
        in_flight.add_metric([], self.in_flight)
        yield in_flight
        for name, doc, read, _ in self._gauges:
            gauge = GaugeMetricFamily(name, doc, labels=["name"])
            for label, value in read().items():
                gauge.add_metric([label], float(value))
            yield gauge

    def render(self) -> bytes:
        return generate_latest(self.registry)
