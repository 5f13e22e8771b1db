"""One fake upstream per HTTP provider type, with the settings that point a provider at it
(or at a closed port on loopback, for a dead upstream). Shared by the probe and model-list
tests of tests/providers and tests/node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.google_upstream import AzureUpstream, VertexUpstream, service_account_file
from tests.fakes.openai_upstream import FakeUpstream

__all__ = ["API_KEY", "DEAD", "KINDS", "MODEL", "dead_settings", "upstream_for"]

KINDS = ("openai", "anthropic", "gemini", "vertex", "azure")
API_KEY = "sk-probe-0123456789abcdef"
MODEL = "up-model"
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
_FAKES: dict[str, type[FakeUpstream]] = {
    "openai": FakeUpstream, "anthropic": AnthropicUpstream, "gemini": GeminiUpstream,
    "vertex": VertexUpstream, "azure": AzureUpstream,
}  # fmt: skip


def _settings(kind: str, fake: FakeUpstream, tmp: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {"type": kind, "base_url": fake.base_url, "api_key": API_KEY,
                                "model": MODEL}  # fmt: skip
    if isinstance(fake, VertexUpstream):
        settings["credentials_file"] = str(service_account_file(tmp, fake.token_uri))
        del settings["api_key"]
    return settings


@asynccontextmanager
async def upstream_for(kind: str, tmp: Path) -> AsyncIterator[tuple[FakeUpstream, dict[str, Any]]]:
    """A live fake of ``kind`` and the provider settings (``ProviderConfig`` fields) for it."""
    async with _FAKES[kind]() as fake:
        yield fake, _settings(kind, fake, tmp)


def dead_settings(kind: str, live: dict[str, Any]) -> dict[str, Any]:
    """``live`` with the base_url moved to a port nobody listens on (Vertex keeps its live
    token endpoint, so the failure is the upstream's, not the token's)."""
    path = "/v1/projects/proj/locations/us/endpoints/openapi" if kind == "vertex" else (
        "/v1" if kind == "openai" else "")
    return {**live, "base_url": DEAD + path}
