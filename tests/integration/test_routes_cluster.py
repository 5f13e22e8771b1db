"""A route stored through one node's admin API is served by another node within a second
(real node processes on one Postgres; the change notice, or the reconcile loop, carries it)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import heal, logs_on_failure
from tests.integration.harness import CHAT, Client, GatewayCluster, short, until

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(90)]


async def test_stored_route_reaches_another_node_within_1s(gw: GatewayCluster,
                                                           client: Client) -> None:
    await heal(gw, client)
    a, b = gw.nodes[0], gw.nodes[1]
    _, secret = await client.new_key(a, "routes")
    auth = {"Authorization": f"Bearer {secret}"}

    async def served(node_name: str, route: str) -> tuple[int, object]:
        node = gw.node(node_name)
        async with client.session.post(node.url + "/v1/chat/completions",
                                       json={**CHAT, "model": route}, headers=auth) as resp:
            await resp.read()
            return resp.status, resp.headers.get("x-at-provider")

    with logs_on_failure(gw):
        for i in range(5):
            name = f"smart-{i}"
            assert (await served(b.name, name))[0] == 404
            code, data = await client.call(a, "PUT", f"/api/v1/routes/{name}",
                                           {"targets": [{"model": "demo/mock-1"}]})
            assert code == 201, data
            acked = [ok for peer, ok in data["peers"].items() if short(peer) == b.name]
            if acked == [True]:  # acked: b serves it at once
                assert await served(b.name, name) == (200, "demo")

            async def on_b(name: str = name) -> bool:
                return await served(b.name, name) == (200, "demo")

            await until(on_b, 1.0, "stored route served by another node", interval=0.01)
            code, state = await client.call(b, "GET", f"/api/v1/routes/{name}")
            assert code == 200 and state["targets"][0]["state"]["status"] == "healthy"
            code, _ = await client.call(a, "DELETE", f"/api/v1/routes/{name}")
            assert code == 200

            async def gone(name: str = name) -> bool:
                return (await served(b.name, name))[0] == 404

            await until(gone, 1.0, "deleted route gone on another node", interval=0.01)
