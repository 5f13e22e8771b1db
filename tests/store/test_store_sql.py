"""SQL specifics: real table names under schema and prefix, migrations, pool settings."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from store import LeaseAsk, StoreConfig, StoreError, StoreUnavailable, UsageRecord

from .conftest import Opener, StoreFactory, raw_rows, raw_sql
from .keycheck import assert_consistent
from .test_store_api_keys import api_key

MIGRATED = [(1, "initial"), (2, "usage cache tokens"), (3, "limits"), (4, "routes"),
            (5, "responses"), (6, "admin audit"), (7, "response items"),
            (8, "usage request id"), (9, "usage request detail")]
TABLES = {"schema_version", "providers", "api_keys", "settings", "usage", "key_state", "kdf",
          "keyring", "key_wraps", "quota", "routes", "responses", "admin_audit"}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def back_to_version(config: StoreConfig, version: int) -> None:
    """Undo the migrations after ``version`` with plain SQL: what that version had made."""
    if version < 9:
        await raw_sql(config, "usage", *(f"ALTER TABLE {{table}} DROP COLUMN {c}" for c in (
            "ttft_ms", "overhead_ms", "attempts", "error")))
    if version < 7:
        await raw_sql(config, "usage_request_id", "DROP INDEX {table}")
        await raw_sql(config, "usage", "ALTER TABLE {table} DROP COLUMN request_id")
    if version < 3:
        await raw_sql(config, "quota", "DROP TABLE {table}")
        await raw_sql(config, "usage", "ALTER TABLE {table} DROP COLUMN cost_usd")
        await raw_sql(config, "api_keys", "ALTER TABLE {table} DROP COLUMN policy")
    if version < 2:
        await raw_sql(config, "usage", *(f"ALTER TABLE {{table}} DROP COLUMN {c}"
                                         for c in ("cache_read_tokens", "cache_write_tokens")))
    await raw_sql(config, "schema_version", f"DELETE FROM {{table}} WHERE version > {version}")


async def table_names(config_kind: str, dsn: str, schema: str) -> set[str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    if config_kind == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{dsn}")
        query = sa.text("SELECT name FROM sqlite_master WHERE type = 'table'")
        params: dict[str, str] = {}
    else:
        engine = create_async_engine(sa.make_url(dsn).set(drivername="postgresql+asyncpg"))
        query = sa.text("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = :s")
        params = {"s": schema}
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(query, params)).scalars())
    finally:
        await engine.dispose()


async def test_schema_and_prefix_are_honoured(opener: Opener, sql_config_for: StoreFactory) -> None:
    base = sql_config_for()
    schema = f"Mixed_{uuid.uuid4().hex[:6]}" if base.kind == "postgres" else ""
    config = sql_config_for(table_prefix="gw_", schema=schema, max_open_conns=3,
                            max_idle_conns=3)
    store = await opener(config)
    await store.put_provider("demo", {"type": "mock"})
    names = await table_names(config.kind, config.datasource, schema)
    assert {f"gw_{t}" for t in TABLES} <= names
    (lease,) = await store.lease([LeaseAsk("key:k", "requests_per_minute", "minute", 9, 4, 1)])
    assert (lease.granted, lease.left) == (4, 5)
    assert [r[:2] + r[4:] for r in await raw_rows(config, "quota")] == [
        ("key:k", "requests_per_minute", 9, 4, 4)]
    assert not any(n.startswith("at_") for n in names)
    if config.kind == "postgres":
        assert not {f"gw_{t}" for t in TABLES} & await table_names(
            "postgres", config.datasource, "public")
        # every pooled connection carries the schema, not just the first one
        engine = store._engine  # type: ignore[attr-defined]
        conns = [await engine.connect() for _ in range(3)]
        paths = [(await c.execute(sa.text("SHOW search_path"))).scalar() for c in conns]
        for c in conns:
            await c.close()
        assert paths == [f'"{schema}"'] * 3
    await store.close()


@pytest.mark.parametrize("bad", ["x;drop", 'a"b', "1abc", "a b"])
async def test_invalid_schema_or_prefix_is_refused(opener: Opener, sql_config_for: StoreFactory,
                                                   bad: str) -> None:
    with pytest.raises(StoreError) as info:
        await opener(sql_config_for(schema=bad))
    assert isinstance(info.value, ValueError)
    if bad != "1abc":  # a prefix may start with a digit: it is never first in a name
        with pytest.raises(ValueError):
            await opener(sql_config_for(table_prefix=bad))


async def test_migrations_are_idempotent(opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="pw")
    for _ in range(3):
        store = await opener(config)
        await store.close()
    assert [r[:2] for r in await raw_rows(config, "schema_version")] == MIGRATED
    assert len(await raw_rows(config, "key_state")) == 1


async def test_a_version_1_database_gains_the_cache_token_columns(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    await (await opener(config)).close()
    # Back to what version 1 made: no cache columns, one usage row written then.
    await back_to_version(config, 1)
    await raw_sql(config, "usage", "INSERT INTO {table} (at, day, key_id, provider, model, "
                  "input_tokens, output_tokens, status, latency_ms) "
                  "VALUES (1772323200, '2026-03-01', 'k', 'p', 'm', 9, 4, 200, 1.0)")
    store = await opener(config)
    (row,) = await store.usage_summary(since=None, until=None)
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (9, 0, 0)
    assert row["cost_usd"] == 0.0
    assert [r[:2] for r in await raw_rows(config, "schema_version")] == MIGRATED


@pytest.mark.parametrize("version", [1, 2])
async def test_an_older_database_gains_the_limits_tables_and_columns(
        opener: Opener, sql_config_for: StoreFactory, version: int) -> None:
    config = sql_config_for()
    store = await opener(config)
    await store.create_api_key(api_key("k_old"))
    await store.close()
    await back_to_version(config, version)
    assert "quota" not in {n.removeprefix("at_") for n in await names_of(config)}
    store = await opener(config)
    old = await store.get_api_key("k_old")
    assert old is not None and old.policy == {}
    await store.update_api_key(api_key("k_old", policy={"limits": {"requests_per_day": 5}}))
    again = await store.get_api_key("k_old")
    assert again is not None and again.policy == {"limits": {"requests_per_day": 5}}
    await store.add_usage([UsageRecord(NOW, "k_old", "p", "m", 1, 1, 200, 1.0, cost_usd=0.25)])
    (row,) = await store.usage_summary(since=None, until=None)
    assert row["cost_usd"] == 0.25
    (lease,) = await store.lease([LeaseAsk("key:k_old", "requests_per_day", "day", 5, 2, 1)])
    assert (lease.granted, lease.left) == (2, 3)
    assert [r[:2] for r in await raw_rows(config, "schema_version")] == MIGRATED


async def test_an_older_database_gains_the_request_id_column(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    await (await opener(config)).close()
    await back_to_version(config, 5)
    await raw_sql(config, "usage", "INSERT INTO {table} (at, day, key_id, provider, model, "
                  "input_tokens, output_tokens, status, latency_ms) "
                  "VALUES (1772323200, '2026-03-01', 'k', 'p', 'm', 9, 4, 200, 1.0)")
    store = await opener(config)
    await store.add_usage([UsageRecord(NOW, "k", "p", "m", 1, 1, 200, 1.0,
                                       request_id="req-after-7")])
    (old,) = [r for r in await store.usage_log(limit=5) if r["request_id"] == ""]
    assert old["input_tokens"] == 9
    (found,) = await store.usage_log(request_id="req-after-7")
    assert found["input_tokens"] == 1
    assert await store.usage_log(request_id="req-unknown") == []
    assert [r[:2] for r in await raw_rows(config, "schema_version")] == MIGRATED


async def test_an_older_database_gains_the_request_detail_columns(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    await (await opener(config)).close()
    await back_to_version(config, 8)
    columns = {c for (c,) in await raw_sql(config, "usage", (
        "SELECT name FROM pragma_table_info('at_usage')" if config.kind == "sqlite" else
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{config.schema}' AND table_name = 'at_usage'"))}
    assert "request_id" in columns and "ttft_ms" not in columns and "error" not in columns
    await raw_sql(config, "usage", "INSERT INTO {table} (at, day, key_id, provider, model, "
                  "input_tokens, output_tokens, status, latency_ms, request_id) "
                  "VALUES (1772323200, '2026-03-01', 'k', 'p', 'm', 9, 4, 502, 1.0, 'old')")
    store = await opener(config)
    await store.add_usage([UsageRecord(NOW, "k", "p", "m", 1, 1, 502, 30.0, request_id="new",
                                       ttft_ms=None, overhead_ms=1.25, attempts=2,
                                       error="upstream 'p' answered 500: boom")])
    (old,) = await store.usage_log(request_id="old")
    assert (old["ttft_ms"], old["overhead_ms"], old["attempts"], old["error"]) == (
        None, None, None, "")
    (new,) = await store.usage_log(request_id="new")
    assert (new["overhead_ms"], new["attempts"], new["error"]) == (
        1.25, 2, "upstream 'p' answered 500: boom")
    assert [r[:2] for r in await raw_rows(config, "schema_version")] == MIGRATED


async def names_of(config: StoreConfig) -> set[str]:
    return await table_names(config.kind, config.datasource, config.schema)


async def test_concurrent_first_start(opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="pw")
    stores = await asyncio.gather(*(opener(config, node_id=f"n{i}") for i in range(3)))
    assert [s.key_version for s in stores] == [1, 1, 1]
    await stores[0].put_provider("openai", {"api_key": "sk-x"})
    for store in stores:
        got = await store.get_provider("openai")
        assert got is not None and got.config["api_key"] == "sk-x"
        await store.close()
    assert [r[:2] for r in await raw_rows(config, "schema_version")] == MIGRATED
    await assert_consistent(config)


async def test_unreachable_database_is_store_unavailable(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    if config.kind == "postgres":
        bad = sql_config_for(datasource="postgres://postgres@127.0.0.1:1/postgres")
    else:
        bad = sql_config_for(datasource="/nonexistent-dir/sub/at.db")
    with pytest.raises(StoreUnavailable):
        await opener(bad)


async def test_postgres_sessions_cannot_hold_locks_forever(opener: Opener,
                                                           sql_config_for: StoreFactory) -> None:
    """A paused node must not block rotations cluster-wide: every pooled Postgres session
    gives up waiting for a lock and is ended when idle inside a transaction."""
    config = sql_config_for()
    if config.kind != "postgres":
        return
    store = await opener(config)
    engine = store._engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        lock = (await conn.execute(sa.text("SHOW lock_timeout"))).scalar()
        idle = (await conn.execute(sa.text("SHOW idle_in_transaction_session_timeout"))).scalar()
    assert (lock, idle) == ("10s", "30s")
    await store.close()


async def test_a_held_row_lock_makes_a_rotation_busy_not_hung(opener: Opener,
                                                              sql_config_for: StoreFactory) -> None:
    config = sql_config_for()
    if config.kind != "postgres":
        return
    from store import Conflict

    store = await opener(config)
    other = await opener(config)
    engine = store._engine  # type: ignore[attr-defined]
    prefix = config.table_prefix
    async with engine.connect() as holder:
        await holder.execute(sa.text("SET lock_timeout = '1s'"))
        await holder.execute(sa.text(f"SELECT * FROM {prefix}key_state FOR UPDATE"))
        started = asyncio.get_running_loop().time()
        with pytest.raises(Conflict):
            await other.rotate_key()
        assert asyncio.get_running_loop().time() - started < 15
        await holder.rollback()
    await other.close()
    await store.close()
