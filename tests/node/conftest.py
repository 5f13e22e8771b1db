from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.openai_upstream import FakeUpstream
from tests.node.harness import Node, running_node, settings_tree


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with running_node() as running:
        yield running


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
async def proxied(upstream: FakeUpstream) -> AsyncIterator[Node]:
    """A node with provider ``up`` (OpenAI-compatible, the fake) and the mock ``demo``."""
    tree = settings_tree(
        providers={
            "demo": {"type": "mock"},
            "up": {
                "type": "openai",
                "base_url": upstream.base_url,
                "api_key": "sk-upstream-secret-123456",
                "model": "fake-model",
                "models": ["other-model", "nick=real-model"],
                "extra_headers": {"X-Team": "blue"},
                "timeout": "2s",
            },
            "dead": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        }
    )
    async with running_node(tree) as running:
        yield running
