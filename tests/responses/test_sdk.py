"""The official ``openai`` SDK's Responses calls against a node, before every upstream
type (fakes that record what they were sent)."""

from __future__ import annotations

from typing import Any

import openai
import orjson

from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, TOOL_ARGS, TOOL_NAME, reply

WEATHER = {"type": "function", "name": TOOL_NAME, "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                           "days": {"type": "integer"}}}}


def _client(node: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key, max_retries=0)


async def test_create_and_stream_text(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(reply(upstream.wire, "text", stream=False),
                       reply(upstream.wire, "text", stream=True))
    async with node_for(upstream) as node, _client(node) as client:
        made = await client.responses.create(model="up/up-model", input="hello",
                                             instructions="be brief")
        async with client.responses.stream(model="up/up-model", input="hello") as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
    assert made.output_text == TEXT
    assert made.status == "completed" and made.usage is not None
    assert made.usage.total_tokens == made.usage.input_tokens + made.usage.output_tokens > 0
    assert made.instructions == "be brief"
    assert final.output_text == TEXT
    assert final.usage is not None and final.usage.total_tokens > 0
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for needed in ("response.output_item.added", "response.content_part.added",
                   "response.output_text.delta", "response.output_text.done",
                   "response.content_part.done", "response.output_item.done"):
        assert needed in kinds, needed
    sent = upstream.fake.requests[0].body
    text = orjson.dumps(sent).decode()
    assert "be brief" in text and "hello" in text


async def test_tool_loop(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(reply(upstream.wire, "tools", stream=True),
                       reply(upstream.wire, "text", stream=False))
    async with node_for(upstream) as node, _client(node) as client:
        async with client.responses.stream(model="up/up-model", input="weather?",
                                           tools=[WEATHER], store=False) as stream:  # type: ignore[list-item]
            kinds = [event.type async for event in stream]
            first = await stream.get_final_response()
        calls = [item for item in first.output if item.type == "function_call"]
        assert len(calls) == 1 and calls[0].name == TOOL_NAME
        assert orjson.loads(calls[0].arguments) == TOOL_ARGS
        assert "response.function_call_arguments.delta" in kinds
        assert "response.function_call_arguments.done" in kinds
        follow: list[Any] = [{"role": "user", "content": "weather?"},
                             calls[0].model_dump(exclude_none=True),
                             {"type": "function_call_output", "call_id": calls[0].call_id,
                              "output": "sunny, 21C"}]
        answer = await client.responses.create(model="up/up-model", input=follow,
                                               tools=[WEATHER], store=False)  # type: ignore[list-item]
    assert answer.output_text == TEXT
    second = orjson.dumps(upstream.fake.requests[1].body).decode()
    assert "sunny, 21C" in second and TOOL_NAME in second
