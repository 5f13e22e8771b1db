"""Fixtures of the real-client tests: a fake OpenAI-compatible and a fake Anthropic upstream
(each records what it was sent) and the dialect tests' node builder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dialects.conftest import Upstream, node_for, open_upstream

__all__ = ["chat_upstream", "node_for"]


@pytest.fixture(params=["openai", "anthropic"])
async def chat_upstream(request: pytest.FixtureRequest, tmp_path: Path
                        ) -> AsyncIterator[Upstream]:
    fake, settings = await open_upstream(request.param, tmp_path)
    try:
        yield Upstream(request.param, fake, settings)
    finally:
        await fake.__aexit__(None, None, None)
