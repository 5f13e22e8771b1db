"""Admin API: providers and keys take effect at once, secrets never come back."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from node.config.secrets import provider_secret_paths
from node.middleware import render_error
from store import BadRecord
from tests.fakes.openai_upstream import FakeUpstream
from tests.node.harness import Node, post, running_node, settings_tree

CHAT = {"model": "new/fake-model", "messages": [{"role": "user", "content": "hi"}]}


async def _call(node: Node, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
        method, node.url + path, json=body, headers=node.admin()
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_provider_crud_without_restart(node: Node, upstream: FakeUpstream) -> None:
    assert (await post(node, "/v1/chat/completions", CHAT))[0] == 404
    status, made = await _call(node, "POST", "/api/v1/providers", {
        "key": "new", "type": "openai", "base_url": upstream.base_url,
        "api_key": "sk-stored-secret-abcdef", "model": "fake-model",
        "extra_headers": {"X-Secret": "hdr-secret-value"},
    })
    assert status == 201, made
    assert made["api_key"] == "<set>" and made["extra_headers"] == {"X-Secret": "<set>"}
    assert (await post(node, "/v1/chat/completions", CHAT))[0] == 200
    assert upstream.requests[-1].headers["Authorization"] == "Bearer sk-stored-secret-abcdef"
    status, listed = await _call(node, "GET", "/api/v1/providers")
    assert "sk-stored-secret" not in str(listed) and "hdr-secret-value" not in str(listed)
    # An update that keeps the destination keeps the stored secret.
    status, _ = await _call(node, "PUT", "/api/v1/providers/new", {
        "type": "openai", "base_url": upstream.base_url, "model": "fake-model",
        "models": ["extra"]})
    assert status == 200
    assert (await post(node, "/v1/chat/completions", {**CHAT, "model": "new/extra"}))[0] == 200
    assert upstream.requests[-1].headers["Authorization"] == "Bearer sk-stored-secret-abcdef"
    status, _ = await _call(node, "DELETE", "/api/v1/providers/new")
    assert status == 200
    assert (await post(node, "/v1/chat/completions", CHAT))[0] == 404


async def test_retargeting_a_provider_requires_its_secret_again(
    node: Node, upstream: FakeUpstream
) -> None:
    await _call(node, "POST", "/api/v1/providers", {
        "key": "new", "type": "openai", "base_url": upstream.base_url,
        "api_key": "sk-keep-me-1234"})
    status, data = await _call(node, "PUT", "/api/v1/providers/new", {
        "type": "openai", "base_url": "http://attacker.invalid/v1"})
    assert status == 400 and "api_key" in data["error"]["message"]
    status, _ = await _call(node, "PUT", "/api/v1/providers/new", {
        "type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-new-one-5678"})
    assert status == 200


async def test_leaving_out_base_url_or_proxy_is_a_retarget_too(
    node: Node, upstream: FakeUpstream
) -> None:
    """Leaving base_url out sends the stored key to the vendor's public URL: that is a new
    destination, and the secret must be sent again (the same for a proxy that goes away)."""
    await _call(node, "POST", "/api/v1/providers", {
        "key": "new", "type": "openai", "base_url": upstream.base_url,
        "proxy": "http://user:pw@127.0.0.1:3128", "api_key": "sk-keep-me-1234"})
    for body in ({"type": "openai", "proxy": "http://user:pw@127.0.0.1:3128"},
                 {"type": "openai", "base_url": upstream.base_url}):
        status, data = await _call(node, "PUT", "/api/v1/providers/new", body)
        assert status == 400 and "api_key" in data["error"]["message"], body
    status, data = await _call(node, "GET", "/api/v1/providers/new")
    assert data["base_url"] == upstream.base_url  # nothing changed


async def test_stored_provider_overrides_yaml(upstream: FakeUpstream) -> None:
    async with running_node(settings_tree(providers={"demo": {"type": "mock"}})) as node:
        status, _ = await _call(node, "PUT", "/api/v1/providers/demo", {
            "type": "openai", "base_url": upstream.base_url, "model": "fake-model",
            "api_key": "sk-x-123456"})
        assert status == 201  # new in the store, even though at.yaml has the key
        status, data, _ = await post(node, "/v1/chat/completions", {
            "model": "demo/fake-model", "messages": [{"role": "user", "content": "x"}]})
        assert status == 200 and data["choices"][0]["message"]["content"] == "Hello from the fake."
        status, data = await _call(node, "GET", "/api/v1/providers/demo")
        assert data["source"] == "store"
        await _call(node, "DELETE", "/api/v1/providers/demo")
        status, data = await _call(node, "GET", "/api/v1/providers/demo")
        assert status == 200 and data["type"] == "mock" and data["source"] == "yaml"


async def test_invalid_provider_is_400_naming_the_field(node: Node) -> None:
    status, data = await _call(node, "POST", "/api/v1/providers",
                               {"key": "x", "type": "openai", "timeout": "soon"})
    assert status == 400 and "providers.x.timeout" in data["error"]["message"]
    status, data = await _call(node, "POST", "/api/v1/providers", {"key": "y", "type": "nope"})
    assert status == 400 and "providers.y.type" in data["error"]["message"]


async def test_keys_crud_and_shown_once(node: Node) -> None:
    status, made = await _call(node, "POST", "/api/v1/tokens",
                               {"name": "ci", "models": ["demo/*"]})
    assert status == 201 and made["key"].startswith("at-") and len(made["key"]) > 40
    status, one = await _call(node, "GET", f"/api/v1/tokens/{made['id']}")
    assert "key" not in one and one["prefix"] == made["key"][:10]
    status, listed = await _call(node, "GET", "/api/v1/tokens")
    assert made["key"] not in str(listed)
    stored = await node.gateway.store.get_api_key(made["id"])
    assert stored is not None and made["key"] not in repr(stored)
    status, _ = await _call(node, "DELETE", f"/api/v1/tokens/{made['id']}")
    assert status == 200
    headers = {"Authorization": f"Bearer {made['key']}"}
    status, _, _ = await post(node, "/v1/chat/completions",
                              {**CHAT, "model": "demo/mock-1"}, headers)
    assert status == 401
    assert (await _call(node, "GET", f"/api/v1/tokens/{made['id']}"))[0] == 404


async def test_usage_per_key_and_model(node: Node) -> None:
    for _ in range(3):
        await post(node, "/v1/chat/completions",
                   {"model": "demo/mock-1", "max_tokens": 5,
                    "messages": [{"role": "user", "content": "one two three"}]})
    status, data = await _call(node, "GET", "/api/v1/usage")
    assert status == 200
    (row,) = data["data"]
    assert row["requests"] == 3 and row["output_tokens"] == 15 and row["input_tokens"] == 9
    assert row["model"] == "mock-1"


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00%2B01:00",
                                   "until=9999-12-31T23:59:59-05:00", "since=yesterday"])
async def test_usage_dates_out_of_range_are_the_clients_mistake(node: Node, query: str) -> None:
    status, data = await _call(node, "GET", f"/api/v1/usage?{query}")
    assert status == 400, data
    assert data["error"]["param"] == query.split("=")[0]


def test_a_record_the_store_refuses_is_a_bad_request() -> None:
    response = render_error(BadRecord("usage: a value is out of range"), "openai")
    assert response.status == 400
    assert response.body is not None and b"out of range" in bytes(response.body)


async def test_rotate_key_without_encryption_is_a_no_op(node: Node) -> None:
    status, result = await _call(node, "POST", "/api/v1/settings/rotate-key", {})
    assert status == 200 and result["version"] == 0 and result["encrypted"] is False


async def test_rotate_key_on_a_single_node() -> None:
    async with running_node(settings_tree(store={"memory": {}, "encryption_key": "pass-1"})) as n:
        await _rotate_twice(n)


async def _rotate_twice(node: Node) -> None:
    status, first = await _call(node, "POST", "/api/v1/settings/rotate-key", {})
    assert status == 200, first
    status, second = await _call(node, "POST", "/api/v1/settings/rotate-key", {})
    assert second["version"] == first["version"] + 1
    status, _ = await _call(node, "POST", "/api/v1/settings/rotate-key", {"encryption_key": 5})
    assert status == 400


async def test_health_ready_metrics_open(node: Node) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(node.url + "/health") as resp:
            health = await resp.json()
        assert health["status"] == "ok" and health["version"] and health["uptime_seconds"] >= 0
        async with session.get(node.url + "/ready") as resp:
            assert resp.status == 200 and (await resp.json())["checks"]["store"] == "ok"
        async with session.get(node.url + "/metrics") as resp:
            assert resp.status == 200 and "at_http_requests_total" in await resp.text()


async def test_a_rejected_provider_is_not_stored(node: Node) -> None:
    status, data = await _call(node, "POST", "/api/v1/providers",
                               {"key": "late", "type": "openai", "timeout": 0})
    assert status == 400 and "providers.late.timeout" in data["error"]["message"]
    assert await node.gateway.store.get_provider("late") is None
    assert (await _call(node, "GET", "/api/v1/providers/late"))[0] == 404
    status, data = await _call(node, "POST", "/api/v1/providers",
                               {"key": "late", "type": "openai", "timeout": 5})
    assert status == 201, data


async def test_a_socks5h_proxy_is_accepted(node: Node) -> None:
    status, data = await _call(node, "POST", "/api/v1/providers", {
        "key": "p", "type": "openai", "proxy": "socks5h://proxy.lan:1080"})
    assert status == 201, data
    assert data["proxy"] == "socks5h://proxy.lan:1080"


def _every_secret() -> tuple[dict[str, Any], list[str]]:
    """A provider body holding a value for every field of the one secret list."""
    body: dict[str, Any] = {"key": "full", "type": "openai", "base_url": "http://127.0.0.1:9/v1"}
    secrets: list[str] = []
    for path in provider_secret_paths():
        secret = f"s3cret-{path[0]}-value"
        secrets.append(secret)
        value = f"http://user:{secret}@proxy.lan:8080" if path == ("proxy",) else secret
        node: dict[str, Any] = body
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node["X-Secret" if path[-1] == "*" else path[-1]] = value
    return body, secrets


async def test_every_secret_field_is_masked(node: Node) -> None:
    body, secrets = _every_secret()
    status, made = await _call(node, "POST", "/api/v1/providers", body)
    assert status == 201, made
    _, listed = await _call(node, "GET", "/api/v1/providers")
    _, one = await _call(node, "GET", "/api/v1/providers/full")
    for shown in (made, listed, one):
        for secret in secrets:
            assert secret not in str(shown), secret
    assert one["proxy"] == "http://<set>@proxy.lan:8080"  # where traffic goes stays visible
    stored = await node.gateway.store.get_provider("full")
    assert stored is not None and stored.config["api_key"] == "s3cret-api_key-value"


async def test_a_provider_read_back_and_sent_again_keeps_its_secrets(node: Node) -> None:
    body, _ = _every_secret()
    assert (await _call(node, "POST", "/api/v1/providers", body))[0] == 201
    before = await node.gateway.store.get_provider("full")
    _, shown = await _call(node, "GET", "/api/v1/providers/full")
    again = {k: v for k, v in shown.items() if k not in ("key", "source")}
    status, data = await _call(node, "PUT", "/api/v1/providers/full", again)
    assert status == 200, data
    after = await node.gateway.store.get_provider("full")
    assert before is not None and after is not None
    assert dict(after.config) == dict(before.config)
    assert "<set>" not in str(after.config)
    # The markers stand for the stored values only where they would go: not elsewhere...
    status, data = await _call(node, "PUT", "/api/v1/providers/full",
                               {**again, "base_url": "http://attacker.invalid/v1"})
    assert status == 400 and data["error"]["param"] in ("api_key", "credentials_file",
                                                       "extra_headers.X-Secret"), data
    status, data = await _call(node, "PUT", "/api/v1/providers/full",
                               {**again, "proxy": "http://<set>@other.lan:8080"})
    assert status == 400 and data["error"]["param"] == "proxy"
    # ...and not where nothing is stored.
    status, data = await _call(node, "PUT", "/api/v1/providers/full",
                               {**again, "extra_headers": {"X-Other": "<set>"}})
    assert status == 400 and data["error"]["param"] == "extra_headers.X-Other"
    status, data = await _call(node, "POST", "/api/v1/providers",
                               {"key": "fresh", "type": "openai", "api_key": "<set>"})
    assert status == 400 and data["error"]["param"] == "api_key"
    assert await node.gateway.store.get_provider("fresh") is None
    still = await node.gateway.store.get_provider("full")
    assert still is not None and dict(still.config) == dict(before.config)


async def test_a_misspelled_token_field_is_400_naming_it(node: Node) -> None:
    status, data = await _call(node, "POST", "/api/v1/tokens",
                               {"name": "x", "allowed_providers": ["demo"]})
    assert status == 400 and "'allowed_providers'" in data["error"]["message"], data
    _, listed = await _call(node, "GET", "/api/v1/tokens")
    assert [t["name"] for t in listed["data"]] == ["default"]  # no unscoped key was minted
    status, made = await _call(node, "POST", "/api/v1/tokens", {"name": "x"})
    status, data = await _call(node, "PATCH", f"/api/v1/tokens/{made['id']}",
                               {"enabeld": False})
    assert status == 400 and "'enabeld'" in data["error"]["message"]


async def test_unknown_fields_of_providers_and_settings_are_400_naming_them(node: Node) -> None:
    status, data = await _call(node, "POST", "/api/v1/providers",
                               {"key": "p", "type": "openai", "api_kye": "sk-typo-123456"})
    assert status == 400 and "providers.p.api_kye: unknown key" in data["error"]["message"]
    assert "sk-typo-123456" not in str(data)
    status, data = await _call(node, "PUT", "/api/v1/providers/demo",
                               {"type": "mock", "modles": ["a"]})
    assert status == 400 and "providers.demo.modles" in data["error"]["message"]
    status, data = await _call(node, "POST", "/api/v1/settings/rotate-key",
                               {"encryption_keys": "new"})
    assert status == 400 and "'encryption_keys'" in data["error"]["message"]


async def test_expiry_outside_a_sane_range_is_400_and_never_stored(node: Node) -> None:
    """9999-12-31T23:59:59.999999 (a common "never") used to be stored, then break every
    listing and every start; extreme offsets overflowed on write."""
    for bad in ("9999-12-31T23:59:59.999999", "0001-01-01T00:00:00+23:59", "1969-12-31",
                12345, "tomorrow"):
        status, data = await _call(node, "POST", "/api/v1/tokens",
                                   {"name": "x", "expires_at": bad})
        assert status == 400 and data["error"]["param"] == "expires_at", bad
    status, listed = await _call(node, "GET", "/api/v1/tokens")
    assert status == 200 and all(t["name"] != "x" for t in listed["data"])
    status, made = await _call(node, "POST", "/api/v1/tokens",
                               {"name": "y", "expires_at": "2999-06-01T12:00:00+02:00"})
    assert status == 201 and made["expires_at"] == "2999-06-01T10:00:00+00:00"


async def test_a_new_key_is_never_cached(node: Node) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            node.url + "/api/v1/tokens", json={"name": "z"}, headers=node.admin()) as resp:
        assert resp.status == 201
        assert resp.headers["Cache-Control"] == "no-store"
