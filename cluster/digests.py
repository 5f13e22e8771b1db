"""The latest live digest of each peer (sans-IO: values in, values out).

Each node shares a small digest of its traffic (request rate, errors, latency, in flight,
tokens) once a second; a peer keeps only the newest one per node and forgets a digest older
than :data:`MAX_AGE` seconds, so a node that stopped or became unreachable drops out of the
cluster's figures within a few seconds instead of freezing its last numbers into them.
"""

from __future__ import annotations

from typing import Any

MAX_AGE = 3.0
MAX_NODES = 256  # a bound on memory whatever peers send; a real cluster is far smaller


class Digests:
    """Newest digest per node name, each with the local monotonic time it arrived."""

    def __init__(self, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self._latest: dict[str, tuple[float, dict[str, Any]]] = {}

    def keep(self, name: str, digest: dict[str, Any], now: float) -> bool:
        """Keep ``digest`` as ``name``'s newest; False when it was not kept (no room)."""
        self._forget_old(now)
        if name not in self._latest and len(self._latest) >= MAX_NODES:
            return False
        self._latest[name] = (now, digest)
        return True

    def fresh(self, now: float) -> dict[str, dict[str, Any]]:
        """Every node's newest digest that is at most ``max_age`` seconds old."""
        self._forget_old(now)
        return {name: digest for name, (_, digest) in sorted(self._latest.items())}

    def _forget_old(self, now: float) -> None:
        for name in [n for n, (at, _) in self._latest.items() if now - at > self.max_age]:
            del self._latest[name]
