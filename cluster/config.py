"""Cluster configuration, peer descriptions and node identities.

``ClusterConfig`` is frozen and validated when built; it does not read the environment (the node
does that once, in ``node/config.py``). Where discovery has names, identities are names, so a pod
that restarts with a new IP keeps its place: ``at-2`` is ordinal 2 of a StatefulSet, ``node1`` is
a compose service name, and a static entry may name itself with ``name=host:port:raft_port``.
Bare A/AAAA records name nothing but addresses, and there the address is the identity
(``cluster/identity.py`` has the whole rule).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass

from cluster.errors import ConfigError

_ORDINAL = re.compile(r"^(?P<prefix>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<ordinal>\d+)$")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Settings of one cluster member; every field has a working default except the secret.

    Beyond the contract fields: ``cluster_name`` scopes keys and frames (two clusters with the
    same secret still cannot talk); ``lock_ttl`` is how long a lock outlives a dead holder;
    ``lock_wait`` is how long ``lock()`` waits for a quorum before ``NoQuorum``; ``bus_window``
    is the accepted clock difference for frames; the ``argon2_*`` costs default to RFC 9106's
    second recommended option (tests lower them).
    """

    dns_addr: str = ""
    dns_server: str = ""
    peers: tuple[str, ...] = ()
    bind_addr: str = "0.0.0.0"
    advertise: str = ""
    port: int = 5000
    raft_port: int = 5001
    replicas: int = 3
    security_enabled: bool = True
    security_key: str = ""
    reconcile_interval: float = 5.0
    dns_interval: float = 5.0
    cluster_name: str = "at"
    lock_ttl: float = 10.0
    lock_wait: float = 3.0
    ping_interval: float = 1.0
    ack_timeout: float = 1.0
    bus_window: float = 30.0
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    def __post_init__(self) -> None:
        """Check every rule; each error names the key as written under ``cluster:``."""
        if self.replicas < 1:
            raise ConfigError(f"cluster.replicas: {self.replicas} is not valid: expected >= 1")
        for name in ("port", "raft_port"):
            value = getattr(self, name)
            if not 1 <= value <= 65535:
                raise ConfigError(f"cluster.{name}: {value} is not valid: expected 1-65535")
        if self.port == self.raft_port:
            raise ConfigError(f"cluster.raft_port: {self.raft_port} is not valid: expected a "
                              "port other than cluster.port")
        if self.security_enabled and not self.security_key:
            raise ConfigError("cluster.security.key: missing: expected a shared secret while "
                              "cluster.security.enabled is true")
        if not self.cluster_name:
            raise ConfigError("cluster.cluster_name: missing: expected a non-empty name")
        for name in ("reconcile_interval", "dns_interval", "lock_ttl", "lock_wait",
                     "ping_interval", "ack_timeout", "bus_window"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"cluster.{name}: {value} is not valid: expected seconds > 0")
        self._check_argon2()
        for spec in self.peers:
            parse_peer(spec, self.port, self.raft_port)

    def _check_argon2(self) -> None:
        for name in ("argon2_time_cost", "argon2_parallelism"):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"cluster.{name}: {value} is not valid: expected >= 1")
        lanes = 8 * self.argon2_parallelism
        if self.argon2_memory_kib < lanes:
            raise ConfigError(f"cluster.argon2_memory_kib: {self.argon2_memory_kib} is not valid: "
                              f"expected >= {lanes} (8 KiB per lane of cluster.argon2_parallelism)")


@dataclass(frozen=True, slots=True)
class Peer:
    """One member as discovery sees it: a stable ``name`` and where it listens now."""

    name: str
    host: str
    port: int
    raft_port: int

    @property
    def bus_endpoint(self) -> str:
        """The ZeroMQ endpoint of the member's ROUTER."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @property
    def raft_id(self) -> str:
        """The pysyncobj node id: the stable name, never the IP, plus the Raft port."""
        return f"{self.name}:{self.raft_port}"


def parse_peer(spec: str, port: int, raft_port: int) -> Peer:
    """Parse ``[name=]host[:port[:raft_port]]`` (IPv6 hosts in brackets); name defaults to host."""
    name, sep, rest = spec.strip().partition("=")
    if not sep:
        name, rest = "", name
    host, tail = _split_host(rest, spec)
    parts = [p for p in tail.split(":") if p] if tail else []
    if len(parts) > 2:
        raise ConfigError(
            f"cluster.peers: {spec!r} is not valid: expected [name=]host[:port[:raft]]")
    try:
        ports = [int(p) for p in parts]
    except ValueError as exc:
        raise ConfigError(f"cluster.peers: {spec!r} is not valid: ports must be numbers") from exc
    bus = ports[0] if ports else port
    raft = ports[1] if len(ports) > 1 else raft_port
    if not host or not all(1 <= p <= 65535 for p in (bus, raft)) or bus == raft:
        raise ConfigError(f"cluster.peers: {spec!r} is not valid: expected a host and two "
                          "different ports 1-65535")
    return Peer(name=name.strip() or host, host=host, port=bus, raft_port=raft)


def _split_host(rest: str, spec: str) -> tuple[str, str]:
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket:
            raise ConfigError(f"cluster.peers: {spec!r} is not valid: unclosed '['")
        return host, tail.lstrip(":")
    host, _, tail = rest.partition(":")
    return host, tail


def ordinal_of(name: str) -> tuple[str, int] | None:
    """``("at", 2)`` for the StatefulSet pod name ``at-2`` (first DNS label); None otherwise."""
    match = _ORDINAL.match(name.split(".", 1)[0].lower())
    if match is None:
        return None
    return match.group("prefix"), int(match.group("ordinal"))


def short_name(name: str) -> str:
    """The first DNS label: a pod FQDN and its pod name identify the same member.

    An IP address is its own short name.
    """
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name.split(".", 1)[0]
    return name


def voter_names(names: list[str], replicas: int) -> list[str]:
    """The first ``replicas`` names by (ordinal, name): the fixed Raft voter set.

    Ordinal names sort numerically (``at-10`` after ``at-2``); other names sort after them,
    alphabetically. The result depends only on the names, so every member computes the same set.
    """
    def key(name: str) -> tuple[int, str]:
        found = ordinal_of(name)
        return (found[1] if found else 1 << 30, name)

    return sorted(set(names), key=key)[:replicas]
