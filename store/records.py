"""Frozen value objects exchanged with the store, and the store's own configuration."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .crypto import KdfParams
from .errors import BadRecord, ConfigError
from .faults import ROTATION_FAULTS

StoreKind = Literal["memory", "sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where and how to persist.

    ``encryption_key`` is the passphrase; "" stores credentials unencrypted. ``kdf`` only
    applies when a new passphrase is first written to a database: an existing database keeps
    the Argon2id parameters stored beside its salt. ``reencrypt_batch`` bounds how many rows a
    rotation re-encrypts per transaction. ``rotation_fault`` is test-only: the rotation step at
    which a rotating process exits with status 137 (see :mod:`store.faults`); None in
    production.
    """

    kind: StoreKind
    datasource: str = "at.db"
    schema: str = ""
    table_prefix: str = "at_"
    conn_max_lifetime: float = 900.0
    max_idle_conns: int = 3
    max_open_conns: int = 3
    encryption_key: str = ""
    kdf: KdfParams = field(default_factory=KdfParams)
    reencrypt_batch: int = 100
    rotation_fault: str | None = None

    def __post_init__(self) -> None:
        if self.rotation_fault is not None and self.rotation_fault not in ROTATION_FAULTS:
            raise ConfigError(f"rotation_fault: {self.rotation_fault!r} is not valid: expected "
                              f"one of {', '.join(ROTATION_FAULTS)}")


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A provider's at.yaml mapping as stored, with secrets decrypted."""

    key: str
    config: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RouteRecord:
    """A served model name's routing (its at.yaml ``routes.<name>`` mapping) as stored.

    Routes hold no secrets: targets name providers, whose credentials live with them."""

    name: str
    config: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A gateway API key; only the SHA-256 of the key itself is kept."""

    id: str
    name: str
    key_hash: str
    prefix: str
    providers: tuple[str, ...] | None
    models: tuple[str, ...] | None
    expires_at: datetime | None
    enabled: bool
    created_at: datetime
    policy: Mapping[str, Any] = field(default_factory=dict)
    """The key's limits and per-request policy as a JSON object; the node gives it meaning
    (``limits``, ``max_input_tokens``, ``system_prompt``...), the store only keeps it."""


def policy_json(record: ApiKeyRecord) -> str:
    """A key's policy as stored: a JSON object; BadRecord naming the key when it is not one
    (a value JSON cannot hold, or NaN and infinities, which other JSON readers refuse)."""
    try:
        return json.dumps(dict(record.policy), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRecord(f"API key {record.id!r}: its policy is not storable as JSON ({exc})"
                        ) from exc


# Not frozen: one is built on every request, and a frozen dataclass's __init__ costs
# several times more (one object.__setattr__ per field). Treat it as immutable.
@dataclass(slots=True)
class UsageRecord:
    """One finished gateway exchange.

    Token counts follow one rule for every dialect: ``input_tokens`` is the input not served
    from a cache; cache reads and cache writes are counted apart (they are priced apart).

    The request detail (None in records made before it was kept): ``ttft_ms``, the time from
    the request's arrival to the first bytes of a streamed answer sent to the client (None
    for a non-streamed answer); ``overhead_ms``, the gateway's own time (what the answer's
    ``x-at-overhead-ms`` header says); ``attempts``, the upstream calls made (more than 1
    when a route retried); ``error``, a short text of what failed ("" for a success), the
    message the client was answered, with the provider's secrets already scrubbed.
    """

    at: datetime
    key_id: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    status: int
    latency_ms: float
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    request_id: str = ""  # the exchange's X-Request-ID ("" for records made before it)
    ttft_ms: float | None = None
    overhead_ms: float | None = None
    attempts: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class RotationResult:
    """Outcome of ``Store.rotate_key``: the active version afterwards (0 = encryption off).
    ``complete`` is False when the new key is active (the rotation stands) but moving the
    remaining rows to it failed; they stay readable and move at the next rotation or start."""

    version: int
    reencrypted: int
    encrypted: bool
    complete: bool = True
