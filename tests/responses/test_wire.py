"""What each upstream receives for a Responses request, and what the client gets back:
pass-through to OpenAI's own /responses, custom and namespaced tools, reasoning, structured
output, and the refusals (400 naming the field) for what cannot be served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.dialects.conftest import Upstream
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.openai_upstream import FakeUpstream, Json, Sse
from tests.fakes.replies import reply
from tests.fakes.responses_replies import RESPONSES_TEXT
from tests.node.harness import Node, running_node, settings_tree

PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"
CUSTOM = {"type": "custom", "name": "apply_patch", "description": "Apply a patch",
          "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}
NAMESPACE = {"type": "namespace", "name": "multi_agent_v1", "description": "agents",
             "tools": [{"type": "function", "name": "spawn", "description": "spawn one",
                        "parameters": {"type": "object", "properties": {}}}]}


async def _post(node: Node, body: dict[str, Any]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(
            node.url + "/v1/responses", json=body, headers=node.auth()) as resp:
        return resp.status, await resp.read()


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


async def test_passthrough_to_openai_responses(openai_fake: FakeUpstream) -> None:
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": "sk-up", "responses_api": True}})
    body = {"model": "up/gpt-x", "input": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque=="},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "tools": [CUSTOM, NAMESPACE, {"type": "web_search"}], "store": False,
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "s1"}
    async with running_node(tree) as node:
        status, raw = await _post(node, body)
        assert status == 200, raw
        answer = orjson.loads(raw)
        status, streamed = await _post(node, {**body, "stream": True})
        assert status == 200
    sent = openai_fake.requests[0]
    assert sent.path == "/v1/responses"
    assert sent.body == {**body, "model": "gpt-x", "stream": False}  # intact but the model
    assert answer["id"] == "resp_upstream1" and answer["upstream_only_field"] == {"kept": True}
    assert answer["output"][0]["content"][0]["text"] == RESPONSES_TEXT
    assert openai_fake.requests[1].body["stream"] is True
    frames = [f for f in streamed.split(b"\n\n") if f.strip()]
    assert all(f.startswith(b"event: response.") for f in frames), frames
    assert [e["sequence_number"] for e in _events(streamed)] == list(range(5))


async def test_custom_and_namespaced_tools_through_a_chat_upstream(
        openai_fake: FakeUpstream) -> None:
    args = orjson.dumps({"input": PATCH}).decode()
    call = {"id": "call_p", "type": "function",
            "function": {"name": "apply_patch", "arguments": args}}
    spawn = {"id": "call_s", "type": "function",
             "function": {"name": "multi_agent_v1__spawn", "arguments": "{}"}}
    answer = reply("openai", "text", stream=False)
    answer.body["choices"][0]["message"] = {"role": "assistant", "content": None,
                                            "tool_calls": [call, spawn]}
    openai_fake.push(answer)
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": "sk-up"}})
    async with running_node(tree) as node:
        status, raw = await _post(node, {"model": "up/m", "input": "patch it",
                                         "tools": [CUSTOM, NAMESPACE, {"type": "web_search"}]})
    assert status == 200, raw
    tools = {t["function"]["name"]: t["function"] for t in openai_fake.requests[0].body["tools"]}
    assert set(tools) == {"apply_patch", "multi_agent_v1__spawn"}  # web_search dropped
    assert tools["apply_patch"]["parameters"]["required"] == ["input"]
    output = orjson.loads(raw)["output"]
    assert output[0]["type"] == "custom_tool_call" and output[0]["input"] == PATCH
    assert output[0]["call_id"] == "call_p"
    assert output[1]["type"] == "function_call" and output[1]["name"] == "spawn"
    assert output[1]["namespace"] == "multi_agent_v1"


async def test_custom_tool_call_streams_back_as_custom(upstream: Upstream,
                                                       node_for: Any) -> None:
    upstream.fake.push(reply(upstream.wire, "tools", stream=True))
    tool = {**CUSTOM, "name": "get_weather"}  # the fakes call get_weather
    async with node_for(upstream) as node:
        status, raw = await _post(node, {"model": "up/up-model", "input": "weather?",
                                         "tools": [tool], "stream": True})
    assert status == 200
    done = [e["item"] for e in _events(raw) if e["type"] == "response.output_item.done"]
    assert done and done[-1]["type"] == "custom_tool_call"
    completed = _events(raw)[-1]
    assert completed["type"] == "response.completed"
    assert completed["response"]["output"] == done


async def test_history_replays_to_anthropic() -> None:
    """A Codex-style turn (developer message, reasoning, function call and its output, a
    custom call and its output, client ids everywhere) reaches Anthropic as its own
    messages; OpenAI's ciphertext does not travel, the summary does not either (unsigned)."""
    async with AnthropicUpstream() as fake:
        fake.push(reply("anthropic", "text", stream=False))
        tree = settings_tree(providers={"up": {"type": "anthropic", "base_url": fake.base_url,
                                               "api_key": "sk-up"}})
        items = [
            {"type": "message", "id": "msg_1", "role": "developer",
             "content": [{"type": "input_text", "text": "you are codex"}]},
            {"type": "message", "id": "msg_2", "role": "user",
             "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "reasoning", "id": "rs_1", "content": None, "encrypted_content": "gAAA",
             "summary": [{"type": "summary_text", "text": "I should run ls"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
             "arguments": "{\"cmd\":\"ls\"}", "status": "completed"},
            {"type": "function_call_output", "id": "fco_1", "call_id": "call_1",
             "output": "a.txt"},
            {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2",
             "name": "apply_patch", "input": PATCH, "status": "completed"},
            {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_2",
             "output": "Exit code: 0"},
        ]
        async with running_node(tree) as node:
            status, raw = await _post(node, {"model": "up/claude-x", "input": items,
                                             "tools": [CUSTOM], "store": False})
    assert status == 200, raw
    sent = fake.requests[0].body
    assert "you are codex" in orjson.dumps(sent["system"]).decode()
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]  # two tool turns
    calls = [b for n in (1, 3) for b in sent["messages"][n]["content"]
             if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["exec_command", "apply_patch"]
    assert calls[1]["input"] == {"input": PATCH}
    results = [b["tool_use_id"] for n in (2, 4) for b in sent["messages"][n]["content"]]
    assert results == ["call_1", "call_2"]
    assert "gAAA" not in orjson.dumps(sent).decode()


async def test_structured_output_reaches_the_upstream(openai_fake: FakeUpstream) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    openai_fake.push(Json(reply("openai", "text", stream=False).body))
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": "sk-up"}})
    async with running_node(tree) as node:
        status, _ = await _post(node, {"model": "up/m", "input": "count", "text": {
            "format": {"type": "json_schema", "name": "count", "schema": schema,
                       "strict": True}}, "max_output_tokens": 77})
    assert status == 200
    sent = openai_fake.requests[0].body
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "count", "schema": schema, "strict": True}}
    assert sent["max_tokens"] == 77


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type", "web_search_call"),
    ({"input": "hi", "tools": [{"type": "teleport"}]}, "tools[0].type", "teleport"),
    ({"input": "hi", "background": True}, "background", "background"),
    ({"input": "hi", "conversation": "conv_1"}, "conversation", "previous_response_id"),
    ({"input": [{"type": "message", "role": "user", "content": [{"type": "input_video"}]}]},
     "input[0].content[0].type", "input_video"),
    ({"input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format.type", "yaml"),
    ({"input": 5}, "input", "string or an array"),
    ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens", ">= 1"),
    ({"input": "hi", "stream": "yes"}, "stream", "boolean"),
    # An item type that is not a string: once a 500 (the item ids are given before the check).
    ({"input": [{"type": ["message"], "role": "user", "content": "hi"}]}, "input[0].type",
     "['message']"),
    ({"input": [{"type": {"a": 1}, "role": "user", "content": "hi"}]}, "input[0].type",
     "{'a': 1}"),
])
async def test_bad_input_is_a_400_naming_the_field(openai_fake: FakeUpstream,
                                                  body: dict[str, Any], param: str,
                                                  words: str) -> None:
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": "sk-up"}})
    async with running_node(tree) as node:
        status, raw = await _post(node, {"model": "up/m", **body})
    error = orjson.loads(raw)["error"]
    assert status == 400, raw
    assert error["param"] == param and words in error["message"], error
    assert error["type"] == "invalid_request_error"
    assert not openai_fake.requests


