"""The Azure OpenAI adapter: the OpenAI wire format on a deployment URL.

``base_url`` is the resource endpoint (``https://<resource>.openai.azure.com``); the
deployment is the model name: ``/openai/deployments/<model>/chat/completions``.
A ``base_url`` that already names a deployment (``.../openai/deployments/<name>``) is used
for every model. ``api_version`` (default ``AZURE_API_VERSION``) goes in the query and the
key in the ``api-key`` header.
"""

from __future__ import annotations

from yarl import URL

from providers.errors import InvalidConfig
from providers.transport.client import ClientPool
from providers.types import ProviderConfig
from providers.upstreams.base import check_base_url
from providers.upstreams.openai import OpenAIProvider
from providers.upstreams.paths import BoundedCache, model_segment

__all__ = ["AZURE_API_VERSION", "AzureProvider"]

AZURE_API_VERSION = "2024-10-21"


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
