"""The supervisor's side of the local channel: one node's agent shared by its workers.

:class:`Hub` answers the workers (a lock, a change or key notice, key material, the other
workers' metrics) and implements ``cluster.ClusterHooks`` for the node's one cluster agent, so
a peer's notice reaches every worker. It keeps its own store handle for the keyring only: the
agent's hooks ask for the key version synchronously, and a peer that asks for key material must
get an answer even while every worker is busy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from cluster import LockBusy
from node.admin.live_cluster import combined
from node.workers.channel import Channel, ChannelError

if TYPE_CHECKING:
    from cluster import ClusterAgent
    from store import Store

log = structlog.get_logger("node.workers.hub")

ASK_TIMEOUT = 10.0      # a worker's reload of one item, or its key reconcile
STATE_TIMEOUT = 1.0     # a worker too busy to say how it is within a second counts as not ready


@dataclass(slots=True)
class Worker:
    """What the supervisor knows of one worker process."""

    index: int
    name: str
    pid: int = 0
    connected: bool = False     # said hello: it answers on the channel
    serving: bool = False       # accepts connections
    restarts: int = 0
    started: float = field(default_factory=time.time)
    state: dict[str, Any] = field(default_factory=dict)
    digest: dict[str, Any] = field(default_factory=dict)   # its live figures, each second

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "serving": self.serving,
                "restarts": self.restarts, "started": self.started,
                "in_flight": self.state.get("in_flight", 0),
                "key_version": self.state.get("key_version")}


class Hub:
    """See the module docstring. ``agent`` is set once the cluster agent runs (or never)."""

    def __init__(self, store: Store, node_name: str, endpoint: str, count: int) -> None:
        self.store, self.node_name = store, node_name
        self.agent: ClusterAgent | None = None
        self.workers = {f"w{i}": Worker(i, f"w{i}") for i in range(count)}
        self.channel = Channel(endpoint, self._handle, bind=True)
        self._locks: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._local = asyncio.Lock()      # the lock service when the node is not clustered
        self._tokens = itertools.count(1)
        self._background: set[asyncio.Task[None]] = set()

    # ---- the node as the workers and the admin API see it ---------------------------------

    def status(self) -> dict[str, Any]:
        """The node's status for its workers: the agent's (or a bare one unclustered), each
        worker, and the live digests of the peers and of every worker (``node.wN``)."""
        workers = [w.as_dict() for w in self.workers.values()]
        status: dict[str, Any]
        if self.agent is None:
            status = {"enabled": False, "self": {"name": self.node_name, "workers": workers,
                                                 "worker_count": len(workers)}}
        else:
            status = self.agent.status()
            status["self"]["workers"] = workers
        digests = dict(self.agent.digests()) if self.agent is not None else {}
        digests.update({f"{self.node_name}.{w.name}": w.digest for w in self.workers.values()
                        if w.digest and w.connected})
        status["digests"] = digests
        return status

    def share_digest(self) -> None:
        """The node's digest (its workers' summed) to the peers, once a second."""
        if self.agent is None:
            return
        own = [w.digest for w in self.workers.values() if w.digest and w.connected]
        if own:
            self.agent.share_digest(combined(own))

    async def tick(self) -> None:
        """Ask every serving worker how it is, telling it how the node is."""
        status = self.status()
        serving = [w for w in self.workers.values() if w.connected]
        answers = await asyncio.gather(
            *(self.channel.request("state", {"status": status}, to=w.name,
                                   wait=STATE_TIMEOUT) for w in serving),
            return_exceptions=True)
        for worker, answer in zip(serving, answers, strict=True):
            if isinstance(answer, dict):
                worker.state = answer

    async def ask_all(self, op: str, args: dict[str, Any], *, but: str = "") -> dict[str, Any]:
        """Ask every serving worker (except ``but``); per worker: its answer or None."""
        names = [n for n, w in self.workers.items() if w.connected and n != but]
        answers = await asyncio.gather(
            *(self.channel.request(op, args, to=n, wait=ASK_TIMEOUT) for n in names),
            return_exceptions=True)
        out: dict[str, Any] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                log.warning("a worker did not answer", worker=name, op=op, error=str(answer))
                out[name] = None
            else:
                out[name] = answer
        return out

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def worker_gone(self, name: str) -> None:
        """A worker exited: its locks are released (the lease would end them anyway)."""
        worker = self.workers[name]
        worker.connected = worker.serving = False
        worker.state, worker.digest = {}, {}
        for token in [t for t in self._held if t.startswith(f"{name}:")]:
            self._held.pop(token).set()
        self._soon(self.tick())

    # ---- requests from workers ------------------------------------------------------------

    async def _handle(self, sender: str, op: str, args: dict[str, Any]) -> Any:
        worker = self.workers.get(sender)
        if worker is None:
            raise ValueError(f"unknown worker {sender!r}")
        if op == "hello":
            worker.pid, worker.connected = int(args.get("pid", 0)), True
            return self.status()
        if op == "serving":
            worker.serving = True
            log.info("worker serving", worker=sender, pid=worker.pid)
            self._soon(self.tick())     # the others learn now, not at the next tick
            return self.status()
        if op == "change":
            kind, item = str(args.get("kind")), str(args.get("item"))
            await self.ask_all("change", {"kind": kind, "item": item}, but=sender)
            return await self.agent.notify_change(kind, item) if self.agent else {}
        if op == "key":
            version = int(args.get("version", 0))
            await self._follow_key(version, but=sender)
            return await self.agent.notify_key(version) if self.agent else {}
        if op == "key_material":
            return await self._material()
        if op == "lock":
            return await self._lock(sender, str(args.get("name")), float(args.get("lease", 30)))
        if op == "unlock":
            event = self._held.pop(str(args.get("token")), None)
            if event is not None:
                event.set()
            return True
        if op == "digest":
            digest = args.get("digest")
            worker.digest = digest if isinstance(digest, dict) else {}
            return None
        if op == "metrics":
            answers = await self.ask_all("metrics", {}, but=sender)
            return [a for a in answers.values() if isinstance(a, dict)]
        raise ValueError(f"unknown operation {op!r}")

    async def _follow_key(self, version: int, *, but: str = "") -> None:
        """A key version was activated here or announced: the supervisor's keyring and every
        worker's follow the database; whoever cannot open it gets the material."""
        await self.store.reconcile()
        needing = await self.ask_all("key_version", {"version": version}, but=but)
        if any(needing.values()):
            blob = await self._material()
            if blob is not None:
                await self.ask_all("import_key", {"blob": blob}, but=but)

    async def _material(self) -> str | None:
        """Key material, base64: the supervisor's own, else a worker's that opens the active
        key (it rotated with a new passphrase), else a peer's through the agent."""
        if self.store.needs_key_material:
            for answer in (await self.ask_all("export_key", {})).values():
                if isinstance(answer, str):
                    await self.store.import_key_material(base64.b64decode(answer))
                    break
        if self.store.needs_key_material and self.agent is not None:
            await self.agent.request_key_material()
        if self.store.needs_key_material or not self.store.encrypted:
            return None
        return base64.b64encode(self.store.export_key_material()).decode()

    async def _lock(self, sender: str, name: str, lease: float) -> str:
        """Take the lock in a task that holds it until the worker says unlock, the worker
        dies, or the lease ends; answer once it is held (or raise why not)."""
        token = f"{sender}:{next(self._tokens)}"
        acquired: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        release = self._held[token] = asyncio.Event()

        async def hold() -> None:
            try:
                async with self._lock_cm(name, lease):
                    acquired.set_result(None)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(release.wait(), lease)
            except Exception as exc:
                if not acquired.done():
                    acquired.set_exception(exc)
            finally:
                self._held.pop(token, None)

        task = asyncio.create_task(hold())
        self._locks[token] = task
        task.add_done_callback(lambda _: self._locks.pop(token, None))
        await acquired
        return token

    @contextlib.asynccontextmanager
    async def _lock_cm(self, name: str, lease: float) -> AsyncIterator[None]:
        if self.agent is not None:
            async with self.agent.lock(name, lease=lease):
                yield
            return
        if self._local.locked():
            raise LockBusy(name)
        async with self._local:
            yield

    # ---- cluster.ClusterHooks, for the node's one agent ------------------------------------

    async def on_change(self, kind: str, item: str) -> None:
        answers = await self.ask_all("change", {"kind": kind, "item": item})
        if any(a is None for a in answers.values()):
            raise ChannelError(f"a worker did not reload {kind} {item!r}")

    async def on_key_version(self, version: int) -> None:
        await self._follow_key(version)

    def key_version(self) -> int:
        return self.store.key_version

    def needs_key_material(self) -> bool:
        return self.store.needs_key_material

    async def export_key_material(self) -> bytes | None:
        return self.store.export_key_material() if self.store.encrypted and \
            not self.store.needs_key_material else None

    async def import_key_material(self, blob: bytes) -> None:
        await self.store.import_key_material(blob)
        await self.ask_all("import_key", {"blob": base64.b64encode(blob).decode()})

    async def close(self) -> None:
        for event in self._held.values():
            event.set()
        for task in list(self._locks.values()):
            task.cancel()
        await self.channel.close()
