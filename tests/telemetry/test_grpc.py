"""``telemetry.protocol: grpc``: spans of real exchanges reach an OTLP collector over gRPC.

The collector is a real grpcio server in this process, serving the OTLP ``TraceService``
from opentelemetry-proto and keeping every export it is sent; the node sends to it with
the gRPC exporter (no in-memory exporter in between). Without that exporter installed, a
config naming grpc is one line naming the key.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as service
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as rpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.node.harness import post, running_node, settings_tree

ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "demo/mock-1", "max_tokens": 3,
        "messages": [{"role": "user", "content": "trace me"}]}


class Collector(rpc.TraceServiceServicer):
    """An OTLP trace collector that keeps what it is sent."""

    def __init__(self) -> None:
        self.exports: list[service.ExportTraceServiceRequest] = []
        self.received = threading.Event()

    def Export(self, request: service.ExportTraceServiceRequest,  # gRPC names it
               context: Any) -> service.ExportTraceServiceResponse:
        self.exports.append(request)
        self.received.set()
        return service.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[str, Span]]:
        """(service.name, span) of every span received."""
        found: list[tuple[str, Span]] = []
        for export in self.exports:
            for resource_spans in export.resource_spans:
                names = [a.value.string_value for a in resource_spans.resource.attributes
                         if a.key == "service.name"]
                for scope in resource_spans.scope_spans:
                    found += [(names[0] if names else "", span) for span in scope.spans]
        return found


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    kept = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rpc.add_TraceServiceServicer_to_server(kept, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield kept, port
    finally:
        server.stop(grace=None).wait()


def _attributes(span: Span) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return values


async def test_an_exchange_s_spans_reach_a_grpc_collector(
        collector: tuple[Collector, int]) -> None:
    kept, port = collector
    tree = settings_tree(telemetry={"otlp_endpoint": f"http://127.0.0.1:{port}",
                                    "protocol": "grpc", "service_name": "grpc-gw"})
    async with running_node(tree) as node:
        status, _, _ = await post(node, "/v1/chat/completions", BODY,
                                  {**node.auth(), "x-request-id": "req-grpc-1"})
        assert status == 200
    # The node's shutdown sent what its batch held.
    assert kept.received.wait(10)
    spans = kept.spans()
    assert {name for name, _ in spans} == {"grpc-gw"}
    (server,) = [span for _, span in spans if span.kind == Span.SPAN_KIND_SERVER]
    (child,) = [span for _, span in spans if span.kind == Span.SPAN_KIND_CLIENT]
    attributes = _attributes(server)
    assert attributes["at.request_id"] == "req-grpc-1"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.response.model"] == "mock-1"
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["http.response.status_code"] == 200
    assert child.trace_id == server.trace_id and child.parent_span_id == server.span_id
    assert _attributes(child)["at.provider"] == "demo"


# A fresh interpreter where the gRPC exporter cannot be imported, as on a node installed
# without it.
WITHOUT_GRPC = """
import sys
sys.modules["opentelemetry.exporter.otlp.proto.grpc"] = None
from node.config import ConfigError, parse_settings
from tests.node.harness import settings_tree
try:
    parse_settings(settings_tree(telemetry={"otlp_endpoint": "http://collector:4317",
                                            "protocol": "grpc"}))
except ConfigError as exc:
    print(exc)
else:
    print("accepted")
"""


def test_grpc_without_its_exporter_is_a_one_line_config_error() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_GRPC], cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("telemetry.protocol: grpc needs the package "
                           "opentelemetry-exporter-otlp-proto-grpc"), line
