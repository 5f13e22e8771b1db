"""Who is in the cluster: self recognition, the fixed voter set, and the peer table.

Voters are fixed for the life of the process so scaling never changes the Raft quorum:

- StatefulSet (``dns_addr`` set and the node name has an ordinal, ``at-2``): voters are
  ``at-0 .. at-{replicas-1}`` under ``dns_addr``, known before DNS answers anything.
- Static ``peers``: the first ``replicas`` names in (ordinal, name) order.
- DNS without ordinals (compose): the first ``replicas`` names once that many are discovered.

Every other member joins as a pysyncobj read-only node: it can take locks but never votes.

Rows of the peer table are keyed by identity (``cluster/identity.py``): the discovery key. A
row's ``identity`` column is what the peer calls itself, learned from its verified replies on
the link dialled for that row; frames are matched to rows by either. A frame from a sender no
row matches yet is remembered and applied once discovery lists that sender.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cluster.config import ClusterConfig, Peer, ordinal_of, voter_names
from cluster.identity import claimed_identity, names_match

UNMATCHED_MAX = 64


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
    workers: int | None = None      # the peer's serving processes, from its pings

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready row; ``last_seen`` is a Unix time."""
        return {"name": self.name, "identity": self.identity, "address": self.address,
                "reachable": self.reachable, "last_seen": self.last_seen,
                "key_version": self.key_version, "voter": self.voter,
                "worker_count": self.workers}


class Membership:
    """This node's identity, self recognition, the voter plan and the peer table."""

    def __init__(self, config: ClusterConfig, node_name: str, own_addresses: set[str]) -> None:
        self._config, self.node_name = config, node_name
        self._own = {a for a in own_addresses if a}
        self.self_peer: Peer | None = None
        self.plan: VoterPlan | None = None
        self.table: dict[str, PeerState] = {}
        # Entries that name us at an address that is not ours: probed, never peers.
        self.claimants: dict[str, Peer] = {}
        self._loopbacks: set[str] = set()     # claimants that answered with our own boot
        self._unmatched: dict[str, tuple[float, int | None]] = {}
        self._ordinal = ordinal_of(node_name) if config.dns_addr else None
        if self._ordinal is not None:
            self.plan = self._ordinal_plan(*self._ordinal)
        fqdn = self.plan.self_id.rsplit(":", 1)[0] if self.plan and self.plan.self_id else ""
        self.identity = claimed_identity(config, node_name, fqdn)
        self._claims = {c for c in (config.advertise, node_name) if c}
        self._settled = bool(fqdn)

    def _ordinal_plan(self, prefix: str, ordinal: int) -> VoterPlan:
        domain = self._config.dns_addr.rstrip(".")
        voters = tuple(f"{prefix}-{i}.{domain}:{self._config.raft_port}"
                       for i in range(self._config.replicas))
        return VoterPlan(voters[ordinal] if ordinal < self._config.replicas else None, voters)

    def voter_hosts(self) -> tuple[str, ...]:
        """Host names of the voters (for DNS to resolve even without SRV records)."""
        return tuple(v.rsplit(":", 1)[0] for v in self.plan.voters) if self.plan else ()

    def at_own_address(self, peer: Peer) -> bool:
        """One of our addresses on our bus port: this process, whatever the entry's name."""
        return peer.host in self._own and peer.port == self._config.port

    def names_us(self, peer: Peer) -> bool:
        """The entry's name is our identity, advertise or node name (pod name or FQDN)."""
        return any(names_match(peer.name, claim) for claim in (self.identity, *self._claims))

    def is_self(self, peer: Peer) -> bool:
        """Ours by address, or by name (then probed: another instance may hold that name)."""
        return self.at_own_address(peer) or self.names_us(peer)

    def apply(self, peers: list[Peer]) -> list[Peer]:
        """Take a discovery result; return the other members and fix the plan if now possible."""
        self._settle(peers)
        others = [p for p in peers if not self.is_self(p)]
        self.claimants = {p.name: p for p in peers if self.names_us(p)
                          and not self.at_own_address(p) and p.name not in self._loopbacks}
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
        self._match_unmatched()
        return others

    def _settle(self, peers: list[Peer]) -> None:
        """Fix our identity on the entry naming our claim, else the one at our address."""
        named = sorted((p for p in peers if self.names_us(p)),
                       key=lambda p: (p.name != self.identity, p.name))
        own = sorted((p for p in peers if self.at_own_address(p)), key=lambda p: p.name)
        if not self._settled and (named or own):
            self.identity, self._settled = (named or own)[0].name, True
        self.self_peer = next((p for p in peers if p.name == self.identity),
                              own[0] if own else None)

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

    def confirm_loopback(self, name: str) -> None:
        """The claimant ``name`` answered with our own boot: it is us; stop probing it."""
        self._loopbacks.add(name)
        self.claimants.pop(name, None)

    def _row(self, sender: str) -> PeerState | None:
        return self.table.get(sender) or next(
            (r for r in self.table.values()
             if r.identity == sender or names_match(r.name, sender)), None)

    def seen(self, sender: str, *, key_version: int | None,
             workers: int | None = None) -> None:
        """A verified request from ``sender`` arrived: mark its row reachable.

        No row yet (discovery has not listed it): remembered until discovery does.
        """
        row = self._row(sender)
        if row is None:
            self._unmatched[sender] = (time.time(), key_version)
            while len(self._unmatched) > UNMATCHED_MAX:
                del self._unmatched[next(iter(self._unmatched))]
            return
        _mark(row, sender, time.time(), key_version)
        if workers is not None:
            row.workers = workers

    def bind(self, name: str, sender: str, *, key_version: int | None) -> None:
        """The peer dialled as ``name`` answered, calling itself ``sender``."""
        row = self.table.get(name)
        if row is not None:
            _mark(row, sender, time.time(), key_version)

    def _match_unmatched(self) -> None:
        for sender, (at, key_version) in list(self._unmatched.items()):
            row = self._row(sender)
            if row is not None:
                del self._unmatched[sender]
                if row.last_seen is None or row.last_seen < at:
                    _mark(row, sender, at, key_version)

    def expire(self, horizon: float) -> None:
        """Rows not heard from within ``horizon`` seconds become unreachable."""
        now = time.time()
        for row in self.table.values():
            if row.last_seen is None or now - row.last_seen > horizon:
                row.reachable = False
        for sender, (at, _) in list(self._unmatched.items()):
            if now - at > horizon:
                del self._unmatched[sender]

    def max_key_version(self) -> int:
        """The highest key version any peer reported (0 if none)."""
        return max((r.key_version or 0 for r in self.table.values()), default=0)


def _mark(row: PeerState, sender: str, at: float, key_version: int | None) -> None:
    row.identity, row.reachable, row.last_seen = sender, True, at
    if key_version is not None:
        row.key_version = key_version
