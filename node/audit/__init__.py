"""The audit log: one record per finished exchange and one per admin change, on the record.

Records are queued from the finished-exchange hook (``Gateway.finished_hooks``) and from the
admin sub-app's change middleware (:mod:`node.admin.audit`), and written off the request path
in batches to daily Brotli-compressed JSON-lines files, one per node and day
(:mod:`node.audit.writer`); ``GET /api/v1/audit`` reads them back (:mod:`node.audit.reader`).
Configured by ``audit: {path, bodies, max_record_bytes, retention_days, flush_interval}``;
off while ``path`` is empty, and then nothing here runs.

A record holds who (key id and name, or the admin identity), what (endpoint, provider, model,
tokens, cost, status, latency), when (``at``, UTC) and where (``node``). With ``bodies:
metadata`` or ``full`` an exchange's record also holds its shape or its bodies, redacted and
capped (:mod:`node.audit.bodies`); with ``off`` (the default) the request path keeps nothing
for it. No secret is ever in a record: keys appear by id and name, never by value, and admin
records carry the method, path and item, not the body.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from node.audit.bodies import BodyRecord
from node.audit.reader import FILTERS, AuditQuery, read_page
from node.audit.writer import AuditWriter
from node.config import Settings, to_plain
from node.config.secrets import provider_secret_values, settings_secrets
from node.gateway import Gateway
from node.serve.finished import Finished
from node.state import GATEWAY
from store import Store, StoreError

__all__ = ["AUDIT", "FILTERS", "AuditLog", "AuditQuery", "audit_ctx", "read_page"]

log = structlog.get_logger("node.audit")
_PURGE_EVERY = 3600.0  # seconds between two deletions of admin changes past retention


class AuditLog:
    """One node's audit log: builds the records and hands them to the writer."""

    def __init__(self, writer: AuditWriter, store: Store, *, retention_days: int,
                 bodies: str = "off") -> None:
        self.writer = writer
        self.store = store
        self.retention = retention_days * 86400.0  # seconds
        self.full = bodies == "full"
        self.store_failures = 0  # admin changes the database did not take
        self._purged = -_PURGE_EVERY
        self.node = writer.node
        self.directory = writer.directory

    def __call__(self, done: Finished) -> None:
        """The finished-exchange hook: cheap (a dict and one JSON encoding), never raises."""
        usage = done.usage
        record = {
            "type": "exchange", "at": _iso(done), "node": self.node,
            "request_id": done.request_id, "key_id": done.key.id, "key_name": done.key.name,
            "dialect": done.dialect, "endpoint": done.endpoint, "provider": done.provider,
            "model": done.model, "stream": done.stream, "status": done.status,
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens, "cost_usd": done.cost_usd,
            "latency_ms": round(done.latency_seconds * 1000, 3),
            "upstream_ms": round(done.upstream_seconds * 1000, 3),
            "attempts": done.attempts, "error": done.error,
        }
        if done.bodies is not None:  # kept only while audit.bodies is not off
            self.writer.defer(BodyRecord(record, done.bodies, full=self.full))
        else:
            self.writer.record(record)

    async def change(self, fields: dict[str, Any]) -> None:
        """One admin change (see :mod:`node.admin.audit`): to this node's file, and to the
        database, where every node reads it. A database that fails is logged and counted,
        never a failed change."""
        moment = datetime.now(UTC)
        record = {"type": "admin", "at": _moment(moment), "node": self.node, **fields}
        self.writer.record(record)
        try:
            await self.store.add_admin_change(moment.timestamp(), record)
        except StoreError as exc:
            self.store_failures += 1
            log.warning("admin change not recorded in the database", error=str(exc))
        await self.purge(due=True)

    async def purge(self, *, due: bool = False) -> None:
        """Delete the admin changes past ``retention_days`` (``due``: unless done lately)."""
        if due and time.monotonic() - self._purged < _PURGE_EVERY:
            return
        self._purged = time.monotonic()
        try:
            await self.store.forget_admin_changes_before(time.time() - self.retention)
        except StoreError as exc:
            log.warning("old admin changes not deleted", error=str(exc))

    async def admin_changes(self, since: str, until: str) -> list[dict[str, Any]] | None:
        """The cluster's admin changes in [since, until) (ISO-8601 UTC), none older than the
        retention; None when the database cannot be read (this node's files answer then)."""
        start = max(_epoch(since), time.time() - self.retention)
        try:
            return await self.store.admin_changes(start, _epoch(until))
        except StoreError as exc:
            log.warning("admin changes not read from the database", error=str(exc))
            return None


def node_secrets(gateway: Gateway) -> list[str]:
    """Every secret this node knows: its settings' and each provider's, stored ones too."""
    found = settings_secrets(gateway.settings)
    for entry in gateway.catalog.entries().values():
        found += provider_secret_values(to_plain(entry.section))
    return found


def _iso(done: Finished) -> str:
    return _moment(done.at)


def _moment(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


AUDIT: web.AppKey[AuditLog] = web.AppKey("audit", AuditLog)


async def audit_ctx(settings: Settings, node_name: str, app: web.Application
                    ) -> AsyncIterator[None]:
    """Cleanup context: start the writer and hook it in; at shutdown, write the rest and
    close the day's file. Nothing at all when ``audit.path`` is empty."""
    section = settings.audit
    if not section.path:
        yield
        return
    gateway = app[GATEWAY]
    writer = AuditWriter(Path(section.path), node_name or socket.gethostname(),
                         max_record_bytes=section.max_record_bytes,
                         retention_days=section.retention_days,
                         interval=section.flush_interval,
                         secrets=lambda: node_secrets(gateway))
    audit = AuditLog(writer, gateway.store, retention_days=section.retention_days,
                     bodies=section.bodies)
    app[AUDIT] = audit
    gateway.finished_hooks.append(audit)
    gateway.keep_bodies = section.bodies != "off"
    gateway.metrics.add_gauges(
        "at_audit_records", "Audit log records (written, dropped, truncated), write failures "
        "and admin changes the database did not take",
        lambda: {"written": writer.written, "dropped": writer.dropped,
                 "truncated": writer.truncated, "failures": writer.failures,
                 "store_failures": audit.store_failures})
    writer.start()
    await audit.purge()
    try:
        yield
    finally:
        gateway.finished_hooks.remove(audit)
        gateway.keep_bodies = False
        await writer.close()
