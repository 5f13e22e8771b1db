"""``build_provider``: from a ``ProviderConfig`` to a ready adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from providers.const import PROVIDER_TYPES
from providers.errors import InvalidConfig
from providers.transport.client import ClientPool
from providers.types import Provider, ProviderConfig
from providers.upstreams.anthropic import AnthropicProvider
from providers.upstreams.azure import AzureProvider
from providers.upstreams.gemini import GeminiProvider
from providers.upstreams.mock.adapter import MockProvider
from providers.upstreams.openai import OpenAIProvider

__all__ = ["adapters", "build_provider"]

AdapterFactory = Callable[[ProviderConfig, ClientPool], Provider]


def adapters() -> Mapping[str, AdapterFactory]:
    """The adapter for each implemented provider type (a subset of PROVIDER_TYPES)."""
    from providers.upstreams.vertex.adapter import (
        VertexProvider,  # google-auth loads only when used
    )

    return {
        "openai": OpenAIProvider,
        "anthropic": AnthropicProvider,
        "gemini": GeminiProvider,
        "vertex": VertexProvider,
        "azure": AzureProvider,
        "mock": MockProvider,
    }


def build_provider(config: ProviderConfig, pool: ClientPool) -> Provider:
    """Build the adapter for ``config``; raises ``InvalidConfig`` naming what is wrong.

    Cheap and free of IO: URLs are checked and headers prepared here, once.
    """
    if config.type not in PROVIDER_TYPES:
        raise InvalidConfig(
            f"providers.{config.key}.type: got {config.type!r}, expected one of "
            + ", ".join(sorted(PROVIDER_TYPES)),
            provider=config.key,
        )
    factory = adapters().get(config.type)
    if factory is None:
        raise InvalidConfig(
            f"providers.{config.key}.type: provider type {config.type!r} is not available yet",
            provider=config.key,
        )
    return factory(config, pool)
