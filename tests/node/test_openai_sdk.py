"""The official openai SDK (sync, async, streaming) against a running node."""

from __future__ import annotations

import asyncio

import openai

from tests.node.harness import Node, running_node, settings_tree


def _sync_chat(url: str, key: str) -> tuple[str, int]:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    with client:
        reply = client.chat.completions.create(
            model="demo/mock-1", messages=[{"role": "user", "content": "hello sync"}], max_tokens=6
        )
    assert reply.usage is not None
    return reply.choices[0].message.content or "", reply.usage.completion_tokens


async def test_sync_client_chat(node: Node) -> None:
    text, completion_tokens = await asyncio.to_thread(_sync_chat, node.url, node.api_key)
    assert text.startswith("Mock reply to: hello sync")
    assert completion_tokens == 6
    assert len(text.split()) == 6


async def test_async_client_chat_and_models(node: Node) -> None:
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key) as client:
        reply = await client.chat.completions.create(
            model="mock-1", messages=[{"role": "user", "content": "hi"}]
        )
        models = await client.models.list()
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.role == "assistant"
    assert [m.id for m in models.data] == ["demo/mock-1"]


async def test_async_streaming_with_usage(node: Node) -> None:
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key) as client:
        stream = await client.chat.completions.create(
            model="demo/mock-1",
            messages=[{"role": "user", "content": "stream please"}],
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts: list[str] = []
        usage = None
        finish = None
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
    assert "".join(parts).split() == ["Mock", "reply", "to:", "stream"]
    assert finish == "length"
    assert usage is not None and usage.completion_tokens == 4


def _sync_stream(url: str, key: str) -> str:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="demo/mock-1", messages=[{"role": "user", "content": "x"}], stream=True,
            max_tokens=3,
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def test_sync_streaming(node: Node) -> None:
    assert (await asyncio.to_thread(_sync_stream, node.url, node.api_key)).split() == [
        "Mock", "reply", "to:"
    ]


async def test_embeddings_through_sdk(node: Node) -> None:
    async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key) as client:
        result = await client.embeddings.create(model="demo/mock-1", input=["a", "b"])
    assert len(result.data) == 2
    assert result.data[0].embedding != result.data[1].embedding


async def test_base_path_prefixes_everything() -> None:
    async with running_node(settings_tree(server={"base_path": "/at"})) as node:
        assert node.url.endswith("/at")
        async with openai.AsyncOpenAI(base_url=f"{node.url}/v1", api_key=node.api_key) as c:
            reply = await c.chat.completions.create(
                model="demo/mock-1", messages=[{"role": "user", "content": "x"}]
            )
        assert reply.choices[0].message.content
        async with openai.AsyncOpenAI(
            base_url=f"{node.url}/gateway/v1", api_key=node.api_key
        ) as c:
            alias = await c.chat.completions.create(
                model="demo/mock-1", messages=[{"role": "user", "content": "x"}]
            )
        assert alias.choices[0].message.content == reply.choices[0].message.content


async def test_gemini_stream_without_alt_sse_is_a_json_array(node: Node) -> None:
    import aiohttp
    import orjson

    body = {"contents": [{"role": "user", "parts": [{"text": "hello array"}]}],
            "generationConfig": {"maxOutputTokens": 4}}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{node.url}/v1beta/models/demo/mock-1:streamGenerateContent",
            json=body, headers={"x-goog-api-key": node.api_key},
        ) as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            items = orjson.loads(await resp.read())
        async with session.post(
            f"{node.url}/v1beta/models/demo/mock-1:streamGenerateContent?alt=sse",
            json=body, headers={"x-goog-api-key": node.api_key},
        ) as resp:
            assert resp.content_type == "text/event-stream"
            events = [orjson.loads(line[5:]) for line in (await resp.read()).splitlines()
                      if line.startswith(b"data:")]
    assert isinstance(items, list) and items == events
    text = "".join(p.get("text", "") for item in items
                   for p in item["candidates"][0]["content"]["parts"])
    assert text.split() == ["Mock", "reply", "to:", "hello"]


async def test_anthropic_clients_get_anthropic_model_lists(node: Node) -> None:
    """Claude Code's gateway model discovery reads Anthropic's list shape (C-30)."""
    import anthropic

    async with anthropic.AsyncAnthropic(base_url=node.url, api_key=node.api_key) as client:
        page = await client.models.list()
    assert [(m.type, m.id, m.display_name) for m in page.data] == [
        ("model", "demo/mock-1", "demo/mock-1")]
    assert page.has_more is False and page.first_id == page.last_id == "demo/mock-1"
    assert page.data[0].created_at.timestamp() == int(node.gateway.started)
