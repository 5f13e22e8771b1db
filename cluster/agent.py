"""``ClusterAgent``: discovery, the Raft lock service and the sealed bus of one node.

Start order: Argon2id key derivation (executor) -> own addresses -> bus (bind) -> first
discovery pass -> probe of the entries that name this node at another address (an earlier
instance there holding this identity: ``DuplicateIdentity``, the node refuses to join) -> Raft
(owner thread) -> background loops (discovery, ping, reconcile). The node's identity
(``cluster/identity.py``) is its bus sender id, its Raft id and its peers' key for it.
Stop runs the reverse and finishes well under two seconds (LINGER 0, pysyncobj destroyed and
its threads joined off the loop). Nothing here decides correctness: locks are advisory and key
notices are hints; the node re-reads the database (the fence) on every hint.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import structlog

from cluster.bus import Bus
from cluster.config import ClusterConfig
from cluster.digests import Digests
from cluster.discovery import Discovery, DnsDiscovery, StaticDiscovery
from cluster.errors import ClusterError, DiscoveryError, DuplicateIdentity, NoQuorum
from cluster.hooks import ClusterHooks
from cluster.identity import Challenges, Claim
from cluster.kdf import ClusterKeys, derive_keys
from cluster.membership import Membership
from cluster.messages import Header, Message, MsgType
from cluster.raft import AddressBook, RaftLocks, RaftNode
from cluster.seal import Opener, Sealer

log = structlog.get_logger("cluster.agent")

_T = TypeVar("_T")
HOOK_TIMEOUT = 10.0
LEAVE_GRACE = 0.1
KEY_MESSAGES = (MsgType.KEY_PREPARED, MsgType.KEY_ACTIVATED)


class ClusterAgent:
    """One node's membership in the cluster; see the module docstring for the lifecycle."""

    def __init__(self, config: ClusterConfig, hooks: ClusterHooks, *, node_name: str,
                 on_raft_state: Callable[[str, str], None] | None = None,
                 workers: int = 1) -> None:
        if not node_name:
            raise ClusterError("node_name must not be empty")
        self.config, self.hooks, self.node_name = config, hooks, node_name
        self.workers = workers          # this node's serving processes, told to the peers
        self._on_raft_state = on_raft_state
        self.boot = time.time_ns()
        self._keys: ClusterKeys | None = None
        self._membership: Membership | None = None
        self._discovery: Discovery | None = None
        self._book = AddressBook()
        self._bus: Bus | None = None
        self._sealer: Sealer | None = None
        self._conflict, self._conflict_boot = "", 0   # why this node left: a duplicate identity
        self._leaving: asyncio.Task[None] | None = None
        self._running = False                   # start() finished and stop() not yet called
        self._challenges = Challenges(ttl=config.bus_window)
        self._raft: RaftNode | None = None
        self._locks: RaftLocks | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._raft_starting: asyncio.Task[None] | None = None
        self._highest_key = 0
        self._digests = Digests()
        self._sharing: asyncio.Task[Any] | None = None
        self._discovery_state: dict[str, Any] = {"ok_at": None, "error": "", "members": 0}
        self.counters: dict[str, int] = {"backwards_key": 0, "key_requests": 0,
                                         "key_imports": 0, "changes_received": 0,
                                         "claims_unproven": 0}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Derive keys, bind the bus, find peers, start Raft and the loops.

        Raises ``ConfigError`` without a secret when security is enabled, ``BusError`` when the
        bus port cannot be bound, ``ClusterError`` when Raft cannot be built,
        ``DuplicateIdentity`` when an earlier live instance holds this node's identity.
        """
        loop = asyncio.get_running_loop()
        self._keys = await loop.run_in_executor(None, derive_keys, self.config)
        own = await loop.run_in_executor(None, _own_addresses, self.config)
        self._membership = Membership(self.config, self.node_name, own)
        self._discovery = self._make_discovery()
        opener = Opener(self._keys.bus, cluster=self.config.cluster_name,
                        window=self.config.bus_window)
        self._sealer = Sealer(self._keys.bus, cluster=self.config.cluster_name,
                              sender=self._membership.identity, boot=self.boot)
        self._bus = Bus(sealer=self._sealer, opener=opener, bind=self.config.bind_addr,
                        port=self.config.port, handler=self._handle)
        await self._bus.start()
        try:
            await self._discover_once()
            await self._probe_claimants()
            if self._membership.plan is not None:
                await self._start_raft()
            if self._conflict:                  # a duplicate spoke up while Raft started
                raise DuplicateIdentity(self._membership.identity, self._conflict_boot)
        except BaseException:
            await self.stop()
            raise
        for loop_fn in (self._discovery_loop, self._ping_loop, self._reconcile_loop):
            self._tasks.append(asyncio.create_task(loop_fn()))
        self._running = True

    def _make_discovery(self) -> Discovery:
        cfg = self.config
        if cfg.dns_addr:
            assert self._membership is not None
            return DnsDiscovery(cfg.dns_addr, port=cfg.port, raft_port=cfg.raft_port,
                                server=cfg.dns_server, names=self._membership.voter_hosts())
        return StaticDiscovery(cfg.peers, port=cfg.port, raft_port=cfg.raft_port)

    async def _start_raft(self) -> None:
        membership, keys = self._membership, self._keys
        assert membership is not None and membership.plan is not None and keys is not None
        raft = RaftNode(self_id=membership.plan.self_id, voters=list(membership.plan.voters),
                        password=keys.raft_password,
                        bind=f"{self.config.bind_addr}:{self.config.raft_port}",
                        lock_ttl=self.config.lock_ttl, holder=f"{self.node_name}:{self.boot}",
                        book=self._book, on_state=self._raft_state)
        await raft.start()
        self._raft, self._locks = raft, RaftLocks(raft, wait=self.config.lock_wait)

    async def _start_raft_later(self) -> None:
        try:
            await self._start_raft()
        except ClusterError:
            log.exception("raft could not start", consequence="locks answer NoQuorum")

    def _raft_state(self, old: str, new: str) -> None:
        log.info("raft state changed", old=old, new=new)
        if self._on_raft_state is not None:
            self._on_raft_state(old, new)

    async def _probe_claimants(self) -> None:
        """Ask each entry that names this node at another address who answers there.

        Our own boot answering is an alias of ours; an earlier instance answering means this
        identity is taken: ``DuplicateIdentity``. Unreachable entries are probed again by the
        ping loop.
        """
        assert self._membership is not None and self._bus is not None
        pending = set(self._membership.claimants)
        deadline = time.monotonic() + self.config.ack_timeout
        while pending and not self._conflict and time.monotonic() < deadline:
            replies = await self._bus.broadcast(MsgType.PING, self._ping_payload(),
                                                self.config.ack_timeout, peers=sorted(pending))
            for name, reply in replies.items():
                if reply is not None:
                    pending.discard(name)
                    self._on_reply(name, reply)
            if pending:
                await asyncio.sleep(0.05)       # a fresh DEALER is not connected yet
        if self._conflict:
            raise DuplicateIdentity(self._membership.identity, self._conflict_boot)

    def _judge(self, header: Header) -> Claim:
        """Compare a verified frame's sender with our identity; say so on a duplicate."""
        assert self._membership is not None
        claim = Claim.of(self._membership.identity, self.boot, header.sender, header.boot)
        if claim is Claim.THEY_YIELD:
            log.error("duplicate cluster identity: a later node claims this node's identity",
                      identity=self._membership.identity, node=self.node_name,
                      other_boot=header.boot, boot=self.boot,
                      consequence="the later one must leave")
        return claim

    def _yield_to(self, boot: int) -> None:
        """A live earlier instance holds our identity: leave (running) or refuse (starting)."""
        assert self._membership is not None
        identity = self._membership.identity
        log.error("duplicate cluster identity: another live node claims this node's identity",
                  identity=identity, node=self.node_name, other_boot=boot, boot=self.boot,
                  consequence="this node leaves the cluster")
        if not self._conflict:
            self._conflict_boot = boot
            self._conflict = str(DuplicateIdentity(identity, boot))
            if self._running and self._leaving is None:
                self._leaving = asyncio.create_task(self._leave())

    def _judge_request(self, message: Message) -> dict[str, Any] | None:
        """The reply to a request from our own identity (None for another member's).

        An earlier boot's request may be its dead process's frame replayed (module docstring
        of cluster/identity.py): it earns a challenge, and only its echo makes us yield.
        """
        header = message.header
        claim = self._judge(header)
        if claim is Claim.OTHER:
            return None
        reply: dict[str, Any] = {"ok": claim is Claim.LOOPBACK, "name": self.node_name,
                                 "key_version": self.hooks.key_version()}
        if claim is Claim.LOOPBACK:
            return reply
        reply["error"] = "duplicate identity"
        if claim is Claim.WE_YIELD:
            if self._challenges.answered(header.boot, message.payload.get("echo")):
                self._yield_to(header.boot)
            elif not self._conflict:
                self.counters["claims_unproven"] += 1
                log.warning("a request from an earlier boot of this node's identity; asking it "
                            "to prove it is live", identity=header.sender,
                            other_boot=header.boot, boot=self.boot)
                reply["challenge"] = self._challenges.issue(header.boot)
        return reply

    async def _leave(self) -> None:
        # The reply telling the other claimant is still on its way out: let it go first.
        await asyncio.sleep(LEAVE_GRACE)
        await self.stop()

    def _on_reply(self, name: str, reply: Message) -> None:
        assert self._membership is not None
        claim = self._judge(reply.header)
        challenge = reply.payload.get("challenge")
        if claim is Claim.WE_YIELD:             # bound to our fresh msg_id: live, not replayed
            self._yield_to(reply.header.boot)
        elif claim is Claim.THEY_YIELD and isinstance(challenge, str):
            self._spawn(self._prove_live(name, challenge))
        elif claim is Claim.LOOPBACK:
            self._membership.confirm_loopback(name)
        elif claim is Claim.OTHER:
            kv = reply.payload.get("key_version")
            self._membership.bind(name, reply.header.sender,
                                  key_version=kv if isinstance(kv, int) else None)

    async def _prove_live(self, name: str, challenge: str) -> None:
        # The later claimant asked: echo its challenge, sealed under our boot, so it leaves.
        if self._bus is None:
            return
        try:
            await self._bus.request(name, MsgType.PING, {**self._ping_payload(),
                                                         "echo": challenge},
                                    self.config.ack_timeout)
        except ClusterError:
            log.warning("challenge echo not sent", peer=name, exc_info=True)

    async def stop(self) -> None:
        """Stop loops, bus and Raft; idempotent; returns in well under two seconds."""
        self._running = False
        tasks = [*self._tasks, *([self._raft_starting] if self._raft_starting else []),
                 *([self._sharing] if self._sharing else [])]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._bus is not None:
            await self._bus.stop()
            self._bus = None
        if self._raft is not None:
            raft, self._raft, self._locks = self._raft, None, None
            await raft.stop()

    # ---- locks and notices -----------------------------------------------------------------

    def lock(self, name: str, *, lease: float = 30.0) -> AbstractAsyncContextManager[None]:
        """Hold the cluster-wide advisory lock ``name`` for at most ``lease`` seconds.

        Raises ``NoQuorum`` (503) when no quorum answers within ``lock_wait``, ``LockBusy``
        (409) when another node or task holds it. Never a fence: check the DB's CAS.
        """
        return self._hold(name, lease)

    @contextlib.asynccontextmanager
    async def _hold(self, name: str, lease: float) -> AsyncIterator[None]:
        if self._locks is None:
            raise NoQuorum(name, 0.0)
        async with self._locks.hold(name, lease=lease):
            yield

    async def notify_change(self, kind: str, item: str) -> dict[str, bool]:
        """Tell every peer ``item`` of ``kind`` changed; per-peer: did it reload it."""
        return await self._notify(MsgType.CHANGE, {"kind": kind, "item": item})

    async def notify_key(self, version: int, *, fingerprint: str = "",
                         prepared: bool = False) -> dict[str, bool]:
        """Announce key ``version`` (activated, or only ``prepared``); per-peer acks."""
        self._highest_key = max(self._highest_key, version)
        kind = MsgType.KEY_PREPARED if prepared else MsgType.KEY_ACTIVATED
        return await self._notify(kind, {"version": version, "fingerprint": fingerprint})

    async def _notify(self, kind: MsgType, payload: dict[str, Any]) -> dict[str, bool]:
        if self._bus is None or self._membership is None:
            return {}
        peers = [name for name in self._bus.peers if name not in self._membership.claimants]
        replies = await self._bus.broadcast(kind, payload, self.config.ack_timeout, peers)
        return {name: bool(r is not None and r.payload.get("ok")) for name, r in replies.items()}

    def share_digest(self, digest: dict[str, Any]) -> None:
        """Send this node's live ``digest`` to every peer, without waiting for their acks.

        Meant to be called about once a second; a call while the previous send still waits
        for a slow peer is dropped (the next second's digest supersedes it anyway).
        """
        if self._bus is None or (self._sharing is not None and not self._sharing.done()):
            return
        self._sharing = asyncio.create_task(
            self._notify(MsgType.DIGEST, {"name": self.node_name, "digest": digest}))
        self._sharing.add_done_callback(_quiet)

    def digests(self) -> dict[str, dict[str, Any]]:
        """Each peer's newest digest, by node name; none older than a few seconds."""
        return self._digests.fresh(time.monotonic())

    async def request_key_material(self) -> bool:
        """Ask reachable peers, one at a time, for key material; True once one was imported."""
        if self._bus is None or self._membership is None:
            return False
        self.counters["key_requests"] += 1
        rows = sorted(self._membership.table.values(), key=lambda r: -(r.key_version or 0))
        for row in rows:
            if not row.reachable:
                continue
            reply = await self._bus.request(row.name, MsgType.KEY_REQUEST,
                                            {"version": self.hooks.key_version()},
                                            self.config.ack_timeout)
            blob = reply.payload.get("blob") if reply is not None else None
            if isinstance(blob, str):
                await _bounded(self.hooks.import_key_material(base64.b64decode(blob)))
                self.counters["key_imports"] += 1
                return True
        return False

    # ---- incoming --------------------------------------------------------------------------

    async def _handle(self, message: Message) -> dict[str, Any]:
        payload, membership = message.payload, self._membership
        version = payload.get("version")
        if membership is not None:
            claimed = self._judge_request(message)
            if claimed is not None:             # our own frame, or our identity's other claimant
                return claimed
            ping = message.type is MsgType.PING
            reported = payload.get("key_version") if ping else None
            workers = payload.get("workers") if ping else None
            membership.seen(message.header.sender,
                            key_version=reported if isinstance(reported, int) else None,
                            workers=workers if isinstance(workers, int) else None)
        reply: dict[str, Any] = {"ok": True, "name": self.node_name}
        if message.type is MsgType.CHANGE:
            self.counters["changes_received"] += 1
            await _bounded(self.hooks.on_change(str(payload.get("kind")), str(payload.get("item"))))
        elif message.type in KEY_MESSAGES and isinstance(version, int):
            if message.type is MsgType.KEY_ACTIVATED and version < self._highest_key:
                self.counters["backwards_key"] += 1       # a replayed or late older activation
                return {**reply, "ok": False, "error": "backwards",
                        "key_version": self.hooks.key_version()}
            if message.type is MsgType.KEY_ACTIVATED:
                self._highest_key = version
            await _bounded(self.hooks.on_key_version(version))
            if self.hooks.needs_key_material():
                self._spawn_key_request()
        elif message.type is MsgType.DIGEST:
            digest, name = payload.get("digest"), payload.get("name")
            reply["ok"] = isinstance(digest, dict) and isinstance(name, str) and name != "" \
                and self._digests.keep(name, digest, time.monotonic())
        elif message.type is MsgType.KEY_REQUEST:
            blob = await _bounded(self.hooks.export_key_material())
            reply["ok"] = blob is not None
            reply["blob"] = None if blob is None else base64.b64encode(blob).decode()
        reply["key_version"] = self.hooks.key_version()
        return reply

    def _spawn_key_request(self) -> None:
        self._spawn(self._key_request_quietly())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    async def _key_request_quietly(self) -> None:
        try:
            await self.request_key_material()
        except (ClusterError, TimeoutError, ValueError):
            log.warning("key material request failed", exc_info=True)

    # ---- loops -----------------------------------------------------------------------------

    async def _discover_once(self) -> bool:
        assert self._discovery is not None and self._membership is not None
        try:
            peers = await self._discovery.resolve()
        except DiscoveryError as exc:
            self._discovery_state["error"] = str(exc)
            return False
        others = self._membership.apply(peers)
        if self._sealer is not None:
            self._sealer.sender = self._membership.identity   # settled by the first pass
        self._book.update({p.name: p.host for p in peers})
        if self._bus is not None:
            links = [*others, *self._membership.claimants.values()]
            self._bus.set_peers({p.name: p.bus_endpoint for p in links})
        self._discovery_state.update(ok_at=time.time(), error="", members=len(peers))
        return bool(others)

    async def _discovery_loop(self) -> None:
        if not self.config.dns_addr:
            return                              # a static list never changes
        backoff = 0.5
        while True:
            found = await self._discover_once()
            # NXDOMAIN or a DNS failure at boot: ask again soon, slower each time.
            delay = self.config.dns_interval if found else backoff
            backoff = min(backoff * 2, self.config.dns_interval) if not found else 0.5
            if self._raft is None and self._membership is not None and \
                    self._membership.plan is not None and self._raft_starting is None:
                self._raft_starting = asyncio.create_task(self._start_raft_later())
            await asyncio.sleep(delay)

    async def _ping_loop(self) -> None:
        assert self._membership is not None
        while True:
            if self._bus is not None:
                replies = await self._bus.broadcast(MsgType.PING, self._ping_payload(),
                                                    self.config.ack_timeout)
                for name, reply in replies.items():
                    if reply is not None:
                        self._on_reply(name, reply)
            self._membership.expire(3 * self.config.ping_interval + self.config.ack_timeout)
            await asyncio.sleep(self.config.ping_interval)

    def _ping_payload(self) -> dict[str, Any]:
        return {"key_version": self.hooks.key_version(), "name": self.node_name,
                "voter": bool(self._raft and self._raft.voter), "workers": self.workers}

    async def _reconcile_loop(self) -> None:
        assert self._membership is not None
        while True:
            await asyncio.sleep(self.config.reconcile_interval)
            hint = max(self._membership.max_key_version(), self.hooks.key_version())
            try:
                await _bounded(self.hooks.on_key_version(hint))
                if self.hooks.needs_key_material():
                    await self.request_key_material()
            except (ClusterError, TimeoutError, ValueError):
                log.warning("key reconcile failed", exc_info=True)

    # ---- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Self, peers, leader, quorum, term and counters, for ``GET /api/v1/cluster``."""
        raft = self._raft.status() if self._raft is not None else RaftNode.idle_status()
        membership, bus = self._membership, self._bus
        leader = raft["leader"].rsplit(":", 1)[0] if raft["leader"] else None
        peers = [r.as_dict() for r in sorted(membership.table.values(), key=lambda r: r.name)] \
            if membership is not None else []
        return {
            "self": {"name": self.node_name, "boot": self.boot,
                     "identity": membership.identity if membership else "",
                     "conflict": self._conflict,
                     "key_version": self.hooks.key_version(),
                     "voter": raft["voter"], "raft_state": raft["state"],
                     "worker_count": self.workers,
                     "fingerprint": self._keys.fingerprint if self._keys else ""},
            "leader": leader, "has_quorum": raft["has_quorum"], "raft_term": raft["term"],
            "voters": list(membership.plan.voters) if membership and membership.plan else [],
            "raft_connected": raft["connected"],
            "peers": peers,
            "bus": {**(bus.counters if bus else {}), **(bus.reject_counters if bus else {}),
                    **self.counters},
            "locks": dict(self._locks.stats) if self._locks else {},
            "discovery": dict(self._discovery_state),
        }

    @property
    def raft(self) -> RaftNode | None:
        """The Raft member (None until the voter set is known); for diagnostics and tests."""
        return self._raft


def _quiet(task: asyncio.Task[Any]) -> None:
    # A digest that did not reach a peer is replaced a second later: note it, nothing more.
    if not task.cancelled() and task.exception() is not None:
        log.debug("digest not shared", error=str(task.exception()))


async def _bounded(awaitable: Awaitable[_T]) -> _T:
    return await asyncio.wait_for(awaitable, HOOK_TIMEOUT)


def _own_addresses(config: ClusterConfig) -> set[str]:
    """Addresses that mean "this node" (bind, host name and its addresses); blocking."""
    # Not ``advertise``: it is a claim, checked by probing, not an address known to be ours.
    found = {config.bind_addr, socket.gethostname()}
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    return {a for a in found if a and a not in ("0.0.0.0", "::")}
