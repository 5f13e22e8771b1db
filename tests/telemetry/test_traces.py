"""OpenTelemetry spans of real exchanges on an in-process node, captured in memory.

The node runs with ``telemetry.otlp_endpoint`` set and an in-memory exporter in place of the
collector (``SPAN_EXPORTER``); its upstream is the OpenAI fake, which records the
``traceparent`` it was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from node.telemetry import SPAN_EXPORTER
from tests.fakes.openai_upstream import FakeUpstream, Json
from tests.node.harness import Node, post, running_node, settings_tree

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
BODY = {"model": "up/fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced_tree(upstream: FakeUpstream, **telemetry: object) -> dict[str, object]:
    return settings_tree(
        providers={
            "up": {"type": "openai", "base_url": upstream.base_url,
                   "api_key": "sk-upstream-secret-123456", "model": "fake-model",
                   "timeout": "2s"},
            "dead": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        },
        routes={"pair": {"targets": [{"model": "dead/m", "priority": 1},
                                     {"model": "up/fake-model", "priority": 2}]}},
        telemetry={"otlp_endpoint": "http://127.0.0.1:9/v1/traces", **telemetry})


@pytest.fixture
async def traced(upstream: FakeUpstream, spans: InMemorySpanExporter) -> AsyncIterator[Node]:
    def use_memory(app: aiohttp.web.Application) -> None:
        app[SPAN_EXPORTER] = spans

    async with running_node(traced_tree(upstream), extend=use_memory) as node:
        yield node


def by_kind(spans: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    finished = spans.get_finished_spans()
    (server,) = [span for span in finished if span.kind is SpanKind.SERVER]
    children = [span for span in finished if span.kind is SpanKind.CLIENT]
    return server, children


def parent_of(traceparent: str) -> tuple[str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled (bit 2 may mark a random id)
    return trace_id, span_id


async def test_a_chat_is_one_span_under_the_clients_trace_with_an_upstream_child(
        traced: Node, upstream: FakeUpstream, spans: InMemorySpanExporter) -> None:
    headers = {**traced.auth(), "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
               "x-request-id": "req-otel-1"}
    status, _, _ = await post(traced, "/v1/chat/completions", BODY, headers)
    assert status == 200
    server, (child,) = by_kind(spans)
    context = server.context
    assert context is not None and server.parent is not None
    assert f"{context.trace_id:032x}" == CLIENT_TRACE
    assert f"{server.parent.span_id:016x}" == CLIENT_SPAN
    attributes = server.attributes or {}
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.request.model"] == "fake-model"
    assert attributes["gen_ai.response.model"] == "fake-model"
    assert attributes["gen_ai.usage.input_tokens"] == 11
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["http.response.status_code"] == 200
    assert attributes["at.request_id"] == "req-otel-1"
    assert server.status.status_code is StatusCode.UNSET
    # The upstream call is a child, inside the exchange's span.
    assert child.parent is not None and child.parent.span_id == context.span_id
    assert child.context is not None and child.context.trace_id == context.trace_id
    assert server.start_time is not None and server.end_time is not None
    assert child.start_time is not None and child.end_time is not None
    assert server.start_time <= child.start_time <= child.end_time <= server.end_time
    assert (child.attributes or {})["at.provider"] == "up"
    # The upstream was told the trace and the exchange's span as its parent.
    (sent,) = upstream.requests
    assert parent_of(sent.headers["traceparent"]) == (CLIENT_TRACE, f"{context.span_id:016x}")


async def test_without_a_client_trace_the_exchange_starts_one(
        traced: Node, upstream: FakeUpstream, spans: InMemorySpanExporter) -> None:
    status, _, _ = await post(traced, "/v1/chat/completions", BODY)
    assert status == 200
    server, _ = by_kind(spans)
    assert server.parent is None and server.context is not None
    trace_id, span_id = parent_of(upstream.requests[0].headers["traceparent"])
    assert (trace_id, span_id) == (f"{server.context.trace_id:032x}",
                                   f"{server.context.span_id:016x}")


async def test_a_stream_in_another_dialect_is_traced_to_its_end(
        traced: Node, upstream: FakeUpstream, spans: InMemorySpanExporter) -> None:
    async with aiohttp.ClientSession() as session, session.post(
        f"{traced.url}/v1/messages", headers=traced.auth(),
        json={**BODY, "max_tokens": 20, "stream": True},
    ) as resp:
        assert resp.status == 200
        await resp.read()
    server, (child,) = by_kind(spans)
    attributes = server.attributes or {}
    assert attributes["at.dialect"] == "anthropic" and attributes["at.stream"] is True
    assert attributes["gen_ai.usage.output_tokens"] == 4
    # The span ends when the stream has been relayed, after the upstream's head arrived.
    assert child.end_time is not None and server.end_time is not None
    assert child.end_time <= server.end_time
    assert "traceparent" in upstream.requests[0].headers


async def test_a_failover_is_one_child_per_attempt_the_failed_one_marked(
        traced: Node, upstream: FakeUpstream, spans: InMemorySpanExporter) -> None:
    status, _, _ = await post(traced, "/v1/chat/completions", {**BODY, "model": "pair"})
    assert status == 200
    server, children = by_kind(spans)
    assert [(child.attributes or {})["at.provider"] for child in children] == ["dead", "up"]
    failed, served = children
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})["error.type"]
    assert served.status.status_code is StatusCode.UNSET
    attributes = server.attributes or {}
    assert attributes["gen_ai.request.model"] == "pair"
    assert attributes["gen_ai.response.model"] == "fake-model"
    assert attributes["at.attempts"] == 2
    assert server.name == "chat pair"


async def test_an_upstream_failure_marks_the_exchange_span(
        traced: Node, upstream: FakeUpstream, spans: InMemorySpanExporter) -> None:
    upstream.push(Json({"error": {"message": "boom"}}, status=500))
    status, _, _ = await post(traced, "/v1/chat/completions", BODY)
    assert status >= 500
    server, (child,) = by_kind(spans)
    assert server.status.status_code is StatusCode.ERROR
    assert (server.attributes or {})["http.response.status_code"] == status
    assert (server.attributes or {})["error.type"]
    assert child.status.status_code is StatusCode.ERROR


async def test_a_refused_key_makes_no_span(traced: Node, spans: InMemorySpanExporter) -> None:
    status, _, _ = await post(traced, "/v1/chat/completions", BODY,
                              {"Authorization": "Bearer at-nope"})
    assert status == 401
    assert spans.get_finished_spans() == ()


async def test_a_sample_ratio_of_zero_keeps_no_new_trace_and_sends_it_unsampled(
        upstream: FakeUpstream, spans: InMemorySpanExporter) -> None:
    def use_memory(app: aiohttp.web.Application) -> None:
        app[SPAN_EXPORTER] = spans

    async with running_node(traced_tree(upstream, sample_ratio=0.0),
                            extend=use_memory) as node:
        status, _, _ = await post(node, "/v1/chat/completions", BODY)
        assert status == 200
        assert spans.get_finished_spans() == ()
        assert not int(upstream.requests[0].headers["traceparent"][-2:], 16) & 1
        # A client's sampled trace is followed whatever the ratio.
        headers = {**node.auth(), "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}
        status, _, _ = await post(node, "/v1/chat/completions", BODY, headers)
        assert status == 200
        server, _ = by_kind(spans)
        assert server.context is not None and f"{server.context.trace_id:032x}" == CLIENT_TRACE
