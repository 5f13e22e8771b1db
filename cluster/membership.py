"""Who is in the cluster: self recognition, the fixed voter set, and the peer table.

Voters are fixed for the life of the process so scaling never changes the Raft quorum:

- StatefulSet (``dns_addr`` set and the node name has an ordinal, ``at-2``): voters are
  ``at-0 .. at-{replicas-1}`` under ``dns_addr``, known before DNS answers anything.
- Static ``peers``: the first ``replicas`` names in (ordinal, name) order.
- DNS without ordinals (compose): the first ``replicas`` names once that many are discovered.

Every other member joins as a pysyncobj read-only node: it can take locks but never votes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cluster.config import ClusterConfig, Peer, ordinal_of, short_name, voter_names


@dataclass(frozen=True, slots=True)
class VoterPlan:
    """The Raft group as this node sees it: ``self_id`` is None for a read-only member."""

    self_id: str | None
    voters: tuple[str, ...]


@dataclass(slots=True)
class PeerState:
    """One row of the peer table (``status()["peers"]``)."""

    name: str
    address: str
    identity: str = ""
    reachable: bool = False
    last_seen: float | None = None
    key_version: int | None = None
    voter: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready row; ``last_seen`` is a Unix time."""
        return {"name": self.name, "identity": self.identity, "address": self.address,
                "reachable": self.reachable, "last_seen": self.last_seen,
                "key_version": self.key_version, "voter": self.voter}


class Membership:
    """Self recognition, the voter plan and the peer table of one node."""

    def __init__(self, config: ClusterConfig, node_name: str, own_addresses: set[str]) -> None:
        self._config, self.node_name = config, node_name
        self._own = {a for a in own_addresses if a}
        self.self_peer: Peer | None = None
        self.plan: VoterPlan | None = None
        self.table: dict[str, PeerState] = {}
        self._ordinal = ordinal_of(node_name) if config.dns_addr else None
        if self._ordinal is not None:
            self.plan = self._ordinal_plan(*self._ordinal)

    def _ordinal_plan(self, prefix: str, ordinal: int) -> VoterPlan:
        domain = self._config.dns_addr.rstrip(".")
        voters = tuple(f"{prefix}-{i}.{domain}:{self._config.raft_port}"
                       for i in range(self._config.replicas))
        return VoterPlan(voters[ordinal] if ordinal < self._config.replicas else None, voters)

    def voter_hosts(self) -> tuple[str, ...]:
        """Host names of the voters (for DNS to resolve even without SRV records)."""
        return tuple(v.rsplit(":", 1)[0] for v in self.plan.voters) if self.plan else ()

    def is_self(self, peer: Peer) -> bool:
        """Same name (pod name or FQDN), or one of our addresses on our bus port."""
        if short_name(peer.name) == short_name(self.node_name):
            return True
        return peer.host in self._own and peer.port == self._config.port

    def apply(self, peers: list[Peer]) -> list[Peer]:
        """Take a discovery result; return the other members and fix the plan if now possible."""
        others: list[Peer] = []
        for peer in peers:
            if self.is_self(peer):
                self.self_peer = peer
            else:
                others.append(peer)
        if self.plan is None:
            self.plan = self._plan(peers)
        voters = {v.rsplit(":", 1)[0] for v in self.plan.voters} if self.plan else set()
        seen = set()
        for peer in others:
            seen.add(peer.name)
            row = self.table.get(peer.name)
            address = f"{peer.host}:{peer.port}"
            if row is None:
                self.table[peer.name] = PeerState(peer.name, address, voter=peer.name in voters)
            else:
                row.address, row.voter = address, peer.name in voters
        for name in list(self.table):
            # A voter whose DNS record vanished is restarting, not gone: keep its row.
            if name not in seen and not self.table[name].voter:
                del self.table[name]
        return others

    def _plan(self, peers: list[Peer]) -> VoterPlan | None:
        names = [p.name for p in peers]
        if self.self_peer is None:
            if self._config.peers:
                # Not in the static list: an extra member, read-only by construction.
                chosen = voter_names(names, self._config.replicas)
                return VoterPlan(None, tuple(p.raft_id for p in peers if p.name in chosen))
            return None      # DNS has not shown us yet
        if len(set(names)) < self._config.replicas and not self._config.peers:
            return None      # wait until `replicas` members are known
        chosen = voter_names(names, self._config.replicas)
        voters = tuple(sorted({p.raft_id for p in peers if p.name in chosen}))
        self_id = self.self_peer.raft_id if self.self_peer.name in chosen else None
        return VoterPlan(self_id, voters)

    def seen(self, sender: str, *, key_version: int | None) -> None:
        """A verified frame from ``sender`` arrived: mark its row reachable."""
        row = self.table.get(sender) or next(
            (r for r in self.table.values()
             if short_name(r.name) == short_name(sender) or r.identity == sender), None)
        if row is None:
            return
        row.identity, row.reachable, row.last_seen = sender, True, time.time()
        if key_version is not None:
            row.key_version = key_version

    def expire(self, horizon: float) -> None:
        """Rows not heard from within ``horizon`` seconds become unreachable."""
        now = time.time()
        for row in self.table.values():
            if row.last_seen is None or now - row.last_seen > horizon:
                row.reachable = False

    def max_key_version(self) -> int:
        """The highest key version any peer reported (0 if none)."""
        return max((r.key_version or 0 for r in self.table.values()), default=0)