async def test_upstream_failure_mid_stream_is_response_failed(openai_fake: FakeUpstream) -> None:
    events = reply("openai", "text", stream=True).events[:2]
    openai_fake.push(Sse([*events, {"error": {"message": "overloaded", "code": 503}}]))
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": "sk-up"}})
    async with running_node(tree) as node:
        status, raw = await _post(node, {"model": "up/m", "input": "hi", "stream": True})
    assert status == 200
    kinds = [e["type"] for e in _events(raw)]
    assert kinds[0] == "response.created" and kinds[-2:] == ["error", "response.failed"]
    failed = _events(raw)[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"


async def test_secrets_in_relayed_failure_events_are_redacted(openai_fake: FakeUpstream) -> None:
    """A pass-through stream relays OpenAI's own error and response.failed events (their
    codes are what agents act on), with the provider's secrets removed from their text."""
    secret = "sk-up-SECRET-7f3a9c2b1d"
    failed = {"type": "response.failed", "sequence_number": 1, "response": {
        "id": "resp_x", "object": "response", "status": "failed", "output": [],
        "error": {"code": "server_error", "message": f"bad key {secret}"}}}
    openai_fake.push(Sse([
        b'event: error\ndata: {"type":"error","code":"invalid_api_key","message":'
        b'"Incorrect API key provided: ' + secret.encode() + b'","sequence_number":0}\n\n',
        failed]))
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": secret, "responses_api": True}})
    async with running_node(tree) as node:
        status, raw = await _post(node, {"model": "up/m", "input": "hi", "stream": True})
    assert status == 200
    assert secret.encode() not in raw, raw
    events = _events(raw)
    assert [e["type"] for e in events] == ["error", "response.failed"], raw
    assert events[0]["code"] == "invalid_api_key"  # the code an agent acts on is kept
    assert events[0]["message"] == "Incorrect API key provided: [redacted]"
    assert events[1]["response"]["error"]["message"] == "bad key [redacted]"


async def test_a_passthrough_stream_cut_short_ends_failed(openai_fake: FakeUpstream) -> None:
    """OpenAI's own /responses stream that stops before response.completed: the client gets
    error and response.failed, not a stream that reads as a whole, shorter answer."""
    openai_fake.push(Sse([{"type": "response.created", "sequence_number": 0, "response": {
        "id": "resp_x", "object": "response", "status": "in_progress", "output": []}},
        {"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hel"}]))
    tree = settings_tree(providers={"up": {"type": "openai", "base_url": openai_fake.base_url,
                                           "api_key": "sk-up", "responses_api": True}})
    async with running_node(tree) as node:
        status, raw = await _post(node, {"model": "up/m", "input": "hi", "stream": True})
    assert status == 200
    kinds = [e["type"] for e in _events(raw)]
    assert kinds == ["response.created", "response.output_text.delta", "error",
                     "response.failed"], raw
    assert "ended the stream before response.completed" in _events(raw)[-1]["response"][
        "error"]["message"]
