"""The quota ledger's statements (store/quota.py) on Postgres and SQLite.

Each call is one transaction. Windows come from the database's clock: Postgres reads
``clock_timestamp()`` inside the transaction; SQLite serves one node, so the Python clock read
after ``BEGIN IMMEDIATE`` took the write lock stands in for it. A grant is one guarded UPDATE
(``granted`` never passes the asked cap), sized by the same rule as
:func:`store.quota.grant_size`: the guard keeps ``cap - granted`` positive, where SQL's
truncating integer division equals Python's floor division.

Rows are locked in key order whatever order the asks come in, so two nodes asking for the same
rows in different orders cannot deadlock; distinct rows do not interact, so the answers are
those of taking the asks in the order given.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..errors import Conflict, StoreUnavailable
from ..quota import Lease, LeaseAsk, Return, window_of
from .engine import transaction


@asynccontextmanager
async def _ledger(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """A write transaction on the ledger; a row held past the lock timeout by a stalled peer
    is the database being unavailable to this call (it rolled back: nothing changed)."""
    try:
        async with transaction(engine, action, write=True) as conn:
            yield conn
    except Conflict as exc:
        raise StoreUnavailable(exc.message) from exc


async def _db_now(conn: AsyncConnection) -> float:
    if conn.dialect.name == "postgresql":
        query = sa.text("SELECT CAST(extract(epoch FROM clock_timestamp()) AS float8)")
        return float((await conn.execute(query)).scalar_one())
    return time.time()


def _greatest(conn: AsyncConnection) -> Any:
    return sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max


def _least(conn: AsyncConnection) -> Any:
    return sa.func.least if conn.dialect.name == "postgresql" else sa.func.min


def _big(value: int) -> sa.BindParameter[int]:
    # typed, so asyncpg binds int8 (micro-dollar caps pass 2**31)
    return sa.literal(value, sa.BigInteger)


async def _grant(conn: AsyncConnection, q: sa.Table, ask: LeaseAsk,
                 window: tuple[float, float]) -> tuple[int, int]:
    """Create the window's row if new, then grant; (granted, left)."""
    start, end = window
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(q).values(
        scope=ask.scope, lim=ask.limit, win_start=start, win_end=end, cap=ask.cap, granted=0,
        last_grant=0).on_conflict_do_nothing(index_elements=[q.c.scope, q.c.lim,
                                                             q.c.win_start]))
    row = (q.c.scope == ask.scope) & (q.c.lim == ask.limit) & (q.c.win_start == start)
    greatest, least = _greatest(conn), _least(conn)
    left = _big(ask.cap) - q.c.granted
    size = greatest(0, least(_big(ask.want), greatest(_big(ask.minimum), left // 2)))
    got = (await conn.execute(
        sa.update(q).where(row, left >= _big(max(ask.minimum, 1)))
        .values(cap=_big(ask.cap), last_grant=size, granted=q.c.granted + size)
        .returning(q.c.last_grant, q.c.cap - q.c.granted))).one_or_none()
    if got is not None:
        return int(got[0]), int(got[1])
    # Denied: nothing is written, so probing an exhausted key stays a cheap read. ``left`` is
    # measured against the asked cap, as the grant's guard was.
    left_now = (await conn.execute(sa.select(left).where(row))).scalar_one()
    return 0, int(left_now)


async def lease(engine: AsyncEngine, q: sa.Table, asks: Sequence[LeaseAsk]) -> list[Lease]:
    """store.quota.QuotaStore.lease in one transaction."""
    if not asks:
        return []
    async with _ledger(engine, "leasing quota") as conn:
        now = await _db_now(conn)
        windows = [window_of(ask.period, now + ask.ahead) for ask in asks]
        order = sorted(range(len(asks)),
                       key=lambda i: (asks[i].scope, asks[i].limit, windows[i][0]))
        leases: list[Lease | None] = [None] * len(asks)
        for i in order:
            ask, (start, end) = asks[i], windows[i]
            granted, left = await _grant(conn, q, ask, (start, end))
            leases[i] = Lease(ask.scope, ask.limit, granted, left, start, end, now)
    return [lease for lease in leases if lease is not None]


async def give_back(engine: AsyncEngine, q: sa.Table, returns: Sequence[Return]) -> None:
    """store.quota.QuotaStore.give_back in one transaction (``granted`` never below 0)."""
    if not returns:
        return
    async with _ledger(engine, "giving quota back") as conn:
        greatest = _greatest(conn)
        for back in sorted(returns, key=lambda r: (r.scope, r.limit, r.win_start)):
            await conn.execute(
                sa.update(q).where(q.c.scope == back.scope, q.c.lim == back.limit,
                                   q.c.win_start == back.win_start)
                .values(granted=greatest(q.c.granted - _big(back.units), 0)))


async def forget_before(engine: AsyncEngine, q: sa.Table, moment: float) -> int:
    """Delete the rows of windows that ended before ``moment``; how many were deleted."""
    async with _ledger(engine, "forgetting old quota windows") as conn:
        result = await conn.execute(sa.delete(q).where(q.c.win_end < moment))
    return int(result.rowcount)
