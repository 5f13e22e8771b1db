"""Fixtures for providers tests: a shared ClientPool and the fake upstream."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

# The shared fakes live in tests/fakes; make ``tests.fakes`` importable however pytest
# was started (``python -m pytest`` adds the repo root itself, the script does not).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from providers import ClientPool, ProviderConfig  # noqa: E402
from tests.fakes.openai_upstream import FakeUpstream  # noqa: E402


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    pool = ClientPool()
    try:
        yield pool
    finally:
        await pool.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def config_for(fake: FakeUpstream) -> Callable[..., ProviderConfig]:
    """Build a ProviderConfig for the fake upstream; keyword arguments override fields."""

    def build(**overrides: Any) -> ProviderConfig:
        fields: dict[str, Any] = {
            "key": "up",
            "type": "openai",
            "base_url": fake.base_url,
            "api_key": "sk-test",
        }
        fields.update(overrides)
        return ProviderConfig(**fields)

    return build
