"""The Store protocol every backend implements (memory, SQLite, Postgres)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from .quota import Lease, LeaseAsk, Return
from .records import ApiKeyRecord, ProviderRecord, RotationResult, RouteRecord, UsageRecord
from .responses import ResponseRecord


class Store(Protocol):
    """Persistence for providers, routes, gateway API keys, settings and usage, plus the keyring.

    Every method raises only :class:`store.errors.StoreError` subclasses.
    """

    async def close(self) -> None:
        """Release connections; idempotent."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

    async def list_providers(self) -> list[ProviderRecord]:
        """Every stored provider, secrets decrypted, ordered by key."""

    async def get_provider(self, key: str) -> ProviderRecord | None:
        """One provider, or None."""

    async def put_provider(self, key: str, config: Mapping[str, Any]) -> ProviderRecord:
        """Create or replace a provider; secret fields are encrypted under the active key."""

    async def delete_provider(self, key: str) -> bool:
        """True if a provider was deleted."""

    async def list_routes(self) -> list[RouteRecord]:
        """Every stored route, ordered by name."""

    async def get_route(self, name: str) -> RouteRecord | None:
        """One route, or None."""

    async def put_route(self, name: str, config: Mapping[str, Any]) -> RouteRecord:
        """Create or replace a route (stored as it is: routes hold no secrets)."""

    async def delete_route(self, name: str) -> bool:
        """True if a route was deleted."""

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every gateway API key, ordered by creation time."""

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """One gateway API key, or None."""

    async def create_api_key(self, record: ApiKeyRecord) -> None:
        """Insert; Conflict if the id exists."""

    async def update_api_key(self, record: ApiKeyRecord) -> None:
        """Replace; NotFound if missing."""

    async def delete_api_key(self, key_id: str) -> bool:
        """True if a key was deleted."""

    async def get_setting(self, name: str) -> str | None:
        """A small named setting, or None."""

    async def put_setting(self, name: str, value: str, *, only_if_absent: bool = False) -> bool:
        """Write a setting; with only_if_absent, False (and no write) when it already exists."""

    async def lease(self, asks: Sequence[LeaseAsk]) -> list[Lease]:
        """Quota leases (store.quota.QuotaStore.lease)."""

    async def give_back(self, returns: Sequence[Return]) -> None:
        """Unused quota back to its window (store.quota.QuotaStore.give_back)."""

    async def forget_quota_before(self, moment: float) -> int:
        """Delete the quota rows of windows that ended before epoch second ``moment``; how
        many went. A janitor's call, never on the request path."""

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        """Append a batch of usage records in one transaction."""

    async def usage_summary(self, *, since: datetime | None,
                            until: datetime | None) -> list[dict[str, Any]]:
        """Usage aggregated per UTC day, key, provider and model within [since, until)."""

    async def usage_log(self, *, since: datetime | None = None, until: datetime | None = None,
                        key_id: str | None = None, provider: str | None = None,
                        model: str | None = None, status_from: int = 0,
                        status_to: int = 999, before: int | None = None,
                        limit: int = 50, request_id: str | None = None
                        ) -> list[dict[str, Any]]:
        """Single usage records, newest first: those within [since, until) matching every
        filter given (``request_id``: exactly that id, across all pages), with an ``id``
        below ``before`` (the cursor); at most ``limit``."""
    async def put_responses(self, records: Sequence[ResponseRecord]) -> list[ResponseRecord]:
        """Insert (or replace, by id and key) a batch of stored responses in one
        transaction; the records refused: their id is another key's live one."""

    async def get_response(self, response_id: str) -> ResponseRecord | None:
        """One stored response, expired or not (the caller checks ``expires_at``), or None."""

    async def find_response_item(self, item_id: str, key_id: str) -> ResponseRecord | None:
        """The newest stored response of ``key_id`` (expired or not) that holds the item
        ``item_id`` (one of its ``items``), or None."""

    async def delete_response(self, response_id: str, key_id: str) -> bool:
        """Delete a response of ``key_id``; True if one was deleted."""

    async def forget_responses_before(self, moment: float) -> int:
        """Delete the responses that expired before epoch second ``moment``; how many went."""

    async def add_admin_change(self, at: float, record: Mapping[str, Any]) -> None:
        """Record one admin change (``at``: epoch seconds; ``record`` JSON-able, no secret)."""

    async def admin_changes(self, since: float, until: float) -> list[dict[str, Any]]:
        """The admin changes made within [since, until), oldest first (at most
        ``ADMIN_CHANGES_MAX``), as recorded by any node."""

    async def forget_admin_changes_before(self, moment: float) -> int:
        """Delete the admin changes made before epoch second ``moment``; how many went."""

    @property
    def key_version(self) -> int:
        """The data key version this node writes under (0 = encryption off)."""

    @property
    def encrypted(self) -> bool:
        """True when credentials are encrypted at rest."""

    @property
    def needs_key_material(self) -> bool:
        """True when the database moved to a passphrase this node does not hold."""

    async def rotate_key(self, encryption_key: str | None = None, *,
                         fault: str | None = None) -> RotationResult:
        """Rotate: None = new data key, "x" = new passphrase too, "" = encryption off."""

    async def reconcile(self) -> int:
        """Re-read the keyring from the database; return the active version."""

    def export_key_material(self) -> bytes:
        """This node's current key-encryption key, for a peer (seal it on the wire!)."""

    async def import_key_material(self, blob: bytes) -> int:
        """Adopt a peer's key material after checking it against the database."""
