"""A client that stops reading a stream: the node gives up on it after
``server.send_timeout`` instead of holding the exchange and its upstream for good."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest

from node.serve import Finished
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
