"""Fixtures of the Responses tests: the dialect tests' fake upstreams and node builder, and
the store tests' backends (memory, SQLite, Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.dialects.conftest import Upstream, node_for, open_upstream, upstream
from tests.store.conftest import backend, config_for, store

__all__ = ["backend", "config_for", "node_for", "store", "upstream", "wire_upstream"]


@pytest.fixture(params=["openai", "anthropic", "gemini"])
async def wire_upstream(request: pytest.FixtureRequest, tmp_path: Path
                        ) -> AsyncIterator[Upstream]:
    """One fake upstream per wire format (what the real-client tests run through)."""
    fake, settings = await open_upstream(request.param, tmp_path)
    try:
        yield Upstream(request.param, fake, settings)
    finally:
        await fake.__aexit__(None, None, None)
