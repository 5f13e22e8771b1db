"""Adapter specifics: pass-through fidelity, headers and URLs, mid-stream errors, upstream
errors in the inbound dialect, count_tokens, Vertex tokens and Azure deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from providers import ClientPool, ProviderConfig, UpstreamClientError, build_provider
from tests.dialects.conftest import open_upstream
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.google_upstream import AzureUpstream, VertexUpstream, service_account_file
from tests.fakes.openai_upstream import Json, Sse
from tests.fakes.replies import anthropic_sse

CLAUDE_BODY: dict[str, Any] = {
    "model": "client-name",
    "max_tokens": 100,
    "thinking": {"type": "enabled", "budget_tokens": 50},
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "", "signature": "EqQBCkYIARgCIkD"},
            {"type": "redacted_thinking", "data": "opaque=="},
            {"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "go", "cache_control": {
            "type": "ephemeral", "ttl": "1h"}}]},
    ],
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
}  # fmt: skip


async def test_anthropic_passthrough_is_faithful_except_model() -> None:
    async with AnthropicUpstream() as fake:
        pool = ClientPool()
        config = ProviderConfig(key="a", type="anthropic", base_url=fake.base_url,
                                api_key="sk-a", api_version="2023-06-01")  # fmt: skip
        provider = build_provider(config, pool)
        reply = await provider.complete("anthropic", CLAUDE_BODY, "claude-up")
        stream = await provider.open_stream("anthropic", {**CLAUDE_BODY, "stream": True}, "c")
        frames = b"".join([chunk async for chunk in stream])
        await pool.aclose()
    sent = fake.requests[0]
    assert sent.body == {**CLAUDE_BODY, "model": "claude-up"}
    assert sent.headers["x-api-key"] == "sk-a" and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.path == "/v1/messages"
    assert orjson.loads(reply.body)["model"] == "claude-up"  # the upstream bytes, untouched
    assert reply.usage.cache_read_tokens == 3
    assert frames == b"".join(anthropic_sse("text"))
    assert stream.usage.output_tokens == 5 and stream.usage.input_tokens == 11


async def test_anthropic_client_headers_reach_an_anthropic_upstream_only() -> None:
    """Claude Code's betas (e.g. context management) must reach Anthropic (C-3)."""
    beta = "claude-code-20250219,context-management-2025-06-27"
    client = {"anthropic-beta": beta, "anthropic-version": "2023-06-01", "x-other": "no"}
    async with AnthropicUpstream() as fake:
        pool = ClientPool()
        provider = build_provider(ProviderConfig(key="a", type="anthropic",
                                                 base_url=fake.base_url, api_key="k"), pool)
        await provider.complete("anthropic", CLAUDE_BODY, "c", headers=client)
        stream = await provider.open_stream("anthropic", {**CLAUDE_BODY, "stream": True}, "c",
                                            headers=client)
        _ = [chunk async for chunk in stream]
        await provider.complete("openai", {"model": "x", "messages": [
            {"role": "user", "content": "hi"}]}, "c", headers=client)
        await pool.aclose()
    first, second, translated = fake.requests
    assert first.headers["anthropic-beta"] == beta and second.headers["anthropic-beta"] == beta
    assert "x-other" not in first.headers
    assert "anthropic-beta" not in translated.headers  # an OpenAI client's turn: no betas


async def test_claude_code_only_fields_never_reach_other_upstreams(tmp_path: Path) -> None:
    for kind in ("openai", "gemini"):
        fake, settings = await open_upstream(kind, tmp_path)
        pool = ClientPool()
        try:
            provider = build_provider(ProviderConfig(key="u", **settings), pool)
            body = {**CLAUDE_BODY, "messages": [*CLAUDE_BODY["messages"],
                                                {"role": "system", "content": "Mid-run note."}]}
            await provider.complete("anthropic", body, "m")
        finally:
            await pool.aclose()
            await fake.__aexit__(None, None, None)
        sent = orjson.dumps(fake.requests[0].body).decode()
        for word in ("thinking", "signature", "context_management", "cache_control", "opaque"):
            assert word not in sent, (kind, word)
        assert "Mid-run note." in sent


@pytest.mark.parametrize("inbound", ["openai", "anthropic", "gemini"])
async def test_mid_stream_error_becomes_the_inbound_error_event(inbound: str) -> None:
    async with AnthropicUpstream() as fake:
        fake.push(Sse(anthropic_sse("text", error_after=4)))
        pool = ClientPool()
        config = ProviderConfig(key="a", type="anthropic", base_url=fake.base_url, api_key="k")
        provider = build_provider(config, pool)
        bodies = {"openai": {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                  "anthropic": {"model": "m", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "x"}]},
                  "gemini": {"contents": [{"parts": [{"text": "x"}]}]}}  # fmt: skip
        stream = await provider.open_stream(inbound, bodies[inbound], "m")  # type: ignore[arg-type]
        frames = b"".join([chunk async for chunk in stream])
        await pool.aclose()
    assert stream.failed
    last = frames.rstrip().rsplit(b"\n\n", 1)[-1]
    assert b"Overloaded" in last and b'"error"' in last
    if inbound == "anthropic":
        assert last.startswith(b"event: error") and b"overloaded_error" in last
    assert b"[DONE]" not in frames and b"message_stop" not in frames


