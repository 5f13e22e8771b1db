"""The sealed bus with real ZeroMQ sockets on loopback (two buses in this process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import zmq
import zmq.asyncio
from structlog.testing import capture_logs

from cluster.bus import Bus
from cluster.messages import Message, MsgType
from cluster.seal import Opener, Sealer

from .conftest import free_ports

KEY = bytes(range(32))


class Node:
    def __init__(self, name: str, port: int, key: bytes = KEY, delay: float = 0.0) -> None:
        self.seen: list[Message] = []
        self.delay = delay
        self.bus = Bus(
            sealer=Sealer(key, cluster="c", sender=name, boot=time.time_ns()),
            opener=Opener(key, cluster="c", window=30.0),
            bind="127.0.0.1",
            port=port,
            handler=self.handle,
        )

    async def handle(self, message: Message) -> dict[str, Any]:
        self.seen.append(message)
        await asyncio.sleep(self.delay)
        return {"ok": True}


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Node, Node, int]]:
    pa, pb = free_ports(2)
    a, b = Node("a", pa), Node("b", pb)
    await a.bus.start()
    await b.bus.start()
    a.bus.set_peers({"b": f"tcp://127.0.0.1:{pb}"})
    try:
        yield a, b, pb
    finally:
        await a.bus.stop()
        await b.bus.stop()


async def _raw_dealer(port: int) -> tuple[zmq.asyncio.Context, zmq.asyncio.Socket]:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port}")
    await asyncio.sleep(0.1)
    return ctx, sock


async def _wait_request(
    a: Node, kind: MsgType = MsgType.PING, attempts: int = 50
) -> Message | None:
    for _ in range(attempts):  # the DEALER connects asynchronously (IMMEDIATE)
        reply = await a.bus.request("b", kind, {"kind": "k", "item": "i"}, 0.5)
        if reply is not None:
            return reply
        await asyncio.sleep(0.05)
    return None


async def test_request_reply_and_attacks_counted(pair: tuple[Node, Node, int]) -> None:
    a, b, pb = pair
    reply = await _wait_request(a, MsgType.CHANGE)
    assert reply is not None and reply.type is MsgType.ACK and reply.payload["ok"] is True
    ctx, raw = await _raw_dealer(pb)
    try:
        sealer = Sealer(KEY, cluster="c", sender="mallory", boot=1)
        _, frames = sealer.seal(MsgType.CHANGE, {"kind": "k", "item": "x"})
        await raw.send_multipart(frames)
        await raw.send_multipart(frames)  # replay
        _, frames = sealer.seal(MsgType.CHANGE, {"kind": "k", "item": "y"})
        await raw.send_multipart([frames[0], frames[1][:-1] + bytes([frames[1][-1] ^ 0x40])])
        _, frames = sealer.seal(MsgType.CHANGE, {}, sent_at=time.time() - 120)  # stale
        await raw.send_multipart(frames)
        _, frames = sealer.seal(MsgType.CHANGE, {}, seq=1)  # backwards
        await raw.send_multipart(frames)
        await asyncio.sleep(0.3)
    finally:
        ctx.destroy(0)
    counters = b.bus.reject_counters
    assert (counters["replayed"], counters["forged"], counters["stale"], counters["backwards"]) == (
        1,
        1,
        1,
        1,
    )
    # Only the genuine change and the first copy of mallory's frame reached the handler.
    assert [m.payload.get("item") for m in b.seen if m.type is MsgType.CHANGE] == ["i", "x"]


async def test_wrong_secret_no_communication() -> None:
    pa, pb = free_ports(2)
    a, b = Node("a", pa, key=bytes(32)), Node("b", pb)
    await a.bus.start()
    await b.bus.start()
    try:
        a.bus.set_peers({"b": f"tcp://127.0.0.1:{pb}"})
        await asyncio.sleep(0.3)
        assert await _wait_request(a, attempts=3) is None
        assert b.seen == [] and b.bus.reject_counters["forged"] >= 1
    finally:
        await a.bus.stop()
        await b.bus.stop()


async def test_unconnected_peer_fails_fast(pair: tuple[Node, Node, int]) -> None:
    a, _, _ = pair
    dead = free_ports(1)[0]
    a.bus.set_peers({"b": a.bus._links["b"].endpoint, "dead": f"tcp://127.0.0.1:{dead}"})
    started = time.monotonic()
    with capture_logs() as logs:
        assert await a.bus.request("dead", MsgType.PING, {}, 1.0) is None
        assert time.monotonic() - started < 0.1  # IMMEDIATE: no silent queueing
        assert await a.bus.request("dead", MsgType.PING, {}, 1.0) is None
    assert a.bus.counters["unreachable"] == 2
    # Warned once with the peer as a field, then quiet (debug) while it stays unreachable.
    assert [(e["event"], e["log_level"], e["peer"]) for e in logs] == [
        ("bus peer unreachable", "warning", "dead"), ("bus peer unreachable", "debug", "dead")]
    assert "reason" in logs[0]


async def test_reply_to_vanished_peer_is_counted() -> None:
    """Pitfall 19: ROUTER_MANDATORY turns a reply to a gone DEALER into a counted error."""
    pb = free_ports(1)[0]
    b = Node("b", pb, delay=0.3)
    await b.bus.start()
    try:
        ctx, raw = await _raw_dealer(pb)
        await raw.send_multipart(
            Sealer(KEY, cluster="c", sender="x", boot=1).seal(MsgType.PING, {})[1]
        )
        await asyncio.sleep(0.1)
        ctx.destroy(0)  # gone before the reply is ready
        await asyncio.sleep(0.5)
        assert b.bus.counters["unroutable"] == 1
    finally:
        await b.bus.stop()
