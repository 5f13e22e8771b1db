"""``HttpAdapter``: what every HTTP upstream adapter shares (POST, timeouts, error mapping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from yarl import URL

from providers.const import ERROR_BODY_LIMIT
from providers.dialects import DIALECTS
from providers.errors import InvalidConfig, ProviderError, UpstreamServerError, UpstreamTimeout
from providers.translate import StreamTranslator, parse_response, render_for, stream_translator
from providers.transport.client import ClientPool, Target
from providers.transport.connection import UpstreamResponse
from providers.types import ClientHeaders, Dialect, ProviderConfig, Reply, UpstreamModel
from providers.upstream_errors import error_message
from providers.upstreams.listing import (
    LIST_TIMEOUT,
    MAX_MODEL_PAGES,
    MODEL_LIST_LIMIT,
    PROBE_TIMEOUT,
    PageReader,
)
from providers.upstreams.paths import BoundedCache
from providers.upstreams.redact import Redactor
from providers.upstreams.sse_stream import SseStream
from providers.upstreams.status import raise_for_status

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

# The W3C trace context: Exchange.forwarded_headers adds it only while tracing is on.
TRACE_HEADERS = ("traceparent", "tracestate")


class HttpAdapter:
    """Base of the HTTP adapters: subclasses set ``dialect`` and ``_headers``."""

    dialect: Dialect

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        self.config = config
        self._pool = pool
        self._headers: Mapping[str, str] = {"Content-Type": "application/json"}
        # Request heads are encoded once per URL, on first use (subclasses set _headers
        # after this constructor, and Vertex learns its URL only from its credentials).
        # Gemini and Azure have a URL per model: bounded, as the model is the client's choice.
        self._targets: BoundedCache[URL, Target] = BoundedCache()
        # Every error made from upstream text passes through here before a client sees it.
        self._redactor = Redactor.of(config)

    def _forwarded(self, inbound: Dialect, headers: ClientHeaders) -> dict[str, str] | None:
        """The client's headers this upstream may see: those its dialect names, and only
        when the client itself speaks that dialect; the W3C trace context (set by the
        gateway when tracing is on) whatever the dialect."""
        if not headers:
            return None
        found = {name: headers[name] for name in TRACE_HEADERS if headers.get(name)}
        if inbound == self.dialect:
            found.update((name, headers[name]) for name in DIALECTS[inbound].forwarded_headers
                         if headers.get(name))
        return found or None

    async def _request_headers(self) -> Mapping[str, str] | None:
        """Headers that change per request (Vertex's fresh token); None for most."""
        return None

    def _target(self, url: URL) -> Target:
        target = self._targets.get(url)
        if target is None:
            target = self._targets.put(url, self._pool.target(
                self.config.key, url, self._headers, self.config.proxy))
        return target

    async def _post(
        self, url: URL, payload: dict[str, Any], *, stream: bool,
        extra: Mapping[str, str] | None = None, bound: float | None = None,
    ) -> UpstreamResponse:
        """POST ``payload``; ``bound`` (seconds) shortens the provider's own timeouts."""
        config = self.config
        total = None if stream else config.timeout
        connect = config.connect_timeout
        if bound is not None:
            total, connect = min(config.timeout, bound), min(connect, bound)
        if config.max_output_tokens:
            # Agents ask for what their usual model allows (Claude Code's fallback asks for
            # 64000); a smaller upstream would refuse the whole request instead of answering
            # shorter.
            payload = DIALECTS[self.dialect].cap_output(payload, config.max_output_tokens)
        try:
            # Inside: minting Vertex's token may fail with text from the token endpoint.
            dynamic = await self._request_headers()
            if dynamic:
                extra = {**dynamic, **extra} if extra else dynamic
            # A stream may run for long: bound the silence between reads, not the total.
            resp = await self._pool.request(
                self._target(url), orjson.dumps(payload), extra,
                connect_timeout=connect, total=total,
                idle=config.timeout if stream else None,
            )
            await raise_for_status(resp)
        except ProviderError as exc:
            self._redactor.scrub(exc)  # an upstream or a proxy may echo the request
            raise
        return resp

    def _events(self, inbound: Dialect, body: dict[str, Any], model: str,
                passthrough: Callable[[str], StreamTranslator]) -> StreamTranslator:
        """The stream's event handler: ``passthrough`` when the client speaks this upstream's
        dialect (events relayed as they came, usage read on the side), else a translator."""
        key = self.config.key
        if inbound == self.dialect:
            return passthrough(key)
        return stream_translator(inbound, self.dialect, model, request=body, provider=key)

    def _stream(self, resp: UpstreamResponse, inbound: Dialect,
                handler: StreamTranslator) -> SseStream:
        """Relay ``resp`` through ``handler``; an error event inside the stream reaches
        the client with this provider's secrets removed."""
        return SseStream(resp, provider=self.config.key, inbound=inbound, handler=handler,
                         scrub=self._redactor.scrub)

    async def _open(self, url: URL, payload: dict[str, Any],
                    extra: Mapping[str, str] | None = None) -> UpstreamResponse:
        """POST a stream request; a 2xx JSON answer (no stream) is refused as an error."""
        resp = await self._post(url, payload, stream=True, extra=extra)
        if resp.content_type == "application/json":
            await self._refuse_json_stream(resp)
        return resp

    async def _refuse_json_stream(self, resp: UpstreamResponse) -> None:
        """A 2xx JSON answer to a stream request is an error (or a server ignoring
        ``stream``); either way there is no stream to relay."""
        try:
            raw = await resp.read(ERROR_BODY_LIMIT)
        finally:
            resp.release()
        detail = error_message(raw) or "no detail"
        raise self._redactor.scrub(UpstreamServerError(
            f"upstream {self.config.key!r} answered a stream request with JSON: {detail}",
            provider=self.config.key,
        ))

    async def _exchange(self, url: URL, payload: dict[str, Any],
                        extra: Mapping[str, str] | None = None) -> bytes:
        resp = await self._post(url, payload, stream=False, extra=extra)
        try:
            raw = await resp.read()
        finally:
            resp.release()
        if raw.lstrip()[:1] != b"{":
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered 2xx with a body that is not JSON",
                provider=self.config.key,
            )
        return raw

    def _reply(self, inbound: Dialect, raw: bytes, model: str) -> Reply:
        """A complete upstream answer for ``inbound``: as it came when the client speaks the
        upstream's dialect (its usage read on the side), translated otherwise."""
        response = parse_response(self.dialect, raw, self.config.key)
        if inbound == self.dialect:
            return Reply(raw, response.usage)
        return Reply(render_for(inbound, response, model), response.usage)

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

    def _probe_request(self, model: str) -> tuple[URL, dict[str, Any]]:
        """The URL and body of the cheapest real request to ``model`` (one output token)."""
        raise NotImplementedError

    async def probe(self, model: str) -> int:
        """One minimal request to ``model``; its 2xx status, or the ProviderError it caused."""
        url, payload = self._probe_request(model)
        resp = await self._post(url, payload, stream=False, bound=PROBE_TIMEOUT)
        try:
            await resp.read(ERROR_BODY_LIMIT)  # one token: the answer itself is of no use
        finally:
            resp.release()
        return resp.status

    async def _listed(self, url: URL, read: PageReader, cursor: str = "") -> list[UpstreamModel]:
        """Every model of the list at ``url``, page after page: ``cursor`` is the query
        parameter that carries the next page's cursor ("" for a list of one page)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIST_TIMEOUT
        models: list[UpstreamModel] = []
        seen: set[str] = set()
        for _ in range(MAX_MODEL_PAGES):
            found, following = read(await self._get_json(url, deadline - loop.time()),
                                    self.config.key)
            models += found
            if not cursor or not following or following in seen:  # a loop ends the list too
                break
            seen.add(following)
            url = url.update_query({cursor: following})
        return models

    async def _get_json(self, url: URL, remaining: float) -> dict[str, Any]:
        """GET ``url`` with this provider's headers, proxy and credentials; the JSON object
        it answered. Within ``remaining`` seconds, and never longer than a probe."""
        config = self.config
        limit = min(config.timeout, PROBE_TIMEOUT, remaining)
        try:
            if limit <= 0:
                raise UpstreamTimeout(
                    f"upstream {config.key!r} did not list its models within "
                    f"{LIST_TIMEOUT:g} s", provider=config.key)
            extra = await self._request_headers()
            target = self._pool.target(config.key, url, self._headers, config.proxy, "GET")
            resp = await self._pool.request(
                target, b"", extra, connect_timeout=min(config.connect_timeout, limit),
                total=limit)
            await raise_for_status(resp)
            try:
                raw = await resp.read(MODEL_LIST_LIMIT + 1)
            finally:
                resp.release()
        except ProviderError as exc:
            self._redactor.scrub(exc)  # an upstream or a proxy may echo the request
            raise
        if len(raw) > MODEL_LIST_LIMIT:
            raise UpstreamServerError(
                f"upstream {config.key!r} answered a model list over "
                f"{MODEL_LIST_LIMIT // (1024 * 1024)} MiB", provider=config.key)
        return self._json(raw)
