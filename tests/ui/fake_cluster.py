"""A fake cluster link for browser tests: three nodes whose roles and key versions a test sets,
a rotation lock that has or lacks quorum, and peers that acknowledge key notices."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from cluster import NoQuorum


@dataclass
class FakeCluster:
    """Implements ``node.cluster_link.ClusterLink``; records what the node asked of it."""

    self_version: int
    versions: dict[str, int] = field(default_factory=dict)  # peer name -> key version
    leader: str = "n2"
    quorum: bool = True
    notices: list[int] = field(default_factory=list)
    shared: list[dict[str, Any]] = field(default_factory=list)

    def lock(self, name: str, *, lease: float = 30.0
             ) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(name)

    @contextlib.asynccontextmanager
    async def _hold(self, name: str) -> AsyncIterator[None]:
        if not self.quorum:
            raise NoQuorum(name, 0.1)
        yield

    async def notify_change(self, kind: str, item: str) -> dict[str, bool]:
        return dict.fromkeys(self.versions, True)

    async def notify_key(self, version: int) -> dict[str, bool]:
        self.notices.append(version)
        self.self_version = version
        self.versions = dict.fromkeys(self.versions, version)
        return dict.fromkeys(self.versions, True)

    def status(self) -> dict[str, Any]:
        peers = [{"name": name, "identity": name, "address": f"10.0.0.{i + 2}:7946",
                  "reachable": True, "last_seen": 1_800_000_000.0, "key_version": version,
                  "voter": True} for i, (name, version) in enumerate(sorted(
                      self.versions.items()))]
        return {"self": {"name": "n1", "identity": "n1", "key_version": self.self_version,
                         "voter": True, "raft_state": "follower", "conflict": ""},
                "leader": self.leader if self.quorum else None, "has_quorum": self.quorum,
                "raft_term": 3, "voters": ["n1", "n2", "n3"], "peers": peers}

    def share_digest(self, digest: dict[str, Any]) -> None:
        self.shared.append(digest)

    def digests(self) -> dict[str, dict[str, Any]]:
        return {}
