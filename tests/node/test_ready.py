"""/ready speaks for the node's place in the cluster: a node that left because another live
node holds its identity is not ready (the agent's own tests cover how it finds out)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from tests.node.harness import Node


class LeftCluster:
    """A ClusterLink whose agent found a duplicate of its identity and left."""

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, lease: float = 30.0) -> AsyncIterator[None]:
        yield

    async def notify_change(self, kind: str, item: str) -> dict[str, bool]:
        return {}

    async def notify_key(self, version: int) -> dict[str, bool]:
        return {}

    def status(self) -> dict[str, Any]:
        return {"self": {"identity": "n0", "conflict": "identity 'n0' is held by boot 7"},
                "leader": None, "has_quorum": False}

    def share_digest(self, digest: dict[str, Any]) -> None:
        pass

    def digests(self) -> dict[str, dict[str, Any]]:
        return {}


async def test_a_node_that_left_over_a_duplicate_identity_is_not_ready(node: Node) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(node.url + "/ready") as resp:
            assert resp.status == 200
        node.gateway.cluster = LeftCluster()
        try:
            async with session.get(node.url + "/ready") as resp:
                data = await resp.json()
        finally:
            node.gateway.cluster = None
    assert resp.status == 503 and data["status"] == "not ready"
    assert "held by boot 7" in data["checks"]["cluster"]["conflict"]
