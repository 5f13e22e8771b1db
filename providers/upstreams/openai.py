"""The OpenAI-compatible adapter (OpenAI, Groq, Ollama, vLLM, DeepSeek, OpenRouter, ...).

Same-dialect requests pass through: only ``model`` is replaced (and, for streams, usage
is requested); the upstream's response bytes go back untouched. Other dialects are
translated through the canonical form (``providers.translate``).

A Responses request (``/v1/responses``) passes through to the upstream's own
``<api root>/responses`` when the provider has the Responses API: ``responses_api: true``,
or by default when the base URL is OpenAI's (``api.openai.com``); every other
OpenAI-compatible server (and Azure) gets it translated to Chat Completions.
"""

from __future__ import annotations

from typing import Any

from yarl import URL

from providers.const import OPENAI_DEFAULT_BASE_URL
from providers.dialects.openai.wire import (
    completion_body,
    find_usage,
    streaming_body,
    with_model,
)
from providers.errors import InvalidConfig
from providers.tokens import estimate_tokens
from providers.translate import (
    from_upstream_response,
    parse_response,
    stream_translator,
    to_upstream_request,
)
from providers.transport.client import ClientPool
from providers.types import ClientHeaders, Dialect, ProviderConfig, Reply, UpstreamModel
from providers.upstreams.base import HttpAdapter
from providers.upstreams.listing import PROBE_PROMPT, openai_page
from providers.upstreams.openai_stream import OpenAIEvents
from providers.upstreams.responses_stream import ResponsesPassthrough
from providers.upstreams.sse_stream import SseStream

__all__ = ["OpenAIProvider", "endpoints"]

_ENDPOINT_SUFFIXES = ("/chat/completions", "/embeddings", "/completions")
_OPENAI_HOST = "api.openai.com"


def endpoints(base_url: str, *, provider: str = "") -> tuple[URL, URL]:
    """Return the (chat completions, embeddings) URLs for an OpenAI-compatible base URL.

    ``base_url`` may be the API root (``http://localhost:11434/v1``) or a full endpoint
    URL (``.../v1/chat/completions``); a query string (``?api-version=...``) is kept.
    """
    url = URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidConfig(
            f"providers.{provider}.base_url: got {base_url!r}, expected an http(s) URL",
            provider=provider,
        )
    path = url.path.rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    root = url.with_path(path or "/", keep_query=True)
    chat = root.with_path(path + "/chat/completions", keep_query=True)
    embed = root.with_path(path + "/embeddings", keep_query=True)
    return chat, embed


class OpenAIProvider(HttpAdapter):
    """Talks to one OpenAI-compatible upstream; see ``providers.types.Provider``."""

    dialect: Dialect = "openai"

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        super().__init__(config, pool)
        base = config.base_url or OPENAI_DEFAULT_BASE_URL
        self._chat_url, self._embed_url = endpoints(base, provider=config.key)
        self._host = self._chat_url.host or ""
        native = config.responses_api
        if native is None:
            native = self._host == _OPENAI_HOST
        # The Responses endpoint, for a Responses client's pass-through (None: translate).
        self._responses_url = (
            self._chat_url.with_path(
                self._chat_url.raw_path.removesuffix("/chat/completions") + "/responses",
                encoded=True, keep_query=True)
            if native else None)
        # OpenAI's reasoning models refuse ``max_tokens``; other servers may not know its
        # successor, which would leave a probe's answer unbounded.
        self._output_field = "max_completion_tokens" if self._host == _OPENAI_HOST else "max_tokens"
        headers = {"Content-Type": "application/json"}
        if config.api_key:  # Ollama and friends take no key
            headers["Authorization"] = f"Bearer {config.api_key}"
        headers.update(config.extra_headers)
        self._headers = headers

    def _chat_target(self, model: str) -> URL:
        """The chat-completions URL for ``model`` (Azure puts the deployment in it)."""
        return self._chat_url

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Reply:
        """POST one non-streamed chat completion; the upstream body is returned as-is."""
        if inbound == "responses" and self._responses_url is not None:
            raw = await self._exchange(self._responses_url, _native(body, model, False),
                                       self._forwarded(inbound, headers))
            return self._reply("responses", raw, model)
        payload = completion_body(self._upstream_body(inbound, body, model))
        raw = await self._exchange(self._chat_target(model), payload,
                                   self._forwarded(inbound, headers))
        usage = find_usage(raw)
        if inbound != "openai":
            raw = from_upstream_response(inbound, "openai", raw, model, self.config.key)
        return Reply(raw, usage)

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> SseStream:
        """POST a streamed chat completion; returns only once the upstream answered 2xx."""
        if inbound == "responses" and self._responses_url is not None:
            resp = await self._open(self._responses_url, _native(body, model, True),
                                    self._forwarded(inbound, headers))
            return self._stream(resp, inbound, ResponsesPassthrough(
                self.config.key, self._redactor.text))
        translator = None
        if inbound != "openai":
            translator = stream_translator(
                inbound, "openai", model, request=body, provider=self.config.key
            )
        payload, strip = streaming_body(self._upstream_body(inbound, body, model))
        resp = await self._open(self._chat_target(model), payload,
                                self._forwarded(inbound, headers))
        events = OpenAIEvents(self.config.key, strip_usage=strip, translator=translator)
        return self._stream(resp, inbound, events)

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        """POST an embeddings request; the upstream body is returned as-is."""
        raw = await self._exchange(self._embed_target(model), with_model(body, model))
        return Reply(raw, find_usage(raw))

    def _embed_target(self, model: str) -> URL:
        return self._embed_url

    async def count_tokens(self, body: dict[str, Any], model: str,
                           *, headers: ClientHeaders = None) -> int:
        """Estimate input tokens; OpenAI-compatible APIs have no counting endpoint."""
        return estimate_tokens(body)

    def _upstream_body(self, inbound: Dialect, body: dict[str, Any], model: str) -> dict[str, Any]:
        if inbound == "openai":
            return with_model(body, model)
        return to_upstream_request(inbound, "openai", body, model, self.config)

    def _probe_request(self, model: str) -> tuple[URL, dict[str, Any]]:
        return self._chat_target(model), {
            "model": model, "messages": [{"role": "user", "content": PROBE_PROMPT}],
            self._output_field: 1,
        }

    def _reply(self, inbound: Dialect, raw: bytes, model: str) -> Reply:
        if inbound == "responses":  # a pass-through Responses answer: usage read aside
            return Reply(raw, parse_response("responses", raw, self.config.key).usage)
        return super()._reply(inbound, raw, model)

    async def list_models(self) -> list[UpstreamModel]:
        """``GET <api root>/models`` (the chat URL's sibling, its query kept)."""
        chat = self._chat_url
        path = chat.raw_path.removesuffix("/chat/completions")
        return await self._listed(chat.with_path(f"{path}/models", encoded=True,
                                                 keep_query=True), openai_page)


def _native(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """A Responses body for OpenAI's own endpoint: the upstream model, ``stream`` as the
    route asked (``previous_response_id`` was expanded by the gateway: the id is its own)."""
    out = {**body, "model": model, "stream": stream}
    out.pop("previous_response_id", None)
    return out
