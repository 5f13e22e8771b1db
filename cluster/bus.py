"""The sealed peer bus: one ZeroMQ ROUTER (bound) plus one DEALER per peer, per-peer replies.

Not PUB/SUB: a subscriber that is still connecting loses messages and nobody knows (notes
§2.1). A request goes out on the peer's DEALER; the peer's ROUTER hands it to ``handler`` and
sends the reply (ACK or KEY_REPLY) back to the same DEALER, where it resolves a future keyed by
message id. DEALERs use IMMEDIATE (no silent queueing to a peer that is not connected) and
LINGER 0 (shutdown never waits); the ROUTER uses ROUTER_MANDATORY so a reply to a vanished
peer raises EHOSTUNREACH, which is counted instead of silently dropped. ZeroMQ errors become
``BusError`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import zmq
import zmq.asyncio

from cluster.errors import BusError, SealError
from cluster.messages import Message, MsgType
from cluster.seal import Opener, Sealer

log = structlog.get_logger("cluster.bus")

Handler = Callable[[Message], Awaitable[dict[str, Any]]]
SEND_HWM = 100


class _Link:
    """The DEALER towards one peer and the task reading its replies."""

    def __init__(self, socket: zmq.asyncio.Socket, endpoint: str) -> None:
        self.socket, self.endpoint = socket, endpoint
        self.reader: asyncio.Task[None] | None = None
        self.warned = False


class Bus:
    """Sealed request/reply messaging with every peer; see the module docstring."""

    def __init__(self, *, sealer: Sealer, opener: Opener, bind: str, port: int,
                 handler: Handler) -> None:
        self._sealer, self._opener, self._handler = sealer, opener, handler
        host = f"[{bind}]" if ":" in bind else bind
        self._endpoint = f"tcp://{host}:{port}"
        self._ipv6 = ":" in bind
        self._ctx: zmq.asyncio.Context | None = None
        self._router: zmq.asyncio.Socket | None = None
        self._links: dict[str, _Link] = {}
        self._pending: dict[bytes, asyncio.Future[Message]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counters: dict[str, int] = dict.fromkeys(
            ("sent", "unreachable", "noack", "unroutable", "handler_errors", "replies"), 0)

    @property
    def reject_counters(self) -> dict[str, int]:
        """Frames accepted and dropped by reason (forged, replayed, stale, backwards, ...)."""
        return dict(self._opener.counters)

    async def start(self) -> None:
        """Bind the ROUTER and start reading; ``BusError`` if the port cannot be bound."""
        self._ctx = zmq.asyncio.Context()
        router = self._ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.IPV6, int(self._ipv6))
        try:
            router.bind(self._endpoint)
        except zmq.ZMQError as exc:
            router.close(0)
            self._ctx.destroy(0)
            self._ctx = None
            raise BusError(f"cannot bind the bus on {self._endpoint}: {exc}") from exc
        self._router = router
        self._spawn(self._serve())

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def set_peers(self, endpoints: dict[str, str]) -> None:
        """Keep exactly one DEALER per peer name, reconnecting when its endpoint changed."""
        assert self._ctx is not None, "start() first"
        for name in list(self._links):
            if endpoints.get(name) != self._links[name].endpoint:
                self._close_link(self._links.pop(name))
        for name, endpoint in endpoints.items():
            if name in self._links:
                continue
            socket = self._ctx.socket(zmq.DEALER)
            for option, value in ((zmq.LINGER, 0), (zmq.IMMEDIATE, 1), (zmq.SNDHWM, SEND_HWM),
                                  (zmq.IPV6, int(endpoint.startswith("tcp://["))),
                                  (zmq.RECONNECT_IVL, 200), (zmq.RECONNECT_IVL_MAX, 2000)):
                socket.setsockopt(option, value)
            socket.connect(endpoint)
            link = _Link(socket, endpoint)
            link.reader = self._spawn(self._read_replies(link))
            self._links[name] = link

    def _close_link(self, link: _Link) -> None:
        if link.reader is not None:
            link.reader.cancel()
        link.socket.close(0)

    @property
    def peers(self) -> list[str]:
        """Names of the peers the bus currently has a DEALER for."""
        return sorted(self._links)

    async def request(self, peer: str, kind: MsgType, payload: dict[str, Any],
                      wait: float) -> Message | None:
        """Send one sealed request to ``peer``; its reply, or None (unreachable or no reply)."""
        link = self._links.get(peer)
        if link is None:
            return None
        msg_id, frames = self._sealer.seal(kind, payload)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            try:
                await link.socket.send_multipart(frames, flags=zmq.NOBLOCK)
            except zmq.Again:
                self.counters["unreachable"] += 1
                self._warn_once(link, peer, "not connected")
                return None
            except zmq.ZMQError as exc:
                raise BusError(f"send to {peer} failed: {exc}", peer=peer) from exc
            self.counters["sent"] += 1
            try:
                reply = await asyncio.wait_for(future, wait)
            except TimeoutError:
                self.counters["noack"] += 1
                self._warn_once(link, peer, "no reply")
                return None
            link.warned = False
            return reply
        finally:
            self._pending.pop(msg_id, None)

    def _warn_once(self, link: _Link, peer: str, why: str) -> None:
        # An unreachable peer would otherwise log every ping: warn once, then debug.
        (log.debug if link.warned else log.warning)("bus peer unreachable", peer=peer, reason=why)
        link.warned = True

    async def broadcast(self, kind: MsgType, payload: dict[str, Any], wait: float,
                        peers: list[str] | None = None) -> dict[str, Message | None]:
        """Send to every peer (or ``peers``) in parallel; reply or None per peer."""
        names = self.peers if peers is None else peers
        replies = await asyncio.gather(*(self.request(n, kind, payload, wait) for n in names))
        return dict(zip(names, replies, strict=True))

    async def _read_replies(self, link: _Link) -> None:
        while True:
            frames = await link.socket.recv_multipart()
            try:
                message = self._opener.open(frames)
            except SealError as exc:
                log.debug("reply frame dropped", reason=exc.reason)
                continue
            try:
                ref = bytes.fromhex(str(message.payload.get("ref", "")))
            except ValueError:
                continue
            future = self._pending.get(ref)
            if message.type.is_reply and future is not None and not future.done():
                self.counters["replies"] += 1
                future.set_result(message)

    async def _serve(self) -> None:
        assert self._router is not None
        while True:
            identity, *frames = await self._router.recv_multipart()
            try:
                message = self._opener.open(frames)
            except SealError as exc:
                log.debug("frame dropped", reason=exc.reason)
                continue
            if not message.type.is_reply:
                self._spawn(self._answer(identity, message))

    async def _answer(self, identity: bytes, message: Message) -> None:
        try:
            payload = await self._handler(message)
        except Exception as exc:  # a failing hook must not kill the bus; the sender sees ok=False
            self.counters["handler_errors"] += 1
            log.exception("bus handler failed", message=message.type.name,
                          sender=message.header.sender)
            payload = {"ok": False, "error": type(exc).__name__}
        kind = MsgType.KEY_REPLY if message.type is MsgType.KEY_REQUEST else MsgType.ACK
        _, frames = self._sealer.seal(kind, {**payload, "ref": message.header.msg_id.hex()})
        if self._router is None:
            return
        try:
            await self._router.send_multipart([identity, *frames], flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH (ROUTER_MANDATORY) or a full pipe
            self.counters["unroutable"] += 1
            log.debug("reply not routable", peer=message.header.sender, error=str(exc))

    async def stop(self) -> None:
        """Cancel the readers, close every socket with linger 0 and destroy the context."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for link in self._links.values():
            link.socket.close(0)
        self._links.clear()
        if self._router is not None:
            self._router.close(0)
            self._router = None
        if self._ctx is not None:
            self._ctx.destroy(0)
            self._ctx = None
