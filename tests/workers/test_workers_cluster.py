"""Three real nodes of two workers each on one Postgres: one cluster agent per node, and every
worker of every node following a revocation and a rotation to a new passphrase."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import orjson
import pytest

from tests.integration.conftest import logs_on_failure
from tests.integration.harness import (
    Client,
    GatewayCluster,
    GatewayNode,
    active_version,
    agreed_leader,
    bus_meshed,
    short,
    until,
    wait_ready,
)

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def gw(postgres_dsn: str) -> Iterator[GatewayCluster]:
    cluster = GatewayCluster(postgres_dsn, workers=2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    # No kept-alive connections: each request may land on either worker of its node.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield Client(s)


async def _ready(gw: GatewayCluster, client: Client) -> None:
    with logs_on_failure(gw):
        await wait_ready(client, gw.nodes, 60.0)
        await agreed_leader(client, gw.nodes, 30.0)
        await bus_meshed(client, gw.nodes)


async def _every_worker(client: Client, node: GatewayNode, key: str, status: int) -> None:
    """20 requests on fresh connections (both workers, but for odds of 2^-19) answer
    ``status``."""
    got = await asyncio.gather(*(client.chat(node, key) for _ in range(20)))
    assert got == [status] * 20, (node.name, got)


async def test_each_node_lists_its_workers_and_its_peers_worker_counts(
        gw: GatewayCluster, client: Client) -> None:
    await _ready(gw, client)
    with logs_on_failure(gw):
        for node in gw.nodes:
            state = await client.status(node)
            workers = state["self"]["workers"]
            assert [w["name"] for w in workers] == ["w0", "w1"]
            assert all(w["serving"] and w["pid"] for w in workers), workers
            assert state["self"]["worker_count"] == 2
            assert [p["worker_count"] for p in state["peers"]] == [2, 2], state["peers"]
            code, ready = await client.ready(node)
            assert code == 200 and ready["checks"]["workers"] == {"serving": 2, "of": 2}
            assert ready["checks"]["cluster"]["quorum"] is True


async def test_revoke_through_one_worker_is_seen_by_every_worker_of_every_node(
        gw: GatewayCluster, client: Client) -> None:
    await _ready(gw, client)
    a, b = gw.nodes[0], gw.nodes[1]
    with logs_on_failure(gw):
        key_id, secret = await client.new_key(a, "workers-revoke")
        for node in gw.nodes:
            await _every_worker(client, node, secret, 200)
        code, data = await client.call(a, "DELETE", f"/api/v1/tokens/{key_id}")
        assert code == 200, data
        assert {short(p) for p, ok in data["peers"].items() if ok} == {"at-1", "at-2"}, data
        started = time.monotonic()
        for node in (a, b, gw.nodes[2]):
            await _every_worker(client, node, secret, 401)
        assert time.monotonic() - started < 1.0 + 2.0   # the acks said "applied": at once


async def test_rotation_to_a_new_passphrase_reaches_every_worker(
        gw: GatewayCluster, client: Client) -> None:
    await _ready(gw, client)
    with logs_on_failure(gw):
        code, _ = await client.put_provider(gw.nodes[0], "sealed", "sk-workers-secret-1")
        assert code in (200, 201)
        _, secret = await client.new_key(gw.nodes[2], "workers-rotation")
        before = await active_version(gw.dsn, gw.schema)
        code, result = await client.call(gw.nodes[1], "POST", "/api/v1/settings/rotate-key",
                                         {"encryption_key": "a brand new passphrase 0123"},
                                         timeout=30.0)
        assert code == 200, result
        assert result["version"] == before + 1 and result["encrypted"]

        async def every_worker_follows() -> bool:
            for node in gw.nodes:
                workers = (await client.status(node))["self"]["workers"]
                if {w["key_version"] for w in workers} != {before + 1}:
                    return False
            return True

        await until(every_worker_follows, 10.0, "every worker at the new key version")
        for node in gw.nodes:
            code, ready = await client.ready(node)
            assert code == 200, ready           # no worker is left with a stale key
            await _every_worker(client, node, secret, 200)
            for _ in range(6):
                code, provider = await client.call(node, "GET", "/api/v1/providers/sealed")
                assert code == 200 and "sk-workers" not in str(provider), provider


async def test_live_events_on_one_node_show_a_peer_s_workers_summed(
        gw: GatewayCluster, client: Client) -> None:
    await _ready(gw, client)
    a, b = gw.nodes[0], gw.nodes[1]
    _, secret = await client.new_key(a, "workers-live")
    stop = time.monotonic() + 5.0
    seen: dict[str, float] = {}

    async def load() -> None:
        while time.monotonic() < stop:
            await asyncio.gather(*(client.chat(b, secret) for _ in range(4)))

    async def watch() -> None:
        async with client.session.get(a.url + "/api/v1/events", headers=client.admin) as r:
            assert r.status == 200
            async for line in r.content:
                if line.startswith(b"data: {") and b'"cluster"' in line:
                    nodes = orjson.loads(line[6:])["cluster"].get("nodes", {})
                    for name, figures in nodes.items():
                        seen[name] = max(seen.get(name, 0.0),
                                         figures.get("requests_per_second") or 0.0)
                if time.monotonic() > stop + 2.0:
                    return

    with logs_on_failure(gw):
        await asyncio.gather(load(), watch())
        assert {"at-0.w0", "at-0.w1", "at-1", "at-2"} <= set(seen), seen
        assert seen["at-1"] > 0, seen          # b's two workers, as one node
