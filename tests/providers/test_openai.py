"""The OpenAI-compatible adapter against a real fake upstream on loopback."""

from __future__ import annotations

import copy

import orjson
import pytest

from providers import (
    ClientPool,
    InvalidConfig,
    ProviderConfig,
    UpstreamRateLimited,
    Usage,
    build_provider,
)
from providers.dialects.openai.wire import find_usage
from providers.upstreams.openai import endpoints
from tests.fakes.openai_upstream import (
    FakeUpstream,
    Json,
    chat_completion,
)
from tests.providers.openai_cases import BODY, ConfigFor

# --- base_url normalisation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "chat", "embed"),
    [
        (
            "https://api.groq.com/openai/v1",
            "https://api.groq.com/openai/v1/chat/completions",
            "https://api.groq.com/openai/v1/embeddings",
        ),
        (
            "http://localhost:11434/v1/",
            "http://localhost:11434/v1/chat/completions",
            "http://localhost:11434/v1/embeddings",
        ),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions", "http://h/v1/embeddings"),
        ("http://h/v1/embeddings/", "http://h/v1/chat/completions", "http://h/v1/embeddings"),
        ("http://h", "http://h/chat/completions", "http://h/embeddings"),
        (
            "https://x/d/chat/completions?api-version=2",
            "https://x/d/chat/completions?api-version=2",
            "https://x/d/embeddings?api-version=2",
        ),
    ],
)
def test_endpoints(base: str, chat: str, embed: str) -> None:
    got = endpoints(base)
    assert (str(got[0]), str(got[1])) == (chat, embed)


async def test_default_base_url_and_bad_ones(pool: ClientPool) -> None:
    default = build_provider(ProviderConfig(key="o", type="openai"), pool)
    assert str(default._chat_url) == "https://api.openai.com/v1/chat/completions"  # type: ignore[attr-defined]
    for bad in ("ftp://h/v1", "localhost:11434", "/v1"):
        with pytest.raises(InvalidConfig, match="base_url"):
            build_provider(ProviderConfig(key="o", type="openai", base_url=bad), pool)


# --- pass-through -----------------------------------------------------------------------


async def test_complete_rewrites_only_model(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    upstream_answer = chat_completion(model="served-model", cached_tokens=4)
    fake.push(Json(upstream_answer))
    original = copy.deepcopy(BODY)
    reply = await build_provider(config_for(), pool).complete("openai", BODY, "real-model")
    assert original == BODY  # the caller's dict is untouched
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {**BODY, "model": "real-model"}
    assert reply.body == orjson.dumps(upstream_answer)  # the upstream's bytes, as they came
    # 11 prompt tokens of which 4 came from the cache: 7 are input (the one usage rule)
    assert reply.usage == Usage(input_tokens=7, output_tokens=5, cache_read_tokens=4)
    assert reply.status == 200


async def test_headers(pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor) -> None:
    config = config_for(extra_headers={"X-Tenant": "t1", "OpenAI-Organization": "org"})
    await build_provider(config, pool).complete("openai", BODY, "m")
    headers = fake.requests[0].headers
    assert headers["Authorization"] == "Bearer sk-test"
    assert headers["Content-Type"] == "application/json"
    assert (headers["X-Tenant"], headers["OpenAI-Organization"]) == ("t1", "org")
    await build_provider(config_for(api_key=""), pool).complete("openai", BODY, "m")
    assert "Authorization" not in fake.requests[1].headers  # e.g. Ollama


async def test_complete_turns_stream_off(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    await build_provider(config_for(), pool).complete("openai", body, "m")
    sent = fake.requests[0].body
    assert sent["stream"] is False
    assert "stream_options" not in sent


async def test_other_dialects_are_translated(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    adapter = build_provider(config_for(), pool)
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    reply = await adapter.complete("anthropic", body, "m")
    assert orjson.loads(reply.body)["content"][0]["text"] == "Hello from the fake."
    stream = await adapter.open_stream("gemini", {"contents": [{"parts": [{"text": "hi"}]}]}, "m")
    frames = b"".join([chunk async for chunk in stream])
    assert b'"finishReason":"STOP"' in frames
    assert fake.requests[0].body["messages"] == [{"role": "user", "content": "hi"}]
    assert fake.requests[1].body["stream"] is True


async def test_embed_and_count_tokens(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    adapter = build_provider(config_for(), pool)
    reply = await adapter.embed({"model": "up/e", "input": "hello"}, "text-embedding-3-small")
    assert fake.requests[0].path == "/v1/embeddings"
    assert fake.requests[0].body == {"model": "text-embedding-3-small", "input": "hello"}
    assert orjson.loads(reply.body)["data"][0]["embedding"] == [0.1, 0.2]
    assert reply.usage == Usage(input_tokens=3)
    count = await adapter.count_tokens({"messages": [{"role": "user", "content": "x" * 400}]}, "m")
    assert 100 <= count <= 120


def test_find_usage_reads_only_the_tail() -> None:
    nested = (
        b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,'
        b'"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{}}}'
    )
    assert find_usage(nested) == Usage(2, 2, 1)  # the cached prompt token is not input
    assert find_usage(b'{"usage":null,"x":{"prompt_tokens":9}}') == Usage()
    assert find_usage(b'{"a":"usage","b":1}') == Usage()
    assert find_usage(b'{"no":1}') == Usage()


async def test_error_answers_keep_the_connection(
    pool: ClientPool, fake: FakeUpstream, config_for: ConfigFor
) -> None:
    adapter = build_provider(config_for(), pool)
    for _ in range(3):
        fake.push(Json({"error": {"message": "slow"}}, 429))
        with pytest.raises(UpstreamRateLimited):
            await adapter.complete("openai", BODY, "m")
    await adapter.complete("openai", BODY, "m")
    # one pooled connection carried all four exchanges
    assert fake.connections == 1
