"""Limits end to end on one node: exact request caps through the official SDKs, 429 shapes,
output-token reservations with streaming, USD budgets and ``GET /v1/key``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from store import window_of
from tests.node.harness import Node, running_node, settings_tree


async def _limit(node: Node, policy: dict[str, Any]) -> None:
    """Give the node's default key ``policy`` (stored, then reloaded as a change would be)."""
    store = node.gateway.store
    record = (await store.list_api_keys())[0]
    await store.update_api_key(dataclasses.replace(record, policy=policy))
    await node.gateway.reload_key(record.id)


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with running_node() as running:
        yield running


def _chat(client: openai.AsyncOpenAI, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="demo/mock-1", messages=[{"role": "user", "content": "hi"}], **extra)


async def test_openai_sdk_gets_exactly_the_cap_then_429(node: Node) -> None:
    await _limit(node, {"limits": {"requests_per_minute": 3}})
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                  max_retries=0) as client:
        answers = [await _chat(client) for _ in range(3)]
        with pytest.raises(openai.RateLimitError) as refused:
            await _chat(client)
    assert [a.headers["x-ratelimit-limit-requests"] for a in answers] == ["3", "3", "3"]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    error = refused.value
    assert error.code == "rate_limit_exceeded"
    assert "requests_per_minute 3" in error.message and "key 'default'" in error.message
    assert 1 <= int(error.response.headers["Retry-After"]) <= 60
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    metrics = node.gateway.metrics.render().decode()
    assert 'at_rate_limit_exceeded_total{key="default",limit="requests_per_minute"} 1.0' \
        in metrics


async def test_anthropic_and_gemini_clients_get_their_429(node: Node) -> None:
    await _limit(node, {"limits": {"requests_per_minute": 1}})
    async with anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key,
                                        max_retries=0) as client:
        await client.messages.create(model="demo/mock-1", max_tokens=5,
                                     messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(anthropic.RateLimitError) as refused:
            await client.messages.create(model="demo/mock-1", max_tokens=5,
                                         messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 429
    assert "requests_per_minute 1" in str(refused.value)
    async with aiohttp.ClientSession() as session, session.post(
        f"{node.url}/v1beta/models/demo/mock-1:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": node.api_key},
    ) as resp:
        body = await resp.json()
    assert resp.status == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_output_limit_is_set_upstream_and_reserved_when_streaming(node: Node) -> None:
    # The client sets no output limit: the gateway sets the key's (6), so every streamed
    # answer stops at 6 tokens, and a cap of 20 admits three such answers, not a fourth.
    await _limit(node, {"limits": {"output_tokens_per_minute": 20}, "max_output_tokens": 6})
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                  max_retries=0) as client:
        for _ in range(3):
            stream = await client.chat.completions.create(
                model="demo/mock-1", messages=[{"role": "user", "content": "x"}], stream=True)
            words = "".join([c.choices[0].delta.content or "" async for c in stream
                             if c.choices]).split()
            assert len(words) == 6
        with pytest.raises(openai.RateLimitError) as refused:
            await _chat(client)
    assert "output_tokens_per_minute 20" in refused.value.message
    assert refused.value.response.headers["x-ratelimit-limit-tokens"] == "20"


async def test_usd_budget_refuses_with_insufficient_quota() -> None:
    """One dollar per million tokens in and out on ``demo``; ``free`` has no known price."""
    priced = {"mock-1": {"input": 1.0, "output": 1.0}}
    tree = settings_tree(providers={"demo": {"type": "mock", "prices": priced},
                                    "free": {"type": "mock"}})
    async with running_node(tree) as node:
        await _usd_budget(node)


async def _usd_budget(node: Node) -> None:
    await _limit(node, {"limits": {"usd_per_day": 0.0005}})
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                  max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as unpriced:
            await client.chat.completions.create(
                model="free/mock-1", messages=[{"role": "user", "content": "hi"}])
        assert "no known price for 'free/mock-1'" in unpriced.value.message
        await _chat(client, max_tokens=100)  # reserves ~200 micro-USD, uses far less
        with pytest.raises(openai.RateLimitError) as refused:
            await _chat(client, max_tokens=2000)
    assert refused.value.code == "insufficient_quota"
    assert "usd_per_day 0.0005" in refused.value.message
    assert 'at_quota_exceeded_total{key="default",limit="usd_per_day"} 1.0' \
        in node.gateway.metrics.render().decode()


async def test_each_model_of_a_provider_is_bounded_at_its_own_price() -> None:
    """A key's plan is kept per model: after a cheap model's admission, a dear model at the
    same provider is still bounded at its own price (and refused), the cheap one not."""
    prices = {"mock-1": {"input": 1.0, "output": 1.0},
              "mock-dear": {"input": 1000.0, "output": 1000.0}}
    tree = settings_tree(providers={"demo": {"type": "mock", "prices": prices}})
    async with running_node(tree) as node:
        await _limit(node, {"limits": {"usd_per_day": 0.001}})
        async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                      max_retries=0) as client:
            await _chat(client, max_tokens=100)  # ~200 micro-USD reserved of 1000
            with pytest.raises(openai.RateLimitError) as refused:
                await client.chat.completions.create(
                    model="demo/mock-dear", max_tokens=100,
                    messages=[{"role": "user", "content": "hi"}])
            cheap = await _chat(client, max_tokens=100)
    assert refused.value.code == "insufficient_quota"
    assert cheap.http_response.status_code == 200


async def test_key_route_reports_limits_and_spend(node: Node) -> None:
    await _limit(node, {"limits": {"requests_per_minute": 5, "max_concurrent": 2}})
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                  max_retries=0) as client:
        await _chat(client)
        await _chat(client)
    async with aiohttp.ClientSession() as session, session.get(
            f"{node.url}/v1/key", headers={"x-api-key": node.api_key}) as resp:
        report = await resp.json()
    assert resp.status == 200
    assert report["name"] == "default"
    rpm = report["limits"]["requests_per_minute"]
    assert rpm["limit"] == 5 and rpm["used"] == 2 and rpm["remaining"] == 3
    assert rpm["resets_at"].endswith(":00Z")
    assert report["limits"]["max_concurrent"] == {"limit": 2, "used": 0, "remaining": 2,
                                                  "resets_at": None}
    assert report["spend_usd"] == {"today": 0.0, "month": 0.0}


async def test_sqlite_store_enforces_the_same_cap_across_a_restart(tmp_path: Path) -> None:
    """The same leases from a SQLite ledger: three, then 429; and a node restarted within
    the window (its slice forfeited) still admits nothing more."""
    tree = settings_tree(store={"memory": None, "sqlite": {"datasource": str(tmp_path / "at.db")}})
    began = window_of("minute", time.time())
    async with running_node(tree) as node:
        await _limit(node, {"limits": {"requests_per_minute": 3}})
        key = node.api_key
        async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=key,
                                      max_retries=0) as client:
            for _ in range(2):
                await _chat(client)
    admitted = 0
    async with running_node(tree) as node, openai.AsyncOpenAI(
            base_url=f"{node.url}/v1", api_key=key, max_retries=0) as client:
        for _ in range(3):
            try:
                await _chat(client)
                admitted += 1
            except openai.RateLimitError:
                pass
    # The first node gave back its unused unit on a clean stop, so exactly one more fits in
    # the same window (a new minute starts afresh).
    same_window = window_of("minute", time.time()) == began
    assert admitted == (1 if same_window else 3)
