"""Opening an upstream connection: directly, through SOCKS, or through an HTTP(S) proxy.

Through an HTTP proxy, a plain-http origin is reached by forward requests on a connection to
the proxy; an https origin by a CONNECT tunnel, then TLS to the origin inside it (TLS inside
TLS when the proxy itself is ``https://``).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable
from typing import Final, NamedTuple, cast

from python_socks import ProxyError
from python_socks.async_.asyncio import Proxy as SocksProxy
from yarl import URL

from providers.transport.connection import Connection

__all__ = ["Origin", "basic_auth", "dial", "is_socks"]

SOCKS_SCHEMES: Final = ("socks4://", "socks5://", "socks5h://")
TUNNEL_REPLY_LIMIT: Final = 16 * 1024


class Origin(NamedTuple):
    proxy: str
    scheme: str
    host: str
    port: int


def is_socks(proxy: str) -> bool:
    return proxy.startswith(SOCKS_SCHEMES)


def basic_auth(proxy: URL) -> str:
    token = base64.b64encode(f"{proxy.user or ''}:{proxy.password or ''}".encode()).decode()
    return f"Basic {token}"


async def dial(loop: asyncio.AbstractEventLoop, origin: Origin, proxy: URL | None,
               tls: Callable[[], ssl.SSLContext], factory: Callable[[], Connection],
               ) -> Connection:
    """A connected ``Connection`` to ``origin`` (raises OSError or ProxyError)."""
    origin_tls = tls() if origin.scheme == "https" else None
    name = origin.host if origin_tls else None
    if proxy is None:
        _, conn = await loop.create_connection(factory, origin.host, origin.port,
                                               ssl=origin_tls, server_hostname=name)
        return conn
    if is_socks(origin.proxy):
        sock = await SocksProxy.from_url(origin.proxy).connect(origin.host, origin.port)
        _, conn = await loop.create_connection(factory, sock=sock, ssl=origin_tls,
                                               server_hostname=name)
        return conn
    proxy_tls = tls() if proxy.scheme == "https" else None
    proxy_host, proxy_port = proxy.host or "", proxy.port or 80
    proxy_name = proxy_host if proxy_tls else None
    if origin_tls is None:  # forward requests, absolute URLs, on a connection to the proxy
        _, conn = await loop.create_connection(factory, proxy_host, proxy_port,
                                               ssl=proxy_tls, server_hostname=proxy_name)
        return conn
    transport, tunnel = await loop.create_connection(
        lambda: _Tunnel(loop, origin, proxy), proxy_host, proxy_port,
        ssl=proxy_tls, server_hostname=proxy_name)
    try:
        await tunnel.established
        conn = factory()
        inner = await loop.start_tls(transport, conn, origin_tls, server_hostname=origin.host)
    except BaseException:
        transport.abort()
        raise
    if inner is None:
        raise ProxyError("the tunnel closed during the TLS handshake")
    conn.connection_made(inner)
    return conn


class _Tunnel(asyncio.Protocol):
    """Sends CONNECT and reads the proxy's answer up to its blank line."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin, proxy: URL) -> None:
        self.established: asyncio.Future[None] = loop.create_future()
        self._reply = b""
        authority = f"{origin.host}:{origin.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.user is not None:
            lines.append(f"Proxy-Authorization: {basic_auth(proxy)}")
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The proxy says nothing before the client's TLS hello, so its answer ends at the
        # blank line and nothing after it is lost when TLS takes the transport over.
        cast(asyncio.Transport, transport).write(self._request)

    def data_received(self, data: bytes) -> None:
        if self.established.done():
            return
        self._reply += data
        if b"\r\n\r\n" not in self._reply:
            if len(self._reply) > TUNNEL_REPLY_LIMIT:
                self.established.set_exception(ProxyError("the proxy's CONNECT answer is too long"))
            return
        status_line = self._reply.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            self.established.set_exception(ProxyError(f"the proxy refused CONNECT: {status_line}"))
        else:
            self.established.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.established.done():
            self.established.set_exception(
                ProxyError("the proxy closed the connection during CONNECT"))
