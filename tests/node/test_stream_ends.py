"""How a stream ends when it does not end well: a client that stops reading is let go
after ``server.send_timeout`` instead of holding the exchange and its upstream for good,
and a relay broken by the unexpected is recorded as the failure it is."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from node.serve import Finished
from node.serve.exchange import Exchange
from node.serve.relay import relay
from providers import Usage
from tests.fakes.openai_upstream import FakeUpstream, Sse, chat_chunks
from tests.node.harness import Node, running_node, settings_tree

# About 24 MB of stream: far more than the loopback socket buffers hold.
BIG = Sse(chat_chunks(["x" * 65536] * 384))


async def _open_and_stall(node: Node) -> asyncio.StreamWriter:
    """Send a streaming request from a socket with a tiny receive buffer, read nothing."""
    host, port = node.url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    _, writer = await asyncio.open_connection(sock=sock)
    body = orjson.dumps({"model": "up/m", "stream": True,
                         "messages": [{"role": "user", "content": "hi"}]})
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {node.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    writer.write(head.encode() + body)
    await writer.drain()
    return writer


@pytest.mark.parametrize("keepalive", ["0s", "50ms"])
async def test_a_client_that_stops_reading_is_let_go(
    upstream: FakeUpstream, keepalive: str
) -> None:
    tree = settings_tree(
        server={"send_timeout": "300ms", "stream_keepalive": keepalive},
        providers={"up": {"type": "openai", "base_url": upstream.base_url, "model": "m",
                          "timeout": "30s"}},
    )
    async with running_node(tree) as node:
        seen: list[Finished] = []
        node.gateway.finished_hooks.append(seen.append)
        upstream.push(BIG)
        writer = await _open_and_stall(node)
        try:
            # The upstream connection is released although the client never read a byte.
            await asyncio.wait_for(upstream.disconnected.wait(), 10)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)
            assert len(seen) == 1 and seen[0].status == 499
        finally:
            writer.close()


class _Crashing:
    """A stream that breaks in a way nothing expects, after one chunk."""

    def __init__(self) -> None:
        self.usage = Usage(input_tokens=3)
        self.failed = False
        self.final = False
        self.error = ""
        self.arrived = False  # still arriving: the relay arms its heartbeat
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield b'data: {"choices": []}\n\n'
        raise RuntimeError("a bug in the relay's path")

    async def aclose(self) -> None:
        self.closed = True


async def test_a_relay_that_crashes_is_not_recorded_as_a_success() -> None:
    stream = _Crashing()

    async def crash(request: web.Request) -> web.StreamResponse:
        async with Exchange(request, "openai", "chat") as exchange:
            route = exchange.admit(exchange.resolve("demo/m"))
            exchange.stream = True
            assert route.provider_key == "demo"
            return await relay(exchange, stream, json_array=False)

    def extend(app: web.Application) -> None:
        app.router.add_post("/crash", crash)

    async with running_node(extend=extend) as node:
        seen: list[Finished] = []
        node.gateway.finished_hooks.append(seen.append)
        async with aiohttp.ClientSession() as session, session.post(
                node.url + "/crash", json={}, headers=node.auth()) as resp:
            with contextlib.suppress(aiohttp.ClientError):  # the answer breaks off mid-stream
                await resp.read()
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        assert stream.closed
        assert len(seen) == 1 and seen[0].status == 500 and seen[0].error == "RuntimeError"
