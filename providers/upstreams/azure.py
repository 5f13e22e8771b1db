"""The Azure OpenAI adapter: the OpenAI wire format on a deployment URL.

``base_url`` is the resource endpoint (``https://<resource>.openai.azure.com``); the
deployment is the model name: ``/openai/deployments/<model>/chat/completions``.
A ``base_url`` that already names a deployment (``.../openai/deployments/<name>``) is used
for every model. ``api_version`` (default ``AZURE_API_VERSION``) goes in the query and the
key in the ``api-key`` header.

Its model list is the resource's deployments (a request names a deployment, not a model),
which the data-plane API lists only up to ``api_version`` 2023-03-15-preview; with a later
version the list is refused naming ``api_version`` rather than asked and answered 404.
"""

from __future__ import annotations

import re

from yarl import URL

from providers.errors import InvalidConfig
from providers.transport.client import ClientPool
from providers.types import ProviderConfig, UpstreamModel
from providers.upstreams.base import check_base_url
from providers.upstreams.listing import azure_page
from providers.upstreams.openai import OpenAIProvider
from providers.upstreams.paths import BoundedCache, model_segment

__all__ = ["AZURE_API_VERSION", "AzureProvider"]

AZURE_API_VERSION = "2024-10-21"
_LAST_LISTING = "2023-03-15"
"""The last API version whose data plane lists deployments (GA 2022-12-01 and the
2023-03-15 preview)."""
_FIRST_COMPLETION_TOKENS = "2024-09-01"
"""The first API version that takes ``max_completion_tokens`` (older ones refuse it)."""
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class AzureProvider(OpenAIProvider):
    """An Azure OpenAI resource; see ``providers.types.Provider``."""

    def __init__(self, config: ProviderConfig, pool: ClientPool) -> None:
        if not config.base_url:
            raise InvalidConfig(
                f"providers.{config.key}.base_url: azure needs the resource endpoint, "
                "e.g. https://<resource>.openai.azure.com",
                provider=config.key,
            )
        root = check_base_url(config.base_url, config.key)
        super().__init__(config, pool)
        self._version = config.api_version or AZURE_API_VERSION
        path = root.path.rstrip("/")
        for suffix in ("/chat/completions", "/embeddings"):
            path = path.removesuffix(suffix)
        self._fixed = "/openai/deployments/" in path
        self._root = root.with_path(path).with_query(None)
        self._path = root.with_path(path).raw_path.rstrip("/")
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["api-key"] = config.api_key
        headers.update(config.extra_headers)
        self._headers = headers
        self._urls: BoundedCache[tuple[str, str], URL] = BoundedCache()
        self._dated = self._version[:10] if _DATE.match(self._version) else ""
        if self._dated >= _FIRST_COMPLETION_TOKENS:
            self._output_field = "max_completion_tokens"  # reasoning deployments need it

    def _url(self, model: str, action: str) -> URL:
        found = self._urls.get((model, action))
        if found is None:
            deployment = model_segment(model, self.config.key)
            base = self._path if self._fixed else f"{self._path}/openai/deployments/{deployment}"
            found = self._root.with_path(f"{base}/{action}", encoded=True).with_query(
                {"api-version": self._version}
            )
            self._urls.put((model, action), found)
        return found

    def _chat_target(self, model: str) -> URL:
        return self._url(model, "chat/completions")

    def _embed_target(self, model: str) -> URL:
        return self._url(model, "embeddings")

    async def list_models(self) -> list[UpstreamModel]:
        """``GET /openai/deployments?api-version=...``: the resource's deployments."""
        if not self._dated or self._dated > _LAST_LISTING:
            raise InvalidConfig(
                f"providers.{self.config.key}.api_version: {self._version!r} has no deployment "
                f"list; Azure lists deployments only up to 2023-03-15-preview (e.g. "
                f"2022-12-01)", provider=self.config.key, status=400)
        resource = self._path.partition("/openai/deployments/")[0] if self._fixed else self._path
        url = self._root.with_path(f"{resource}/openai/deployments", encoded=True)
        return await self._listed(url.with_query({"api-version": self._version}), azure_page)
