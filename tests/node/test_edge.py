"""The HTTP edge under slow and malformed clients, on a real listening socket: heads and
bodies that take too long, idle connections, parser errors that must not echo what was sent,
undecodable bodies, and the Server header."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from backports import zstd  # what makes aiohttp decode zstd before Python 3.14
from structlog.testing import capture_logs

from node.app import create_app
from node.config import parse_settings
from node.edge import GuardedSite
from tests.node.harness import settings_tree

TIMEOUTS = {"header_timeout": "1s", "body_timeout": "1s", "idle_timeout": "2s"}


@asynccontextmanager
async def edge_node() -> AsyncIterator[tuple[int, str]]:
    """A node served the way ``atgw serve`` serves it; yields (port, gateway key)."""
    said: list[str] = []
    settings = parse_settings(settings_tree(server=TIMEOUTS))
    runner = web.AppRunner(create_app(settings, say=said.append), handler_cancellation=True,
                           shutdown_timeout=1)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, head_timeout=1.0, idle_timeout=2.0)
    await site.start()
    key = next(line.rsplit(" ", 1)[1] for line in said if "gateway API key" in line)
    try:
        yield site.port, key
    finally:
        await runner.cleanup()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent until it closed the connection (fails if it does not)."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_a_trickled_head_is_cut_off() -> None:
    async with edge_node() as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        closed = asyncio.ensure_future(_closed_within(reader, 4))
        for i in range(20):  # one header line every 0.3 s: never a complete head
            if closed.done():
                break
            writer.write(f"X-Slow-{i}: y\r\n".encode())
            await asyncio.sleep(0.3)
        assert await closed == b""
        writer.close()


async def test_a_trickled_body_is_408_in_the_dialect() -> None:
    async with edge_node() as (port, key):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\nx-api-key: " + key.encode() + b"\r\n\r\n{")
        answer = await asyncio.wait_for(reader.read(4096), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"type":"error"' in answer  # Anthropic's error shape


async def test_an_idle_connection_is_closed() -> None:
    async with edge_node() as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(reader.read(), 6)  # then nothing: closed after idle_timeout
        writer.close()


async def test_a_malformed_request_is_not_echoed() -> None:
    async with edge_node() as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # An obs-folded Authorization header: invalid in HTTP/1.1, and a secret.
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n"
                     b" sk-secret-folded-4242\r\nX-Bad\x01: \x7fsk-secret-ctl\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.split(b" ", 2)[1] == b"400"
    assert b"sk-secret" not in answer
    assert b"Server: at-gateway\r\n" in answer


async def test_server_header_and_undecodable_body() -> None:
    connector = aiohttp.TCPConnector(force_close=True)
    async with edge_node() as (port, key), aiohttp.ClientSession(connector=connector) as session:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {key}", "Content-Encoding": "gzip",
                   "Content-Type": "application/json"}
        async with session.post(url, data=b"not gzip at all", headers=headers) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["type"] == "invalid_request_error"
            assert resp.headers["Server"] == "at-gateway"
        body = gzip.compress(b'{"model": "demo/mock-1", "messages": '
                             b'[{"role": "user", "content": "hi"}]}')
        async with session.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200  # a well-encoded body still works
            assert resp.headers["Server"] == "at-gateway"


async def test_zstd_bodies_are_read_and_broken_ones_are_400_in_the_dialect() -> None:
    """Every Content-Encoding aiohttp knows is decodable here: zstd once answered a plain-text
    400 naming a package to install, in no dialect's shape."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with edge_node() as (port, key), aiohttp.ClientSession(connector=connector) as session:
        headers = {"x-api-key": key, "Content-Encoding": "zstd",
                   "Content-Type": "application/json", "anthropic-version": "2023-06-01"}
        url = f"http://127.0.0.1:{port}/v1/messages"
        body = zstd.compress(b'{"model": "demo/mock-1", "max_tokens": 5, "messages": '
                             b'[{"role": "user", "content": "hi"}]}')
        async with session.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        async with session.post(url, data=b"not zstd at all", headers=headers) as resp:
            assert resp.status == 400
            answer = await resp.json()
    assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error"
    assert "could not be decoded" in answer["error"]["message"]


async def test_server_errors_escaping_the_app_are_logged_as_such() -> None:
    """What escapes every middleware (none here) is answered by the edge: a server error is
    logged at error with its trace, and a 504 is not called an internal error."""

    async def slow(request: web.Request) -> web.Response:
        raise TimeoutError

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, head_timeout=1.0, idle_timeout=2.0)
    await site.start()
    answers = {}
    try:
        with capture_logs() as logs:
            async with aiohttp.ClientSession() as session:
                for path in ("slow", "broken"):
                    async with session.get(f"http://127.0.0.1:{site.port}/{path}") as resp:
                        answers[path] = (resp.status, await resp.text())
    finally:
        await runner.cleanup()
    assert answers == {"slow": (504, "Gateway Timeout\n"),
                       "broken": (500, "Internal Server Error\n")}
    errors = [e for e in logs if e["event"] == "server error"]
    assert [(e["log_level"], e["status"]) for e in errors] == [("error", 504), ("error", 500)]
    assert isinstance(errors[1]["exc_info"], RuntimeError)
    assert not [e for e in logs if e["event"] == "malformed request"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
async def test_an_undecodable_body_leaves_no_trace_in_the_log(
        encoding: str, caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp drained the rest of such a body after the 400 and logged the decoding error
    as an unhandled exception: any client could fill the log with traces. The connection
    closes after the answer instead (the body's remaining bytes cannot be framed)."""
    async with edge_node() as (port, key):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        junk = b"not compressed at all " * 4
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + key.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Encoding: " +
                     encoding.encode() + b"\r\nContent-Length: " + str(len(junk)).encode() +
                     b"\r\n\r\n" + junk)
        with caplog.at_level(logging.DEBUG, logger="aiohttp"):
            answer = await _closed_within(reader, 5)  # closed after the answer
            await asyncio.sleep(0.1)
        writer.close()
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]
    assert b"could not be decoded" in answer
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not unhandled, [r.getMessage() for r in unhandled]
