"""Versioned schema migrations, applied at start under a database-wide lock.

Each migration is ``(version, name, function)``; functions receive a sync Connection inside
the migration transaction. Applied versions are recorded in ``<prefix>schema_version``. On
Postgres the whole run holds ``pg_advisory_xact_lock`` (keyed by schema and prefix), so many
nodes starting together apply each migration exactly once; on SQLite ``BEGIN IMMEDIATE``
serialises them. A run with nothing to apply writes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateColumn

from .engine import transaction
from .tables import Tables

Migration = tuple[int, str, Callable[[sa.Connection, Tables], None]]


def _initial(conn: sa.Connection, t: Tables) -> None:
    for table in (t.providers, t.api_keys, t.settings, t.usage, t.key_state, t.kdf,
                  t.keyring, t.key_wraps):
        table.create(conn, checkfirst=True)
    sa.Index(f"{t.usage.name}_day_key", t.usage.c.day, t.usage.c.key_id).create(
        conn, checkfirst=True)
    conn.execute(t.key_state.insert().values(id=1, epoch=0, active_version=0, kek_id=0))


def _add_missing(conn: sa.Connection, table: sa.Table, *names: str) -> None:
    """Add the named columns of ``table`` where the database lacks them (a database made by an
    older version); one made since has them from ``_initial``."""
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=table.schema)}
    quoted = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
    for name in names:
        if name not in present:
            column = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {quoted} ADD COLUMN {column}"))


def _usage_cache_tokens(conn: sa.Connection, t: Tables) -> None:
    """Cache reads and writes get their own columns."""
    _add_missing(conn, t.usage, "cache_read_tokens", "cache_write_tokens")


def _limits(conn: sa.Connection, t: Tables) -> None:
    """The quota ledger, each key's policy and each exchange's cost."""
    t.quota.create(conn, checkfirst=True)
    _add_missing(conn, t.api_keys, "policy")
    _add_missing(conn, t.usage, "cost_usd")


def _routes(conn: sa.Connection, t: Tables) -> None:
    """Stored routes: served model names over weighted, tiered targets."""
    t.routes.create(conn, checkfirst=True)


def _responses(conn: sa.Connection, t: Tables) -> None:
    """Stored Responses-API answers (``previous_response_id``)."""
    t.responses.create(conn, checkfirst=True)


def _admin_audit(conn: sa.Connection, t: Tables) -> None:
    """Admin changes on the record for the whole cluster (the audit log)."""
    t.admin_audit.create(conn, checkfirst=True)


def _response_items(conn: sa.Connection, t: Tables) -> None:
    """The items each stored response holds (``item_reference``)."""
    t.response_items.create(conn, checkfirst=True)


def _usage_request_id(conn: sa.Connection, t: Tables) -> None:
    """Each usage row names its exchange's request id, indexed for the log's exact search."""
    _add_missing(conn, t.usage, "request_id")
    sa.Index(f"{t.usage.name}_request_id", t.usage.c.request_id).create(conn, checkfirst=True)


def _usage_detail(conn: sa.Connection, t: Tables) -> None:
    """Each usage row keeps its request's detail: time to first byte, the gateway's own time,
    the upstream attempts and the error text."""
    _add_missing(conn, t.usage, "ttft_ms", "overhead_ms", "attempts", "error")


MIGRATIONS: tuple[Migration, ...] = (
    (1, "initial", _initial),
    (2, "usage cache tokens", _usage_cache_tokens),
    (3, "limits", _limits),
    (4, "routes", _routes),
    (5, "responses", _responses),
    (6, "admin audit", _admin_audit),
    (7, "response items", _response_items),
    (8, "usage request id", _usage_request_id),
    (9, "usage request detail", _usage_detail),
)


def lock_key(schema: str, prefix: str) -> int:
    """A stable signed 64-bit advisory lock id for one schema and prefix."""
    digest = hashlib.sha256(f"at-gateway/migrate/{schema}/{prefix}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def migrate(engine: AsyncEngine, tables: Tables, *, schema: str, prefix: str) -> int:
    """Apply every missing migration in order; return the number applied."""
    if not await _pending(engine, tables):
        return 0
    applied = 0
    async with transaction(engine, "migrating the schema", write=True) as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                               {"k": lock_key(schema, prefix)})
            if schema:
                await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(lambda c: tables.schema_version.create(c, checkfirst=True))
        done = set((await conn.execute(sa.select(tables.schema_version.c.version))).scalars())
        for version, name, fn in MIGRATIONS:
            if version in done:
                continue
            await conn.run_sync(fn, tables)
            await conn.execute(tables.schema_version.insert().values(
                version=version, name=name, applied_at=time.time()))
            applied += 1
    return applied


async def _pending(engine: AsyncEngine, tables: Tables) -> bool:
    """True unless every migration is already recorded (checked without writing)."""
    async with transaction(engine, "reading the schema version") as conn:
        exists = await conn.run_sync(lambda c: sa.inspect(c).has_table(
            tables.schema_version.name, schema=tables.schema_version.schema))
        if not exists:
            return True
        done = set((await conn.execute(sa.select(tables.schema_version.c.version))).scalars())
    return any(v not in done for v, _, _ in MIGRATIONS)
