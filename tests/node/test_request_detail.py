"""What a usage record keeps of one request, on a real node: the time to first byte of a
stream, the gateway's own time (the ``x-at-overhead-ms`` the client saw), the upstream
attempts (a route's retries counted) and the error text, scrubbed of the provider's secrets."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.fakes.flaky import FlakyUpstream
from tests.fakes.openai_upstream import Echo, Json
from tests.node.harness import Node, running_node
from tests.routing.conftest import tree

SECRET = "sk-upstream-secret-123456"  # the api_key of provider ``up`` (tests/node/conftest.py)


async def _chat(node: Node, http: aiohttp.ClientSession, model: str, text: str = "hi", *,
                stream: bool = False, request_id: str) -> tuple[int, dict[str, str]]:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}
    async with http.post(f"{node.url}/v1/chat/completions", json=body, headers={
            **node.auth(), "X-Request-ID": request_id}) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


async def _record(node: Node, request_id: str) -> dict[str, Any]:
    await node.gateway.usage.flush()
    (row,) = await node.gateway.store.usage_log(request_id=request_id)
    return row


async def test_a_stream_records_its_time_to_first_byte_and_overhead(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        status, headers = await _chat(node, http, "demo/m1", "mock:slow:0.05", stream=True,
                                      request_id="rq-stream")
        assert status == 200
        row = await _record(node, "rq-stream")
        # the first chunk leaves after one pause, the rest after four more
        assert row["ttft_ms"] is not None and 40 <= row["ttft_ms"] < row["latency_ms"]
        assert row["latency_ms"] - row["ttft_ms"] >= 100
        assert row["overhead_ms"] == round(float(headers["x-at-overhead-ms"]), 3)
        assert (row["attempts"], row["error"], row["status"]) == (1, "", 200)
        status, headers = await _chat(node, http, "demo/m1", request_id="rq-whole")
        row = await _record(node, "rq-whole")
        assert row["ttft_ms"] is None  # an answer sent whole has no first byte apart
        assert row["overhead_ms"] == round(float(headers["x-at-overhead-ms"]), 3)
        assert 0 <= row["overhead_ms"] <= row["latency_ms"]


async def test_a_stream_failing_midway_records_why(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        status, _ = await _chat(node, http, "demo/m1", "mock:fail-mid-stream", stream=True,
                                request_id="rq-cut")
    assert status == 200  # the headers had left; the failure is in the stream and the record
    row = await _record(node, "rq-cut")
    assert (row["status"], row["error"]) == (502, "mock failure mid-stream")
    assert row["ttft_ms"] is not None and row["ttft_ms"] <= row["latency_ms"]


async def test_an_upstream_error_is_recorded_without_the_providers_secret(
        proxied: Node, upstream: Any) -> None:
    upstream.push(Echo())  # a 401 page listing the headers it received, the api key too
    async with aiohttp.ClientSession() as http:
        status, _ = await _chat(proxied, http, "up/fake-model", request_id="rq-echo")
        assert status == 401
        row = await _record(proxied, "rq-echo")
        assert "[redacted]" in row["error"]  # the echo did carry the credentials
        assert SECRET not in row["error"] and "upstream-secret" not in row["error"]
        assert row["error"].startswith("upstream 'up' answered 401")
        assert (row["status"], row["attempts"]) == (401, 1)
        status, _ = await _chat(proxied, http, "demo/m1", "mock:error:500", request_id="rq-500")
        row = await _record(proxied, "rq-500")
        assert row["status"] >= 500 and row["error"] and row["attempts"] == 1


async def test_attempts_count_a_routes_retry() -> None:
    boom = Json({"error": {"message": "boom"}}, 500)
    async with FlakyUpstream() as a, FlakyUpstream() as b, FlakyUpstream() as c, running_node(
            tree((a, b, c), {
                "smart": {"targets": [{"model": "a/m"}, {"model": "b/m", "priority": 2}]},
                "both": {"targets": [{"model": "b/m"}, {"model": "c/m", "priority": 2}]}})
    ) as node, aiohttp.ClientSession() as http:
        a.push(boom)
        status, headers = await _chat(node, http, "smart", request_id="rq-retried")
        assert (status, headers["x-at-attempts"]) == (200, "2")
        row = await _record(node, "rq-retried")
        assert (row["attempts"], row["provider"], row["error"]) == (2, "b", "")
        b.always = c.always = boom  # (a cools down now: a route of b and c tries both)
        status, _ = await _chat(node, http, "both", request_id="rq-exhausted")
        assert status == 502
        row = await _record(node, "rq-exhausted")
        assert row["attempts"] == 2 and "boom" in row["error"]
