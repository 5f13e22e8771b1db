"""SqlStore: the Store protocol on SQLAlchemy async Core, shared by SQLite and Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import BadRecord, ConcurrentRotation, Conflict, NotFound, StaleKey, StoreUnavailable
from ..keyring import Keyring
from ..quota import Lease, LeaseAsk, Return
from ..records import (
    ApiKeyRecord,
    ProviderRecord,
    RotationResult,
    RouteRecord,
    StoreConfig,
    UsageRecord,
)
from ..responses import ResponseRecord
from ..usage import COUNTED, log_row, summary_row
from . import admin_audit, keys, quota, responses, rotation
from .bulk import BulkInsert
from .codec import (
    USAGE_COLUMNS,
    api_key_from_row,
    api_key_values,
    from_epoch,
    summary_query,
    to_epoch,
    usage_row,
)
from .engine import make_engine, transaction
from .migrations import migrate
from .tables import Tables, build_tables

_FENCE_RETRIES = 3
_OPEN_TRIES = 6
_BOOTSTRAP_TRIES = 50  # x ~0.1 s: how long a first start retries against racing peers


def _folder_exists(path: str) -> bool:
    return os.path.isdir(os.path.dirname(os.path.abspath(path)))


class _KeyMoved(Exception):
    """The active key changed between encrypting and committing (retry after reconcile)."""


class SqlStore:
    """Store on SQLite (aiosqlite, WAL) or Postgres (asyncpg); open with :meth:`open`."""

    def __init__(self, config: StoreConfig, *, node_id: str) -> None:
        self._t: Tables = build_tables(config.table_prefix, config.schema)
        self._engine = make_engine(config, node_id=node_id)
        self._ctx = keys.KeyCtx(self._engine, self._t, Keyring(), config)
        self._usage_insert = BulkInsert(self._t.usage, self._engine.dialect, USAGE_COLUMNS)
        self._rotating = asyncio.Lock()

    @classmethod
    async def open(cls, config: StoreConfig, *, node_id: str) -> SqlStore:
        """Migrate, unlock the keyring with the passphrase, finish an interrupted rotation."""
        # fail clearly (and leak no driver thread) instead of deep inside the driver
        if config.kind == "sqlite" and not await asyncio.to_thread(_folder_exists,
                                                                   config.datasource):
            raise StoreUnavailable(f"store datasource {config.datasource!r}: its directory "
                                   "does not exist")
        store = cls(config, node_id=node_id)
        try:
            for attempt in range(_OPEN_TRIES):
                try:
                    await migrate(store._engine, store._t, schema=config.schema,
                                  prefix=config.table_prefix)
                    break
                except StoreUnavailable as exc:
                    # SQLite answers "database is locked" without waiting while another
                    # process switches a new file to WAL; that passes in milliseconds.
                    if "locked" not in exc.message or attempt == _OPEN_TRIES - 1:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))
            await store._unlock(config.encryption_key)
        except BaseException:
            await store.close()
            raise
        return store

    async def _unlock(self, passphrase: str) -> None:
        for _ in range(_BOOTSTRAP_TRIES):
            unlocked = await keys.unlock(self._ctx, passphrase)
            try:
                if unlocked == "pending":
                    # This passphrase was prepared by a rotation that never activated it (it
                    # died, or a peer is bootstrapping this very moment): finish it.
                    await rotation.roll_forward(self._ctx)
                elif unlocked == "fresh":
                    # Never had a passphrase: turn encryption on with this one.
                    await rotation.rotate(self._ctx, passphrase, None)
                    return
                break
            except ConcurrentRotation:  # a peer starting at the same moment got there first
                await asyncio.sleep(0.05 + random.random() / 10)
            except StaleKey:
                if unlocked != "fresh":
                    raise
                # A peer finished bootstrapping between our read and our rotation: its KEK
                # has a salt we have not seen. Unlock again to derive it (or to learn that
                # the peer was started with another passphrase).
                await asyncio.sleep(0.05 + random.random() / 10)
        else:
            raise StoreUnavailable("could not agree on a first encryption key with other nodes")
        await keys.reconcile(self._ctx)
        if not self._ctx.ring.needs_material:
            await rotation.finish(self._ctx, None)

    async def close(self) -> None:
        await self._engine.dispose()

    async def ping(self) -> None:
        async with transaction(self._engine, "ping") as conn:
            await conn.execute(sa.text("SELECT 1"))

    # providers ---------------------------------------------------------------------------

    async def list_providers(self) -> list[ProviderRecord]:
        async with transaction(self._engine, "listing providers") as conn:
            rows = (await conn.execute(sa.select(self._t.providers)
                                       .order_by(self._t.providers.c.key))).all()
        return [await self._provider(row) for row in rows]

    async def get_provider(self, key: str) -> ProviderRecord | None:
        async with transaction(self._engine, "reading a provider") as conn:
            row = (await conn.execute(sa.select(self._t.providers).where(
                self._t.providers.c.key == key))).one_or_none()
        return None if row is None else await self._provider(row)

    async def _provider(self, row: sa.Row[Any]) -> ProviderRecord:
        config = await rotation.decrypt_pulling(self._ctx, row.key, json.loads(row.config))
        return ProviderRecord(row.key, config, from_epoch(row.updated_at))

    async def put_provider(self, key: str, config: Mapping[str, Any]) -> ProviderRecord:
        """Fenced write: commits only if the key it encrypted under is still active (I3)."""
        for _ in range(_FENCE_RETRIES):
            ring = self._ctx.ring
            version, stored = ring.active, ring.encrypt_doc("providers", key, config)
            now = time.time()
            try:
                async with transaction(self._engine, "writing a provider", write=True) as conn:
                    state = await keys.read_state(conn, self._t, share=True)
                    if state.active != version:
                        raise _KeyMoved
                    await self._upsert_provider(conn, key, json.dumps(stored), version, now)
            except _KeyMoved:
                await keys.reconcile(self._ctx)
                continue
            return ProviderRecord(key, dict(config), from_epoch(now))
        raise StaleKey("the active key kept changing while writing; retry")

    async def _upsert_provider(self, conn: AsyncConnection, key: str, doc: str, version: int,
                               now: float) -> None:
        t = self._t.providers
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(t).values(key=key, config=doc, key_version=version, rev=1, updated_at=now)
        await conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.key], set_={
            "config": doc, "key_version": version, "rev": t.c.rev + 1, "updated_at": now}))

    async def delete_provider(self, key: str) -> bool:
        async with transaction(self._engine, "deleting a provider", write=True) as conn:
            result = await conn.execute(sa.delete(self._t.providers).where(
                self._t.providers.c.key == key))
        return bool(result.rowcount)

    # routes (no secrets: stored as they are) ---------------------------------------------

    async def list_routes(self) -> list[RouteRecord]:
        t = self._t.routes
        async with transaction(self._engine, "listing routes") as conn:
            rows = (await conn.execute(sa.select(t).order_by(t.c.name))).all()
        return [RouteRecord(row.name, json.loads(row.config), from_epoch(row.updated_at))
                for row in rows]

    async def get_route(self, name: str) -> RouteRecord | None:
        t = self._t.routes
        async with transaction(self._engine, "reading a route") as conn:
            row = (await conn.execute(sa.select(t).where(t.c.name == name))).one_or_none()
        if row is None:
            return None
        return RouteRecord(row.name, json.loads(row.config), from_epoch(row.updated_at))

    async def put_route(self, name: str, config: Mapping[str, Any]) -> RouteRecord:
        t = self._t.routes
        doc, now = json.dumps(dict(config)), time.time()
        async with transaction(self._engine, "writing a route", write=True) as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            await conn.execute(insert(t).values(name=name, config=doc, updated_at=now)
                               .on_conflict_do_update(index_elements=[t.c.name],
                                                      set_={"config": doc, "updated_at": now}))
        return RouteRecord(name, dict(config), from_epoch(now))

    async def delete_route(self, name: str) -> bool:
        t = self._t.routes
        async with transaction(self._engine, "deleting a route", write=True) as conn:
            result = await conn.execute(sa.delete(t).where(t.c.name == name))
        return bool(result.rowcount)

    # gateway API keys --------------------------------------------------------------------

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        t = self._t.api_keys
        async with transaction(self._engine, "listing API keys") as conn:
            rows = (await conn.execute(sa.select(t).order_by(t.c.created_at, t.c.id))).all()
        records = []
        for row in rows:
            try:
                records.append(api_key_from_row(row))
            except BadRecord as exc:  # one unreadable row must not take every key down
                structlog.get_logger("store.sql").error(
                    "stored API key cannot be read; left out", key_id=row.id,
                    error=exc.message[:200])
        return records

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        t = self._t.api_keys
        async with transaction(self._engine, "reading an API key") as conn:
            row = (await conn.execute(sa.select(t).where(t.c.id == key_id))).one_or_none()
        return None if row is None else api_key_from_row(row)

    async def create_api_key(self, record: ApiKeyRecord) -> None:
        try:
            async with transaction(self._engine, "creating an API key", write=True) as conn:
                await conn.execute(self._t.api_keys.insert().values(**api_key_values(record)))
        except Conflict as exc:
            raise Conflict(f"API key {record.id!r} already exists") from exc

    async def update_api_key(self, record: ApiKeyRecord) -> None:
        t = self._t.api_keys
        async with transaction(self._engine, "updating an API key", write=True) as conn:
            result = await conn.execute(sa.update(t).where(t.c.id == record.id)
                                        .values(**api_key_values(record)))
        if not result.rowcount:
            raise NotFound(f"API key {record.id!r} does not exist")

    async def delete_api_key(self, key_id: str) -> bool:
        t = self._t.api_keys
        async with transaction(self._engine, "deleting an API key", write=True) as conn:
            result = await conn.execute(sa.delete(t).where(t.c.id == key_id))
        return bool(result.rowcount)

    # settings ----------------------------------------------------------------------------

    async def get_setting(self, name: str) -> str | None:
        t = self._t.settings
        async with transaction(self._engine, "reading a setting") as conn:
            value = (await conn.execute(sa.select(t.c.value).where(t.c.name == name))).scalar()
        return None if value is None else str(value)

    async def put_setting(self, name: str, value: str, *, only_if_absent: bool = False) -> bool:
        t = self._t.settings
        async with transaction(self._engine, "writing a setting", write=True) as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(t).values(name=name, value=value)
            if only_if_absent:
                result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=[t.c.name]))
                return bool(result.rowcount)
            await conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.name],
                                                          set_={"value": value}))
        return True

    # quota leases ------------------------------------------------------------------------

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        return await quota.lease(self._engine, self._t.quota, asks)

    async def give_back(self, returns: Sequence[Return]) -> None:
        await quota.give_back(self._engine, self._t.quota, returns)

    async def forget_quota_before(self, moment: float) -> int:
        return await quota.forget_before(self._engine, self._t.quota, moment)

    # stored responses --------------------------------------------------------------------

    async def put_responses(self, records: Sequence[ResponseRecord]) -> list[ResponseRecord]:
        return await responses.put(self._engine, self._t, records)

    async def get_response(self, response_id: str) -> ResponseRecord | None:
        return await responses.get(self._engine, self._t, response_id)

    async def find_response_item(self, item_id: str, key_id: str) -> ResponseRecord | None:
        return await responses.find_item(self._engine, self._t, item_id, key_id)

    async def delete_response(self, response_id: str, key_id: str) -> bool:
        return await responses.delete(self._engine, self._t, response_id, key_id)

    async def forget_responses_before(self, moment: float) -> int:
        return await responses.forget_before(self._engine, self._t, moment)

    # admin changes on the record ---------------------------------------------------------

    async def add_admin_change(self, at: float, record: Mapping[str, Any]) -> None:
        await admin_audit.add(self._engine, self._t.admin_audit, at, record)

    async def admin_changes(self, since: float, until: float) -> list[dict[str, Any]]:
        return await admin_audit.read(self._engine, self._t.admin_audit, since, until)

    async def forget_admin_changes_before(self, moment: float) -> int:
        return await admin_audit.forget_before(self._engine, self._t.admin_audit, moment)

    # usage -------------------------------------------------------------------------------

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        async with transaction(self._engine, "writing usage", write=True) as conn:
            await self._usage_insert.run(conn, [usage_row(r) for r in records])

    async def usage_summary(self, *, since: datetime | None,
                            until: datetime | None) -> list[dict[str, Any]]:
        query = summary_query(self._t.usage, to_epoch(since), to_epoch(until))
        async with transaction(self._engine, "summarising usage") as conn:
            rows = (await conn.execute(query)).all()
        return [summary_row((r.day, r.key_id, r.provider, r.model),
                            [getattr(r, name) for name in COUNTED], float(r.latency))
                for r in rows]

    async def usage_log(self, *, since: datetime | None = None, until: datetime | None = None,
                        key_id: str | None = None, provider: str | None = None,
                        model: str | None = None, status_from: int = 0,
                        status_to: int = 999, before: int | None = None,
                        limit: int = 50, request_id: str | None = None
                        ) -> list[dict[str, Any]]:
        c = self._t.usage.c
        query = sa.select(self._t.usage).where(c.status.between(status_from, status_to))
        for column, value in ((c.key_id, key_id), (c.provider, provider), (c.model, model),
                              (c.request_id, request_id)):
            if value:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.at >= to_epoch(since))
        if until is not None:
            query = query.where(c.at < to_epoch(until))
        if before is not None:
            query = query.where(c.id < before)
        query = query.order_by(c.id.desc()).limit(limit)
        async with transaction(self._engine, "reading the usage log") as conn:
            rows = (await conn.execute(query)).all()
        return [log_row(r.id, UsageRecord(
            at=from_epoch(r.at), key_id=r.key_id, provider=r.provider, model=r.model,
            input_tokens=r.input_tokens, output_tokens=r.output_tokens, status=r.status,
            latency_ms=r.latency_ms, cache_read_tokens=r.cache_read_tokens,
            cache_write_tokens=r.cache_write_tokens, cost_usd=r.cost_usd,
            request_id=r.request_id, ttft_ms=r.ttft_ms, overhead_ms=r.overhead_ms,
            attempts=r.attempts, error=r.error)) for r in rows]

    # keyring -----------------------------------------------------------------------------

    @property
    def key_version(self) -> int:
        return self._ctx.ring.active

    @property
    def encrypted(self) -> bool:
        return self._ctx.ring.active != 0

    @property
    def needs_key_material(self) -> bool:
        return self._ctx.ring.needs_material

    async def rotate_key(self, encryption_key: str | None = None, *,
                         fault: str | None = None) -> RotationResult:
        if self._rotating.locked():  # the database fences other nodes; this fences us
            raise ConcurrentRotation("a key rotation is already running on this node")
        async with self._rotating:
            return await rotation.rotate(self._ctx, encryption_key, fault)

    async def reconcile(self) -> int:
        return await keys.reconcile(self._ctx)

    def export_key_material(self) -> bytes:
        return self._ctx.ring.export_material()

    async def import_key_material(self, blob: bytes) -> int:
        return await keys.import_material(self._ctx, blob)
