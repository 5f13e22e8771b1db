"""Gateway API keys: minting, hashing, the in-memory index the request path reads, and scopes.

A key is ``at-`` followed by 32 random bytes (base64url). Only its SHA-256 is stored; the key
itself is shown once. The request path never touches the database: it hashes the presented
key and looks the digest up in :class:`KeyIndex`, which change notices keep current.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from store import ApiKeyRecord

KEY_PREFIX = "at-"
DISPLAY_PREFIX_LEN = 10


def new_key() -> str:
    """A fresh gateway key (shown to the caller once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "k_" + secrets.token_hex(8)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(presented: str, expected_sha256: str) -> bool:
    """Constant-time check of a presented secret against a stored SHA-256 hex digest."""
    return hmac.compare_digest(hash_key(presented), expected_sha256)


def model_allowed(record: ApiKeyRecord, provider: str, model: str) -> bool:
    """Both dimensions must pass: the provider list AND the model list (None = any).

    Model entries are ``provider/model``, ``provider/*`` or a bare model name.
    """
    if record.providers is not None and provider not in record.providers:
        return False
    if record.models is None:
        return True
    allowed = record.models
    return f"{provider}/{model}" in allowed or f"{provider}/*" in allowed or model in allowed


class KeyIndex:
    """Gateway keys by SHA-256, for the request path."""

    def __init__(self, records: Iterable[ApiKeyRecord] = ()) -> None:
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._hash_of: dict[str, str] = {}
        # Bumped by every change, so a slow full reload can tell that a notice (say, a
        # revocation) landed while it was reading and must not overwrite it.
        self.generation = 0
        for record in records:
            self.put(record)

    def put(self, record: ApiKeyRecord) -> None:
        self.generation += 1
        self._put(record)

    def _put(self, record: ApiKeyRecord) -> None:
        old = self._hash_of.get(record.id)
        if old is not None:
            self._by_hash.pop(old, None)
        self._by_hash[record.key_hash] = record
        self._hash_of[record.id] = record.key_hash

    def remove(self, key_id: str) -> None:
        self.generation += 1
        digest = self._hash_of.pop(key_id, None)
        if digest is not None:
            self._by_hash.pop(digest, None)

    def replace_all(self, records: Iterable[ApiKeyRecord], *, if_generation: int | None = None
                    ) -> bool:
        """Swap in a full reload; with ``if_generation``, only if nothing changed since."""
        if if_generation is not None and if_generation != self.generation:
            return False
        self.generation += 1
        self._by_hash.clear()
        self._hash_of.clear()
        for record in records:
            self._put(record)
        return True

    def __len__(self) -> int:
        return len(self._by_hash)

    def records(self) -> list[ApiKeyRecord]:
        return list(self._by_hash.values())

    def lookup(self, presented: str, now: datetime | None = None) -> ApiKeyRecord | None:
        """The live record for a presented key, or None if unknown, disabled or expired."""
        digest = hash_key(presented)
        record = self._by_hash.get(digest)
        # The dict lookup is keyed by a digest, not the secret; compare again in constant time
        # so equality never short-circuits on attacker-controlled bytes.
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            return None
        if not record.enabled:
            return None
        if record.expires_at is not None and record.expires_at <= (now or datetime.now(UTC)):
            return None
        return record
