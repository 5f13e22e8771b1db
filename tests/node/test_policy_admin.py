"""Key policy on /api/v1/tokens: every bad value is a 400 naming the field; PATCH merges."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from node.limits.policy import LIMIT_NAMES, key_policy
from tests.node.harness import Node

GOOD = {
    "name": "team",
    "limits": {"requests_per_minute": 60, "input_tokens_per_day": 100_000,
               "usd_per_day": 5.5, "max_concurrent": 4.0},
    "max_input_tokens": 8000,
    "max_output_tokens": 2000,
    "system_prompt": "Be brief.",
    "default_model": "demo/mock-1",
    "price_multiplier": 1.25,
}


def _indexed(node: Node, key_id: str) -> Any:
    return next(r for r in node.gateway.keys.records() if r.id == key_id)


async def _call(node: Node, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
        method, node.url + path, json=body, headers=node.admin()
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_policy_round_trips(node: Node) -> None:
    status, made = await _call(node, "POST", "/api/v1/tokens", GOOD)
    assert status == 201, made
    expected = {**GOOD, "limits": {**GOOD["limits"], "max_concurrent": 4}}
    del expected["name"]
    assert {name: made[name] for name in expected} == expected
    status, shown = await _call(node, "GET", f"/api/v1/tokens/{made['id']}")
    assert status == 200 and {name: shown[name] for name in expected} == expected
    policy = key_policy(_indexed(node, made["id"]))  # what the request path reads
    assert policy.limits["usd_per_day"] == 5.5 and policy.max_output_tokens == 2000
    assert policy.price_multiplier == 1.25


async def test_defaults_for_a_key_without_policy(node: Node) -> None:
    status, made = await _call(node, "POST", "/api/v1/tokens", {"name": "plain"})
    assert status == 201
    assert made["limits"] == {} and made["price_multiplier"] == 1.0
    assert made["system_prompt"] is None and made["max_input_tokens"] is None


async def test_patch_merges(node: Node) -> None:
    _, made = await _call(node, "POST", "/api/v1/tokens", GOOD)
    path = f"/api/v1/tokens/{made['id']}"
    # Fields not sent stay; limits sent replace the whole limits object.
    status, patched = await _call(node, "PATCH", path, {"limits": {"requests_per_day": 10}})
    assert status == 200, patched
    assert patched["limits"] == {"requests_per_day": 10}
    assert patched["system_prompt"] == "Be brief." and patched["max_output_tokens"] == 2000
    # A null limit is no limit; null fields are cleared; the multiplier falls back to 1.0.
    status, patched = await _call(node, "PATCH", path, {
        "limits": {"requests_per_day": None, "usd_per_month": 100},
        "system_prompt": None, "price_multiplier": None, "name": "renamed"})
    assert status == 200, patched
    assert patched["limits"] == {"usd_per_month": 100}
    assert patched["system_prompt"] is None and patched["price_multiplier"] == 1.0
    assert patched["name"] == "renamed" and patched["default_model"] == "demo/mock-1"
    status, patched = await _call(node, "PATCH", path, {"limits": None})
    assert status == 200 and patched["limits"] == {}
    stored = await node.gateway.store.get_api_key(made["id"])
    assert stored is not None and "limits" not in stored.policy
    assert _indexed(node, made["id"]).policy == stored.policy  # applied at once


@pytest.mark.parametrize(("body", "field"), [
    ({"limits": {"requests_per_minit": 5}}, "limits.requests_per_minit"),
    ({"limits": {"requests_per_minute": -1}}, "limits.requests_per_minute"),
    ({"limits": {"requests_per_minute": 0}}, "limits.requests_per_minute"),
    ({"limits": {"requests_per_minute": 1.5}}, "limits.requests_per_minute"),
    ({"limits": {"requests_per_minute": "60"}}, "limits.requests_per_minute"),
    ({"limits": {"input_tokens_per_day": True}}, "limits.input_tokens_per_day"),
    ({"limits": {"usd_per_day": 0}}, "limits.usd_per_day"),
    ({"limits": {"usd_per_month": -0.5}}, "limits.usd_per_month"),
    ({"limits": {"max_concurrent": 10**13}}, "limits.max_concurrent"),
    ({"limits": [60]}, "limits"),
    ({"max_input_tokens": 0}, "max_input_tokens"),
    ({"max_output_tokens": 10.5}, "max_output_tokens"),
    ({"max_output_tokens": "2000"}, "max_output_tokens"),
    ({"system_prompt": 5}, "system_prompt"),
    ({"system_prompt": "x" * 100_001}, "system_prompt"),
    ({"default_model": ["a"]}, "default_model"),
    ({"price_multiplier": 0}, "price_multiplier"),
    ({"price_multiplier": -1}, "price_multiplier"),
    ({"price_multiplier": "2"}, "price_multiplier"),
])
async def test_bad_input_names_the_field(node: Node, body: dict[str, Any], field: str) -> None:
    status, data = await _call(node, "POST", "/api/v1/tokens", {"name": "x", **body})
    assert status == 400, data
    assert field in data["error"]["message"]
    _, made = await _call(node, "POST", "/api/v1/tokens", {"name": "ok"})
    status, data = await _call(node, "PATCH", f"/api/v1/tokens/{made['id']}", body)
    assert status == 400 and field in data["error"]["message"]
    _, shown = await _call(node, "GET", f"/api/v1/tokens/{made['id']}")
    assert shown["limits"] == {} and shown["price_multiplier"] == 1.0  # nothing half-applied


def test_every_limit_name_is_accepted() -> None:
    from node.limits.policy import parse_policy

    parsed = parse_policy({"limits": dict.fromkeys(LIMIT_NAMES, 3)})
    assert parsed["limits"] == dict.fromkeys(LIMIT_NAMES, 3)