async def test_upstream_errors_keep_status_and_message() -> None:
    async with GeminiUpstream() as fake:
        fake.push(Json({"error": {"code": 400, "message": "API key not valid",
                                  "status": "INVALID_ARGUMENT"}}, status=400))  # fmt: skip
        pool = ClientPool()
        provider = build_provider(
            ProviderConfig(key="g", type="gemini", base_url=fake.base_url, api_key="k"), pool
        )
        with pytest.raises(UpstreamClientError) as caught:
            await provider.complete("openai", {"model": "m", "messages": [
                {"role": "user", "content": "x"}]}, "m")  # fmt: skip
        await pool.aclose()
    assert caught.value.status == 400
    assert caught.value.message == "upstream 'g' answered 400: API key not valid"


async def test_gemini_safety_block_is_a_content_filter() -> None:
    async with GeminiUpstream() as fake:
        fake.push(Json({"promptFeedback": {"blockReason": "SAFETY"},
                        "usageMetadata": {"promptTokenCount": 4}}))  # fmt: skip
        pool = ClientPool()
        provider = build_provider(
            ProviderConfig(key="g", type="gemini", base_url=fake.base_url, api_key="k"), pool
        )
        reply = await provider.complete("anthropic", {"model": "m", "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"}]}, "gemini-x")  # fmt: skip
        await pool.aclose()
    assert orjson.loads(reply.body)["stop_reason"] == "refusal"
    assert fake.requests[0].headers["x-goog-api-key"] == "k"


async def test_vertex_token_is_cached_and_refreshed(tmp_path: Path) -> None:
    async with VertexUpstream(expires_in=3600) as fake:
        sa = service_account_file(tmp_path, fake.token_uri)
        pool = ClientPool()
        config = ProviderConfig(key="v", type="vertex", base_url=fake.base_url,
                                credentials_file=str(sa))  # fmt: skip
        provider = build_provider(config, pool)
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        for _ in range(3):
            await provider.complete("openai", body, "google/gemini-x")
        assert fake.tokens_issued == 1
        fake.expires_in = 1  # inside google-auth's refresh margin: every call refreshes
        short = build_provider(config, pool)
        await short.complete("openai", body, "google/gemini-x")
        await short.complete("openai", body, "google/gemini-x")
        await pool.aclose()
    assert fake.tokens_issued == 3
    assert fake.requests[0].path.endswith("/endpoints/openapi/chat/completions")
    assert fake.requests[0].headers["Authorization"] == "Bearer ya29.fake-vertex-token-1"


async def test_vertex_without_project_or_credentials_fails_clearly(tmp_path: Path) -> None:
    pool = ClientPool()
    bad = tmp_path / "missing.json"
    provider = build_provider(
        ProviderConfig(key="v", type="vertex", credentials_file=str(bad)), pool
    )
    with pytest.raises(Exception, match="cannot get a Google access token"):
        await provider.complete("openai", {"model": "m", "messages": []}, "m")
    await pool.aclose()


async def test_azure_deployment_url_and_key() -> None:
    async with AzureUpstream() as fake:
        pool = ClientPool()
        config = ProviderConfig(key="z", type="azure", base_url=fake.base_url, api_key="az",
                                api_version="2024-06-01")  # fmt: skip
        provider = build_provider(config, pool)
        await provider.complete("anthropic", {"model": "m", "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"}]}, "gpt-dep")  # fmt: skip
        await pool.aclose()
    sent = fake.requests[0]
    assert sent.path == "/openai/deployments/gpt-dep/chat/completions"
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["api-key"] == "az" and "Authorization" not in sent.headers


async def test_vertex_token_goes_through_the_provider_proxy(tmp_path: Path) -> None:
    """The token endpoint sits behind the same egress proxy as the upstream: both the token
    request (google-auth's own HTTP stack) and the chat request cross the proxy."""
    from tests.fakes.proxies import HttpProxy

    async with VertexUpstream() as fake, HttpProxy() as proxy:
        sa = service_account_file(tmp_path, fake.token_uri)
        pool = ClientPool()
        config = ProviderConfig(key="v", type="vertex", base_url=fake.base_url,
                                credentials_file=str(sa),
                                proxy=proxy.url.replace("http://", "http://u:pw@"))
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        await build_provider(config, pool).complete("openai", body, "google/gemini-x")
        await pool.aclose()
    assert fake.tokens_issued == 1
    assert len(proxy.auth_headers) == 2  # one connection for the token, one for the chat
    assert set(proxy.auth_headers) == {"Basic dTpwdw=="}
    assert fake.requests[0].headers["Authorization"] == "Bearer ya29.fake-vertex-token-1"


async def test_openai_embeddings_through_gemini() -> None:
    """The openai SDK asks for base64 by default; Gemini answers float lists."""
    import openai

    from tests.node.harness import running_node, settings_tree

    async with GeminiUpstream() as fake:
        tree = settings_tree(providers={"gem": {
            "type": "gemini", "base_url": fake.base_url, "api_key": "k",
            "model": "gemini-embedding-001"}})
        async with running_node(tree) as node:
            client = openai.AsyncOpenAI(base_url=node.url + "/v1", api_key=node.api_key)
            reply = await client.embeddings.create(
                model="gem/gemini-embedding-001", input=["one", "two words"], dimensions=3)
            plain = await client.embeddings.create(
                model="gem/gemini-embedding-001", input="x", encoding_format="float")
            with pytest.raises(openai.BadRequestError, match="token arrays"):
                await client.embeddings.create(model="gem/gemini-embedding-001",
                                               input=[[1, 2, 3]])
            await client.close()
    assert [item.embedding for item in reply.data] == [[0.25] * 3, [0.5] * 3]
    assert reply.usage.prompt_tokens >= 2 and plain.data[0].embedding == [0.25] * 4
    sent = fake.requests[0]
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "one"}]},
         "outputDimensionality": 3},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "two words"}]},
         "outputDimensionality": 3}]}  # fmt: skip
    assert len(fake.requests) == 2  # the token-array request never left the gateway
