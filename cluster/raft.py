"""The bridge between pysyncobj (threads) and asyncio: the only module that imports pysyncobj.

``RaftNode`` builds ``SyncObj`` + ``ReplLockManager`` on a dedicated owner thread that lives as
long as the node: both libraries stop their worker threads when the thread that constructed them
exits (notes §1.7), and their constructors block (PBKDF2 of the password, a busy-wait), so they
must not run on the event loop either. pysyncobj calls back on its tick thread; every callback
is handed to the loop with ``call_soon_threadsafe`` and the loop never waits on a thread.

``RaftLocks`` is the lock facade of notes §1.7: a per-process asyncio lock (``ReplLockManager``
is re-entrant per process, not per task), release on every unknown outcome (a timed-out or
LEADER_CHANGED acquire may still commit: a ghost lock), an awaited release (an async release
races the next acquirer), and a lease. The lock is advisory: expiry uses wall clocks and a paused
holder cannot know it lost the lock, so the database compare-and-set remains the fence.

pysyncobj keeps logging through stdlib ``logging`` (the node routes it through its redacting
handler); none of its log lines format the Raft password, which lives only in ``SyncObjConf``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
import threading
import time
import types
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import structlog

from cluster.errors import ClusterError, LockBusy, NoQuorum

log = structlog.get_logger("cluster.raft")

STATE_NAMES = {0: "follower", 1: "candidate", 2: "leader"}
# pysyncobj's tcp_connection imports a Windows shim whose import replaces socket.inet_ntop, on
# every platform, with a function that raises; SOCKS5 proxies (which decode bound addresses
# with inet_ntop) then break in a clustered node. The shim is imported only for that effect and
# every platform we run on has inet_ntop/inet_pton natively, so an empty module takes its name
# before pysyncobj is first imported and the socket module is never touched.
_WINDOWS_SHIM = "pysyncobj.win_inet_pton"


def load_pysyncobj() -> Any:
    """The ``pysyncobj`` package, imported on first use without its Windows shim.

    Nothing imports pysyncobj when this module is imported: the first call (when Raft starts)
    does, after registering the stand-in for the shim. Returns the package with the
    submodules this module uses loaded as attributes.
    """
    sys.modules.setdefault(_WINDOWS_SHIM, types.ModuleType(
        _WINDOWS_SHIM, "stand-in: pysyncobj's inet_ntop shim would break socket.inet_ntop"))
    import pysyncobj
    import pysyncobj.batteries
    import pysyncobj.dns_resolver
    import pysyncobj.node
    import pysyncobj.tcp_connection
    import pysyncobj.transport

    return pysyncobj


def make_conf(*, password: str, bind: str | None, on_state: Callable[[int, int], None]) -> Any:
    """The tuned ``SyncObjConf`` (notes §1.2); the password is mandatory, never None.

    appendEntriesUseBatch=False: lock ops ~1 ms instead of 100-200 ms. leaderFallbackTimeout
    2.5 s: a minority leader otherwise claims leadership for 30 s. connectionRetryTime 1 s:
    faster rejoin. dnsCacheTime 10 / dnsFailCacheTime 2: pod IPs change on restart.
    commandsWaitLeader=False: fail fast instead of queueing (queued acquires become ghost
    locks). useFork=False and no journal/dump: lock state is ephemeral, the DB is durable.
    """
    if not password:
        raise ClusterError("refusing to run the Raft port without a password")
    return load_pysyncobj().SyncObjConf(
        password=password,
        bindAddress=bind,
        autoTick=True,
        appendEntriesUseBatch=False,
        leaderFallbackTimeout=2.5,
        connectionRetryTime=1.0,
        dnsCacheTime=10.0,
        dnsFailCacheTime=2.0,
        commandsWaitLeader=False,
        dynamicMembershipChange=False,
        journalFile=None,
        fullDumpFile=None,
        useFork=False,
        onStateChanged=on_state,
    )


class AddressBook:
    """Name -> current address, written by discovery on the loop, read by the tick thread.

    The mapping is replaced whole (one reference assignment), so readers never see it half-built.
    """

    def __init__(self) -> None:
        self._map: Mapping[str, str] = {}

    def update(self, mapping: Mapping[str, str]) -> None:
        """Replace the known addresses."""
        self._map = dict(mapping)

    def lookup(self, host: str) -> str | None:
        """The address discovery found for ``host``, if any."""
        return self._map.get(host)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _node_class(book: AddressBook) -> type[Any]:
    lib = load_pysyncobj()
    base: type[Any] = lib.node.TCPNode
    resolver = lib.dns_resolver.globalDnsResolver

    class MappedNode(base):  # type: ignore[misc]
        """A pysyncobj node whose id is a stable name; its IP comes from discovery first."""

        @property
        def ip(self) -> Any:
            # Only names discovery knows are dialled; a DNS name from a static list goes
            # through pysyncobj's short-lived cache, an unknown name is not dialled yet (no
            # blocking getaddrinfo of a pod that does not exist on the tick thread).
            target = book.lookup(self.host) or (self.host if _is_ip(self.host) else None)
            if target is None:
                return None
            return target if _is_ip(target) else resolver().resolve(target)

    return MappedNode


def _transport_class() -> type[Any]:
    lib = load_pysyncobj()
    base: type[Any] = lib.transport.TCPTransport
    disconnected = lib.tcp_connection.CONNECTION_STATE.DISCONNECTED

    class ClosingTransport(base):  # type: ignore[misc]
        """TCPTransport that closes the socket of a connect() refused at once.

        pysyncobj 0.3.17 returns False from ``TcpConnection.connect`` on an immediate error
        (loopback ECONNREFUSED) without closing the socket it just made: one leaked fd per retry.
        """

        def _connectIfNecessarySingle(self, node: Any) -> bool:
            connected = bool(super()._connectIfNecessarySingle(node))
            conn = self._connections.get(node)
            if not connected and conn is not None and conn.state == disconnected:
                leaked = getattr(conn, "_TcpConnection__socket", None)
                if leaked is not None:
                    leaked.close()
                    conn._TcpConnection__socket = None
            return connected

    return ClosingTransport


class RaftNode:
    """One pysyncobj member (a voter, or read-only when ``self_id`` is None)."""

    def __init__(self, *, self_id: str | None, voters: list[str], password: str, bind: str,
                 lock_ttl: float, holder: str, book: AddressBook,
                 on_state: Callable[[str, str], None] | None = None) -> None:
        self._self_id, self._voters, self._password = self_id, voters, password
        self._bind, self._lock_ttl, self._holder, self._book = bind, lock_ttl, holder, book
        self._on_state = on_state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync: Any = None
        self._manager: Any = None
        self._conf: Any = None
        self._owner: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def voter(self) -> bool:
        """True when this member votes; read-only members can lock but never change quorum."""
        return self._self_id is not None

    @property
    def conf(self) -> Any:
        """The ``SyncObjConf`` in use (tests check password and useFork)."""
        return self._conf

    async def start(self) -> None:
        """Build the objects on the owner thread and return once they exist."""
        self._loop = asyncio.get_running_loop()
        built: asyncio.Future[None] = self._loop.create_future()
        self._owner = threading.Thread(target=self._own, args=(built,), name="raft-owner",
                                       daemon=True)
        self._owner.start()
        await built

    def _own(self, built: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            lib = load_pysyncobj()
            self._conf = make_conf(password=self._password, bind=self._bind,
                                   on_state=self._state_changed)
            node_class = _node_class(self._book)
            self._manager = lib.batteries.ReplLockManager(autoUnlockTime=self._lock_ttl,
                                                          selfID=self._holder)
            others = [node_class(v) for v in self._voters if v != self._self_id]
            me = node_class(self._self_id) if self._self_id else None
            self._sync = lib.SyncObj(me, others, conf=self._conf, consumers=[self._manager],
                                     nodeClass=node_class, transportClass=_transport_class())
        except Exception as exc:  # any construction failure ends start() with that error
            loop.call_soon_threadsafe(_settle, built, exc)
            return
        loop.call_soon_threadsafe(_settle, built, None)
        # Stay alive: pysyncobj's tick and lock threads exit when this thread exits.
        self._stopping.wait()

    def _state_changed(self, old: int, new: int) -> None:
        if self._on_state is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed during shutdown
                self._loop.call_soon_threadsafe(self._on_state, STATE_NAMES.get(old, "?"),
                                                STATE_NAMES.get(new, "?"))

    async def stop(self, within: float = 1.5) -> None:
        """Destroy pysyncobj and wait (off the loop) for its threads, at most ``within`` s."""
        if self._manager is not None:
            self._manager.destroy()
        if self._sync is not None:
            self._sync.destroy()
        await asyncio.wait_for(asyncio.to_thread(self._join, within), within + 0.5)

    def _join(self, within: float) -> None:
        deadline = time.monotonic() + within
        # The owner thread must outlive the tick thread: a tick thread whose creator is gone
        # exits without closing its sockets (it checks that before the destroy flag).
        workers = [getattr(self._sync, "_SyncObj__thread", None),
                   getattr(self._manager, "_ReplLockManager__thread", None)]
        for thread in workers:
            if isinstance(thread, threading.Thread):
                thread.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        if self._owner is not None:
            self._owner.join(max(0.0, deadline - time.monotonic()))

    def tick_thread_alive(self) -> bool:
        """pysyncobj's tick thread is running (pitfall 6)."""
        return self._sync is not None and bool(self._sync.tick_thread_alive())

    @staticmethod
    def idle_status(state: str = "stopped", voter: bool = False) -> dict[str, Any]:
        """The ``status()`` shape for a member that is not running."""
        return {"leader": None, "has_quorum": False, "term": 0, "state": state,
                "voter": voter, "connected": []}

    def status(self) -> dict[str, Any]:
        """Leader, quorum, term, state and connected voters, read without blocking."""
        sync = self._sync
        if sync is None:
            return self.idle_status("stopped", self.voter)
        for _ in range(3):  # pysyncobj mutates its sets on the tick thread
            try:
                leader = sync._getLeader()
                return {
                    "leader": None if leader is None else leader.id,
                    "has_quorum": bool(sync.hasQuorum),
                    "term": int(sync.raftCurrentTerm),
                    "state": STATE_NAMES.get(sync._SyncObj__raftState, "?")
                    if self.voter else "read-only",
                    "voter": self.voter,
                    "connected": sorted(n.id for n in sync.otherNodes if sync.isNodeConnected(n)),
                }
            except RuntimeError:
                continue
        return self.idle_status("busy", self.voter)

    def submit_acquire(self, name: str, callback: Callable[[Any, int], None]) -> None:
        """Ask to acquire; ``callback`` runs on the tick thread."""
        self._manager.tryAcquire(name, callback=callback)

    def submit_release(self, name: str, callback: Callable[[Any, int], None] | None) -> None:
        """Ask to release (a no-op in the state machine when we are not the holder)."""
        self._manager.release(name, callback=callback)

    def raw_is_acquired(self, name: str) -> bool:
        """pysyncobj's local view: do we hold ``name`` (a local read, no barrier)."""
        return bool(self._manager is not None and self._manager.isAcquired(name))


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class RaftLocks:
    """Named advisory locks over a ``RaftNode`` (notes §1.7); see the module docstring."""

    def __init__(self, raft: RaftNode, *, wait: float) -> None:
        self._raft, self._wait = raft, wait
        reasons = load_pysyncobj().FAIL_REASON
        self._success, self._denied = reasons.SUCCESS, reasons.REQUEST_DENIED
        self._retryable = {reasons.MISSING_LEADER, reasons.NOT_LEADER, reasons.LEADER_CHANGED,
                           reasons.UNKNOWN_OUTCOME, reasons.DISCARDED, reasons.QUEUE_FULL}
        self._local: dict[str, asyncio.Lock] = {}
        self.stats: dict[str, float] = {"acquired": 0, "busy": 0, "no_quorum": 0,
                                        "unknown_outcome": 0, "lease_expired": 0,
                                        "last_acquire_ms": 0.0}

    def _bridge(self) -> tuple[asyncio.Future[tuple[Any, int]], Callable[[Any, int], None]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, int]] = loop.create_future()

        def callback(result: Any, error: int) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, (result, error))

        return future, callback

    async def acquire(self, name: str, wait: float | None = None) -> None:
        """Acquire ``name`` in the Raft group or raise ``LockBusy`` / ``NoQuorum``.

        Leaderless or failed attempts are retried until ``wait`` runs out; every attempt whose
        outcome is unknown is followed by a release so it cannot linger as a ghost lock.
        """
        budget = self._wait if wait is None else wait
        started = time.monotonic()
        deadline = started + budget
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            future, callback = self._bridge()
            self._raft.submit_acquire(name, callback)
            try:
                result, error = await asyncio.wait_for(future, remaining)
            except TimeoutError:
                self._unknown(name)
                break
            if error == self._success and result:
                self.stats["acquired"] += 1
                self.stats["last_acquire_ms"] = (time.monotonic() - started) * 1000
                return
            if error == self._success:
                self.stats["busy"] += 1
                raise LockBusy(name)
            if error in self._retryable or error == self._denied:
                self._unknown(name)
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        self.stats["no_quorum"] += 1
        raise NoQuorum(name, budget)

    def _unknown(self, name: str) -> None:
        self.stats["unknown_outcome"] += 1
        self._raft.submit_release(name, None)

    async def release(self, name: str, within: float = 2.0) -> bool:
        """Release ``name`` and wait until the release is committed; False if that timed out."""
        future, callback = self._bridge()
        self._raft.submit_release(name, callback)
        try:
            _, error = await asyncio.wait_for(future, within)
        except TimeoutError:
            log.warning("lock release not confirmed", lock=name, within=within)
            return False
        return bool(error == self._success)

    @contextlib.asynccontextmanager
    async def hold(self, name: str, *, lease: float, wait: float | None = None
                   ) -> AsyncIterator[None]:
        """Hold ``name`` for the body, at most ``lease`` seconds; the release is awaited.

        A second task of this process asking for a held name gets ``LockBusy`` at once, as a
        task on another node would. When the lease runs out the Raft lock is released even if
        the body still runs (logged); the body was never protected by more than the DB fence.
        """
        local = self._local.setdefault(name, asyncio.Lock())
        if local.locked():
            self.stats["busy"] += 1
            raise LockBusy(name)
        async with local:
            await self.acquire(name, wait)
            expiry = asyncio.get_running_loop().call_later(lease, self._expire, name, lease)
            try:
                yield
            finally:
                expiry.cancel()
                await asyncio.shield(self.release(name))

    def _expire(self, name: str, lease: float) -> None:
        self.stats["lease_expired"] += 1
        log.warning("lock lease expired: released", lock=name, lease=lease)
        self._raft.submit_release(name, None)
