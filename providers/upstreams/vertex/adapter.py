"""The Vertex AI adapter: Vertex's OpenAI-compatible endpoint with Google credentials.

``base_url`` is the endpoint root, e.g.
``https://us-central1-aiplatform.googleapis.com/v1/projects/<p>/locations/us-central1/endpoints/openapi``;
when empty it is built for the credentials' project in the ``global`` location. Models are
named as Vertex names them (``google/gemini-2.5-flash``). The bearer token comes from
``GoogleToken`` (service-account JSON or application default credentials).

The OpenAI-compatible endpoint lists no models; the model list is Model Garden's publisher
list (``/v1beta1/publishers/google/models`` on the endpoint's host), named as the endpoint
takes them (``google/<model>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from providers.errors import InvalidConfig, ProviderError
from providers.transport.client import ClientPool
from providers.types import ClientHeaders, Dialect, ProviderConfig, Reply, UpstreamModel
from providers.upstreams.listing import vertex_page
from providers.upstreams.openai import OpenAIProvider, endpoints
from providers.upstreams.sse_stream import SseStream
from providers.upstreams.vertex.token import GoogleToken

__all__ = ["VERTEX_DEFAULT_BASE_URL", "VertexProvider"]

VERTEX_DEFAULT_BASE_URL = (
    "https://aiplatform.googleapis.com/v1/projects/{project}/locations/global/endpoints/openapi"
)
_PUBLISHER_MODELS = "/v1beta1/publishers/google/models"


class VertexProvider(OpenAIProvider):
    """Vertex AI through its OpenAI-compatible chat endpoint."""

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        placeholder = VERTEX_DEFAULT_BASE_URL.format(project="_")
        super().__init__(replace(config, base_url=config.base_url or placeholder), pool)
        self.config = config
        self._auth = GoogleToken(config.credentials_file, provider=config.key, proxy=config.proxy)
        self._resolved = bool(config.base_url)
        self._headers = {"Content-Type": "application/json", **config.extra_headers}

    async def _ensure(self) -> None:
        if self._resolved:
            return
        try:
            project = await self._auth.project()
        except ProviderError as exc:
            self._redactor.scrub(exc)  # a token endpoint's reply may echo what it was sent
            raise
        if not project:
            raise InvalidConfig(
                f"providers.{self.config.key}.base_url: the credentials name no project; "
                "set base_url to the Vertex OpenAI endpoint",
                provider=self.config.key,
            )
        if any(c in project for c in "/\\?#%") or project in (".", ".."):
            # The project goes into the URL path: it must stay one segment.
            raise InvalidConfig(
                f"providers.{self.config.key}.credentials_file: project {project!r} cannot "
                "name a Google Cloud project; set base_url to the Vertex OpenAI endpoint",
                provider=self.config.key,
            )
        base = VERTEX_DEFAULT_BASE_URL.format(project=project)
        self._chat_url, self._embed_url = endpoints(base, provider=self.config.key)
        self._resolved = True

    async def _request_headers(self) -> Mapping[str, str]:
        token = await self._auth.token()
        self._redactor.add(token)  # a set lookup until the token is refreshed
        return {"Authorization": f"Bearer {token}"}

    async def complete(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> Reply:
        await self._ensure()
        return await super().complete(inbound, body, model)

    async def open_stream(self, inbound: Dialect, body: dict[str, Any], model: str,
        *, headers: ClientHeaders = None,
    ) -> SseStream:
        await self._ensure()
        return await super().open_stream(inbound, body, model)

    async def embed(self, body: dict[str, Any], model: str) -> Reply:
        await self._ensure()
        return await super().embed(body, model)

    async def probe(self, model: str) -> int:
        await self._ensure()
        return await super().probe(model)

    async def list_models(self) -> list[UpstreamModel]:
        """Model Garden's Google models, on the host of the endpoint (its region)."""
        await self._ensure()
        chat = self._chat_url
        if not chat.raw_path.startswith(("/v1/projects/", "/v1beta1/projects/")):
            raise InvalidConfig(
                f"providers.{self.config.key}.base_url: not a Vertex AI endpoint "
                "(https://<region>-aiplatform.googleapis.com/v1/projects/...), so it has no "
                "publisher model list", provider=self.config.key, status=400)
        url = chat.origin().with_path(_PUBLISHER_MODELS)
        return await self._listed(url, vertex_page, "pageToken")
