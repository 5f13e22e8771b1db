"""SQL for stored Responses-API answers (the ``responses`` table) and the items each holds
(``response_items``: item id -> the responses of one key that hold it)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..responses import ResponseRecord, claimable
from .engine import transaction
from .tables import Tables

__all__ = ["delete", "find_item", "forget_before", "get", "put"]


async def put(engine: AsyncEngine, t: Tables, records: Sequence[ResponseRecord]
              ) -> list[ResponseRecord]:
    """Insert a batch; the records refused (see ``claimable``). An id the same key holds
    is replaced: a retried write."""
    if not records:
        return []
    async with transaction(engine, "storing responses", write=True) as conn:
        held = await conn.execute(
            sa.select(t.responses.c.id, t.responses.c.key_id).where(
                t.responses.c.id.in_({r.id for r in records}),
                t.responses.c.expires_at >= time.time()))
        records, refused = claimable(records, {str(i): str(k) for i, k in held.all()})
        if not records:
            return refused
        ids = [r.id for r in records]
        items = [{"item_id": item, "response_id": r.id, "key_id": r.key_id}
                 for r in records for item in dict.fromkeys(r.items)]
        await conn.execute(t.response_items.delete().where(
            t.response_items.c.response_id.in_(ids)))
        await conn.execute(t.responses.delete().where(t.responses.c.id.in_(ids)))
        await conn.execute(t.responses.insert(), [
            {"id": r.id, "key_id": r.key_id, "created_at": r.created_at,
             "expires_at": r.expires_at, "body": r.body} for r in records])
        if items:
            await conn.execute(t.response_items.insert(), items)
    return refused


def _record(row: sa.Row[tuple[object, ...]]) -> ResponseRecord:
    return ResponseRecord(str(row.id), str(row.key_id), float(row.created_at),
                          float(row.expires_at), bytes(row.body))


async def get(engine: AsyncEngine, t: Tables, response_id: str) -> ResponseRecord | None:
    async with transaction(engine, "reading a response") as conn:
        row = (await conn.execute(sa.select(t.responses).where(
            t.responses.c.id == response_id))).first()
    return None if row is None else _record(row)


async def find_item(engine: AsyncEngine, t: Tables, item_id: str, key_id: str
                    ) -> ResponseRecord | None:
    """The newest response of ``key_id`` holding ``item_id``."""
    items = t.response_items
    query = (sa.select(t.responses)
             .join(items, items.c.response_id == t.responses.c.id)
             .where(items.c.item_id == item_id, items.c.key_id == key_id)
             .order_by(t.responses.c.created_at.desc()).limit(1))
    async with transaction(engine, "finding a response item") as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else _record(row)


async def delete(engine: AsyncEngine, t: Tables, response_id: str, key_id: str) -> bool:
    async with transaction(engine, "deleting a response", write=True) as conn:
        result = await conn.execute(t.responses.delete().where(
            t.responses.c.id == response_id, t.responses.c.key_id == key_id))
        if result.rowcount:
            await conn.execute(t.response_items.delete().where(
                t.response_items.c.response_id == response_id))
    return bool(result.rowcount)


async def forget_before(engine: AsyncEngine, t: Tables, moment: float) -> int:
    expired = sa.select(t.responses.c.id).where(t.responses.c.expires_at < moment)
    async with transaction(engine, "deleting expired responses", write=True) as conn:
        await conn.execute(t.response_items.delete().where(
            t.response_items.c.response_id.in_(expired)))
        result = await conn.execute(t.responses.delete().where(
            t.responses.c.expires_at < moment))
    return int(result.rowcount or 0)
