"""A node's in-memory view of the keyring: KEKs and data keys it holds, and what is active.

The database is the source of truth (see :mod:`store.sql.keys`); this object only caches
unwrapped keys and applies them to documents through the secret-field registry.

Key material handover: :meth:`Keyring.export_material` returns ``b"atkm1" || kek_id (4 bytes,
big endian) || KEK (32 bytes)``. A peer that was left with an old passphrase imports it; the
importer accepts it only if it verifies against the database's check value for that KEK id.
The blob is as sensitive as the passphrase: the cluster layer must seal it on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import crypto, registry
from .errors import DecryptError, StaleKey

_MATERIAL_MAGIC = b"atkm1"


class MissingKey(StaleKey):
    """A stored value names a data key version this node does not hold (yet)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"data key version {version} is not available on this node")
        self.version = version


@dataclass(slots=True)
class Keyring:
    """Unwrapped keys held by this node; ``active`` 0 means encryption is off."""

    keks: dict[int, bytes] = field(default_factory=dict)
    deks: dict[int, bytes] = field(default_factory=dict)
    active: int = 0
    active_kek: int = 0
    epoch: int = -1

    @property
    def needs_material(self) -> bool:
        """True when the database has an active key this node cannot unwrap."""
        return self.active != 0 and self.active not in self.deks

    def encrypt_doc(self, table: str, row: str, doc: Mapping[str, Any],
                    version: int | None = None) -> dict[str, Any]:
        """Encrypt every registered secret of a plaintext document under ``version``.

        ``version`` defaults to the active one; 0 stores plaintext (``plain:``-escaped).
        """
        target = self.active if version is None else version
        if target == 0:
            return registry.transform(table, doc, lambda _c, v: crypto.encode_plain(v))
        dek = self.deks.get(target)
        if dek is None:
            raise StaleKey(f"this node cannot encrypt under data key version {target}: "
                           "the database uses a passphrase this node does not hold")
        return registry.transform(
            table, doc, lambda col, v: crypto.encrypt_value(dek, target, v, table, row, col))

    def decrypt_doc(self, table: str, row: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Plaintext copy of a stored document; MissingKey names a version to pull."""

        def dec(column: str, stored: str) -> str:
            version = crypto.value_version(stored)
            if version is None:
                return crypto.decode_plain(stored)
            dek = self.deks.get(version)
            if dek is None:
                raise MissingKey(version)
            return crypto.decrypt_value(dek, stored, table, row, column)

        return registry.transform(table, doc, dec)

    def export_material(self) -> bytes:
        """The active KEK for a peer; StaleKey if this node does not hold it."""
        kek = self.keks.get(self.active_kek)
        if self.active_kek == 0 or kek is None:
            raise StaleKey("this node holds no active key-encryption key to hand over")
        return _MATERIAL_MAGIC + self.active_kek.to_bytes(4, "big") + kek


def parse_material(blob: bytes) -> tuple[int, bytes]:
    """Split an exported blob into (kek_id, kek); DecryptError when malformed."""
    head = len(_MATERIAL_MAGIC)
    if len(blob) != head + 4 + crypto.KEY_LEN or not blob.startswith(_MATERIAL_MAGIC):
        raise DecryptError("key material blob is malformed")
    return int.from_bytes(blob[head:head + 4], "big"), blob[head + 4:]
