"""The node's side of the cluster: hooks the agent calls, and starting the agent."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from cluster import ClusterAgent, ClusterConfig

if TYPE_CHECKING:
    from node.gateway import Gateway

log = structlog.get_logger("node.membership")


class NodeHooks:
    """Implements ``cluster.ClusterHooks`` on top of the gateway's in-memory view."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def on_change(self, kind: str, item: str) -> None:
        if kind == "provider":
            await self._gateway.reload_provider(item)
        elif kind == "api_key":
            await self._gateway.reload_key(item)
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
