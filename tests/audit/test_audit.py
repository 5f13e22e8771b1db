"""The audit log: every exchange recorded once under load, admin changes with who made them
and no secret, Brotli day files readable with the ``brotli`` package once closed, paging and
filters across days, drops (never failed requests) when the directory cannot be written,
retention, and a restart on the same day."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import brotli
import orjson
import pytest

from node.audit import AuditQuery, read_page
from node.audit.writer import AuditWriter
from tests.node.harness import Node, running_node, settings_tree

SECRET = "sk-provider-secret-0123456789"
CHAT = {"model": "demo/mock-1", "max_tokens": 3,
        "messages": [{"role": "user", "content": "audit me"}]}


def _tree(path: Path | str, **audit: Any) -> dict[str, Any]:
    return settings_tree(audit={"path": str(path), "flush_interval": 0.1, **audit})


def _day_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.jsonl.br"))


def _closed_records(path: Path) -> list[dict[str, Any]]:
    """Every record of every (closed) file, read the plain way: one ``brotli.decompress``."""
    return [orjson.loads(line) for file in _day_files(path)
            for line in brotli.decompress(file.read_bytes()).splitlines()]


async def _pages(node: Node, session: aiohttp.ClientSession, **query: str
                 ) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = "0"
    while cursor is not None:
        async with session.get(f"{node.url}/api/v1/audit", headers=node.admin(),
                               params={**query, "cursor": cursor, "limit": "70"}) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        records += body["data"]
        cursor = body["next_cursor"]
    return records


async def test_every_exchange_recorded_once_under_load(tmp_path: Path) -> None:
    ids = [f"load-{i:04d}" for i in range(240)]
    async with running_node(_tree(tmp_path, max_record_bytes=4096), node_name="n1") as node, \
            aiohttp.ClientSession() as session:

        async def one(i: int, request_id: str) -> int:
            body = {**CHAT, "stream": i % 3 == 0}
            if i % 5 == 0:
                body["model"] = "nosuch/model"
            async with session.post(f"{node.url}/v1/chat/completions", json=body,
                                    headers={**node.auth(), "x-request-id": request_id}) as r:
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(one(i, rid) for i, rid in enumerate(ids)))
        assert statuses.count(200) == 192 and statuses.count(404) == 48
        served = await _pages(node, session, type="exchange")
        assert sorted(r["request_id"] for r in served) == ids
        missing = await _pages(node, session, status="404")
        assert {r["request_id"] for r in missing} == {ids[i] for i in range(0, 240, 5)}
        one_id = await _pages(node, session, request_id="load-0007")
        assert len(one_id) == 1 and one_id[0]["model"] == "mock-1"
        assert one_id[0]["output_tokens"] == 3 and one_id[0]["node"] == "n1"
        assert one_id[0]["key_name"] == "default"
    # After shutdown the day's stream is finished: the plain decompress reads the whole file.
    records = _closed_records(tmp_path)
    assert sorted(r["request_id"] for r in records) == ids
    assert all(re.match(r"n1-\d{4}-\d{2}-\d{2}\.jsonl\.br$", f.name)
               for f in _day_files(tmp_path))


async def test_admin_changes_recorded_without_secrets(tmp_path: Path) -> None:
    async with running_node(_tree(tmp_path)) as node, aiohttp.ClientSession() as session:
        async with session.post(f"{node.url}/api/v1/providers", headers=node.admin(), json={
                "key": "up", "type": "openai", "api_key": SECRET,
                "base_url": "http://127.0.0.1:9/v1", "model": "m"}) as resp:
            assert resp.status in (200, 201), await resp.text()
        async with session.post(f"{node.url}/api/v1/tokens", headers=node.admin(),
                                json={"name": "ci"}) as resp:
            assert resp.status in (200, 201)
            minted = (await resp.json())["key"]
        async with session.delete(f"{node.url}/api/v1/providers/up",
                                  headers=node.admin()) as resp:
            assert resp.status in (200, 204)
        async with session.delete(f"{node.url}/api/v1/providers/up",
                                  headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401  # not let in: not a change
        # The session routes are open (signing in is how a browser gets in): a failed
        # sign-in or a sign-out without a session changed nothing and is no admin's doing.
        async with session.post(f"{node.url}/api/v1/session", json={"token": "guess"}) as resp:
            assert resp.status == 401
        async with session.delete(f"{node.url}/api/v1/session") as resp:
            assert resp.status == 200  # signing out needs no credential
        changes = await _pages(node, session, type="admin")
        assert [(c["method"], c["path"], c["status"]) for c in changes] == [
            ("POST", "/api/v1/providers", changes[0]["status"]),
            ("POST", "/api/v1/tokens", changes[1]["status"]),
            ("DELETE", "/api/v1/providers/up", changes[2]["status"])]
        assert changes[2]["item"] == {"key": "up"}
        assert all(c["admin"] == "admin-token" for c in changes)
        assert (await _pages(node, session, admin="admin-token")) == changes
    raw = b"".join(brotli.decompress(f.read_bytes()) for f in _day_files(tmp_path))
    assert SECRET.encode() not in raw and minted.encode() not in raw
    assert node.admin_token.encode() not in raw


async def test_unwritable_directory_drops_never_fails(tmp_path: Path) -> None:
    # /dev/full is a device, not a directory: every write of the log fails.
    async with running_node(_tree("/dev/full/audit")) as node, \
            aiohttp.ClientSession() as session:
        for _ in range(5):
            async with session.post(f"{node.url}/v1/chat/completions", json=CHAT,
                                    headers=node.auth()) as resp:
                assert resp.status == 200
        async with session.get(f"{node.url}/api/v1/audit", headers=node.admin()) as resp:
            assert resp.status == 200  # the read shows nothing, and does not fail
            assert (await resp.json())["data"] == []
        async with session.get(f"{node.url}/metrics") as resp:
            text = await resp.text()
    dropped = re.search(r'at_audit_records\{name="dropped"\} (\S+)', text)
    failures = re.search(r'at_audit_records\{name="failures"\} (\S+)', text)
    assert dropped is not None and float(dropped.group(1)) >= 5
    assert failures is not None and float(failures.group(1)) >= 1


async def test_a_full_disk_mid_day_drops_the_batch(tmp_path: Path) -> None:
    writer = AuditWriter(tmp_path, "n", max_record_bytes=4096, retention_days=7, interval=60)
    writer.record({"at": _now(), "type": "exchange", "request_id": "before"})
    await writer.flush()
    # The open day file now writes to /dev/full: ENOSPC on every write, as on a full disk.
    assert writer._open is not None
    writer._open.handle.close()
    writer._open.handle = Path("/dev/full").open("wb")  # noqa: SIM115
    writer.record({"at": _now(), "type": "exchange", "request_id": "lost"})
    await writer.flush()
    assert writer.dropped == 1 and writer.failures == 1
    writer.record({"at": _now(), "type": "exchange", "request_id": "after"})
    await writer.close()
    assert writer.written == 2
    _, second = sorted(_day_files(tmp_path), key=lambda f: len(f.name))
    assert second.name.endswith(".1.jsonl.br")  # a new part: a broken stream is not continued
    assert brotli.decompress(second.read_bytes()).count(b'"after"') == 1
    # The abandoned part 0 was never finished, but what was flushed before still reads.
    page, _ = read_page(tmp_path, _query())
    assert [r["request_id"] for r in page] == ["before", "after"]


def _now(days: int = 0) -> str:
    moment = datetime.now(UTC) + timedelta(days=days)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _query(**equal: Any) -> AuditQuery:
    return AuditQuery(since=_now(-10), until=_now(1), equal=equal, limit=1000)


async def test_pages_across_days_and_restart_on_the_same_day(tmp_path: Path) -> None:
    for node in ("a", "b"):
        writer = AuditWriter(tmp_path, node, max_record_bytes=4096, retention_days=30,
                             interval=60)
        for day in (-2, -1, 0):
            for i in range(3):
                writer.record({"at": _now(day), "type": "exchange", "node": node,
                               "request_id": f"{node}{day}{i}", "model": f"m{i}"})
        await writer.close()
    # A restart of node a today: a second part, not a second stream in one file.
    again = AuditWriter(tmp_path, "a", max_record_bytes=4096, retention_days=30, interval=60)
    again.record({"at": _now(), "type": "exchange", "node": "a", "request_id": "restart",
                  "model": "m0"})
    await again.close()
    names = [f.name for f in _day_files(tmp_path)]
    assert len(names) == 7 and any(re.match(r"a-\d{4}-\d{2}-\d{2}\.1\.jsonl\.br", n)
                                   for n in names)
    everything, following = read_page(tmp_path, _query())
    assert len(everything) == 19 and following is None
    pages: list[dict[str, Any]] = []
    cursor: int | None = 0
    while cursor is not None:
        page, cursor = read_page(tmp_path, AuditQuery(
            since=_now(-10), until=_now(1), equal={}, offset=cursor, limit=4))
        pages += page
    assert pages == everything
    m0 = read_page(tmp_path, _query(model="m0"))[0]
    assert {r["request_id"] for r in m0} == {"a-20", "a-10", "a00", "b-20", "b-10", "b00",
                                             "restart"}
    window = read_page(tmp_path, AuditQuery(since=_now(-1)[:10], until=_now(0)[:10],
                                            equal={"node": "b"}))[0]
    assert {r["request_id"] for r in window} == {"b-10", "b-11", "b-12"}


async def test_retention_removes_old_day_files(tmp_path: Path) -> None:
    old = tmp_path / "n-2001-01-01.jsonl.br"
    old.write_bytes(brotli.compress(b'{"at":"2001-01-01T00:00:00Z"}\n'))
    other = tmp_path / "other-2001-01-01.jsonl.br"
    other.write_bytes(old.read_bytes())
    recent_day = _now(-2)[:10]
    recent = tmp_path / f"n-{recent_day}.jsonl.br"
    recent.write_bytes(old.read_bytes())
    writer = AuditWriter(tmp_path, "n", max_record_bytes=4096, retention_days=3, interval=60)
    writer.record({"at": _now(), "type": "exchange"})
    await writer.close()
    assert not old.exists()
    assert other.exists()  # another node's files are that node's to expire
    assert recent.exists()  # within three days


async def test_oversized_record_is_capped(tmp_path: Path) -> None:
    writer = AuditWriter(tmp_path, "n", max_record_bytes=1024, retention_days=3, interval=60)
    writer.record({"at": _now(), "type": "exchange", "request_id": "big", "error": "x" * 5000})
    await writer.close()
    (record,) = _closed_records(tmp_path)
    assert record["request_id"] == "big" and record["truncated"] is True
    assert "error" not in record and writer.truncated == 1


async def test_audit_api_errors(tmp_path: Path) -> None:
    async with running_node(_tree(tmp_path)) as node, aiohttp.ClientSession() as session:
        for params, name in (({"colour": "red"}, "colour"), ({"since": "yesterday"}, "since"),
                             ({"limit": "-1"}, "limit")):
            async with session.get(f"{node.url}/api/v1/audit", headers=node.admin(),
                                   params=params) as resp:
                assert resp.status == 400
                assert name in (await resp.json())["error"]["message"]
        async with session.get(f"{node.url}/api/v1/audit") as resp:
            assert resp.status == 401
    async with running_node() as node, aiohttp.ClientSession() as session, session.get(
            f"{node.url}/api/v1/audit", headers=node.admin()) as resp:
        assert resp.status == 503  # off: said so, not an empty page


@pytest.mark.parametrize(("audit", "message"), [
    ({"path": "/x", "retention_days": 0}, r"^audit\.retention_days: 0 is not valid"),
    ({"path": "/x", "max_record_bytes": 10}, r"^audit\.max_record_bytes: 10 is not valid"),
    ({"path": "/x", "bodies": "everything"}, r"^audit\.bodies: 'everything' is not valid"),
    ({"path": "/x", "body": "full"}, r"^audit\.body: unknown key"),
])
def test_audit_config_errors(audit: dict[str, Any], message: str) -> None:
    from node.config import parse_settings
    from node.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_settings(settings_tree(audit=audit))
