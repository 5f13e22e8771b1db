"""The upstream HTTP client: pooled sessions, proxies, and the one place where aiohttp's
exceptions and upstream non-2xx answers become ``ProviderError`` subclasses."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver
from aiohttp_socks import ProxyConnector, ProxyError
from yarl import URL

from providers.const import (
    DNS_CACHE_SECONDS,
    ERROR_BODY_LIMIT,
    ERROR_MESSAGE_LIMIT,
    KEEPALIVE_SECONDS,
)
from providers.errors import (
    InvalidConfig,
    ProviderError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = [
    "ClientPool",
    "Route",
    "error_message",
    "map_client_errors",
    "raise_for_status",
    "translate_client_error",
    "upstream_error",
]


@dataclass(frozen=True, slots=True)
class Route:
    """How to reach an upstream: the session plus the per-request proxy arguments."""

    session: aiohttp.ClientSession
    proxy: URL | None = None
    proxy_headers: Mapping[str, str] | None = None


class ClientPool:
    """Owns one pooled ``aiohttp.ClientSession`` plus one per SOCKS proxy URL.

    HTTP(S) proxies share the direct session through aiohttp's ``proxy=`` argument (its
    connection pool is keyed by proxy); SOCKS proxies need their own connector. Sessions
    are created on first use, inside the running loop. ``resolver`` lets tests send
    public host names to a loopback fake.
    """

    def __init__(self, *, limit: int = 0, resolver: AbstractResolver | None = None) -> None:
        self._limit = limit
        self._resolver = resolver
        self._direct: aiohttp.ClientSession | None = None
        self._routes: dict[str, Route] = {}
        self._closed = False

    def route(self, proxy: str = "") -> Route:
        """Return the route for ``proxy`` ("" = direct), creating its session once."""
        found = self._routes.get(proxy)
        if found is not None:
            return found
        if self._closed:
            raise RuntimeError("ClientPool is closed")
        if not proxy:
            made = Route(self._direct_session())
        elif proxy.startswith(("socks4://", "socks5://", "socks5h://")):
            made = Route(self._session(self._socks_connector(proxy)))
        else:
            made = _http_proxy_route(self._direct_session(), proxy)
        self._routes[proxy] = made
        return made

    async def aclose(self) -> None:
        """Close every session (idempotent); in-flight requests fail as unreachable."""
        self._closed = True
        sessions = {route.session for route in self._routes.values()}
        if self._direct is not None:
            sessions.add(self._direct)
        self._routes.clear()
        self._direct = None
        for session in sessions:
            await session.close()

    def _direct_session(self) -> aiohttp.ClientSession:
        if self._direct is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                ttl_dns_cache=DNS_CACHE_SECONDS,
                keepalive_timeout=KEEPALIVE_SECONDS,
                resolver=self._resolver,
            )
            self._direct = self._session(connector)
        return self._direct

    def _socks_connector(self, proxy: str) -> aiohttp.BaseConnector:
        try:
            connector: aiohttp.BaseConnector = ProxyConnector.from_url(
                proxy,
                limit=self._limit,
                ttl_dns_cache=DNS_CACHE_SECONDS,
                keepalive_timeout=KEEPALIVE_SECONDS,
                resolver=self._resolver,
            )
        except ValueError as exc:
            raise InvalidConfig(f"bad proxy URL {_redact(proxy)}: {exc}") from exc
        return connector

    @staticmethod
    def _session(connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        # trust_env off: the config's proxy is the only proxy; HTTP_PROXY must not leak in.
        return aiohttp.ClientSession(connector=connector, trust_env=False)


def _http_proxy_route(session: aiohttp.ClientSession, proxy: str) -> Route:
    url = URL(proxy)
    if not url.host:
        raise InvalidConfig(f"bad proxy URL {_redact(proxy)}: no host")
    headers = None
    if url.user is not None:
        # aiohttp deprecates proxy_auth and BasicAuth; the header is all they ever sent.
        token = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()
        headers = {"Proxy-Authorization": f"Basic {token}"}
    return Route(session, url.with_user(None), headers)


def _redact(url: str) -> str:
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


def translate_client_error(provider: str, exc: BaseException, host: str = "") -> ProviderError:
    """Map one aiohttp / socket / timeout exception to the matching ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    where = f"provider {provider!r}" + (f" at {host}" if host else "")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return UpstreamTimeout(f"{where} did not answer in time", provider=provider)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnreachable(
            f"cannot connect to {where}: {exc.os_error.strerror or exc}", provider=provider
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamUnreachable(
            f"{where} dropped the connection mid-response", provider=provider
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamUnreachable(f"{where} closed the connection", provider=provider)
    return UpstreamUnreachable(f"cannot reach {where}: {exc}", provider=provider)


@contextmanager
def map_client_errors(provider: str, host: str = "") -> Iterator[None]:
    """Re-raise aiohttp, socket and proxy failures inside the block as ProviderErrors.

    Connect/OS/disconnect errors become ``UpstreamUnreachable`` (naming the provider and
    host), ``asyncio.TimeoutError`` becomes ``UpstreamTimeout``; ProviderErrors pass.
    """
    try:
        yield
    except ProviderError:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError, ProxyError) as exc:
        # ProxyError: python-socks' own (non-OSError) error for a refused SOCKS handshake.
        raise translate_client_error(provider, exc, host) from exc


def upstream_error(
    provider: str, status: int, body: bytes, retry_after: str | None = None
) -> UpstreamError:
    """Build the error for an upstream non-2xx answer, with the upstream's own message."""
    detail = error_message(body) or f"HTTP {status}"
    message = f"upstream {provider!r} answered {status}: {detail}"
    if status == 429:
        return UpstreamRateLimited(
            message, provider=provider, retry_after=retry_after, upstream_status=status
        )
    if 400 <= status < 500:
        return UpstreamClientError(
            message, provider=provider, status=status, upstream_status=status
        )
    return UpstreamServerError(message, provider=provider, upstream_status=status)


async def raise_for_status(provider: str, resp: aiohttp.ClientResponse) -> None:
    """Raise ``upstream_error`` for a non-2xx response, after reading (part of) its body."""
    if 200 <= resp.status < 300:
        return
    body = b""
    try:
        with map_client_errors(provider, resp.url.host or ""):
            body = await resp.content.read(ERROR_BODY_LIMIT)
    except ProviderError:
        pass  # the status alone still says what happened
    finally:
        # Keep the connection for the next request (429 storms) unless the body was cut.
        if resp.content.at_eof():
            resp.release()
        else:
            resp.close()
    raise upstream_error(provider, resp.status, body, resp.headers.get("Retry-After"))


def error_message(body: bytes) -> str:
    """Find the human message in an upstream error body (OpenAI, Anthropic, Gemini)."""
    if not body:
        return ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _clip(body.decode("utf-8", "replace").strip())
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            err = err.get("message") or err.get("error") or ""
        if isinstance(err, str) and err:
            return _clip(err)
        if isinstance(data.get("message"), str):
            return _clip(data["message"])
    return _clip(body.decode("utf-8", "replace").strip())


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= ERROR_MESSAGE_LIMIT:
        return text
    return text[: ERROR_MESSAGE_LIMIT - 3] + "..."
