"""The Anthropic Messages adapter (``x-api-key``, ``anthropic-version``).

``base_url`` is the API root without ``/v1`` (as in the anthropic SDK); ``/v1/messages``
is appended. Anthropic in: the body passes through with only ``model`` replaced and the
upstream's bytes come back untouched (thinking signatures included). Other dialects are
translated; ``max_tokens`` defaults to ``config.max_tokens``.
"""

from __future__ import annotations

from typing import Any

from yarl import URL

from providers.errors import UpstreamServerError
from providers.translate import to_upstream_request
from providers.transport.client import ClientPool
from providers.types import ClientHeaders, Dialect, ProviderConfig, Reply, UpstreamModel
from providers.upstreams.base import HttpAdapter, check_base_url
from providers.upstreams.listing import PROBE_PROMPT, anthropic_page
from providers.upstreams.sse_stream import AnthropicPassthrough, SseStream

__all__ = ["ANTHROPIC_DEFAULT_BASE_URL", "AnthropicProvider"]

ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_COUNTED = ("messages", "system", "tools", "tool_choice", "thinking")
_PAGE_SIZE = "1000"  # the largest page /v1/models serves


class AnthropicProvider(HttpAdapter):
    """Talks to the Anthropic Messages API; see ``providers.types.Provider``."""

    dialect: Dialect = "anthropic"

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        super().__init__(config, pool)
        root = check_base_url(config.base_url or ANTHROPIC_DEFAULT_BASE_URL, config.key)
        path = root.path.rstrip("/")
        for suffix in ("/v1/messages", "/v1"):
            path = path.removesuffix(suffix)
        self._messages_url = root.with_path(path + "/v1/messages", keep_query=True)
        self._count_url = root.with_path(path + "/v1/messages/count_tokens", keep_query=True)
        self._models_url = root.with_path(path + "/v1/models").with_query(limit=_PAGE_SIZE)
        headers = {
            "Content-Type": "application/json",
            "anthropic-version": config.api_version or ANTHROPIC_VERSION,
        }
        if config.api_key:
            headers["x-api-key"] = config.api_key
        headers.update(config.extra_headers)
        self._headers = headers

    def _body(self, inbound: Dialect, body: dict[str, Any], model: str) -> dict[str, Any]:
        return to_upstream_request(inbound, "anthropic", body, model, self.config)

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Reply:
        """POST one Messages request; translate the answer unless the client speaks Anthropic."""
        payload = self._body(inbound, body, model)
        if payload.get("stream"):
            payload = {**payload, "stream": False}
        raw = await self._exchange(self._messages_url, payload, self._forwarded(inbound, headers))
        return self._reply(inbound, raw, model)

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> SseStream:
        """POST a streamed Messages request; returns once the upstream answered 2xx."""
        handler = self._events(inbound, body, model, AnthropicPassthrough)
        payload = self._body(inbound, body, model)
        if payload.get("stream") is not True:
            payload = {**payload, "stream": True}
        resp = await self._open(self._messages_url, payload, self._forwarded(inbound, headers))
        return self._stream(resp, inbound, handler)

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        """Anthropic has no embeddings API."""
        raise UpstreamServerError(
            f"provider {self.config.key!r} (anthropic) has no embeddings API",
            provider=self.config.key,
            status=400,
        )

    async def count_tokens(self, body: dict[str, Any], model: str,
                           *, headers: ClientHeaders = None) -> int:
        """Exact: asks the upstream's ``/v1/messages/count_tokens``."""
        payload = {"model": model, **{k: body[k] for k in _COUNTED if k in body}}
        extra = self._forwarded("anthropic", headers)
        data = self._json(await self._exchange(self._count_url, payload, extra))
        tokens = data.get("input_tokens")
        if not isinstance(tokens, int):
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered count_tokens without input_tokens",
                provider=self.config.key,
            )
        return tokens

    def _probe_request(self, model: str) -> tuple[URL, dict[str, Any]]:
        return self._messages_url, {
            "model": model, "max_tokens": 1,
            "messages": [{"role": "user", "content": PROBE_PROMPT}],
        }

    async def list_models(self) -> list[UpstreamModel]:
        """``GET /v1/models``, following ``after_id`` while ``has_more``."""
        return await self._listed(self._models_url, anthropic_page, "after_id")
