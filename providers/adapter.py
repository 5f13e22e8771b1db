"""``HttpAdapter``: what every HTTP upstream adapter shares (POST, timeouts, error mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from yarl import URL

from providers.const import ERROR_BODY_LIMIT
from providers.errors import InvalidConfig, UpstreamServerError
from providers.http import ClientPool, error_message, map_client_errors, raise_for_status
from providers.types import Dialect, ProviderConfig

__all__ = ["HttpAdapter", "check_base_url"]


def check_base_url(base_url: str, provider: str) -> URL:
    """``base_url`` parsed; ``InvalidConfig`` unless it is an http(s) URL with a host."""
    url = URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidConfig(
            f"providers.{provider}.base_url: got {base_url!r}, expected an http(s) URL",
            provider=provider,
        )
    return url


class HttpAdapter:
    """Base of the HTTP adapters: subclasses set ``dialect`` and ``_headers``."""

    dialect: Dialect

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        self.config = config
        self._pool = pool
        self._headers: Mapping[str, str] = {"Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=config.timeout, connect=config.connect_timeout)
        # A stream may run for long; bound the silence between reads, not the total.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=config.connect_timeout, sock_read=config.timeout
        )

    async def _request_headers(self) -> Mapping[str, str]:
        """The headers of one upstream request (Vertex adds a fresh token here)."""
        return self._headers

    async def _post(
        self, url: URL, payload: dict[str, Any], limits: aiohttp.ClientTimeout,
        extra: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        route = self._pool.route(self.config.proxy)
        headers = await self._request_headers()
        if extra:
            headers = {**headers, **extra}
        if route.proxy_headers and url.scheme == "http":
            # aiohttp sends proxy_headers only on CONNECT; a plain-http forward request
            # must carry Proxy-Authorization itself.
            headers = {**headers, **route.proxy_headers}
        with map_client_errors(self.config.key, url.host or ""):
            resp = await route.session.post(
                url,
                data=orjson.dumps(payload),
                headers=headers,
                timeout=limits,
                proxy=route.proxy,
                proxy_headers=route.proxy_headers,
            )
        await raise_for_status(self.config.key, resp)
        return resp

    async def _open(self, url: URL, payload: dict[str, Any],
                    extra: Mapping[str, str] | None = None) -> aiohttp.ClientResponse:
        """POST a stream request; a 2xx JSON answer (no stream) is refused as an error."""
        resp = await self._post(url, payload, self._stream_timeout, extra)
        if resp.content_type == "application/json":
            await self._refuse_json_stream(resp)
        return resp

    async def _refuse_json_stream(self, resp: aiohttp.ClientResponse) -> None:
        """A 2xx JSON answer to a stream request is an error (or a server ignoring
        ``stream``); either way there is no stream to relay."""
        try:
            with map_client_errors(self.config.key, resp.url.host or ""):
                raw = await resp.content.read(ERROR_BODY_LIMIT)
        finally:
            resp.close()
        detail = error_message(raw) or "no detail"
        raise UpstreamServerError(
            f"upstream {self.config.key!r} answered a stream request with JSON: {detail}",
            provider=self.config.key,
        )

    async def _exchange(self, url: URL, payload: dict[str, Any],
                        extra: Mapping[str, str] | None = None) -> bytes:
        resp = await self._post(url, payload, self._timeout, extra)
        try:
            with map_client_errors(self.config.key, url.host or ""):
                raw = await resp.read()
        finally:
            resp.release()
        if raw.lstrip()[:1] != b"{":
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered 2xx with a body that is not JSON",
                provider=self.config.key,
            )
        return raw

    def _json(self, raw: bytes) -> dict[str, Any]:
        """A 2xx body parsed; anything but a JSON object is the upstream's failure."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered 2xx with a body that is not JSON",
                provider=self.config.key,
            )
        return data
