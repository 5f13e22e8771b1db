"""One identity per node, and what two instances claiming one identity means.

A member's identity is the key discovery lists it under, the same on every node because every
node asks the same DNS (or reads the same static list): a StatefulSet pod's FQDN
(``at-1.at-headless.ns.svc``, an SRV target or a voter name), the address of a bare A/AAAA
record, or the name of a ``peers`` entry. That one string is the bus sender id, the peer-table
key and, with ``:raft_port``, the Raft node id.

Until discovery shows a node to itself, it goes by its *claim*: the voter FQDN of its ordinal
(a StatefulSet pod), else ``advertise``, else ``bind_addr`` when that is a specific address,
else the node name (the host's name). Discovery then settles the identity on the entry that
names the claim, or failing that the entry at one of the node's own addresses.

Two live instances under one identity would be merged silently by every peer (their frames
interleave under one sender, one boot's requests dropped as "backwards"), so each node checks
every verified frame: its own identity from another boot is a duplicate, and the later boot
yields (refuses to start, or leaves the bus), loudly.

The later boot yields only on evidence that cannot be replayed. A *reply* from the earlier boot
is bound to one of our fresh message ids, so it is live. A *request* is not: the replay state
lives in process memory, so a frame sealed by this node's own previous process, replayed within
the bus window, opens fine after a restart. Such a request is answered with a fresh challenge
(``Challenges``); only a live process holding the cluster key can send it back, sealed under
its boot, and that echo is what makes the later boot yield.
"""

from __future__ import annotations

import enum
import os
import time
from collections import OrderedDict

from cluster.config import ClusterConfig, short_name

UNSPECIFIC = ("", "0.0.0.0", "::")


def claimed_identity(config: ClusterConfig, node_name: str, ordinal_fqdn: str = "") -> str:
    """What a node calls itself before discovery shows it (see the module docstring)."""
    if ordinal_fqdn:
        return ordinal_fqdn
    if config.advertise:
        return config.advertise
    if config.bind_addr not in UNSPECIFIC:
        return config.bind_addr
    return node_name


def names_match(name: str, other: str) -> bool:
    """Whether two names denote one member: a pod name and its FQDN do; addresses must be equal."""
    return short_name(name).lower() == short_name(other).lower()


class Claim(enum.Enum):
    """What a verified frame's (sender, boot) says about this node's own identity."""

    OTHER = "other"            # another member: the usual case
    LOOPBACK = "loopback"      # our own frame, come back through an address we did not know
    THEY_YIELD = "they_yield"  # a later instance claims our identity: it must leave
    WE_YIELD = "we_yield"      # an earlier instance holds our identity: we must leave

    @classmethod
    def of(cls, identity: str, boot: int, sender: str, sender_boot: int) -> Claim:
        """Judge one frame from ``sender`` (started at ``sender_boot``) against ours."""
        if sender != identity:
            return cls.OTHER
        if sender_boot == boot:
            return cls.LOOPBACK
        return cls.WE_YIELD if sender_boot < boot else cls.THEY_YIELD


class Challenges:
    """Nonces sent to earlier boots of our identity, each awaiting its echo from that boot."""

    def __init__(self, ttl: float, limit: int = 64) -> None:
        self._ttl, self._limit = ttl, limit
        self._issued: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def issue(self, boot: int) -> str:
        """A fresh nonce for the claimant started at ``boot``; the oldest go beyond ``limit``."""
        nonce = os.urandom(16).hex()
        self._issued[nonce] = (boot, time.monotonic() + self._ttl)
        while len(self._issued) > self._limit:
            self._issued.popitem(last=False)
        return nonce

    def answered(self, boot: int, echo: object) -> bool:
        """Whether ``echo`` is an unexpired nonce issued to ``boot``; each one counts once."""
        entry = self._issued.pop(echo, None) if isinstance(echo, str) else None
        return entry is not None and entry[0] == boot and entry[1] > time.monotonic()
