"""SQL for admin changes on the record (the ``admin_audit`` table, store/admin_audit.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..admin_audit import ADMIN_CHANGES_MAX
from .engine import transaction

__all__ = ["add", "forget_before", "read"]


async def add(engine: AsyncEngine, table: sa.Table, at: float,
              record: Mapping[str, Any]) -> None:
    async with transaction(engine, "recording an admin change", write=True) as conn:
        await conn.execute(table.insert().values(at=at, record=orjson.dumps(record).decode()))


async def read(engine: AsyncEngine, table: sa.Table, since: float,
               until: float) -> list[dict[str, Any]]:
    query = (sa.select(table.c.record).where(table.c.at >= since, table.c.at < until)
             .order_by(table.c.at, table.c.id).limit(ADMIN_CHANGES_MAX))
    async with transaction(engine, "reading admin changes") as conn:
        rows = (await conn.execute(query)).scalars().all()
    return [orjson.loads(row) for row in rows]


async def forget_before(engine: AsyncEngine, table: sa.Table, moment: float) -> int:
    async with transaction(engine, "deleting old admin changes", write=True) as conn:
        result = await conn.execute(table.delete().where(table.c.at < moment))
    return int(result.rowcount or 0)
