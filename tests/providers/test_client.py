"""The upstream HTTP client against a server that writes exact bytes: framing, keep-alive,
stale connections, truncation, garbage, timeouts, cancellation and shutdown."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from yarl import URL

from providers import ClientPool, InvalidConfig, UpstreamTimeout, UpstreamUnreachable
from providers.transport.client import Target, encode_headers
from providers.transport.connection import PAUSE_BYTES
from tests.fakes.raw_http import RawServer, Step

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


def _chunked(*parts: bytes) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n")


async def _post(pool: ClientPool, server: RawServer, *, total: float | None = 5.0,
                idle: float | None = None, extra: dict[str, str] | None = None) -> bytes:
    target = pool.target("up", URL(server.url), {"Content-Type": "application/json"})
    resp = await pool.request(target, b'{"a":1}', extra, connect_timeout=2.0,
                              total=total, idle=idle)
    try:
        return await resp.read()
    finally:
        resp.release()


@pytest.fixture
async def server() -> RawServer:
    async with RawServer() as raw:
        yield raw  # type: ignore[misc]


async def test_request_bytes_and_keep_alive(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(OK), Step(OK))
    assert await _post(pool, server, extra={"anthropic-beta": "x"}) == b'{"ok":true}'
    assert pool.idle_connections() == 1
    assert await _post(pool, server) == b'{"ok":true}'
    assert server.connections == 1
    first = server.requests[0][1]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in first
    assert b"Content-Length: 7\r\n\r\n{\"a\":1}" in first
    assert b"anthropic-beta: x\r\n" in first and b"anthropic-beta" not in server.requests[1][1]


async def test_close_after_release_keeps_the_connection(
    pool: ClientPool, server: RawServer
) -> None:
    """A stream's owner closes it after the relay released it: the pooled connection stays."""
    server.push(Step(_chunked(b"data: [DONE]\n\n")), Step(OK))
    target = pool.target("up", URL(server.url), {})
    resp = await pool.request(target, b"{}", connect_timeout=2.0)
    assert await resp.read() == b"data: [DONE]\n\n"
    resp.release()
    resp.close()
    assert pool.idle_connections() == 1
    await _post(pool, server)
    assert server.connections == 1


async def test_chunked_body_is_decoded(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(_chunked(b"data: 1\n\n", b"data: 2\n\n")))
    assert await _post(pool, server) == b"data: 1\n\ndata: 2\n\n"
    assert pool.idle_connections() == 1


async def test_body_until_close_without_length(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"x\":2}", close=True))
    assert await _post(pool, server) == b'{"x":2}'
    assert pool.idle_connections() == 0


async def test_connection_close_is_not_pooled(pool: ClientPool, server: RawServer) -> None:
    reply = OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
    server.push(Step(reply, close=True), Step(OK))
    await _post(pool, server)
    assert pool.idle_connections() == 0
    await _post(pool, server)
    assert server.connections == 2


async def test_gzip_body_is_inflated(pool: ClientPool, server: RawServer) -> None:
    packed = gzip.compress(b'{"zipped":true}')
    server.push(Step(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                     % len(packed) + packed))
    assert await _post(pool, server) == b'{"zipped":true}'


async def test_interim_100_continue_is_skipped(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
    assert await _post(pool, server) == b'{"ok":true}'


async def test_big_body_pauses_and_resumes(pool: ClientPool, server: RawServer) -> None:
    body = b"x" * (3 * PAUSE_BYTES + 17)
    server.push(Step(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body))
    assert await _post(pool, server) == body


async def test_stale_reused_connection_is_retried_once(
    pool: ClientPool, server: RawServer
) -> None:
    """The upstream drops an idle keep-alive connection as the next request arrives."""
    server.push(Step(OK), Step(b"", close=True), Step(OK))
    await _post(pool, server)
    assert await _post(pool, server) == b'{"ok":true}'
    assert [number for number, _ in server.requests] == [1, 1, 2]


async def test_fresh_connection_closed_is_not_retried(
    pool: ClientPool, server: RawServer
) -> None:
    server.push(Step(b"", close=True), Step(OK))
    with pytest.raises(UpstreamUnreachable, match=r"'up' at 127\.0\.0\.1 closed the connection"):
        await _post(pool, server)
    assert len(server.requests) == 1


async def test_truncated_body(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"cut", close=True))
    with pytest.raises(UpstreamUnreachable, match="truncated"):
        await _post(pool, server)
    assert pool.idle_connections() == 0


