"""The Store contract, run against memory, SQLite and a real Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from store import (
    ApiKeyRecord,
    ConcurrentRotation,
    Conflict,
    NotFound,
    Store,
    StoreUnavailable,
    UsageRecord,
    UsageWriter,
    open_store,
)

from .conftest import StoreFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPENAI = {
    "type": "openai",
    "api_key": "sk-live-123",
    "model": "gpt-4o",
    "models": ["a", "b"],
    "extra_headers": {"X-Org": "org-1"},
    "proxy": "socks5://u:p@127.0.0.1:1080",
}


def api_key(key_id: str = "k_1", **changes: object) -> ApiKeyRecord:
    values: dict[str, object] = {
        "id": key_id,
        "name": "ci",
        "key_hash": "ab" * 32,
        "prefix": "atk-123456",
        "providers": ("openai",),
        "models": ("openai/*",),
        "expires_at": NOW + timedelta(days=1),
        "enabled": True,
        "created_at": NOW,
    }
    values.update(changes)
    return ApiKeyRecord(**values)  # type: ignore[arg-type]


async def test_providers_crud(store: Store) -> None:
    assert await store.list_providers() == []
    assert await store.get_provider("openai") is None
    written = await store.put_provider("openai", OPENAI)
    assert written.key == "openai" and written.config == OPENAI
    await store.put_provider("demo", {"type": "mock"})
    got = await store.get_provider("openai")
    assert got is not None and got.config == OPENAI and got.updated_at.tzinfo is not None
    assert [p.key for p in await store.list_providers()] == ["demo", "openai"]
    await store.put_provider("openai", {**OPENAI, "api_key": "sk-new"})
    got = await store.get_provider("openai")
    assert got is not None and got.config["api_key"] == "sk-new"
    assert await store.delete_provider("openai") is True
    assert await store.delete_provider("openai") is False
    assert [p.key for p in await store.list_providers()] == ["demo"]


async def test_plaintext_that_looks_encrypted_round_trips(store: Store) -> None:
    odd = {"api_key": "enc:v1:7:notreally", "extra_headers": {"a": "plain:x"}}
    await store.put_provider("odd", odd)
    got = await store.get_provider("odd")
    assert got is not None and got.config == odd


async def test_api_keys_crud(store: Store) -> None:
    record = api_key()
    await store.create_api_key(record)
    with pytest.raises(Conflict):
        await store.create_api_key(record)
    assert await store.get_api_key("k_1") == record
    open_ended = api_key(
        "k_2",
        providers=None,
        models=None,
        expires_at=None,
        key_hash="cd" * 32,
        created_at=NOW + timedelta(seconds=1),
    )
    await store.create_api_key(open_ended)
    assert await store.list_api_keys() == [record, open_ended]
    disabled = api_key(enabled=False, name="renamed")
    await store.update_api_key(disabled)
    assert await store.get_api_key("k_1") == disabled
    with pytest.raises(NotFound):
        await store.update_api_key(api_key("k_missing"))
    assert await store.delete_api_key("k_1") is True
    assert await store.delete_api_key("k_1") is False
    assert await store.get_api_key("k_1") is None


async def test_settings(store: Store) -> None:
    assert await store.get_setting("admin_token_hash") is None
    assert await store.put_setting("admin_token_hash", "h1", only_if_absent=True) is True
    assert await store.put_setting("admin_token_hash", "h2", only_if_absent=True) is False
    assert await store.get_setting("admin_token_hash") == "h1"
    assert await store.put_setting("admin_token_hash", "h3") is True
    assert await store.get_setting("admin_token_hash") == "h3"


async def test_concurrent_only_if_absent_has_one_winner(store: Store) -> None:
    results = await asyncio.gather(
        *(store.put_setting("first", str(i), only_if_absent=True) for i in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]


def usage(
    at: datetime, key: str = "k_1", model: str = "gpt-4o", status: int = 200,
    latency: float = 10.0, cost: float = 0.0,
) -> UsageRecord:
    return UsageRecord(at, key, "openai", model, 10, 5, status, latency,
                       cache_read_tokens=7, cache_write_tokens=3, cost_usd=cost)


async def test_usage_summary(store: Store) -> None:
    day2 = NOW + timedelta(days=1)
    await store.add_usage(
        [
            usage(NOW, cost=0.1),
            usage(NOW, status=500, latency=30.0, cost=0.2),  # 0.30000000000000004 summed
            usage(NOW, model="o3", cost=0.0001234567),
            usage(day2, key="k_2"),
        ]
    )
    await store.add_usage([])
    rows = await store.usage_summary(since=None, until=None)
    assert rows == [
        {
            "day": "2026-03-01",
            "key_id": "k_1",
            "provider": "openai",
            "model": "gpt-4o",
            "requests": 2,
            "input_tokens": 20,
            "output_tokens": 10,
            "cache_read_tokens": 14,
            "cache_write_tokens": 6,
            "errors": 1,
            "cost_usd": 0.3,
            "avg_latency_ms": 20.0,
        },
        {
            "day": "2026-03-01",
            "key_id": "k_1",
            "provider": "openai",
            "model": "o3",
            "requests": 1,
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_tokens": 7,
            "cache_write_tokens": 3,
            "errors": 0,
            "cost_usd": 0.000123,
            "avg_latency_ms": 10.0,
        },
        {
            "day": "2026-03-02",
            "key_id": "k_2",
            "provider": "openai",
            "model": "gpt-4o",
            "requests": 1,
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_tokens": 7,
            "cache_write_tokens": 3,
            "errors": 0,
            "cost_usd": 0.0,
            "avg_latency_ms": 10.0,
        },
    ]
    only_day2 = await store.usage_summary(since=day2, until=None)
    assert [r["key_id"] for r in only_day2] == ["k_2"]
    before_day2 = await store.usage_summary(since=None, until=day2)
    assert sum(r["requests"] for r in before_day2) == 3


async def test_usage_writer_loses_nothing_on_close(store: Store) -> None:
    writer = UsageWriter(store, interval=60.0, batch_size=7)
    writer.start()
    for i in range(50):
        writer.record(usage(NOW + timedelta(seconds=i)))
    await asyncio.sleep(0.05)  # let size-triggered batches run while more are queued
    for i in range(50, 103):
        writer.record(usage(NOW + timedelta(seconds=i)))
    await writer.close()
    writer.record(usage(NOW))  # after close: dropped, counted, never raises
    rows = await store.usage_summary(since=None, until=None)
    assert sum(r["requests"] for r in rows) == 103
    assert writer.written == 103 and writer.dropped == 1


async def test_usage_writer_bounded_queue_drops_and_counts(store: Store) -> None:
    writer = UsageWriter(store, interval=60.0, batch_size=1000, max_queue=10)
    for _ in range(15):
        writer.record(usage(NOW))
    await writer.close()
    assert writer.dropped == 5 and writer.written == 10


async def test_rotation_contract(store: Store) -> None:
    await store.put_provider("openai", OPENAI)
    assert store.encrypted and store.key_version >= 1
    first = store.key_version
    result = await store.rotate_key()
    assert result.encrypted and result.version > first == result.version - 1
    assert store.key_version == result.version == await store.reconcile()
    new_pass = await store.rotate_key("new passphrase")
    assert new_pass.version == result.version + 1 and new_pass.encrypted
    off = await store.rotate_key("")
    assert off.version == 0 and not off.encrypted
    assert (store.key_version, store.encrypted) == (0, False)
    noop = await store.rotate_key()
    assert noop.version == 0 and not noop.encrypted
    back_on = await store.rotate_key("again")
    assert back_on.encrypted and back_on.version > new_pass.version
    got = await store.get_provider("openai")
    assert got is not None and got.config == OPENAI


async def test_concurrent_rotation_on_one_store(store: Store) -> None:
    results = await asyncio.gather(store.rotate_key(), store.rotate_key(), return_exceptions=True)
    assert sum(isinstance(r, ConcurrentRotation) for r in results) == 1, results


async def test_ping_and_close(config_for: StoreFactory) -> None:
    opened = await open_store(config_for())
    await opened.ping()
    await opened.close()
    if config_for().kind == "memory":
        with pytest.raises(StoreUnavailable):
            await opened.ping()


async def test_admin_changes_in_time_order_and_forgotten_past_retention(store: Store) -> None:
    base = NOW.timestamp()
    for offset, path in ((20, "/c"), (0, "/a"), (10, "/b"), (30, "/d")):
        await store.add_admin_change(base + offset, {
            "type": "admin", "path": path, "item": {"key": path[1:]}, "status": 200})
    assert [c["path"] for c in await store.admin_changes(base, base + 30)] == ["/a", "/b", "/c"]
    (only,) = await store.admin_changes(base + 5, base + 15)
    assert only == {"type": "admin", "path": "/b", "item": {"key": "b"}, "status": 200}
    only["path"] = "/changed"  # a reader's copy, not the record
    assert (await store.admin_changes(base + 5, base + 15))[0]["path"] == "/b"
    assert await store.forget_admin_changes_before(base + 15) == 2
    assert [c["path"] for c in await store.admin_changes(0, base + 100)] == ["/c", "/d"]
