"""Envelope encryption primitives: Argon2id KEK, wrapped data keys, and the value format.

Key hierarchy::

    passphrase --Argon2id(salt, params)--> master --HKDF("at/kek/v1")--> KEK
    KEK --AES-256-GCM(aad="dek|<version>|<kek_id>")--> wrapped data key (DEK, 32 random bytes)
    DEK --AES-256-GCM(aad="<table>|<row>|<column>|<version>")--> stored value

Stored value format (ASCII, safe in JSON)::

    enc:v1:<version>:<base64url(nonce[12] || ciphertext || tag[16])>      (no padding)

``version`` names the data key in the keyring, so any node can pull the right key. The AAD
binds the ciphertext to its row and column: a value copied to another row, another column or
relabelled with another version fails authentication. A plaintext value that itself starts
with ``enc:`` or ``plain:`` is stored as ``plain:<value>`` so it is never mistaken for a
ciphertext. This module is pure (no IO) and may be imported by the cluster package.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptError

ENC_PREFIX = "enc:v1:"
PLAIN_PREFIX = "plain:"
NONCE_LEN = 12
KEY_LEN = 32
SALT_LEN = 16
_CHECK_PLAINTEXT = b"at-gateway key check"
_KEK_INFO = b"at/kek/v1"


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters; defaults are RFC 9106's second recommended option.

    ``memory_kib`` is in KiB (65536 = 64 MiB). Tests pass small values to stay fast.
    """

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    def to_json(self) -> dict[str, int | str]:
        """The form stored beside the salt in the kdf table."""
        return {"alg": "argon2id", "v": 19, "t": self.time_cost, "m": self.memory_kib,
                "p": self.parallelism}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> KdfParams:
        """Rebuild from :meth:`to_json` output; raises ValueError on an unknown algorithm."""
        if data.get("alg") != "argon2id":
            raise ValueError(f"unsupported kdf {data.get('alg')!r}")
        return cls(int(str(data["t"])), int(str(data["m"])), int(str(data["p"])))


def b64e(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Inverse of :func:`b64e`; DecryptError on malformed or non-canonical input.

    Non-canonical encodings (unused trailing bits set) are refused so that every stored
    value has exactly one spelling and any edited character is detected.
    """
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise DecryptError("malformed base64 in stored value") from exc
    if b64e(data) != text:
        raise DecryptError("non-canonical base64 in stored value")
    return data


def new_salt() -> bytes:
    """A fresh random Argon2 salt."""
    return os.urandom(SALT_LEN)


def new_dek() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(KEY_LEN)


def derive_kek(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """Argon2id then HKDF: the key-encryption key. CPU and memory heavy: never on the loop."""
    master = hash_secret_raw(passphrase.encode("utf-8"), salt, time_cost=params.time_cost,
                             memory_cost=params.memory_kib, parallelism=params.parallelism,
                             hash_len=KEY_LEN, type=Type.ID)
    return subkey(master, _KEK_INFO)


async def derive_kek_async(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """:func:`derive_kek` in the default executor so the event loop keeps running."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, derive_kek, passphrase, salt, params)


def subkey(master: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 subkey with domain separation by ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=info).derive(master)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_LEN + 16:
        raise DecryptError("stored ciphertext is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], aad)
    except InvalidTag as exc:
        raise DecryptError("stored ciphertext failed authentication") from exc


def make_check(kek: bytes, kek_id: int) -> str:
    """The check value stored with a KEK; lets a node tell a wrong passphrase apart."""
    return b64e(_seal(kek, _CHECK_PLAINTEXT, f"kcv|{kek_id}".encode()))


def verify_check(kek: bytes, kek_id: int, check: str) -> bool:
    """True when ``kek`` is the key that produced ``check``."""
    try:
        return _open(kek, b64d(check), f"kcv|{kek_id}".encode()) == _CHECK_PLAINTEXT
    except DecryptError:
        return False


def wrap_dek(kek: bytes, dek: bytes, version: int, kek_id: int) -> str:
    """Encrypt a data key under a KEK, bound to its version and KEK id."""
    return b64e(_seal(kek, dek, f"dek|{version}|{kek_id}".encode()))


def unwrap_dek(kek: bytes, wrapped: str, version: int, kek_id: int) -> bytes:
    """Inverse of :func:`wrap_dek`; DecryptError when the KEK or binding is wrong."""
    return _open(kek, b64d(wrapped), f"dek|{version}|{kek_id}".encode())


def fingerprint(dek: bytes) -> str:
    """A short public identifier of a data key (HMAC, reveals nothing about the key)."""
    return hmac.new(dek, b"at/fp/v1", hashlib.sha256).hexdigest()[:16]


def value_aad(table: str, row: str, column: str, version: int) -> bytes:
    """Associated data binding a value to its table, row key, column path and key version."""
    return f"{table}|{row}|{column}|{version}".encode()


def encrypt_value(dek: bytes, version: int, plaintext: str, table: str, row: str,
                  column: str) -> str:
    """Encrypt one secret string into the ``enc:v1:`` format."""
    blob = _seal(dek, plaintext.encode("utf-8"), value_aad(table, row, column, version))
    return f"{ENC_PREFIX}{version}:{b64e(blob)}"


def value_version(stored: str) -> int | None:
    """The key version named by a stored value, or None for plaintext."""
    if not stored.startswith(ENC_PREFIX):
        return None
    head, sep, _ = stored[len(ENC_PREFIX):].partition(":")
    if not sep or not head.isdigit():
        raise DecryptError("malformed encrypted value header")
    return int(head)


def decrypt_value(dek: bytes, stored: str, table: str, row: str, column: str) -> str:
    """Decrypt an ``enc:v1:`` value with the data key its header names."""
    version = value_version(stored)
    if version is None:
        raise DecryptError("value is not encrypted")
    blob = b64d(stored[len(ENC_PREFIX):].partition(":")[2])
    plaintext = _open(dek, blob, value_aad(table, row, column, version))
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:  # pragma: no cover - only reachable with a forged tag
        raise DecryptError("decrypted value is not UTF-8") from exc


def encode_plain(value: str) -> str:
    """Store a plaintext secret so it can never be read back as a ciphertext."""
    if value.startswith(("enc:", PLAIN_PREFIX)):
        return PLAIN_PREFIX + value
    return value


def decode_plain(stored: str) -> str:
    """Inverse of :func:`encode_plain` for values without the ``enc:`` prefix."""
    return stored[len(PLAIN_PREFIX):] if stored.startswith(PLAIN_PREFIX) else stored
