"""Fixtures: three killable fake OpenAI upstreams (providers a, b, c) and helpers to run a
node whose routes name them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.flaky import FlakyUpstream
from tests.node.harness import Node, settings_tree

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def ups() -> AsyncIterator[tuple[FlakyUpstream, FlakyUpstream, FlakyUpstream]]:
    async with FlakyUpstream() as a, FlakyUpstream() as b, FlakyUpstream() as c:
        yield a, b, c


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def tree(ups: tuple[FlakyUpstream, ...], routes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Providers a, b, c (OpenAI-compatible, the fakes, model ``m``) and ``routes``."""
    providers: dict[str, Any] = {
        name: {"type": "openai", "base_url": up.base_url, "api_key": f"sk-{name}-0123456789",
               "model": "m", "timeout": "10s", "connect_timeout": "2s"}
        for name, up in zip("abc", ups, strict=False)}
    providers.update(extra.pop("providers", {}))
    return settings_tree(providers=providers, routes=routes, **extra)


async def chat(node: Node, session: aiohttp.ClientSession, model: str, *,
               key: str | None = None, stream: bool = False) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body or SSE text, headers) of one OpenAI chat request."""
    async with session.post(f"{node.url}/v1/chat/completions", headers=node.auth(key),
                            json={**CHAT, "model": model, "stream": stream}) as resp:
        body: Any = await resp.text() if stream else await resp.json(content_type=None)
        return resp.status, body, dict(resp.headers)
