"""Fixtures for the dialect tests: one fake upstream per provider type, and a node in front."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from providers import ProviderConfig
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.google_upstream import AzureUpstream, VertexUpstream, service_account_file
from tests.fakes.openai_upstream import FakeUpstream
from tests.node.harness import Node, running_node, settings_tree

UPSTREAM_TYPES = ("openai", "anthropic", "gemini", "vertex", "azure")
WIRE = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "vertex": "openai",
        "azure": "openai"}  # fmt: skip


@dataclass
class Upstream:
    kind: str
    fake: FakeUpstream
    settings: dict[str, Any]

    @property
    def wire(self) -> str:
        return WIRE[self.kind]

    def config(self, **overrides: Any) -> ProviderConfig:
        fields = {k: v for k, v in self.settings.items() if k != "timeout"}
        return ProviderConfig(key="up", **{**fields, **overrides})


async def open_upstream(kind: str, tmp: Path) -> tuple[FakeUpstream, dict[str, Any]]:
    fakes: dict[str, Callable[[], FakeUpstream]] = {
        "openai": FakeUpstream, "anthropic": AnthropicUpstream, "gemini": GeminiUpstream,
        "vertex": VertexUpstream, "azure": AzureUpstream,
    }  # fmt: skip
    fake = fakes[kind]()
    await fake.__aenter__()
    settings: dict[str, Any] = {"type": kind, "base_url": fake.base_url, "api_key": "sk-up",
                                "model": "up-model"}  # fmt: skip
    if isinstance(fake, VertexUpstream):
        settings["credentials_file"] = str(service_account_file(tmp, fake.token_uri))
        del settings["api_key"]
    return fake, settings


@pytest.fixture(params=UPSTREAM_TYPES)
async def upstream(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Upstream]:
    fake, settings = await open_upstream(request.param, tmp_path)
    try:
        yield Upstream(request.param, fake, settings)
    finally:
        await fake.__aexit__(None, None, None)


@pytest.fixture
async def node_for() -> AsyncIterator[Callable[..., Any]]:
    """``async with node_for(upstream) as node``: a node whose provider ``up`` is the fake."""
    return_value = running_node

    def build(up: Upstream, **extra: Any) -> Any:
        return return_value(settings_tree(providers={"up": {**up.settings, **extra}}))

    yield build


def node_url(node: Node) -> str:
    return node.url
