"""The admin endpoints the UI needs, over real HTTP: sessions and CSRF, key paging and search,
usage buckets and CSV, the request log, the live event stream."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from node.admin.session import COOKIE, sign
from store import UsageRecord
from tests.node.harness import Node, running_node
from tests.ui.conftest import TOKEN, ui_tree


@pytest.fixture
async def gw() -> AsyncIterator[Node]:
    async with running_node(ui_tree(base_path="/at/gw")) as running:
        yield running


async def _signed_in(node: Node, http: aiohttp.ClientSession) -> str:
    async with http.post(f"{node.url}/api/v1/session", json={"token": TOKEN}) as resp:
        assert resp.status == 201
        cookie = resp.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/at/gw/"
        assert 0 < int(cookie["max-age"]) <= 24 * 3600
        return cookie.value


async def test_session_cookie_reads_and_needs_csrf_to_write(gw: Node) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        await _signed_in(gw, http)
        async with http.get(f"{gw.url}/api/v1/session") as resp:
            assert (await resp.json())["via"] == "cookie"
        async with http.get(f"{gw.url}/api/v1/tokens") as resp:
            assert resp.status == 200
        async with http.post(f"{gw.url}/api/v1/tokens", json={"name": "x"}) as resp:
            assert resp.status == 403
            assert "X-AT-CSRF" in (await resp.json())["error"]["message"]
        headers = {"X-AT-CSRF": "1", "Origin": "http://evil.example"}
        async with http.post(f"{gw.url}/api/v1/tokens", json={"name": "x"},
                             headers=headers) as resp:
            assert resp.status == 403
        headers["Origin"] = gw.url.split("/at/")[0]
        async with http.post(f"{gw.url}/api/v1/tokens", json={"name": "x"},
                             headers=headers) as resp:
            assert resp.status == 201
        async with http.delete(f"{gw.url}/api/v1/session") as resp:
            assert resp.status == 200
        async with http.get(f"{gw.url}/api/v1/tokens") as resp:
            assert resp.status == 401


async def test_wrong_token_forged_and_expired_cookies_are_refused(gw: Node) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gw.url}/api/v1/session", json={"token": "nope"}) as resp:
            assert resp.status == 401
            assert COOKIE not in resp.cookies
        async with http.post(f"{gw.url}/api/v1/session",
                             json={"token": TOKEN, "lifetime_seconds": 10**9}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["param"] == "lifetime_seconds"
        good = sign(gw.gateway, int(time.time()) + 600)
        expired = sign(gw.gateway, int(time.time()) - 1)
        forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
        # Signed, but for longer than any session may last: refused whoever signed it.
        forever = sign(gw.gateway, 999_999_999_999)
        # What the database holds (the admin token's hash) is not enough to sign a cookie.
        stored = gw.gateway.admin_token_sha256.encode()
        key = hmac.new(stored, b"at-gateway ui session v1", hashlib.sha256).digest()
        expires = int(time.time()) + 600
        from_the_database = f"v1.{expires}." + hmac.new(
            key, f"v1.{expires}".encode(), hashlib.sha256).hexdigest()
        for value, status in ((good, 200), (expired, 401), (forged, 401), ("v1.x.y", 401),
                              (forever, 401), (from_the_database, 401)):
            async with http.get(f"{gw.url}/api/v1/tokens",
                                headers={"Cookie": f"{COOKIE}={value}"}) as resp:
                assert resp.status == status, value


async def test_a_session_is_valid_on_a_peer_sharing_the_admin_token(gw: Node) -> None:
    async with running_node(ui_tree(base_path="/at/gw")) as peer, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        value = await _signed_in(gw, http)
        async with http.get(f"{peer.url}/api/v1/tokens",
                            headers={"Cookie": f"{COOKIE}={value}"}) as resp:
            assert resp.status == 200


async def test_tokens_page_and_search(gw: Node) -> None:
    admin = gw.admin()
    async with aiohttp.ClientSession(headers=admin) as http:
        for i in range(7):
            async with http.post(f"{gw.url}/api/v1/tokens",
                                 json={"name": f"team-{i % 2}-{i}"}) as resp:
                assert resp.status == 201
        seen: list[str] = []
        cursor = ""
        while True:
            async with http.get(f"{gw.url}/api/v1/tokens",
                                params={"limit": "3", "cursor": cursor}) as resp:
                page = await resp.json()
            assert len(page["data"]) <= 3 and page["total"] == 8  # 7 + the bootstrap key
            seen += [k["name"] for k in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 8 == len(set(seen))
        async with http.get(f"{gw.url}/api/v1/tokens", params={"limit": "50",
                                                               "q": "TEAM-1"}) as resp:
            found = await resp.json()
        assert sorted(k["name"] for k in found["data"]) == ["team-1-1", "team-1-3", "team-1-5"]
        async with http.get(f"{gw.url}/api/v1/tokens", params={"limit": "0"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "limit"


def _record(at: datetime, key: str, model: str, status: int = 200) -> UsageRecord:
    return UsageRecord(at=at, key_id=key, provider="demo", model=model, input_tokens=10,
                       output_tokens=5, status=status, latency_ms=12.5, cost_usd=0.001)


@pytest.fixture(params=["memory", "sqlite"])
async def reports_node(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Node]:
    store = {} if request.param == "memory" else {
        "store": {"memory": None, "sqlite": {"datasource": str(tmp_path / "at.db")}}}
    async with running_node(ui_tree(base_path="/at/gw", **store)) as running:
        yield running


async def test_usage_buckets_csv_and_log(reports_node: Node) -> None:
    gw = reports_node
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    rows = [_record(now - timedelta(hours=h), key, model, 500 if h == 3 else 200)
            for h in range(6) for key in ("k1", "k2") for model in ("m1", "m2", "m3")]
    await gw.gateway.store.add_usage(rows)
    params = {"from": (now - timedelta(hours=6)).isoformat(),
              "to": (now + timedelta(hours=1)).isoformat(), "group_by": "model"}
    async with aiohttp.ClientSession(headers=gw.admin()) as http:
        async with http.get(f"{gw.url}/api/v1/usage/buckets", params=params) as resp:
            report = await resp.json()
        assert [s["group"] for s in report["series"]] == ["demo/m1", "demo/m2", "demo/m3"]
        assert all(s["total_requests"] == 12 and s["total_errors"] == 2
                   for s in report["series"])
        # from xx:30 six hours back to an hour ahead spans eight whole hours
        assert len(report["buckets"]) == 8 and report["timezone"] == "UTC"
        async with http.get(f"{gw.url}/api/v1/usage.csv",
                            params={**params, "group_by": "key"}) as resp:
            assert resp.content_type == "text/csv"
            table = list(csv.DictReader(io.StringIO(await resp.text())))
        assert sum(int(r["requests"]) for r in table if r["key"] == "k1") == 18
        async with http.get(f"{gw.url}/api/v1/usage/buckets",
                            params={"bucket": "hour", "from": "2020-01-01T00:00Z"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "from"
        async with http.get(f"{gw.url}/api/v1/logs", params={
                "key": "k2", "status": "error", "limit": "2"}) as resp:
            page = await resp.json()
        assert [(r["key_id"], r["status"]) for r in page["data"]] == [("k2", 500)] * 2
        async with http.get(f"{gw.url}/api/v1/logs", params={
                "key": "k2", "status": "error", "limit": "2",
                "cursor": page["next_cursor"]}) as resp:
            rest = await resp.json()
        assert len(rest["data"]) == 1 and rest["next_cursor"] is None
        ids = [r["id"] for r in page["data"] + rest["data"]]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
        async with http.get(f"{gw.url}/api/v1/logs", params={"status": "abc"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "status"


async def test_events_stream_counts_this_nodes_traffic(gw: Node) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/api/v1/events") as resp:
            assert resp.status == 401
        async with http.get(f"{gw.url}/api/v1/events", headers=gw.admin()) as stream:
            assert stream.content_type == "text/event-stream"
            body = {"model": "demo/m1", "messages": [{"role": "user", "content": "hi"}]}
            for _ in range(3):
                async with http.post(f"{gw.url}/v1/chat/completions", json=body,
                                     headers=gw.auth()) as resp:
                    assert resp.status == 200
            seen: list[str] = []
            async with asyncio.timeout(20):
                while not any('"requests_5m":3' in line for line in seen):
                    seen.append((await stream.content.readline()).decode())
        assert seen[0].startswith("retry:")
        assert any(line.startswith("event: stats") for line in seen)


async def test_the_log_finds_an_exchange_by_its_request_id(gw: Node) -> None:
    body = {"model": "demo/m1", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession(headers=gw.admin()) as http:
        answered = []
        for client_id in ("client-chosen-id-1", ""):
            headers = {**gw.auth(), **({"X-Request-ID": client_id} if client_id else {})}
            async with http.post(f"{gw.url}/v1/chat/completions", json=body,
                                 headers=headers) as resp:
                assert resp.status == 200
                answered.append(resp.headers["X-Request-ID"])
        assert answered[0] == "client-chosen-id-1" and answered[1]
        for request_id in answered:
            async with http.get(f"{gw.url}/api/v1/logs",
                                params={"request_id": request_id}) as resp:
                (row,) = (await resp.json())["data"]
            assert row["request_id"] == request_id and row["model"] == "m1"
        async with http.get(f"{gw.url}/api/v1/logs", params={"request_id": "nobody"}) as resp:
            assert (await resp.json())["data"] == []
        for bad in ("x" * 129, "tab\there"):
            async with http.get(f"{gw.url}/api/v1/logs", params={"request_id": bad}) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"]["param"] == "request_id"


async def test_one_requests_detail_by_its_id(gw: Node) -> None:
    body = {"model": "demo/m1", "stream": True,
            "messages": [{"role": "user", "content": "mock:slow:0.02"}]}
    async with aiohttp.ClientSession() as http:
        for request_id in ("team/a b", "other"):  # a "/" and a space: sent percent-encoded
            async with http.post(f"{gw.url}/v1/chat/completions", json=body, headers={
                    **gw.auth(), "X-Request-ID": request_id}) as resp:
                assert resp.status == 200
                await resp.read()
        url = f"{gw.url}/api/v1/logs/team%2Fa%20b"
        async with http.get(url) as resp:
            assert resp.status == 401
        async with http.get(url, headers=gw.admin()) as resp:
            assert resp.status == 200
            (row,) = (await resp.json())["data"]
        assert row["request_id"] == "team/a b" and row["model"] == "m1"
        assert 0 < row["ttft_ms"] <= row["latency_ms"] and row["overhead_ms"] >= 0
        assert (row["attempts"], row["error"]) == (1, "")
        async with http.get(f"{gw.url}/api/v1/logs/nobody", headers=gw.admin()) as resp:
            assert resp.status == 404
            error = (await resp.json())["error"]
        assert error["param"] == "request_id" and "nobody" in error["message"]
        async with http.get(f"{gw.url}/api/v1/logs/{'x' * 129}", headers=gw.admin()) as resp:
            assert resp.status == 400
