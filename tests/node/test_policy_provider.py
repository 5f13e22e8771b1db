"""Provider ``limits`` and ``prices``: at.yaml and /api/v1/providers, one-line errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from node.config import ConfigError, parse_provider, parse_settings
from tests.node.harness import Node, settings_tree


def test_limits_and_prices_load() -> None:
    settings = parse_settings(settings_tree(providers={"up": {
        "type": "mock",
        "limits": {"requests_per_minute": 600, "usd_per_month": 99.5, "max_concurrent": None},
        "prices": {"m1": {"input": 2, "output": 8.5, "cache_read": 0.5}},
    }}))
    section = settings.providers["up"]
    assert section.limits == {"requests_per_minute": 600, "usd_per_month": 99.5}
    assert section.prices == {"m1": {"input": 2, "output": 8.5, "cache_read": 0.5}}
    assert parse_provider("bare", {"type": "mock"}).limits is None


@pytest.mark.parametrize(("fields", "key"), [
    ({"limits": {"requests_per_minit": 5}}, "providers.up.limits.requests_per_minit:"),
    ({"limits": {"output_tokens_per_day": -5}}, "providers.up.limits.output_tokens_per_day:"),
    ({"limits": {"usd_per_day": "a lot"}}, "providers.up.limits.usd_per_day:"),
    ({"limits": 5}, "providers.up.limits"),
    ({"prices": {"m": {"input": 1}}}, "providers.up.prices.m.output:"),
    ({"prices": {"m": {"input": 1, "output": -1}}}, "providers.up.prices.m.output:"),
    ({"prices": {"m": {"input": 1, "output": 1, "cached": 1}}}, "providers.up.prices.m.cached:"),
    ({"prices": {"m": 3}}, "providers.up.prices.m:"),
    ({"prices": ["m"]}, "providers.up.prices:"),
])
def test_bad_values_name_the_key(fields: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_provider("up", {"type": "openai", "api_key": "sk-secret-value", **fields})
    text = str(caught.value)
    assert text.startswith(key) and "\n" not in text
    assert "sk-secret-value" not in text


async def test_admin_provider_api(node: Node) -> None:
    config = {"key": "up", "type": "mock", "limits": {"requests_per_day": 1000},
              "prices": {"mock-1": {"input": 1, "output": 2}}}
    async with aiohttp.ClientSession(headers=node.admin()) as session:
        async with session.post(node.url + "/api/v1/providers", json=config) as resp:
            made = await resp.json()
            assert resp.status == 201, made
        assert made["limits"] == {"requests_per_day": 1000}
        assert made["prices"] == {"mock-1": {"input": 1, "output": 2}}
        entry = node.gateway.catalog.get("up")
        assert entry is not None and entry.section.limits == {"requests_per_day": 1000}
        bad = {**config, "limits": {"requests_per_day": 0}}
        async with session.put(node.url + "/api/v1/providers/up", json=bad) as resp:
            error = await resp.json()
            assert resp.status == 400
        assert "providers.up.limits.requests_per_day" in error["error"]["message"]
        assert node.gateway.catalog.get("up") == entry  # the refused change left no trace
