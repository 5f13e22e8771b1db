"""Prices and cost: genai-prices' catalogue, provider overrides, the key's multiplier, and the
cost of each exchange on the answer, the usage record and the metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest

from node.catalog import Catalog
from node.config import parse_provider
from node.errors import BadRequest
from node.limits.prices import Price, Prices
from providers import ClientPool, Usage
from store import MemoryStore, StoreConfig, UsageRecord
from tests.fakes.openai_upstream import FakeUpstream, Json
from tests.node.harness import Node, running_node, settings_tree

# genai-prices 0.2.3: gpt-4o is $2.50 in, $10 out, $1.25 cached per million tokens.
GPT_4O = Price(2.5, 10.0, 1.25, 2.5)


def prices_for(**providers: dict[str, Any]) -> Prices:
    catalog = Catalog(ClientPool())
    catalog.load({key: parse_provider(key, tree) for key, tree in providers.items()}, {})
    return Prices(catalog)


def test_catalogue_price_of_a_known_openai_model() -> None:
    prices = prices_for(oa={"type": "openai", "api_key": "k"})
    assert prices.price("oa", "gpt-4o") == GPT_4O
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=2000)
    # Input excludes the cached tokens, which are priced apart.
    expected = (1000 * 2.5 + 500 * 10 + 2000 * 1.25) / 1e6
    assert prices.cost("oa", "gpt-4o", usage) == pytest.approx(expected)
    assert prices.cost("oa", "gpt-4o", usage, 1.5) == pytest.approx(expected * 1.5)
    assert prices.quote("oa", "gpt-4o", usage).known


def test_vendor_by_provider_type() -> None:
    prices = prices_for(az={"type": "azure", "base_url": "http://127.0.0.1:9/openai/deployments/d",
                            "api_key": "k"},
                        vx={"type": "vertex", "base_url": "https://aiplatform.googleapis.com/v1"},
                        cl={"type": "anthropic", "api_key": "k"})
    assert prices.price("az", "gpt-4o-mini") is not None
    assert prices.price("vx", "google/gemini-2.5-flash") is not None
    claude = prices.price("cl", "claude-sonnet-4-5")
    assert claude is not None and claude.tiers  # a long-context cliff
    small = prices.cost("cl", "claude-sonnet-4-5", Usage(input_tokens=1000))
    large = prices.cost("cl", "claude-sonnet-4-5", Usage(input_tokens=300_000))
    assert large / 300 > small  # over the cliff every token is dearer
    # The bound assumes the dearest tier.
    assert prices.bound("cl", "claude-sonnet-4-5", 1000, 0) == pytest.approx(
        1000 * claude.peak().cache_write / 1e6)


def test_provider_override_wins_and_unknown_models() -> None:
    prices = prices_for(oa={"type": "openai", "api_key": "k", "prices": {
        "gpt-4o": {"input": 1, "output": 2, "cache_read": 0.5}}})
    assert prices.price("oa", "gpt-4o") == Price(1.0, 2.0, 0.5, 1.0)
    assert prices.cost("oa", "gpt-4o", Usage(1_000_000, 1_000_000)) == pytest.approx(3.0)
    assert prices.bound("oa", "gpt-4o", 1000, 100, 2.0) == pytest.approx((1000 + 200) * 2 / 1e6)
    unknown = prices.quote("oa", "no-such-model-xyz", Usage(10, 10))
    assert unknown.usd == 0.0 and not unknown.known
    assert prices.bound("oa", "no-such-model-xyz", 10, 10) == 0.0
    with pytest.raises(BadRequest, match=r"set providers\.oa\.prices"):
        prices.bound("oa", "no-such-model-xyz", 10, 10, required=True)


def test_a_changed_provider_is_priced_again() -> None:
    catalog = Catalog(ClientPool())
    catalog.load({}, {"p": {"type": "mock", "prices": {"mock-1": {"input": 1, "output": 1}}}})
    prices = Prices(catalog)
    assert prices.cost("p", "mock-1", Usage(1_000_000, 0)) == pytest.approx(1.0)
    catalog.set_stored("p", {"type": "mock", "prices": {"mock-1": {"input": 4, "output": 1}}})
    assert prices.cost("p", "mock-1", Usage(1_000_000, 0)) == pytest.approx(4.0)


class RecordingStore(MemoryStore):
    """The memory store, keeping every usage record it was given for the test to read."""

    def __init__(self) -> None:
        super().__init__(StoreConfig(kind="memory"))
        self.records: list[UsageRecord] = []

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        await super().add_usage(records)
        self.records.extend(records)


@pytest.fixture
async def priced(upstream: FakeUpstream) -> AsyncIterator[Node]:
    tree = settings_tree(providers={"up": {
        "type": "openai", "base_url": upstream.base_url, "api_key": "sk-up", "model": "gpt-4o",
        "prices": {"cheap": {"input": 1, "output": 4}}}})
    async with running_node(tree, store=RecordingStore()) as node:
        yield node


async def _chat(node: Node, key: str, body: dict[str, Any]) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session, session.post(
        node.url + "/v1/chat/completions", json=body, headers=node.auth(key)
    ) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_cost_header_usage_record_and_metric(priced: Node, upstream: FakeUpstream) -> None:
    async with aiohttp.ClientSession(headers=priced.admin()) as session, session.post(
        priced.url + "/api/v1/tokens", json={"name": "k", "price_multiplier": 2}
    ) as resp:
        made = await resp.json()
    usage = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
             "prompt_tokens_details": {"cached_tokens": 200}}
    reply = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                          "finish_reason": "stop"}], "usage": usage}
    upstream.push(Json(reply))
    upstream.push(Json({**reply, "model": "cheap"}))
    messages = [{"role": "user", "content": "hi"}]
    status, _, headers = await _chat(priced, made["key"], {"model": "up/gpt-4o",
                                                           "messages": messages})
    assert status == 200
    expected = (1000 * 2.5 + 300 * 10 + 200 * 1.25) / 1e6 * 2
    assert headers["x-at-cost-usd"] == f"{expected:.6f}"
    status, _, headers = await _chat(priced, made["key"], {"model": "up/cheap",
                                                           "messages": messages})
    assert headers["x-at-cost-usd"] == f"{(1200 * 1 + 300 * 4) / 1e6 * 2:.6f}"
    gateway = priced.gateway
    await gateway.usage.flush()
    store = gateway.store
    assert isinstance(store, RecordingStore)
    costs = [record.cost_usd for record in store.records if record.key_id == made["id"]]
    assert [f"{cost:.6f}" for cost in costs] == [f"{expected:.6f}",
                                                 f"{(1200 + 1200) / 1e6 * 2:.6f}"]
    rendered = gateway.metrics.render().decode()
    assert f'at_cost_usd_total{{key="{made["id"]}",model="up/gpt-4o",provider="up"}}' in rendered
