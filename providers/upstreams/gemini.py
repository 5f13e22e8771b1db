"""The Gemini API adapter (``x-goog-api-key``, ``generateContent``, ``alt=sse`` streams).

``base_url`` is the API root (``https://generativelanguage.googleapis.com``); ``/v1beta``
is added unless the path already names a version. The model goes in the URL. Gemini in:
the body passes through untouched. ``count_tokens`` is exact (``:countTokens``).
"""

from __future__ import annotations

import struct
from typing import Any

from yarl import URL

from providers.dialects.gemini import messages as gemini
from providers.dialects.openai.wire import embeddings_body
from providers.dialects.streams import wrong_shape
from providers.errors import UpstreamServerError
from providers.tokens import estimate_text_tokens
from providers.translate import (
    parse_request,
    to_upstream_request,
)
from providers.transport.client import ClientPool
from providers.types import ClientHeaders, Dialect, ProviderConfig, Reply, UpstreamModel, Usage
from providers.upstreams.base import HttpAdapter, check_base_url
from providers.upstreams.listing import PROBE_PROMPT, gemini_page
from providers.upstreams.paths import BoundedCache, model_segment
from providers.upstreams.sse_stream import GeminiPassthrough, SseStream

__all__ = ["GEMINI_DEFAULT_BASE_URL", "GeminiProvider"]

GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_VERSIONS = ("/v1beta", "/v1", "/v1alpha")
_PAGE_SIZE = "1000"  # the largest page models.list serves


class GeminiProvider(HttpAdapter):
    """Talks to the Gemini API; see ``providers.types.Provider``."""

    dialect: Dialect = "gemini"

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        super().__init__(config, pool)
        root = check_base_url(config.base_url or GEMINI_DEFAULT_BASE_URL, config.key)
        path = root.path.rstrip("/")
        if not path.endswith(_VERSIONS):
            path += "/v1beta"
        self._root = root.with_path(path)
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["x-goog-api-key"] = config.api_key
        headers.update(config.extra_headers)
        self._headers = headers
        self._urls: BoundedCache[tuple[str, str], URL] = BoundedCache()

    def _url(self, model: str, action: str) -> URL:
        found = self._urls.get((model, action))
        if found is None:
            name = model_segment(model.removeprefix("models/"), self.config.key)
            found = self._root.with_path(
                f"{self._root.raw_path}/models/{name}:{action}", encoded=True)
            if action == "streamGenerateContent":
                found = found.with_query(alt="sse")
            self._urls.put((model, action), found)
        return found

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Reply:
        """POST ``generateContent``; translate the answer unless the client speaks Gemini."""
        payload = to_upstream_request(inbound, "gemini", body, model, self.config)
        raw = await self._exchange(self._url(model, "generateContent"), payload,
                                   self._forwarded(inbound, headers))
        return self._reply(inbound, raw, model)

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> SseStream:
        """POST ``streamGenerateContent?alt=sse``; returns once the upstream answered 2xx."""
        handler = self._events(inbound, body, model, GeminiPassthrough)
        payload = to_upstream_request(inbound, "gemini", body, model, self.config)
        resp = await self._open(self._url(model, "streamGenerateContent"), payload,
                                self._forwarded(inbound, headers))
        return self._stream(resp, inbound, handler)

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        """OpenAI embeddings through ``batchEmbedContents``; Gemini reports no token counts,
        so usage is the gateway's estimate."""
        payload = gemini.embed_request(body, model)
        data = self._json(await self._exchange(self._url(model, "batchEmbedContents"), payload))
        vectors = gemini.embed_vectors(data, self.config.key)
        if len(vectors) != len(payload["requests"]):
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered {len(vectors)} embeddings for "
                f"{len(payload['requests'])} inputs", provider=self.config.key)
        tokens = estimate_text_tokens(
            [one["content"]["parts"][0]["text"] for one in payload["requests"]])
        try:
            raw = embeddings_body(vectors, model, tokens, body.get("encoding_format"))
        except (struct.error, OverflowError):  # base64: a number float32 cannot hold
            raise wrong_shape(self.config.key) from None
        return Reply(raw, Usage(input_tokens=tokens))

    async def count_tokens(self, body: dict[str, Any], model: str,
                           *, headers: ClientHeaders = None) -> int:
        """Exact: the Anthropic body is translated and counted by ``:countTokens``."""
        request = parse_request("anthropic", body)
        request.model = model
        inner = gemini.request_to(request)
        inner.pop("generationConfig", None)
        inner.pop("toolConfig", None)
        payload = {"generateContentRequest": {"model": f"models/{model}", **inner}}
        data = self._json(await self._exchange(self._url(model, "countTokens"), payload))
        tokens = data.get("totalTokens")
        if not isinstance(tokens, int):
            raise UpstreamServerError(
                f"upstream {self.config.key!r} answered countTokens without totalTokens",
                provider=self.config.key,
            )
        return tokens

    def _probe_request(self, model: str) -> tuple[URL, dict[str, Any]]:
        return self._url(model, "generateContent"), {
            "contents": [{"role": "user", "parts": [{"text": PROBE_PROMPT}]}],
            "generationConfig": {"maxOutputTokens": 1},
        }

    async def list_models(self) -> list[UpstreamModel]:
        """``GET /v1beta/models``, following ``nextPageToken``; ids without ``models/``."""
        url = self._root.with_path(f"{self._root.raw_path}/models", encoded=True)
        return await self._listed(url.with_query(pageSize=_PAGE_SIZE), gemini_page, "pageToken")
