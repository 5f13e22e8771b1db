"""Fixtures: one three-node cluster per module (real processes, real Postgres, DNS).

Node ``at-2`` always runs with ``AT_STORE_ROTATION_FAULT=before-notify``: a rotation started
ON it dies after the database commit and before any peer hears (exit 137). Other tests therefore
never rotate on ``at-2``; rotations elsewhere are unaffected (the hook only fires in the
process that runs the rotation).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.integration.harness import (
    Client,
    GatewayCluster,
    GatewayNode,
    agreed_leader,
    bus_meshed,
    wait_ready,
)

FAULTY = "at-2"
FAULT_ENV = {"AT_STORE_ROTATION_FAULT": "before-notify"}


def start_node(node: GatewayNode) -> None:
    node.start(FAULT_ENV if node.name == FAULTY else None)


@pytest.fixture(scope="module")
def gw(postgres_dsn: str) -> Iterator[GatewayCluster]:
    cluster = GatewayCluster(postgres_dsn)
    try:
        cluster.start({FAULTY: FAULT_ENV})
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session)


async def heal(gw: GatewayCluster, client: Client, timeout: float = 40.0) -> str:
    """Resume paused nodes, restart dead ones, wait until all are ready and agree on a
    leader; the leader's short name."""
    for node in gw.nodes:
        if node.paused:
            node.signal(signal.SIGCONT)
        if not node.alive:
            start_node(node)
    try:
        await wait_ready(client, gw.nodes, timeout)
        leader = await agreed_leader(client, gw.nodes, timeout)
        await bus_meshed(client, gw.nodes)
    except (TimeoutError, AssertionError) as exc:
        raise AssertionError(f"{exc}\n{gw.tails()}") from None
    return leader.split(".", 1)[0]


@contextlib.contextmanager
def logs_on_failure(gw: GatewayCluster) -> Iterator[None]:
    """Attach the nodes' log tails to any assertion error."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{gw.tails()}") from None
