"""Admin changes answer for the whole cluster: two nodes on one store (a SQLite file, and
Postgres from tests/postgres.py), each with its own audit directory. A change made on node A
is listed by node B from the database, merged in time order with B's own exchange records
(which stay in B's files), with the same filters and paging; the retention applies to the
table too."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.audit import AUDIT
from tests.node.harness import Node, running_node, settings_tree

ADMIN_TOKEN = "atadm-cluster-audit-test-token-0123456789"
CHAT = {"model": "demo/mock-1", "max_tokens": 3,
        "messages": [{"role": "user", "content": "audit me"}]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        return {"memory": None, "postgres": {"datasource": dsn,
                                             "schema": "t_" + uuid.uuid4().hex[:12]}}
    return {"memory": None, "sqlite": {"datasource": str(tmp_path / "at.db")}}


def _tree(store: dict[str, Any], path: Path) -> dict[str, Any]:
    return settings_tree(server={"usage_flush_interval": "100ms", "admin_token": ADMIN_TOKEN},
                         store=store, audit={"path": str(path), "flush_interval": 0.1})


async def _call(session: aiohttp.ClientSession, node: Node, method: str, path: str,
                request_id: str, body: Any = None) -> int:
    async with session.request(method, f"{node.url}{path}", json=body, headers={
            **node.admin(), "x-request-id": request_id}) as resp:
        await resp.read()
        return resp.status


async def _audit(session: aiohttp.ClientSession, asked: Node, **query: str
                 ) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = "0"
    while cursor is not None:
        async with session.get(f"{asked.url}/api/v1/audit", headers=asked.admin(),
                               params={**query, "cursor": cursor, "limit": "2"}) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        records += body["data"]
        cursor = body["next_cursor"]
    return records


async def test_a_change_on_one_node_is_listed_by_the_other(
        store_section: dict[str, Any], tmp_path: Path) -> None:
    async with running_node(_tree(store_section, tmp_path / "a"), node_name="a") as a, \
            running_node(_tree(store_section, tmp_path / "b"), node_name="b") as b, \
            aiohttp.ClientSession() as session:
        assert await _call(session, a, "POST", "/api/v1/tokens", "chg-1", {"name": "ci"}) in (
            200, 201)
        async with session.post(f"{a.url}/v1/chat/completions", json=CHAT, headers={
                **a.auth(), "x-request-id": "ex-a"}) as resp:
            assert resp.status == 200
        # B started after A made the store's first key, and read it then.
        async with session.post(f"{b.url}/v1/chat/completions", json=CHAT, headers={
                **b.auth(a.api_key), "x-request-id": "ex-b"}) as resp:
            assert resp.status == 200
        assert await _call(session, b, "PUT", "/api/v1/routes/pair", "chg-2", {
            "targets": [{"model": "demo/mock-1"}]}) in (200, 201)
        assert await _call(session, a, "DELETE", "/api/v1/routes/pair", "chg-3") in (200, 204)

        on_b = await _audit(session, b)
        # A's changes from the database, B's own exchange from its file; A's exchange is A's.
        assert [(r["type"], r["request_id"], r["node"]) for r in on_b] == [
            ("admin", "chg-1", "a"), ("exchange", "ex-b", "b"), ("admin", "chg-2", "b"),
            ("admin", "chg-3", "a")]
        assert [r["at"] for r in on_b] == sorted(r["at"] for r in on_b)
        assert on_b[0]["path"] == "/api/v1/tokens" and on_b[0]["admin"] == "admin-token"
        assert on_b[3]["item"] == {"name": "pair"} and on_b[3]["method"] == "DELETE"
        # Each change once, though it is in a file as well as in the database.
        on_a = await _audit(session, a)
        assert [r["request_id"] for r in on_a] == ["chg-1", "ex-a", "chg-2", "chg-3"]
        # The same filters as for the files.
        assert [r["request_id"] for r in await _audit(session, b, type="admin")] == [
            "chg-1", "chg-2", "chg-3"]
        assert [r["request_id"] for r in await _audit(session, b, type="exchange")] == ["ex-b"]
        assert [r["request_id"] for r in await _audit(session, b, request_id="chg-3")] == [
            "chg-3"]
        assert [r["request_id"] for r in await _audit(session, b, node="a")] == [
            "chg-1", "chg-3"]
        assert [r["request_id"] for r in await _audit(session, b, admin="admin-token")] == [
            "chg-1", "chg-2", "chg-3"]
        after = on_b[1]["at"]
        assert [r["request_id"] for r in await _audit(session, b, since=after)] == [
            "ex-b", "chg-2", "chg-3"]

        # Past the retention (30 days by default): not listed, and deleted by the purge.
        store = b.gateway.store
        old = time.time() - 31 * 86400
        await store.add_admin_change(old, {"type": "admin", "at": "2000-01-01T00:00:00.000Z",
                                           "request_id": "ancient"})
        listed = await _audit(session, b, since="2000-01-01T00:00:00Z")
        assert "ancient" not in [r["request_id"] for r in listed]
        await b.app[AUDIT].purge()
        assert await store.admin_changes(0, old + 1) == []
        assert len(await store.admin_changes(0, time.time() + 1)) == 3
