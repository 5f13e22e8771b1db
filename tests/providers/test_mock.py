"""The mock provider: deterministic, offline, honours max_tokens, reports usage."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from providers import (
    ClientPool,
    Provider,
    ProviderConfig,
    UpstreamClientError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
    Usage,
    build_provider,
)


def body(text: str = "What is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "demo/m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ],
        **extra,
    }


@pytest.fixture
def mock(pool: ClientPool) -> Provider:
    return build_provider(ProviderConfig(key="demo", type="mock", timeout=0.2), pool)


async def test_reply_is_deterministic(mock: Provider) -> None:
    first = await mock.complete("openai", body(), "m")
    second = await mock.complete("openai", body(), "m")
    assert first == second
    data = orjson.loads(first.body)
    content = data["choices"][0]["message"]["content"]
    assert content.startswith("Mock reply to: What is the capital of France?")
    assert len(content.split()) == 32
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["model"] == "m" and data["object"] == "chat.completion"
    # input: "Be brief." (2) + the question (6); output: 32 words
    assert first.usage == Usage(input_tokens=8, output_tokens=32)
    assert data["usage"] == {"prompt_tokens": 8, "completion_tokens": 32, "total_tokens": 40}
    other = await mock.complete("openai", body("something else"), "m")
    assert other.body != first.body


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_cuts_with_length(mock: Provider, field: str) -> None:
    reply = await mock.complete("openai", {**body(), field: 5}, "m")
    data = orjson.loads(reply.body)
    assert data["choices"][0]["message"]["content"] == "Mock reply to: What is"
    assert data["choices"][0]["finish_reason"] == "length"
    assert reply.usage.output_tokens == 5


async def test_stream_format(mock: Provider) -> None:
    stream = await mock.open_stream("openai", body(stream=True, max_tokens=4), "m")
    chunks = [chunk async for chunk in stream]
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") for c in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"
    payloads = [orjson.loads(c[6:]) for c in chunks[:-1]]
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(p["choices"][0]["delta"].get("content", "") for p in payloads)
    assert text == "Mock reply to: What"
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"
    assert all(p["object"] == "chat.completion.chunk" for p in payloads)
    assert stream.usage == Usage(input_tokens=8, output_tokens=4)
    assert not stream.failed
    same = await mock.complete("openai", body(max_tokens=4), "m")
    assert orjson.loads(same.body)["choices"][0]["message"]["content"] == text


async def test_stream_usage_chunk_when_asked(mock: Provider) -> None:
    request = body(stream=True, max_tokens=2, stream_options={"include_usage": True})
    chunks = [c async for c in await mock.open_stream("openai", request, "m")]
    usage = orjson.loads(chunks[-2][6:])
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}


@pytest.mark.parametrize(
    ("hook", "exc", "status"),
    [
        ("mock:error:429", UpstreamRateLimited, 429),
        ("mock:error:404", UpstreamClientError, 404),
        ("mock:error:500", UpstreamServerError, 502),
        ("mock:timeout", UpstreamTimeout, 504),
        ("mock:unreachable", UpstreamUnreachable, 502),
        ("mock:hang", UpstreamTimeout, 504),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_error_hooks(
    mock: Provider, hook: str, exc: type[Exception], status: int, streamed: bool
) -> None:
    with pytest.raises(exc) as caught:
        if streamed:
            await mock.open_stream("openai", body(hook), "m")
        else:
            await mock.complete("openai", body(hook), "m")
    assert caught.value.status == status  # type: ignore[attr-defined]
    if status == 429:
        assert caught.value.retry_after == "7"  # type: ignore[attr-defined]


async def test_fail_mid_stream_hook(mock: Provider) -> None:
    stream = await mock.open_stream("openai", body("mock:fail-mid-stream"), "m")
    chunks = [c async for c in stream]
    assert len(chunks) == 5  # role + 3 words + the error event
    assert orjson.loads(chunks[-1][6:])["error"]["type"] == "api_error"
    assert stream.failed
    assert b"[DONE]" not in b"".join(chunks)
    with pytest.raises(UpstreamServerError):
        await mock.complete("openai", body("mock:fail-mid-stream"), "m")


async def test_slow_hook_and_aclose(mock: Provider) -> None:
    stream = await mock.open_stream("openai", body("mock:slow:0.05"), "m")
    started = time.monotonic()
    iterator = aiter(stream)
    await anext(iterator)
    await anext(iterator)
    assert time.monotonic() - started >= 0.09
    await stream.aclose()
    await stream.aclose()
    assert [c async for c in iterator] == []
    task = asyncio.ensure_future(mock.complete("openai", body("mock:slow:5"), "m"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_embeddings(mock: Provider) -> None:
    one = await mock.embed({"model": "e", "input": "hello world"}, "e")
    again = await mock.embed({"model": "e", "input": "hello world"}, "e")
    assert one == again
    data = orjson.loads(one.body)
    vector = data["data"][0]["embedding"]
    assert len(vector) == 8
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-4
    assert one.usage == Usage(input_tokens=2)
    many = orjson.loads((await mock.embed({"input": ["a", "b"], "dimensions": 4}, "e")).body)
    assert [len(d["embedding"]) for d in many["data"]] == [4, 4]
    assert many["data"][0]["embedding"] != many["data"][1]["embedding"]
    b64 = orjson.loads((await mock.embed({"input": "a", "encoding_format": "base64"}, "e")).body)
    assert isinstance(b64["data"][0]["embedding"], str)


async def test_count_tokens_and_dialect(mock: Provider) -> None:
    anthropic = {"system": "Be brief.", "messages": [{"role": "user", "content": "one two three"}]}
    assert await mock.count_tokens(anthropic, "m") == 5
    assert mock.dialect == "openai"
    reply = await mock.complete("anthropic", {**anthropic, "max_tokens": 5}, "m")
    assert orjson.loads(reply.body)["type"] == "message"
