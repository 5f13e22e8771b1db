"""A conversation continued on another replica: two real node processes on one Postgres.

Turn 1 is answered (streamed) by node A, turn 2 names it in ``previous_response_id`` and is
sent to node B the moment turn 1's last event arrived: B finds the previous turn in the
store (A wrote it before that event left) and sends the whole history upstream; an
``item_reference`` to turn 1's answer is resolved on B too. Another key gets 404 on either
node; a DELETE on B is seen by A.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import orjson
import pytest

from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.replies import TEXT, reply
from tests.integration.harness import Client, GatewayCluster, until, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def pair(postgres_dsn: str, fake: FakeUpstream) -> Iterator[GatewayCluster]:
    cluster = GatewayCluster(postgres_dsn, n=2, dns=False)
    cluster.set_providers({"up": {"type": "openai", "base_url": fake.base_url,
                                  "api_key": "sk-up"}})
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


async def test_follow_up_on_another_node(pair: GatewayCluster, fake: FakeUpstream) -> None:
    a, b = pair.nodes
    async with aiohttp.ClientSession() as session:
        client = Client(session)
        await wait_ready(client, [a, b], 60)
        _, key = await client.new_key(a, "conv")
        _, other = await client.new_key(a, "other")
        auth = {"Authorization": f"Bearer {key}"}

        async def known_on_b() -> bool:  # keys reach the other node through the cluster
            status, _ = await client.call(b, "GET", "/v1/key", headers=auth, admin=False)
            other_status, _ = await client.call(b, "GET", "/v1/key", admin=False,
                                                headers={"Authorization": f"Bearer {other}"})
            return status == 200 and other_status == 200

        await until(known_on_b, 30, "both keys known on node B")
        fake.push(reply("openai", "text", stream=True), reply("openai", "text", stream=False),
                  reply("openai", "text", stream=False))
        async with session.post(a.url + "/v1/responses", headers=auth, json={
                "model": "up/m", "input": "remember 42", "stream": True}) as resp:
            assert resp.status == 200, await resp.text()
            raw = await resp.read()
        first = next(orjson.loads(line[6:])["response"] for line in raw.split(b"\n")
                     if line.startswith(b"data: ") and b'"response.completed"' in line)
        status, second = await client.call(
            b, "POST", "/v1/responses", {"model": "up/m", "input": "which number?",
                                         "previous_response_id": first["id"]},
            headers=auth, admin=False, timeout=20)
        assert status == 200, (second, pair.tails())
        sent = fake.requests[1].body["messages"]
        assert [m["content"] for m in sent] == ["remember 42", TEXT, "which number?"]
        said = {"type": "item_reference", "id": first["output"][0]["id"]}
        status, third = await client.call(
            b, "POST", "/v1/responses", {"model": "up/m", "store": False,
                                         "input": [said, {"role": "user", "content": "and?"}]},
            headers=auth, admin=False, timeout=20)
        assert status == 200, third
        assert [m["content"] for m in fake.requests[2].body["messages"]] == [TEXT, "and?"]
        status, body = await client.call(
            b, "POST", "/v1/responses", {"model": "up/m", "input": [said]}, admin=False,
            headers={"Authorization": f"Bearer {other}"})
        assert status == 404 and said["id"] in body["error"]["message"]
        for node in (a, b):
            status, body = await client.call(node, "GET", f"/v1/responses/{second['id']}",
                                             headers={"Authorization": f"Bearer {other}"},
                                             admin=False)
            assert status == 404, body
        status, _ = await client.call(b, "DELETE", f"/v1/responses/{first['id']}",
                                      headers=auth, admin=False)
        assert status == 200
        status, _ = await client.call(a, "GET", f"/v1/responses/{first['id']}", headers=auth,
                                      admin=False)
        assert status == 404  # A asks the store, not its memory
