"""The node's side of the cluster: hooks the agent calls, and starting the agent."""

from __future__ import annotations

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
        store = self._gateway.store
        if version != store.key_version:
            await store.reconcile()

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
    agent = ClusterAgent(config, hooks, node_name=node_name)
    await agent.start()
    return agent
