"""Quota leases on a real Postgres shared by several nodes: racing grants, lost outcomes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from store import Lease, LeaseAsk, StoreConfig, StoreUnavailable

from .conftest import Opener, StoreFactory, raw_rows

pytestmark = pytest.mark.postgres
CAP = 1000


def ask(want: int, minimum: int = 1) -> LeaseAsk:
    return LeaseAsk("key:hot", "usd_per_month", "month", CAP, want, minimum)


async def granted_in_db(config: StoreConfig) -> int:
    (row,) = await raw_rows(config, "quota")
    return int(row[5])


async def test_three_nodes_racing_on_one_row_never_pass_the_cap(
        opener: Opener, pg_config_for: StoreFactory) -> None:
    config = pg_config_for()
    nodes = [await opener(config, node_id=f"n{i}") for i in range(3)]
    rnd = random.Random(7)
    calls = [node.lease([ask(rnd.randint(50, 400))]) for node in nodes for _ in range(60)]
    leases: list[Lease] = [lease for got in await asyncio.gather(*calls) for lease in got]
    grants = sorted((x for x in leases if x.granted), key=lambda x: -x.left)
    total = sum(x.granted for x in grants)
    # With minimum 1 this demand takes every unit, and not one more.
    assert total == CAP == await granted_in_db(config)
    assert len(grants) < len(leases)  # the late ones were denied
    # The grants are serial: each took its units from exactly what the previous one left.
    before = CAP
    for grant in grants:
        assert grant.left == before - grant.granted >= 0
        before = grant.left


@asynccontextmanager
async def row_locked(config: StoreConfig) -> AsyncIterator[AsyncConnection]:
    """Hold the quota row's lock from outside the store (a stalled peer mid-transaction)."""
    url = sa.make_url(config.datasource).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(
                f'SELECT * FROM "{config.schema}"."{config.table_prefix}quota" FOR UPDATE'))
            yield conn
            await conn.rollback()
    finally:
        await engine.dispose()


async def waiting_on_locks(conn: AsyncConnection, application: str) -> list[int]:
    # pg_stat_activity is read once per transaction unless the snapshot is cleared
    await conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    query = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :a "
                    "AND wait_event_type = 'Lock'")
    return list((await conn.execute(query, {"a": application})).scalars())


async def test_a_lost_outcome_never_leaves_granted_below_what_callers_saw(
        opener: Opener, pg_config_for: StoreFactory) -> None:
    config = pg_config_for()
    node = await opener(config, node_id="lost")
    (first,) = await node.lease([ask(100, 100)])
    assert first.granted == 100
    async with row_locked(config) as holder:
        calls = [asyncio.ensure_future(node.lease([ask(50, 50)])) for _ in range(3)]
        for _ in range(500):  # until every call waits on the row inside its transaction
            pids = await waiting_on_locks(holder, "at-gateway:lost")
            if len(pids) == 3:
                break
            await asyncio.sleep(0.02)
        assert len(pids) == 3
        await node.close()  # the engine goes away mid-call...
        await holder.execute(sa.text(  # ...and so do its sessions
            "SELECT pg_terminate_backend(pid) FROM unnest(CAST(:p AS int[])) pid"), {"p": pids})
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed and all(isinstance(r, StoreUnavailable) for r in failed), results
    seen = first.granted + sum(x.granted for r in results if isinstance(r, list) for x in r)
    assert await granted_in_db(config) >= seen