async def test_truncated_body_with_connection_close(
    pool: ClientPool, server: RawServer
) -> None:
    cut = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\n\r\n{"
    server.push(Step(cut, close=True))
    with pytest.raises(UpstreamUnreachable, match="truncated"):
        await _post(pool, server)


async def test_garbage_is_a_malformed_response(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"))
    with pytest.raises(UpstreamUnreachable, match="malformed HTTP response"):
        await _post(pool, server)


async def test_total_timeout(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(OK, delay=2.0))
    with pytest.raises(UpstreamTimeout, match=r"'up' at 127\.0\.0\.1 did not answer in time"):
        await _post(pool, server, total=0.2)
    assert pool.idle_connections() == 0


async def test_idle_timeout_between_reads(pool: ClientPool, server: RawServer) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    server.push(Step(head))  # ... and then silence
    target = pool.target("up", URL(server.url), {})
    resp = await pool.request(target, b"{}", connect_timeout=2.0, idle=0.2)
    assert await resp.readany() == b"hello"
    with pytest.raises(UpstreamTimeout):
        await resp.readany()


async def test_cancelled_wait_drops_the_connection(pool: ClientPool, server: RawServer) -> None:
    server.push(Step(OK, delay=5.0))
    task = asyncio.create_task(_post(pool, server))
    while not server.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.idle_connections() == 0


async def test_refused_connection_names_provider_and_host(pool: ClientPool) -> None:
    target = pool.target("up", URL("http://127.0.0.1:1/v1/chat/completions"), {})
    expected = r"cannot connect to provider 'up' at 127\.0\.0\.1"
    with pytest.raises(UpstreamUnreachable, match=expected):
        await pool.request(target, b"{}", connect_timeout=2.0)


async def test_closed_pool_refuses_and_close_is_idempotent(server: RawServer) -> None:
    pool = ClientPool()
    server.push(Step(OK))
    await _post(pool, server)
    assert pool.idle_connections() == 1
    await pool.aclose()
    await pool.aclose()
    assert pool.idle_connections() == 0
    with pytest.raises(UpstreamUnreachable, match="stopping"):
        await _post(pool, server)


async def test_closing_the_pool_cuts_a_body_in_flight(server: RawServer) -> None:
    pool = ClientPool()
    server.push(Step(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"))
    target = pool.target("up", URL(server.url), {})
    resp = await pool.request(target, b"{}", connect_timeout=2.0)
    assert await resp.readany() == b"abc"
    await pool.aclose()
    with pytest.raises(UpstreamUnreachable, match="truncated"):
        await resp.readany()


def test_header_values_cannot_split_the_request() -> None:
    with pytest.raises(InvalidConfig, match="line break"):
        encode_headers({"x-evil": "a\r\nHost: elsewhere"})
    with pytest.raises(InvalidConfig, match="line break"):
        Target("up", URL("http://h/v1"), {"Authorization": "Bearer k\n"}, "")


def test_forward_proxy_target_uses_absolute_form_and_credentials() -> None:
    target = Target("up", URL("http://api.local:8000/v1/chat/completions"), {},
                    "http://u:pw@proxy:3128")
    assert target.head.startswith(b"POST http://api.local:8000/v1/chat/completions HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic dTpwdw==\r\n" in target.head
    tunnelled = Target("up", URL("https://api.local/v1/x?y=1"), {}, "http://u:pw@proxy:3128")
    assert tunnelled.head.startswith(b"POST /v1/x?y=1 HTTP/1.1\r\nHost: api.local\r\n")
    assert b"Proxy-Authorization" not in tunnelled.head


def test_under_uvloop() -> None:
    """The node runs on uvloop, whose transports are not asyncio.Transport subclasses."""
    import uvloop

    async def exchange() -> tuple[bytes, bytes, int]:
        pool = ClientPool()
        try:
            async with RawServer() as raw:
                raw.push(Step(OK), Step(_chunked(b"data: 1\n\n")))
                first, second = await _post(pool, raw), await _post(pool, raw)
                return first, second, raw.connections
        finally:
            await pool.aclose()

    assert uvloop.run(exchange()) == (b'{"ok":true}', b"data: 1\n\n", 1)
