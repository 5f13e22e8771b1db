"""The official openai, anthropic and google-genai SDKs against a running node, each in
front of every upstream type (fakes that record what they were sent)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
from google import genai
from google.genai import types as gtypes

from tests.dialects.conftest import Upstream
from tests.fakes.replies import TEXT, TOOL_ARGS, TOOL_NAME, reply

WEATHER_TOOL = {
    "name": TOOL_NAME,
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                      "days": {"type": "integer"}}},
}  # fmt: skip


async def test_anthropic_sdk_text_and_stream(upstream: Upstream, node_for: Any) -> None:
    async with node_for(upstream) as node:
        client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key, max_retries=0)
        async with client:
            message = await client.messages.create(
                model="up/up-model", max_tokens=64,
                messages=[{"role": "user", "content": "hello"}],
            )  # fmt: skip
            async with client.messages.stream(
                model="up/up-model", max_tokens=64,
                messages=[{"role": "user", "content": "hello"}],
            ) as stream:  # fmt: skip
                final = await stream.get_final_message()
            count = await client.messages.count_tokens(
                model="up/up-model", messages=[{"role": "user", "content": "hello"}]
            )
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert message.stop_reason == "end_turn"
    assert final.content[0].type == "text" and final.content[0].text == TEXT
    assert final.usage.output_tokens > 0
    assert count.input_tokens > 0
    if upstream.kind in ("anthropic", "gemini"):
        assert count.input_tokens == 42  # exact: asked upstream


async def test_anthropic_sdk_tool_loop(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(reply(upstream.wire, "tools", stream=True),
                       reply(upstream.wire, "text", stream=False))
    async with node_for(upstream) as node:
        client = anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key, max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "weather?"}]
        async with client:
            async with client.messages.stream(
                model="up/up-model", max_tokens=64, messages=messages, tools=[WEATHER_TOOL]
            ) as stream:  # type: ignore[list-item]
                first = await stream.get_final_message()
            call = next(b for b in first.content if b.type == "tool_use")
            messages += [
                {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": "sunny, 21C"}]},
            ]  # fmt: skip
            second = await client.messages.create(
                model="up/up-model", max_tokens=64, messages=messages, tools=[WEATHER_TOOL]
            )  # type: ignore[list-item]
    assert first.stop_reason == "tool_use"
    assert call.name == TOOL_NAME and call.input == TOOL_ARGS
    assert second.content[0].type == "text" and second.content[0].text == TEXT
    sent = orjson.dumps(upstream.fake.requests[-1].body).decode()
    assert "sunny, 21C" in sent and TOOL_NAME in sent


async def test_openai_sdk_stream_with_tools(upstream: Upstream, node_for: Any) -> None:
    upstream.fake.push(reply(upstream.wire, "tools", stream=True))
    tool = {"type": "function", "function": {"name": TOOL_NAME, "description": "w",
                                             "parameters": WEATHER_TOOL["input_schema"]}}
    async with node_for(upstream) as node:
        client = openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key,
                                    max_retries=0)  # fmt: skip
        async with client:
            stream = await client.chat.completions.create(
                model="up/up-model", messages=[{"role": "user", "content": "weather?"}],
                tools=[tool], stream=True, stream_options={"include_usage": True},
            )  # type: ignore[list-item]
            names, args, finish, usage = [], "", None, None
            async for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    for call in choice.delta.tool_calls or []:
                        names += [call.function.name] if call.function and call.function.name \
                            else []  # fmt: skip
                        args += (call.function.arguments or "") if call.function else ""
            text = await client.chat.completions.create(
                model="up/up-model", messages=[{"role": "user", "content": "hi"}]
            )
    assert names == [TOOL_NAME] and orjson.loads(args) == TOOL_ARGS
    assert finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens > 0
    assert text.choices[0].message.content == TEXT


async def test_genai_sdk_generate_and_stream(upstream: Upstream, node_for: Any) -> None:
    async with node_for(upstream) as node:
        client = genai.Client(
            api_key=node.api_key,
            http_options=gtypes.HttpOptions(base_url=node.url, api_version="v1beta",
                                            timeout=20_000),
        )
        result = await client.aio.models.generate_content(
            model="models/up/up-model", contents="hello"
        )
        pieces = []
        async for chunk in await client.aio.models.generate_content_stream(
            model="models/up/up-model", contents="hello"
        ):
            pieces.append(chunk.text or "")
        await client.aio.aclose()
    assert result.text == TEXT
    assert result.usage_metadata is not None and result.usage_metadata.prompt_token_count
    assert "".join(pieces) == TEXT
    if upstream.kind == "gemini":
        assert upstream.fake.requests[-1].query.get("alt") == "sse"
        assert upstream.fake.requests[-1].path == "/v1beta/models/up-model:streamGenerateContent"
    async with node_for(upstream) as node:
        # The SDK's default API version (v1) on a custom base_url works too.
        client = genai.Client(api_key=node.api_key,
                              http_options=gtypes.HttpOptions(base_url=node.url))
        plain = await client.aio.models.generate_content(model="up/up-model", contents="hi")
        await client.aio.aclose()
    assert plain.text == TEXT
