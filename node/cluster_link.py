"""The node's link to the cluster agent: what node calls on it, the hooks it calls back, and
starting it.

:class:`ClusterLink` is everything the rest of the node uses of a running agent (the admin API,
key rotation, readiness); ``Gateway.cluster`` is typed with it, so each call is checked against
this one list. :class:`NodeHooks` is the other direction, ``cluster.ClusterHooks``.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from cluster import ClusterAgent, ClusterConfig

if TYPE_CHECKING:
    from node.gateway import Gateway

log = structlog.get_logger("node.cluster_link")


class ClusterLink(Protocol):
    """What the node uses of a running cluster agent (``cluster.ClusterAgent`` provides it)."""

    def lock(self, name: str, *, lease: float = 30.0) -> AbstractAsyncContextManager[None]:
        """Hold the cluster-wide advisory lock ``name`` (``NoQuorum``/``LockBusy`` otherwise)."""
        ...

    async def notify_change(self, kind: str, item: str) -> dict[str, bool]:
        """Tell every peer ``item`` of ``kind`` changed; per peer: did it reload it."""
        ...

    async def notify_key(self, version: int) -> dict[str, bool]:
        """Announce the activated key ``version``; per-peer acks."""
        ...

    def status(self) -> dict[str, Any]:
        """Self, peers, leader, quorum, term and counters (``GET /api/v1/cluster``)."""
        ...

    def share_digest(self, digest: dict[str, Any]) -> None:
        """Send this node's live figures to every peer (about once a second; no waiting)."""
        ...

    def digests(self) -> dict[str, dict[str, Any]]:
        """Each peer's newest live figures by node name, none older than a few seconds."""
        ...


class NodeHooks:
    """Implements ``cluster.ClusterHooks`` on top of the gateway's in-memory view."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def on_change(self, kind: str, item: str) -> None:
        if kind == "provider":
            await self._gateway.reload_provider(item)
        elif kind == "api_key":
            await self._gateway.reload_key(item)
        elif kind == "route":
            await self._gateway.reload_route(item)
        else:
            await self._gateway.reload_all()

    async def on_key_version(self, version: int) -> None:
        # Called on every key notice and every reconcile interval: the database is the truth,
        # so re-read the keyring and the keys/providers even if every notice was lost.
        await self._gateway.store.reconcile()
        await self._gateway.refresh()

    def key_version(self) -> int:
        return self._gateway.store.key_version

    def needs_key_material(self) -> bool:
        return self._gateway.store.needs_key_material

    async def export_key_material(self) -> bytes | None:
        store = self._gateway.store
        return store.export_key_material() if store.encrypted else None

    async def import_key_material(self, blob: bytes) -> None:
        await self._gateway.store.import_key_material(blob)
        await self._gateway.reload_all()


async def start_agent(config: ClusterConfig, hooks: NodeHooks, node_name: str) -> ClusterAgent:
    """Start the agent (the node asks peers for key material if its passphrase is stale)."""
    agent = ClusterAgent(config, hooks, node_name=node_name)
    await agent.start()
    return agent


async def fetch_key_material(agent: ClusterAgent, hooks: NodeHooks, *,
                             attempts: int = 40, pause: float = 0.25) -> bool:
    """Ask peers for key material until one answers; peers need a moment to be reachable
    after start. The agent's reconcile loop keeps asking afterwards if this gives up."""
    log.warning("this node's passphrase does not open the current key; asking peers")
    for _ in range(attempts):
        if not hooks.needs_key_material() or await agent.request_key_material():
            log.info("key material received from a peer")
            return True
        await asyncio.sleep(pause)
    return False
