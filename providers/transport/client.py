"""``ClientPool``: the upstream HTTP client, with keep-alive pools per origin and proxy.

Every upstream call on the request path is a POST of a JSON body, so the client does exactly
that and little more (the admin API's model lists are a GET without a body): a ``Target``
precomputes the request line and the provider's fixed headers once, a request is one
``transport.write``, and connections are reused per (proxy, scheme, host, port).
``providers.transport.dial`` opens the connections (direct, HTTP(S) proxy, SOCKS). Replacing
``aiohttp.ClientSession`` with this took about a third off the gateway's CPU per request
(see the README's Performance section).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from typing import Literal

from python_socks import ProxyError, ProxyTimeoutError
from yarl import URL

from providers.const import KEEPALIVE_SECONDS, USER_AGENT
from providers.errors import InvalidConfig, UpstreamTimeout, UpstreamUnreachable
from providers.transport.connection import Connection, UpstreamResponse
from providers.transport.dial import Origin, basic_auth, dial, is_socks

__all__ = ["ClientPool", "Method", "Target", "encode_headers"]

Method = Literal["POST", "GET"]


class Target:
    """One upstream URL of one provider, with its request head encoded once."""

    __slots__ = ("head", "host", "origin", "provider", "proxy_url", "sized")

    def __init__(self, provider: str, url: URL, headers: Mapping[str, str], proxy: str,
                 method: Method = "POST") -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidConfig(f"provider {provider!r}: {url} is not an http(s) URL",
                                provider=provider)
        port = url.port or (443 if url.scheme == "https" else 80)
        self.provider = provider
        self.host = url.host
        self.origin = Origin(proxy, url.scheme, url.host, port)
        self.proxy_url = URL(proxy) if proxy else None
        forward = self.proxy_url is not None and url.scheme == "http" and not is_socks(proxy)
        # Through an HTTP proxy a plain-http request names the whole URL and carries the
        # proxy's credentials itself; a tunnelled or SOCKS one looks like a direct one.
        line = str(url.with_user(None).with_fragment(None)) if forward else url.raw_path_qs
        fixed = {"Host": url.host_port_subcomponent or url.host, "User-Agent": USER_AGENT,
                 **headers}
        if forward and self.proxy_url is not None and self.proxy_url.user is not None:
            fixed["Proxy-Authorization"] = basic_auth(self.proxy_url)
        self.head = f"{method} {line} HTTP/1.1\r\n".encode("latin-1") + encode_headers(fixed)
        self.sized = method != "GET"  # a GET carries no body, so no Content-Length either


class ClientPool:
    """Owns every upstream connection; ``request`` is the one upstream call."""

    def __init__(self, *, keepalive: float = KEEPALIVE_SECONDS,
                 tls: ssl.SSLContext | None = None) -> None:
        self._keepalive = keepalive
        self._tls = tls
        self._idle: dict[Origin, list[Connection]] = {}
        self._open: set[Connection] = set()  # idle or not, until the socket closes
        self._closed = False

    def target(self, provider: str, url: URL, headers: Mapping[str, str],
               proxy: str = "", method: Method = "POST") -> Target:
        if proxy:
            check_proxy(provider, proxy)
        return Target(provider, url, headers, proxy, method)

    async def request(
        self, target: Target, body: bytes, extra: Mapping[str, str] | None = None, *,
        connect_timeout: float, total: float | None = None, idle: float | None = None,
    ) -> UpstreamResponse:
        """Send ``body`` to ``target``; returns once the status and headers arrived.

        ``total`` bounds the whole exchange including the body, ``idle`` each silence
        while reading. A reused connection that closes before any answer is retried once on
        a fresh one: almost always an upstream that dropped an idle keep-alive connection as
        the request went out. A fresh connection is never retried.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total if total is not None else None
        data = b"".join((
            target.head,
            encode_headers(extra) if extra else b"",
            b"Content-Length: %d\r\n\r\n" % len(body) if target.sized else b"\r\n",
            body,
        ))
        for attempt in (0, 1):
            conn = self._take(target.origin, loop)
            if conn is None:
                conn = await self._connect(target, loop, connect_timeout)
            response = UpstreamResponse(conn, target.provider, target.host, deadline, idle)
            try:
                conn.send(data, response)
                await response.wait_headers()
            except UpstreamUnreachable:
                conn.abort()
                if attempt == 0 and conn.reused and not response.status:
                    continue
                raise
            except BaseException:
                conn.abort()
                raise
            return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close every connection (idempotent); in-flight requests fail as unreachable."""
        self._closed = True
        self._idle.clear()
        for conn in list(self._open):
            conn.abort()
        await asyncio.sleep(0)  # let the transports run connection_lost

    def idle_connections(self) -> int:
        return sum(len(conns) for conns in self._idle.values())

    def _take(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> Connection | None:
        conns = self._idle.get(origin)
        oldest = loop.time() - self._keepalive
        while conns:
            conn = conns.pop()
            if conn.usable and conn.idle_since >= oldest:
                return conn
            conn.abort()
        return None

    def _give_back(self, origin: Origin) -> Callable[[Connection], None]:
        def give_back(conn: Connection) -> None:
            if self._closed:
                conn.abort()
            else:
                self._idle.setdefault(origin, []).append(conn)
        return give_back

    async def _connect(self, target: Target, loop: asyncio.AbstractEventLoop,
                       limit: float) -> Connection:
        if self._closed:
            raise UpstreamUnreachable(f"provider {target.provider!r}: the gateway is stopping",
                                      provider=target.provider)
        origin = target.origin
        where = f"provider {target.provider!r} at {origin.host}"
        give_back = self._give_back(origin)

        def made() -> Connection:
            return Connection(loop, give_back, self._open.discard)

        try:
            async with asyncio.timeout(limit):
                conn = await dial(loop, origin, target.proxy_url, self._tls_context, made)
        except (TimeoutError, ProxyTimeoutError) as exc:
            raise UpstreamTimeout(f"{where} did not answer in time",
                                  provider=target.provider) from exc
        except (OSError, ProxyError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise UpstreamUnreachable(f"cannot connect to {where}: {reason}",
                                      provider=target.provider) from exc
        self._open.add(conn)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def check_proxy(provider: str, proxy: str) -> None:
    url = URL(proxy)
    if not url.host:
        raise InvalidConfig(f"providers.{provider}.proxy: {_redact(url)} names no host",
                            provider=provider)


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """``Name: value`` lines; a CR, LF or NUL anywhere would split the request, so no."""
    lines = []
    for name, value in headers.items():
        line = f"{name}: {value}\r\n"
        if any(c in line[:-2] for c in "\r\n\0"):
            raise InvalidConfig(f"header {name!r} holds a line break or NUL")
        lines.append(line)
    return "".join(lines).encode("latin-1", "replace")


def _redact(url: URL) -> str:
    return str(url.with_password("***")) if url.password else str(url)
