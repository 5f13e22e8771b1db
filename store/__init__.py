"""Persistence for at-gateway (memory, SQLite, Postgres) with credential encryption at rest.

Open a store with :func:`open_store`; everything else is described by the :class:`Store`
protocol and the :mod:`store.errors` tree.
"""

from __future__ import annotations

from .base import Store
from .crypto import KdfParams
from .errors import (
    BadRecord,
    ConcurrentRotation,
    ConfigError,
    Conflict,
    DecryptError,
    NotFound,
    StaleKey,
    StoreError,
    StoreUnavailable,
    WrongPassphrase,
)
from .faults import FAULT_EXIT, FAULT_STEPS, NOTIFY_FAULT, ROTATION_FAULTS, maybe_fault
from .memory import MemoryStore
from .quota import Lease, LeaseAsk, Period, QuotaLedger, Return, window_of
from .records import (
    ApiKeyRecord,
    ProviderRecord,
    RotationResult,
    RouteRecord,
    StoreConfig,
    UsageRecord,
)
from .registry import SECRET_FIELDS, SecretField
from .responses import MAX_RESPONSE_BYTES, ResponseRecord, ResponseWriter
from .usage import ERROR_CHARS, REQUEST_ID_CHARS, UsageWriter

__all__ = [
    "ERROR_CHARS",
    "FAULT_EXIT",
    "FAULT_STEPS",
    "MAX_RESPONSE_BYTES",
    "NOTIFY_FAULT",
    "REQUEST_ID_CHARS",
    "ROTATION_FAULTS",
    "SECRET_FIELDS",
    "ApiKeyRecord",
    "BadRecord",
    "ConcurrentRotation",
    "ConfigError",
    "Conflict",
    "DecryptError",
    "KdfParams",
    "Lease",
    "LeaseAsk",
    "MemoryStore",
    "NotFound",
    "Period",
    "ProviderRecord",
    "QuotaLedger",
    "ResponseRecord",
    "ResponseWriter",
    "Return",
    "RotationResult",
    "RouteRecord",
    "SecretField",
    "StaleKey",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "UsageRecord",
    "UsageWriter",
    "WrongPassphrase",
    "maybe_fault",
    "open_store",
    "window_of",
]


async def open_store(config: StoreConfig, *, node_id: str = "local") -> Store:
    """Open the configured backend, migrate it, check the passphrase, resume a rotation.

    A database that never had a passphrase is encrypted with ``config.encryption_key``; a
    passphrase that a crashed rotation prepared is rolled forward; rows left under an old
    key by an interrupted rotation are re-encrypted and unused keys retired. A passphrase
    that matches only a retired key opens the store with ``needs_key_material`` set.
    Raises WrongPassphrase (writing nothing) when the passphrase matches no key of the
    database, StoreUnavailable when the database cannot be reached.
    """
    if config.kind == "memory":
        return MemoryStore(config)
    from .sql.store import SqlStore  # deferred: the memory store needs no SQLAlchemy

    return await SqlStore.open(config, node_id=node_id)
