"""Cluster-wide live numbers: two real nodes (each with its cluster agent on loopback) share
their digests over the sealed bus, and either node's ``/api/v1/events`` and Live page show
both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from playwright.async_api import Browser, expect

from cluster.digests import Digests
from node.admin.live_cluster import bucket_of, digest, merged, upper_edge
from tests.cluster.conftest import free_ports
from tests.node.harness import Node, running_node, settings_tree
from tests.ui.conftest import open_page

pytestmark = pytest.mark.timeout(90)


def test_digests_keep_the_newest_and_forget_old_ones() -> None:
    kept = Digests(max_age=3.0)
    assert kept.keep("b", {"requests_per_second": 1}, now=10.0)
    assert kept.keep("b", {"requests_per_second": 2}, now=11.0)
    assert kept.keep("c", {"requests_per_second": 5}, now=12.5)
    assert kept.fresh(now=13.0) == {"b": {"requests_per_second": 2},
                                    "c": {"requests_per_second": 5}}
    assert kept.fresh(now=14.1) == {"c": {"requests_per_second": 5}}  # b is 3.1 s old
    assert kept.fresh(now=16.0) == {}


def test_cluster_figures_add_up_and_merge_percentiles() -> None:
    a = digest({"at": 7, "requests_per_second": 3, "errors_per_second": 1, "in_flight": 2,
                "tokens_per_second": 30, "requests_5m": 10, "errors_5m": 1,
                "p50_ms": 10.0, "p95_ms": 10.0, "p99_ms": 10.0}, [10.0] * 90)
    b = digest({"at": 7, "requests_per_second": 4, "errors_per_second": 0, "in_flight": 1,
                "tokens_per_second": 12, "requests_5m": 20, "errors_5m": 0,
                "p50_ms": 1000.0, "p95_ms": 1000.0, "p99_ms": 1000.0}, [1000.0] * 10)
    total = merged("a", a, {"b": b, "a": {"requests_per_second": 99}, "junk": "x"})
    assert (total["requests_per_second"], total["errors_per_second"], total["in_flight"],
            total["tokens_per_second"], total["requests_5m"]) == (7, 1, 3, 42, 30)
    assert sorted(total["nodes"]) == ["a", "b"]  # its own digest wins over a peer's claim
    # 90 fast and 10 slow: the median is fast, p95 and p99 are slow, each within a bucket.
    assert 10.0 <= total["p50_ms"] < 10.0 * 1.19
    assert 1000.0 <= total["p95_ms"] < 1000.0 * 1.19 and total["p99_ms"] == total["p95_ms"]
    for value in (0.05, 0.1, 0.11, 3.3, 250.0, 59_000.0):
        edge = upper_edge(bucket_of(value))
        assert value <= edge + 1e-9 and (bucket_of(value) == 0 or edge < value * 1.19 + 1e-9)
    empty = merged("a", digest({}, []), {"b": {"latency_histogram": {"-1": 5, "7": "x"}}})
    assert empty["p50_ms"] is None and empty["requests_per_second"] == 0


def _cluster(port: int, raft: int, peers: list[str]) -> dict[str, Any]:
    return {"peers": peers, "bind_addr": "127.0.0.1", "port": port, "raft_port": raft,
            "replicas": 2, "security": {"key": "live-cluster-secret-0123456789"}}


@pytest.fixture
async def two() -> AsyncIterator[tuple[Node, Node]]:
    pa, ra, pb, rb = free_ports(4)
    peers = [f"na=127.0.0.1:{pa}:{ra}", f"nb=127.0.0.1:{pb}:{rb}"]  # named: one host
    async with AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(running_node(settings_tree(
            server={"admin_token": "live-admin-token-0123456789"},
            cluster=_cluster(port, raft, peers)), node_name=name))
            for name, port, raft in (("na", pa, ra), ("nb", pb, rb))]
        yield nodes[0], nodes[1]


async def _events(node: Node, http: aiohttp.ClientSession, until: Any, seconds: float
                  ) -> dict[str, Any]:
    """Read ``stats`` events from ``node`` until one satisfies ``until``; that one."""
    async with http.get(f"{node.url}/api/v1/events", headers=node.admin()) as stream:
        kind = b""
        async with asyncio.timeout(seconds):
            async for line in stream.content:
                if line.startswith(b"event: "):
                    kind = line[7:].strip()
                elif line.startswith(b"data: ") and kind == b"stats":
                    event: dict[str, Any] = orjson.loads(line[6:])
                    if until(event):
                        return event
    raise AssertionError("the stream ended")


async def _cluster_event(node: Node, http: aiohttp.ClientSession) -> list[str]:
    """The peers named by the first ``cluster`` event of a fresh stream."""
    async with http.get(f"{node.url}/api/v1/events", headers=node.admin()) as stream:
        kind = b""
        async with asyncio.timeout(10):
            async for line in stream.content:
                if line.startswith(b"event: "):
                    kind = line[7:].strip()
                elif line.startswith(b"data: ") and kind == b"cluster":
                    return [p["name"] for p in orjson.loads(line[6:])["peers"]]
    raise AssertionError("the stream ended")


async def test_node_b_traffic_shows_in_node_a_events(two: tuple[Node, Node]) -> None:
    a, b = two
    body = {"model": "demo/m1", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        for _ in range(4):
            async with http.post(f"{b.url}/v1/chat/completions", json=body,
                                 headers=b.auth()) as resp:
                assert resp.status == 200
        event = await _events(a, http, lambda e: e["cluster"]["requests_5m"] >= 4, 30)
        assert event["scope"] == "node" and event["node"] == "na"
        assert event["requests_5m"] == 0  # node A served nothing itself
        cluster = event["cluster"]
        assert sorted(cluster["nodes"]) == ["na", "nb"]
        assert cluster["nodes"]["nb"]["requests_5m"] == 4
        assert cluster["p50_ms"] is not None or cluster["requests_per_second"] == 0
        assert await _cluster_event(a, http) == ["nb"]  # the membership, as a 'cluster' event
        # B stops sharing: A forgets its digest within a few seconds.
        b.gateway.cluster = None
        event = await _events(a, http, lambda e: "nb" not in e["cluster"]["nodes"], 15)
        assert event["cluster"]["requests_5m"] == 0


async def test_live_page_on_node_a_shows_node_b(two: tuple[Node, Node], browser: Browser,
                                                 tmp_path: Path) -> None:
    a, b = two
    ui = await open_page(browser, a)
    try:
        answer = await ui.context.request.post(f"{a.url}/api/v1/session",
                                               data={"token": "live-admin-token-0123456789"})
        assert answer.status == 201
        await ui.page.goto(f"{a.url}/ui/#/live")
        await expect(ui.page.locator("tr[data-node]")).to_have_count(2, timeout=10_000)
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(f"{b.url}/v1/chat/completions", headers=b.auth(), json={
                        "model": "demo/m1", "messages": [{"role": "user", "content": "hi"}]
                        }) as resp:
                    assert resp.status == 200
        row_b = ui.page.locator("tr[data-node=nb] td").last  # its requests in 5 minutes
        await expect(row_b).to_have_text("3", timeout=5000)
        cluster = ui.page.locator("[data-scope=cluster] [data-tile=r5m] .value")
        await expect(cluster).to_have_text("3")
        await expect(ui.page.locator("[data-scope=node] [data-tile=r5m] .value")).to_have_text("0")
        await expect(ui.page.get_by_text("2 nodes reporting")).to_be_visible()
        await ui.shot(tmp_path, "live-cluster")
    finally:
        await ui.context.close()
    assert ui.problems == []
