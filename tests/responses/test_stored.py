"""Stored answers on one node: previous_response_id, GET/DELETE, input_items, visibility per
gateway key, ``store: false``, retention, and OpenAI's 404 for unknown ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from node.routes.responses_book import BOOK
from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.replies import TEXT, reply
from tests.node.harness import Node, running_node, settings_tree
from tests.node.test_policy_requests import new_key


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


def _tree(fake: FakeUpstream, **server: Any) -> dict[str, Any]:
    return settings_tree(providers={"up": {"type": "openai", "base_url": fake.base_url,
                                           "api_key": "sk-up", "model": "m"}},
                         server=server)


async def _call(node: Node, method: str, path: str, body: Any = None,
                key: str | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, node.url + path, json=body, headers=node.auth(key)) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_previous_response_id_continues_the_conversation(fake: FakeUpstream) -> None:
    fake.push(reply("openai", "text", stream=True), reply("openai", "text", stream=False))
    async with running_node(_tree(fake)) as node:
        client = openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                    max_retries=0)
        async with client:
            async with client.responses.stream(model="up/m", input="my name is Ada",
                                               metadata={"topic": "names"}) as stream:
                first = await stream.get_final_response()
            second = await client.responses.create(model="up/m", input="what is my name?",
                                                   previous_response_id=first.id)
            got = await client.responses.retrieve(first.id)
            items = await client.responses.input_items.list(second.id, order="asc")
    sent = fake.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "my name is Ada" and sent[1]["content"] == TEXT
    assert sent[2]["content"] == "what is my name?"
    assert "previous_response_id" not in fake.requests[1].body
    assert second.previous_response_id == first.id
    assert got.id == first.id and got.output_text == TEXT and got.metadata == {"topic": "names"}
    texts = [orjson.dumps(item.model_dump()).decode() for item in items.data]
    assert len(texts) == 3 and "my name is Ada" in texts[0] and "what is my name?" in texts[2]


async def test_another_key_sees_nothing(fake: FakeUpstream) -> None:
    async with running_node(_tree(fake)) as node:
        status, made = await _call(node, "POST", "/v1/responses",
                                   {"model": "up/m", "input": "secret plans"})
        assert status == 200, made
        other = await new_key(node)
        for method, path in (("GET", f"/v1/responses/{made['id']}"),
                             ("GET", f"/v1/responses/{made['id']}/input_items"),
                             ("DELETE", f"/v1/responses/{made['id']}")):
            status, body = await _call(node, method, path, key=other)
            assert status == 404, (method, path, body)
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["param"] is None  # the id came in the path, not a field
            assert "secret" not in orjson.dumps(body).decode()
        status, body = await _call(node, "POST", "/v1/responses",
                                   {"model": "up/m", "input": "go on",
                                    "previous_response_id": made["id"]}, key=other)
        assert status == 404 and body["error"]["param"] == "previous_response_id"
        assert len(fake.requests) == 1  # refused before any upstream call
        status, _ = await _call(node, "GET", f"/v1/responses/{made['id']}")
        assert status == 200  # still there for its own key


async def test_unknown_id_and_delete(fake: FakeUpstream) -> None:
    async with running_node(_tree(fake)) as node:
        status, body = await _call(node, "GET", "/v1/responses/resp_nope")
        assert status == 404 and "resp_nope" in body["error"]["message"]
        status, made = await _call(node, "POST", "/v1/responses",
                                   {"model": "up/m", "input": "hi"})
        status, gone = await _call(node, "DELETE", f"/v1/responses/{made['id']}")
        assert status == 200 and gone == {"id": made["id"], "object": "response.deleted",
                                          "deleted": True}
        assert await node.gateway.store.get_response(made["id"]) is None
        status, _ = await _call(node, "GET", f"/v1/responses/{made['id']}")
        assert status == 404


async def test_store_false_keeps_nothing(fake: FakeUpstream) -> None:
    async with running_node(_tree(fake)) as node:
        for stream in (False, True):
            async with aiohttp.ClientSession() as session, session.post(
                    node.url + "/v1/responses", headers=node.auth(),
                    json={"model": "up/m", "input": "hi", "store": False,
                          "stream": stream}) as resp:
                raw = await resp.read()
            assert resp.status == 200
            rid = _response_id(raw, stream)
            assert await node.gateway.store.get_response(rid) is None
            status, _ = await _call(node, "GET", f"/v1/responses/{rid}")
            assert status == 404


def _response_id(raw: bytes, stream: bool) -> str:
    if not stream:
        return str(orjson.loads(raw)["id"])
    for line in raw.split(b"\n"):
        if line.startswith(b"data: ") and b'"response.completed"' in line:
            return str(orjson.loads(line[6:])["response"]["id"])
    raise AssertionError(raw)


async def test_retention_expires_and_purges(fake: FakeUpstream) -> None:
    async with running_node(_tree(fake, responses_retention="200ms")) as node:
        status, made = await _call(node, "POST", "/v1/responses",
                                   {"model": "up/m", "input": "hi"})
        assert status == 200
        stored = await node.gateway.store.get_response(made["id"])
        assert stored is not None and 0.1 < stored.expires_at - stored.created_at < 0.3
        await asyncio.sleep(0.5)
        status, _ = await _call(node, "GET", f"/v1/responses/{made['id']}")
        assert status == 404
        status, body = await _call(node, "POST", "/v1/responses",
                                   {"model": "up/m", "input": "more",
                                    "previous_response_id": made["id"]})
        assert status == 404, body
        assert await node.app[BOOK].purge() == 1
        assert await node.gateway.store.get_response(made["id"]) is None


async def test_models_in_codex_and_openai_shapes(fake: FakeUpstream) -> None:
    async with running_node(_tree(fake)) as node:
        status, codex = await _call(node, "GET", "/v1/models?client_version=0.163.0")
        assert status == 200 and codex["models"] == [] and codex["data"]
        status, plain = await _call(node, "GET", "/v1/models")
        assert status == 200 and "models" not in plain and plain["data"] == codex["data"]
        async with aiohttp.ClientSession() as session, session.get(
                node.url + "/v1/responses", headers=node.auth()) as resp:
            assert resp.status == 426  # Codex's WebSocket attempt: refused fast
