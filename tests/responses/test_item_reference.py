"""``item_reference`` input items: resolved against the stored input and output items of the
asking key's answers (the ids ``input_items`` lists and the output's own), so every upstream
gets the item itself; an unknown id or another key's item is OpenAI's 404 naming the id."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import orjson

from node.routes.responses_book import BOOK
from tests.dialects.conftest import Upstream
from tests.fakes.openai_upstream import FakeUpstream
from tests.fakes.replies import TEXT, TOOL_NAME, reply
from tests.node.harness import Node, running_node, settings_tree
from tests.node.test_policy_requests import new_key
from tests.responses.test_sdk import WEATHER


def _client(node: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key, max_retries=0)


async def test_sdk_references_input_and_output_items(wire_upstream: Upstream,
                                                     node_for: Any) -> None:
    up = wire_upstream
    up.fake.push(reply(up.wire, "tools", stream=False), reply(up.wire, "text", stream=True))
    async with node_for(up) as node, _client(node) as client:
        first = await client.responses.create(model="up/up-model", input="weather in Paris?",
                                              tools=[WEATHER])  # type: ignore[list-item]
        listed = await client.responses.input_items.list(first.id)
        question = listed.data[0].id
        call = next(item for item in first.output if item.type == "function_call")
        assert call.id and question.startswith("msg_")
        follow: list[Any] = [
            {"type": "item_reference", "id": question},
            {"type": "item_reference", "id": call.id},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}]
        async with client.responses.stream(model="up/up-model", input=follow,
                                           tools=[WEATHER]) as stream:  # type: ignore[list-item]
            second = await stream.get_final_response()
        again = await client.responses.input_items.list(second.id, order="asc")
    assert second.output_text == TEXT
    sent = orjson.dumps(up.fake.requests[1].body).decode()
    assert "item_reference" not in sent
    asked, called, said = (sent.index(s) for s in ("weather in Paris?", TOOL_NAME, "sunny"))
    assert asked < called < said  # the referenced items, in the order referenced
    kinds = [item.type for item in again.data]
    assert kinds == ["message", "function_call", "function_call_output"]
    assert again.data[0].id == question and again.data[1].id == call.id  # stored resolved


def _tree(fake: FakeUpstream) -> dict[str, Any]:
    return settings_tree(providers={"up": {"type": "openai", "base_url": fake.base_url,
                                           "api_key": "sk-up", "model": "m"}})


async def _post(node: Node, body: Any, key: str | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(
            node.url + "/v1/responses", json=body, headers=node.auth(key)) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_wire_unknown_foreign_and_malformed_references() -> None:
    async with FakeUpstream() as fake, running_node(_tree(fake)) as node:
        fake.push(reply("openai", "text", stream=False))
        status, made = await _post(node, {"model": "up/m", "input": "secret plans"})
        assert status == 200, made
        mine = made["output"][0]["id"]
        other = await new_key(node)
        for stream in (False, True):
            status, body = await _post(node, {"model": "up/m", "stream": stream, "input": [
                {"role": "user", "content": "hi"}, {"type": "item_reference", "id": "msg_nope"}]})
            assert status == 404, body
            assert body["error"] == {"message": "Item with id 'msg_nope' not found.",
                                     "type": "invalid_request_error", "param": "input[1]",
                                     "code": None}
        status, body = await _post(node, {"model": "up/m", "input": [
            {"type": "item_reference", "id": mine}]}, key=other)
        assert status == 404 and mine in body["error"]["message"]
        assert "secret" not in orjson.dumps(body).decode()
        for bad in (None, 7, ""):
            status, body = await _post(node, {"model": "up/m", "input": [
                {"type": "item_reference", "id": bad}]})
            assert status == 400 and body["error"]["param"] == "input[0].id", body
        assert len(fake.requests) == 1  # every refusal came before any upstream call


async def test_wire_reference_read_from_the_store() -> None:
    """A reference to an answer this node no longer remembers (made on another replica, or
    long ago) is read from the shared store; a deleted answer's items are gone."""
    async with FakeUpstream() as fake, running_node(_tree(fake)) as node:
        fake.push(reply("openai", "text", stream=False), reply("openai", "text", stream=False))
        status, made = await _post(node, {"model": "up/m", "input": "my name is Ada"})
        assert status == 200, made
        node.app[BOOK]._recent.clear()  # as if another node had made it
        answer_id = made["output"][0]["id"]
        status, second = await _post(node, {"model": "up/m", "store": False, "input": [
            {"type": "item_reference", "id": answer_id},
            {"role": "user", "content": "and again?"}]})
        assert status == 200, second
        sent = fake.requests[1].body["messages"]
        assert [m["role"] for m in sent] == ["assistant", "user"]
        assert sent[0]["content"] == TEXT and sent[1]["content"] == "and again?"
        async with aiohttp.ClientSession() as session, session.delete(
                f"{node.url}/v1/responses/{made['id']}", headers=node.auth()) as resp:
            assert resp.status == 200
        status, body = await _post(node, {"model": "up/m", "input": [
            {"type": "item_reference", "id": answer_id}]})
        assert status == 404 and answer_id in body["error"]["message"]
