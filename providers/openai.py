"""The OpenAI-compatible adapter (OpenAI, Groq, Ollama, vLLM, DeepSeek, OpenRouter, ...).

Same-dialect requests pass through: only ``model`` is replaced (and, for streams, usage
is requested); the upstream's response bytes go back untouched.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from yarl import URL

from providers.const import ERROR_BODY_LIMIT, OPENAI_DEFAULT_BASE_URL
from providers.errors import UpstreamServerError
from providers.http import ClientPool, error_message, map_client_errors, raise_for_status
from providers.openai_stream import OpenAIStream
from providers.openai_wire import (
    completion_body,
    endpoints,
    find_usage,
    streaming_body,
    with_model,
)
from providers.tokens import estimate_tokens
from providers.translate import from_upstream_response, stream_translator, to_upstream_request
from providers.types import Dialect, ProviderConfig, Reply

__all__ = ["OpenAIProvider"]


class OpenAIProvider:
    """Talks to one OpenAI-compatible upstream; see ``providers.types.Provider``."""

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        self.config = config
        self.dialect: Dialect = "openai"
        self._pool = pool
        base = config.base_url or OPENAI_DEFAULT_BASE_URL
        self._chat_url, self._embed_url = endpoints(base, provider=config.key)
        self._host = self._chat_url.host or ""
        headers = {"Content-Type": "application/json"}
        if config.api_key:  # Ollama and friends take no key
            headers["Authorization"] = f"Bearer {config.api_key}"
        headers.update(config.extra_headers)
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(total=config.timeout, connect=config.connect_timeout)
        # A stream may run for long; bound the silence between reads, not the total.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=config.connect_timeout, sock_read=config.timeout
        )

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str) -> Reply:
        """POST one non-streamed chat completion; the upstream body is returned as-is."""
        payload = completion_body(self._upstream_body(inbound, body, model))
        raw = await self._exchange(self._chat_url, payload)
        usage = find_usage(raw)
        if inbound != "openai":
            raw = from_upstream_response(inbound, "openai", raw, model)
        return Reply(raw, usage)

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str) -> OpenAIStream:
        """POST a streamed chat completion; returns only once the upstream answered 2xx."""
        translator = None if inbound == "openai" else stream_translator(inbound, "openai", model)
        payload, strip = streaming_body(self._upstream_body(inbound, body, model))
        resp = await self._post(self._chat_url, payload, self._stream_timeout)
        if resp.content_type == "application/json":
            await self._refuse_json_stream(resp)
        return OpenAIStream(
            resp,
            provider=self.config.key,
            inbound=inbound,
            strip_usage=strip,
            translator=translator,
        )

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        """POST an embeddings request; the upstream body is returned as-is."""
        raw = await self._exchange(self._embed_url, with_model(body, model))
        return Reply(raw, find_usage(raw))

    async def count_tokens(self, body: dict[str, Any], model: str) -> int:
        """Estimate input tokens; OpenAI-compatible APIs have no counting endpoint."""
        return estimate_tokens(body)

    def _upstream_body(self, inbound: Dialect, body: dict[str, Any], model: str) -> dict[str, Any]:
        if inbound == "openai":
            return with_model(body, model)
        return to_upstream_request(inbound, "openai", body, model, self.config)

    async def _post(
        self, url: URL, payload: dict[str, Any], limits: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        route = self._pool.route(self.config.proxy)
        headers = self._headers
        if route.proxy_headers and url.scheme == "http":
            # aiohttp sends proxy_headers only on CONNECT; a plain-http forward request
            # must carry Proxy-Authorization itself.
            headers = {**headers, **route.proxy_headers}
        with map_client_errors(self.config.key, self._host):
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

    async def _refuse_json_stream(self, resp: aiohttp.ClientResponse) -> None:
        """A 2xx JSON answer to a stream request is an error (or a server ignoring
        ``stream``); either way there is no stream to relay."""
        try:
            with map_client_errors(self.config.key, self._host):
                raw = await resp.content.read(ERROR_BODY_LIMIT)
        finally:
            resp.close()
        detail = error_message(raw) or "no detail"
        raise UpstreamServerError(
            f"upstream {self.config.key!r} answered a stream request with JSON: {detail}",
            provider=self.config.key,
        )

    async def _exchange(self, url: URL, payload: dict[str, Any]) -> bytes:
        resp = await self._post(url, payload, self._timeout)
        try:
            with map_client_errors(self.config.key, self._host):
                raw = await resp.read()
        finally:
            resp.release()
        if raw.lstrip()[:1] != b"{":
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered 2xx with a body that is not JSON",
                provider=self.config.key,
            )
        return raw
