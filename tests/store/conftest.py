"""Store test fixtures: one backend parameter (memory, sqlite, postgres) and a real Postgres.

Postgres is the session's throwaway server from tests/postgres.py (fixture ``postgres_dsn``,
registered by tests/conftest.py): started from the installed binaries; without them the
Postgres cases skip locally and FAIL when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from store import KdfParams, Store, StoreConfig, open_store

FAST_KDF = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)
StoreFactory = Callable[..., StoreConfig]
Opener = Callable[..., Awaitable[Store]]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per backend."""
    return str(request.param)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_backend(request: pytest.FixtureRequest) -> str:
    """Tests of encryption at rest and SQL behaviour (not the memory store)."""
    return str(request.param)


def _factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if kind == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        schema = "t_" + uuid.uuid4().hex[:12]  # one schema per test keeps tests apart
        base: dict[str, Any] = {"kind": "postgres", "datasource": dsn, "schema": schema}
    elif kind == "sqlite":
        base = {"kind": "sqlite", "datasource": str(tmp_path / "at.db")}
    else:
        base = {"kind": "memory"}

    def make(**overrides: Any) -> StoreConfig:
        return StoreConfig(**{"kdf": FAST_KDF, "reencrypt_batch": 2, **base, **overrides})

    return make


@pytest.fixture
def config_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Build a StoreConfig for the current backend (cheap Argon2, small re-encrypt batches)."""
    return _factory(backend, request, tmp_path)


@pytest.fixture
def sql_config_for(
    sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> StoreFactory:
    """Like config_for, for the SQL backends only."""
    return _factory(sql_backend, request, tmp_path)


@pytest.fixture
def pg_config_for(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Like config_for, on Postgres only (tests of several nodes on one database)."""
    return _factory("postgres", request, tmp_path)


@pytest.fixture
async def store(config_for: StoreFactory) -> AsyncIterator[Store]:
    """An open store for the current backend, encrypted with passphrase 'pw'."""
    opened = await open_store(config_for(encryption_key="pw"))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def opener() -> AsyncIterator[Opener]:
    """open_store that closes every store it opened when the test ends, even on failure."""
    opened: list[Store] = []

    async def open_(config: StoreConfig, **kwargs: Any) -> Store:
        result = await open_store(config, **kwargs)
        opened.append(result)
        return result

    yield open_
    for item in opened:
        await item.close()


async def raw_rows(config: StoreConfig, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``<prefix><table>`` read with plain SQL, bypassing the store."""
    return await raw_sql(config, table, "SELECT * FROM {table}")


async def raw_sql(config: StoreConfig, table: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run ``statements`` (``{table}`` = the quoted ``<prefix><table>``) with plain SQL,
    bypassing the store; the rows of the last one if it returns any."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    if config.kind == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{config.datasource}")
        name = f'"{config.table_prefix}{table}"'
    else:
        url = sa.make_url(config.datasource).set(drivername="postgresql+asyncpg")
        engine = create_async_engine(url)
        schema = config.schema or "public"
        name = f'"{schema}"."{config.table_prefix}{table}"'
    rows: list[tuple[Any, ...]] = []
    try:
        async with engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(sa.text(statement.format(table=name)))
                rows = [tuple(r) for r in result.all()] if result.returns_rows else []
        return rows
    finally:
        await engine.dispose()


def run_gather(*coros: Any) -> Any:
    """asyncio.gather with exceptions returned (helper for race tests)."""
    return asyncio.gather(*coros, return_exceptions=True)
