"""Errors raised by the cluster package.

The tree::

    ClusterError                     root; nothing else escapes the package
     ├── ConfigError(ClusterError, ValueError)   invalid ClusterConfig or peer spec
     ├── NoQuorum                    no Raft quorum within the wait (node answers 503)
     ├── LockBusy                    another holder owns the named lock (node answers 409)
     ├── BusError                    a ZeroMQ failure, translated at the boundary
     ├── DiscoveryError              DNS failed (timeout, no nameserver); NXDOMAIN is not one
     ├── DuplicateIdentity           another live instance already holds this node's identity
     └── SealError                   a frame failed to open (forged, replayed, stale, backwards)
"""

from __future__ import annotations


class ClusterError(Exception):
    """Root of every error this package raises."""


class ConfigError(ClusterError, ValueError):
    """The cluster configuration is invalid; the message names the field and the value."""


class NoQuorum(ClusterError):
    """The Raft group has no quorum (or no leader) within the wait; retry later."""

    status = 503

    def __init__(self, lock: str, waited: float) -> None:
        super().__init__(
            f"cluster has no quorum: lock {lock!r} unavailable after {waited:.1f}s "
            "(fewer than a majority of the Raft voters are reachable)"
        )
        self.lock = lock
        self.waited = waited


class LockBusy(ClusterError):
    """The named lock is held by another node or task."""

    status = 409

    def __init__(self, lock: str) -> None:
        super().__init__(f"lock {lock!r} is held by another node")
        self.lock = lock


class BusError(ClusterError):
    """A ZeroMQ operation failed; carries the peer it concerned, if any."""

    def __init__(self, message: str, *, peer: str = "") -> None:
        super().__init__(message)
        self.peer = peer


class SealError(ClusterError):
    """A sealed frame was rejected; ``reason`` is the counter it is counted under."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"frame rejected: {reason}")
        self.reason = reason


class DiscoveryError(ClusterError):
    """DNS could not be asked (timeout, no nameserver); retried with backoff."""


class DuplicateIdentity(ClusterError):
    """Another live instance (an earlier boot) already holds this node's identity."""

    def __init__(self, identity: str, other_boot: int) -> None:
        super().__init__(
            f"another live node already claims this node's cluster identity {identity!r} "
            f"(boot {other_boot}); refusing to join: give each node its own cluster.advertise "
            "or node name")
        self.identity = identity
        self.other_boot = other_boot
