"""Key derivation for the cluster: one Argon2id master, HKDF subkeys per purpose.

The master is ``Argon2id(secret, salt)`` with ``salt = SHA-256("at/kdf/v1|" + cluster_name)[:16]``.
A fixed, per-cluster salt is acceptable here because every node must derive the same key from a
shared secret before any peer or database is reachable; it still defeats precomputation across
deployments. Argon2id is slow on purpose (~0.4 s, 64 MiB): call ``derive_keys`` once, in an
executor, never per message.

With security disabled the "secret" is the public cluster name, so the Raft port still never
runs without a password (pysyncobj would otherwise ``pickle.loads`` anything it receives) and
frames still carry a MAC, but there is no confidentiality: anyone who knows the cluster name can
derive the keys. That mode is for a trusted network only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cluster.config import ClusterConfig
from cluster.errors import ConfigError

BUS_LABEL = b"at/bus/v1"
RAFT_LABEL = b"at/raft/v1"
FINGERPRINT_LABEL = b"at/fingerprint/v1"


@dataclass(frozen=True, slots=True, repr=False)
class ClusterKeys:
    """The subkeys a node needs; ``repr`` never shows them."""

    bus: bytes
    raft_password: str
    fingerprint: str

    def __repr__(self) -> str:
        return f"ClusterKeys(fingerprint={self.fingerprint!r})"


def cluster_secret(config: ClusterConfig) -> bytes:
    """The secret the master key is derived from (see the module docstring for the fallback)."""
    if config.security_enabled:
        if not config.security_key:
            raise ConfigError("cluster.security.key: missing: refusing to start without a secret")
        return config.security_key.encode()
    return b"at/insecure/" + config.cluster_name.encode()


def cluster_salt(cluster_name: str) -> bytes:
    """The fixed 16-byte Argon2id salt of one cluster."""
    return hashlib.sha256(b"at/kdf/v1|" + cluster_name.encode()).digest()[:16]


def hkdf(master: bytes, label: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 subkey of ``master`` for one purpose (``label`` is the domain separator)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(master)


def derive_keys(config: ClusterConfig) -> ClusterKeys:
    """Run Argon2id once and derive every subkey; blocking, so run it in an executor."""
    master = hash_secret_raw(
        cluster_secret(config),
        cluster_salt(config.cluster_name),
        time_cost=config.argon2_time_cost,
        memory_cost=config.argon2_memory_kib,
        parallelism=config.argon2_parallelism,
        hash_len=32,
        type=Type.ID,
    )
    bus = hkdf(master, BUS_LABEL + b"|" + config.cluster_name.encode())
    password = hkdf(master, RAFT_LABEL + b"|" + config.cluster_name.encode()).hex()
    fingerprint = hmac.new(hkdf(master, FINGERPRINT_LABEL), b"check", "sha256").hexdigest()[:16]
    return ClusterKeys(bus=bus, raft_password=password, fingerprint=fingerprint)
