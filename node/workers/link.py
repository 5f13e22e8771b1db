"""A worker's end of the local channel: the node's cluster link as seen from one worker.

A worker runs no cluster agent. What the admin API and key rotation ask of the cluster (a lock,
"tell the others this changed", the cluster's status) goes to the supervisor, which holds the
node's one agent and tells the node's other workers too. What the supervisor asks of a worker
(reload an item, follow a key version, its metrics and state) lands in :meth:`_handle`, on the
same hooks a single-process node's agent calls.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import structlog

from cluster import LockBusy, NoQuorum
from node.cluster_link import NodeHooks
from node.workers.channel import Channel, ChannelError, RemoteError

if TYPE_CHECKING:
    from node.gateway import Gateway

log = structlog.get_logger("node.workers.link")

# Long enough for the supervisor to ask every peer (the agent's own ack timeout) and the other
# workers; a lock may wait for a quorum first.
NOTICE_TIMEOUT = 15.0
LOCK_TIMEOUT = 30.0


class WorkerLink:
    """Implements ``node.cluster_link.ClusterLink`` for a worker of a multi-process node."""

    def __init__(self, endpoint: str, name: str, gateway: Gateway, node_name: str) -> None:
        self.name = name
        self._me = f"{node_name}.{name}"
        self._gateway, self._hooks = gateway, NodeHooks(gateway)
        self._channel = Channel(endpoint, self._handle, identity=name)
        # The supervisor's latest word on the node: the cluster's status and every worker.
        self._status: dict[str, Any] = {"enabled": False, "self": {"workers": []}}
        self._digests: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        await self._channel.start()
        self._adopt(await self._channel.request("hello", {"pid": os.getpid()}, wait=10.0))
        if self._hooks.needs_key_material():
            await self.request_key_material()

    async def serving(self) -> None:
        """Tell the supervisor this worker accepts connections now."""
        self._adopt(await self._channel.request("serving", wait=10.0))

    async def close(self) -> None:
        await self._channel.close()

    def _adopt(self, status: object) -> None:
        """Take the supervisor's word on the node; its live digests are kept apart (less
        this worker's own)."""
        if not isinstance(status, dict):
            return
        digests = status.pop("digests", None) or {}
        self._digests = {n: d for n, d in digests.items() if n != self._me}
        self._status = status

    # ---- ClusterLink -----------------------------------------------------------------------

    def lock(self, name: str, *, lease: float = 30.0) -> AbstractAsyncContextManager[None]:
        return self._hold(name, lease)

    @contextlib.asynccontextmanager
    async def _hold(self, name: str, lease: float) -> AsyncIterator[None]:
        try:
            token = await self._channel.request("lock", {"name": name, "lease": lease},
                                                wait=LOCK_TIMEOUT)
        except RemoteError as exc:
            if exc.kind == "LockBusy":
                raise LockBusy(name) from exc
            raise NoQuorum(name, 0.0) from exc
        except ChannelError as exc:
            raise NoQuorum(name, LOCK_TIMEOUT) from exc
        try:
            yield
        finally:
            with contextlib.suppress(ChannelError):
                await self._channel.request("unlock", {"token": token})

    async def notify_change(self, kind: str, item: str) -> dict[str, bool]:
        return await self._notice("change", {"kind": kind, "item": item})

    async def notify_key(self, version: int) -> dict[str, bool]:
        return await self._notice("key", {"version": version})

    async def _notice(self, op: str, args: dict[str, Any]) -> dict[str, bool]:
        # The change is committed: a notice that cannot be delivered is only late (every
        # worker and peer re-reads the database on its reconcile interval), never an error.
        try:
            acks = await self._channel.request(op, args, wait=NOTICE_TIMEOUT)
        except ChannelError as exc:
            log.warning("change notice not delivered", op=op, error=str(exc))
            return {}
        return {str(k): bool(v) for k, v in (acks or {}).items()}

    def status(self) -> dict[str, Any]:
        return self._status

    def share_digest(self, digest: dict[str, Any]) -> None:
        """To the supervisor, which shares the node's (all workers summed) with the peers."""
        self._channel.tell("digest", {"digest": digest})

    def digests(self) -> dict[str, dict[str, Any]]:
        """The peers' newest figures and this node's other workers' (``node.wN``)."""
        return self._digests

    # ---- what a worker asks the supervisor for ------------------------------------------

    async def request_key_material(self) -> bool:
        """Key material from the supervisor (which has it, or gets it from a peer)."""
        try:
            blob = await self._channel.request("key_material", wait=NOTICE_TIMEOUT)
        except ChannelError as exc:
            log.warning("key material request failed", error=str(exc))
            return False
        if not isinstance(blob, str):
            return False
        await self._hooks.import_key_material(base64.b64decode(blob))
        return True

    async def others_metrics(self) -> list[dict[str, Any]]:
        """The node's other workers' metric snapshots (for one exposition per node)."""
        answer = await self._channel.request("metrics", wait=5.0)
        return [s for s in answer if isinstance(s, dict)] if isinstance(answer, list) else []

    # ---- what the supervisor asks of this worker -----------------------------------------

    async def _handle(self, _sender: str, op: str, args: dict[str, Any]) -> Any:
        gateway, hooks = self._gateway, self._hooks
        if op == "state":
            self._adopt(args.get("status"))
            return {"pid": os.getpid(), "in_flight": gateway.metrics.in_flight,
                    "key_version": hooks.key_version(),
                    "needs_key_material": hooks.needs_key_material()}
        if op == "change":
            await hooks.on_change(str(args.get("kind")), str(args.get("item")))
            return True
        if op == "key_version":
            await hooks.on_key_version(int(args.get("version", 0)))
            return hooks.needs_key_material()
        if op == "export_key":
            blob = await hooks.export_key_material()
            return None if blob is None or hooks.needs_key_material() else \
                base64.b64encode(blob).decode()
        if op == "import_key":
            if hooks.needs_key_material():
                await hooks.import_key_material(base64.b64decode(str(args.get("blob"))))
            return True
        if op == "metrics":
            return gateway.metrics.snapshot()
        raise ValueError(f"unknown operation {op!r}")
