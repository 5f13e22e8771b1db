"""A dict-backed Store: forgets on exit, doubles as the store fake in other packages' tests.

Memory is never at rest, so nothing is encrypted; the keyring contract (versions, rotation
results, ConcurrentRotation) is still honoured so callers see one behaviour.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from .admin_audit import ADMIN_CHANGES_MAX
from .errors import BadRecord, ConcurrentRotation, Conflict, NotFound, StoreUnavailable
from .faults import armed_fault, maybe_fault
from .quota import Lease, LeaseAsk, QuotaLedger, Return
from .records import (
    ApiKeyRecord,
    ProviderRecord,
    RotationResult,
    RouteRecord,
    StoreConfig,
    UsageRecord,
    policy_json,
)
from .responses import ResponseRecord, claimable
from .usage import log_row, storable, summarise, utc


def _check_storable(record: ApiKeyRecord) -> None:
    """Refuse what a SQL backend cannot store (a time with no UTC equivalent, a policy that
    is not JSON), as it would."""
    policy_json(record)
    for moment in (record.expires_at, record.created_at):
        if moment is None:
            continue
        try:
            utc(moment)
        except OverflowError as exc:
            raise BadRecord(f"{moment.isoformat()} is out of the storable range") from exc


class MemoryStore:
    """In-process Store; safe for concurrent coroutines on one event loop."""

    def __init__(self, config: StoreConfig) -> None:
        self._providers: dict[str, ProviderRecord] = {}
        self._routes: dict[str, RouteRecord] = {}
        self._keys: dict[str, ApiKeyRecord] = {}
        self._settings: dict[str, str] = {}
        self._usage: list[UsageRecord] = []
        self._responses: dict[str, ResponseRecord] = {}
        self._admin_changes: list[tuple[float, str]] = []  # (at, the record's JSON)
        self._quota = QuotaLedger()
        self._lock = asyncio.Lock()
        self._rotating = False
        self._version = 1 if config.encryption_key else 0
        self._max_version = self._version
        self._closed = False
        self._fault = config.rotation_fault

    async def close(self) -> None:
        self._closed = True

    async def ping(self) -> None:
        if self._closed:
            raise StoreUnavailable("the memory store is closed")

    async def list_providers(self) -> list[ProviderRecord]:
        return [self._providers[k] for k in sorted(self._providers)]

    async def get_provider(self, key: str) -> ProviderRecord | None:
        return self._providers.get(key)

    async def put_provider(self, key: str, config: Mapping[str, Any]) -> ProviderRecord:
        record = ProviderRecord(key, copy.deepcopy(dict(config)), datetime.now(UTC))
        self._providers[key] = record
        return record

    async def delete_provider(self, key: str) -> bool:
        return self._providers.pop(key, None) is not None

    async def list_routes(self) -> list[RouteRecord]:
        return [self._routes[name] for name in sorted(self._routes)]

    async def get_route(self, name: str) -> RouteRecord | None:
        return self._routes.get(name)

    async def put_route(self, name: str, config: Mapping[str, Any]) -> RouteRecord:
        record = RouteRecord(name, copy.deepcopy(dict(config)), datetime.now(UTC))
        self._routes[name] = record
        return record

    async def delete_route(self, name: str) -> bool:
        return self._routes.pop(name, None) is not None

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return sorted(self._keys.values(), key=lambda r: (r.created_at, r.id))

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._keys.get(key_id)

    async def create_api_key(self, record: ApiKeyRecord) -> None:
        _check_storable(record)
        if record.id in self._keys:
            raise Conflict(f"API key {record.id!r} already exists")
        self._keys[record.id] = record

    async def update_api_key(self, record: ApiKeyRecord) -> None:
        _check_storable(record)
        if record.id not in self._keys:
            raise NotFound(f"API key {record.id!r} does not exist")
        self._keys[record.id] = record

    async def delete_api_key(self, key_id: str) -> bool:
        return self._keys.pop(key_id, None) is not None

    async def get_setting(self, name: str) -> str | None:
        return self._settings.get(name)

    async def put_setting(self, name: str, value: str, *, only_if_absent: bool = False) -> bool:
        if only_if_absent and name in self._settings:
            return False
        self._settings[name] = value
        return True

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        await self.ping()
        return self._quota.lease_at(asks, time.time())

    async def give_back(self, returns: Sequence[Return]) -> None:
        await self.ping()
        self._quota.give_back(returns)

    async def forget_quota_before(self, moment: float) -> int:
        return self._quota.forget_before(moment)

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        # Refuse what a SQL column would refuse, all or nothing, so the fake behaves alike.
        for record in records:
            if storable(record) != record:
                raise BadRecord(f"writing usage: unstorable values in {record!r:.200}")
        self._usage.extend(records)

    async def put_responses(self, records: Sequence[ResponseRecord]) -> list[ResponseRecord]:
        now = time.time()
        held = {r.id: known.key_id for r in records
                if (known := self._responses.get(r.id)) is not None and known.expires_at >= now}
        records, refused = claimable(records, held)
        for record in records:
            self._responses[record.id] = record
        return refused

    async def get_response(self, response_id: str) -> ResponseRecord | None:
        return self._responses.get(response_id)

    async def find_response_item(self, item_id: str, key_id: str) -> ResponseRecord | None:
        holders = [r for r in self._responses.values()
                   if r.key_id == key_id and item_id in r.items]
        return max(holders, key=lambda r: r.created_at, default=None)

    async def delete_response(self, response_id: str, key_id: str) -> bool:
        record = self._responses.get(response_id)
        if record is None or record.key_id != key_id:
            return False
        del self._responses[response_id]
        return True

    async def forget_responses_before(self, moment: float) -> int:
        gone = [rid for rid, r in self._responses.items() if r.expires_at < moment]
        for rid in gone:
            del self._responses[rid]
        return len(gone)

    async def add_admin_change(self, at: float, record: Mapping[str, Any]) -> None:
        # Kept as JSON, as the SQL store keeps it: a reader gets its own copy.
        bisect.insort(self._admin_changes, (at, orjson.dumps(record).decode()),
                      key=lambda row: row[0])

    async def admin_changes(self, since: float, until: float) -> list[dict[str, Any]]:
        return [orjson.loads(record) for at, record in self._admin_changes
                if since <= at < until][:ADMIN_CHANGES_MAX]

    async def forget_admin_changes_before(self, moment: float) -> int:
        kept = [row for row in self._admin_changes if row[0] >= moment]
        gone = len(self._admin_changes) - len(kept)
        self._admin_changes = kept
        return gone

    async def usage_summary(self, *, since: datetime | None,
                            until: datetime | None) -> list[dict[str, Any]]:
        return summarise(self._usage, since=since, until=until)

    async def usage_log(self, *, since: datetime | None = None, until: datetime | None = None,
                        key_id: str | None = None, provider: str | None = None,
                        model: str | None = None, status_from: int = 0,
                        status_to: int = 999, before: int | None = None,
                        limit: int = 50, request_id: str | None = None
                        ) -> list[dict[str, Any]]:
        lo, hi = (utc(since) if since else None), (utc(until) if until else None)
        found: list[dict[str, Any]] = []
        top = len(self._usage) if before is None else min(before - 1, len(self._usage))
        for index in range(top - 1, -1, -1):  # ids are positions + 1, newest last
            rec = self._usage[index]
            at = utc(rec.at)
            if ((lo and at < lo) or (hi and at >= hi) or (key_id and rec.key_id != key_id)
                    or (provider and rec.provider != provider)
                    or (model and rec.model != model)
                    or (request_id and rec.request_id != request_id)
                    or not status_from <= rec.status <= status_to):
                continue
            found.append(log_row(index + 1, rec))
            if len(found) >= limit:
                break
        return found

    @property
    def key_version(self) -> int:
        return self._version

    @property
    def encrypted(self) -> bool:
        return self._version > 0

    @property
    def needs_key_material(self) -> bool:
        return False

    async def rotate_key(self, encryption_key: str | None = None, *,
                         fault: str | None = None) -> RotationResult:
        if self._rotating:
            raise ConcurrentRotation("another key rotation is in progress")
        self._rotating = True
        fault = armed_fault(fault, self._fault)
        try:
            maybe_fault("after-prepare", fault)
            await asyncio.sleep(0)  # let a racing caller observe the rotation in progress
            if encryption_key == "" or (encryption_key is None and self._version == 0):
                self._version = 0
            else:
                self._max_version += 1
                self._version = self._max_version
            maybe_fault("after-activate", fault)
            return RotationResult(self._version, len(self._providers), self._version > 0)
        finally:
            self._rotating = False

    async def reconcile(self) -> int:
        return self._version

    def export_key_material(self) -> bytes:
        return b""

    async def import_key_material(self, blob: bytes) -> int:
        return self._version
