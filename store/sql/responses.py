"""SQL for stored Responses-API answers (the ``responses`` table)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..responses import ResponseRecord
from .engine import transaction

__all__ = ["delete", "forget_before", "get", "put"]


async def put(engine: AsyncEngine, table: sa.Table, records: Sequence[ResponseRecord]) -> None:
    """Insert a batch (an id already there is replaced: ids are random, so only a retry)."""
    if not records:
        return
    ids = [r.id for r in records]
    async with transaction(engine, "storing responses", write=True) as conn:
        await conn.execute(table.delete().where(table.c.id.in_(ids)))
        await conn.execute(table.insert(), [
            {"id": r.id, "key_id": r.key_id, "created_at": r.created_at,
             "expires_at": r.expires_at, "body": r.body} for r in records])


async def get(engine: AsyncEngine, table: sa.Table, response_id: str) -> ResponseRecord | None:
    async with transaction(engine, "reading a response") as conn:
        row = (await conn.execute(sa.select(table).where(table.c.id == response_id))).first()
    if row is None:
        return None
    return ResponseRecord(row.id, row.key_id, float(row.created_at), float(row.expires_at),
                          bytes(row.body))


async def delete(engine: AsyncEngine, table: sa.Table, response_id: str, key_id: str) -> bool:
    async with transaction(engine, "deleting a response", write=True) as conn:
        result = await conn.execute(table.delete().where(
            table.c.id == response_id, table.c.key_id == key_id))
    return bool(result.rowcount)


async def forget_before(engine: AsyncEngine, table: sa.Table, moment: float) -> int:
    async with transaction(engine, "deleting expired responses", write=True) as conn:
        result = await conn.execute(table.delete().where(table.c.expires_at < moment))
    return int(result.rowcount or 0)
