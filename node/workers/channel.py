"""The local channel between a node's supervisor and its workers: JSON requests over ZeroMQ IPC.

One ROUTER in the supervisor, one DEALER per worker (its ZeroMQ identity is the worker's
name), requests both ways: a worker asks the supervisor to tell the peers of a change or to
hold a cluster lock; the supervisor asks a worker to reload an item, for its metrics or its
state. A request is ``{"t": "q", "id": n, "op": name, "args": {...}}``; its answer is
``{"t": "a", "id": n, "ok": bool, "result" | "error": ...}``, matched to the waiting future by
id. The socket file lives in a directory only the node's user can enter (mode 0700), which is
what keeps other local users off it: the channel carries key material after a rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
import zmq
import zmq.asyncio

from node.errors import NodeError

log = structlog.get_logger("node.workers.channel")

Handler = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
"""``handler(sender, op, args) -> result`` (a JSON value); raise to answer ``ok: false``."""


class ChannelError(NodeError):
    """The other side did not answer in time, is gone, or answered with an error."""

    status = 503
    error_type = "service_unavailable"


class RemoteError(ChannelError):
    """The other side's handler raised; ``kind`` names its exception class."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Channel:
    """One end of the channel: the supervisor's ROUTER (``bind``) or a worker's DEALER."""

    def __init__(self, endpoint: str, handler: Handler, *, identity: str = "",
                 bind: bool = False) -> None:
        self._endpoint, self._handler, self._bind = endpoint, handler, bind
        self._identity = identity
        self._ctx: zmq.asyncio.Context | None = None
        self._socket: zmq.asyncio.Socket | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._encoder, self._decoder = msgspec.json.Encoder(), msgspec.json.Decoder()

    async def start(self) -> None:
        self._ctx = zmq.asyncio.Context()
        socket = self._ctx.socket(zmq.ROUTER if self._bind else zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        if self._bind:
            # A restarted worker comes back under its old name: take the name over.
            socket.setsockopt(zmq.ROUTER_HANDOVER, 1)
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
            socket.bind(self._endpoint)
        else:
            socket.setsockopt(zmq.IDENTITY, self._identity.encode())
            socket.connect(self._endpoint)
        self._socket = socket
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelError("the local channel closed"))
        self._pending.clear()
        if self._socket is not None:
            self._socket.close(0)
        if self._ctx is not None:
            self._ctx.term()
        self._socket = self._ctx = None

    async def request(self, op: str, args: dict[str, Any] | None = None, *, to: str = "",
                      wait: float = 5.0) -> Any:
        """Ask the other side (``to``: a worker's name, on the supervisor's end)."""
        if self._socket is None:
            raise ChannelError("the local channel is not open")
        number = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        try:
            await self._send(to, {"t": "q", "id": number, "op": op, "args": args or {}})
            return await asyncio.wait_for(future, wait)
        except TimeoutError as exc:
            raise ChannelError(f"no answer to {op!r} within {wait:g}s"
                               f"{' from ' + to if to else ''}") from exc
        finally:
            self._pending.pop(number, None)

    def tell(self, op: str, args: dict[str, Any], *, to: str = "") -> None:
        """Send without waiting for the answer (dropped, not raised, if it cannot go)."""
        if self._socket is None:
            return
        task = asyncio.create_task(self._told(to, {"t": "q", "id": 0, "op": op, "args": args}))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _told(self, to: str, message: dict[str, Any]) -> None:
        with contextlib.suppress(ChannelError):
            await self._send(to, message)

    async def _send(self, to: str, message: dict[str, Any]) -> None:
        assert self._socket is not None
        frames = [self._encoder.encode(message)]
        if self._bind:
            frames.insert(0, to.encode())
        try:
            await self._socket.send_multipart(frames)
        except zmq.ZMQError as exc:   # ROUTER_MANDATORY: that worker is not connected
            raise ChannelError(f"cannot reach {to or 'the supervisor'}: {exc}") from exc

    async def _read(self) -> None:
        assert self._socket is not None
        while True:
            frames = await self._socket.recv_multipart()
            sender = frames[0].decode() if self._bind else ""
            try:
                message = self._decoder.decode(frames[-1])
            except msgspec.DecodeError:
                log.warning("undecodable frame on the local channel", sender=sender)
                continue
            if message.get("t") == "a":
                future = self._pending.get(message.get("id", 0))
                if future is not None and not future.done():
                    if message.get("ok"):
                        future.set_result(message.get("result"))
                    else:
                        error = message.get("error") or {}
                        future.set_exception(RemoteError(str(error.get("kind", "")),
                                                         str(error.get("message", ""))))
                continue
            task = asyncio.create_task(self._answer(sender, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, sender: str, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"t": "a", "id": message.get("id")}
        try:
            result = await self._handler(sender, str(message.get("op")),
                                         message.get("args") or {})
            reply.update(ok=True, result=result)
        except Exception as exc:
            reply.update(ok=False, error={"kind": type(exc).__name__, "message": str(exc)})
        with contextlib.suppress(ChannelError):
            await self._send(sender, reply)
