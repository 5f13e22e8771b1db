"""``Provider.probe``: the cheapest real request each provider type can make (one output
token, the provider's own credentials and URL), and how it fails."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from providers import (
    ClientPool,
    ProviderConfig,
    ProviderError,
    UpstreamClientError,
    UpstreamTimeout,
    UpstreamUnreachable,
    build_provider,
)
from providers.upstreams.redact import MARKER
from tests.fakes.google_upstream import TOKEN
from tests.fakes.openai_upstream import Echo, FakeUpstream, Hang, Json
from tests.providers.upstream_kinds import API_KEY, KINDS, MODEL, dead_settings, upstream_for

SECRET_HEADER = "hdr-secret-0123456789"


def _build(pool: ClientPool, settings: dict[str, Any], **extra: Any) -> Any:
    return build_provider(ProviderConfig(key="up", **{**settings, **extra}), pool)


def _check_wire(kind: str, fake: FakeUpstream) -> None:
    """The one request a probe sends, as each upstream's API expects it."""
    [sent] = fake.requests
    assert sent.method == "POST"
    body, headers = sent.body, sent.headers
    if kind == "anthropic":
        assert sent.path == "/v1/messages" and headers["x-api-key"] == API_KEY
        assert headers["anthropic-version"] and body["max_tokens"] == 1
        assert body["model"] == MODEL and body["messages"][0]["role"] == "user"
    elif kind == "gemini":
        assert sent.path == f"/v1beta/models/{MODEL}:generateContent"
        assert headers["x-goog-api-key"] == API_KEY
        assert body["generationConfig"] == {"maxOutputTokens": 1} and body["contents"]
    elif kind == "vertex":
        assert sent.path == "/v1/projects/proj/locations/us/endpoints/openapi/chat/completions"
        assert headers["Authorization"].startswith(f"Bearer {TOKEN}")
        assert body["model"] == MODEL and body["max_tokens"] == 1
    elif kind == "azure":
        assert sent.path == f"/openai/deployments/{MODEL}/chat/completions"
        assert sent.query == {"api-version": "2024-10-21"} and headers["api-key"] == API_KEY
        # 2024-10-21 takes the limit reasoning deployments require
        assert body["max_completion_tokens"] == 1 and "max_tokens" not in body
    else:
        assert sent.path == "/v1/chat/completions"
        assert headers["Authorization"] == f"Bearer {API_KEY}"
        assert body["model"] == MODEL and body["max_tokens"] == 1
    assert headers["X-Team"] == SECRET_HEADER  # extra_headers go along


@pytest.mark.parametrize("kind", KINDS)
async def test_a_live_upstream_answers_the_probe(
    kind: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        provider = _build(pool, settings, extra_headers={"X-Team": SECRET_HEADER})
        assert await provider.probe(MODEL) == 200
        _check_wire(kind, fake)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_dead_upstream_fails_the_probe_as_unreachable(
    kind: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (_, settings):
        provider = _build(pool, dead_settings(kind, settings))
        with pytest.raises(UpstreamUnreachable) as caught:
            await provider.probe(MODEL)
    assert "cannot connect" in caught.value.message and caught.value.upstream_status is None


@pytest.mark.parametrize("kind", KINDS)
async def test_an_upstream_refusing_the_key_fails_with_its_401(
    kind: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        fake.push(Json({"error": {"message": "invalid x-api-key"}}, status=401))
        with pytest.raises(UpstreamClientError) as caught:
            await _build(pool, settings).probe(MODEL)
    assert caught.value.upstream_status == 401 and "invalid x-api-key" in caught.value.message


@pytest.mark.parametrize("kind", KINDS)
async def test_an_error_echoing_the_credentials_is_scrubbed(
    kind: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        fake.push(Echo())
        provider = _build(pool, settings, extra_headers={"X-Team": SECRET_HEADER})
        with pytest.raises(ProviderError) as caught:
            await provider.probe(MODEL)
    message = caught.value.message
    assert MARKER in message and SECRET_HEADER not in message and API_KEY not in message
    assert TOKEN not in message  # Vertex's bearer token, learnt per request


async def test_the_probe_is_bounded_by_the_provider_timeout(
    fake: FakeUpstream, pool: ClientPool
) -> None:
    fake.push(Hang(30))
    provider = _build(pool, {"type": "openai", "base_url": fake.base_url, "timeout": 0.5})
    with pytest.raises(UpstreamTimeout):
        async with asyncio.timeout(20):  # generous: the point is that it ends by itself
            await provider.probe("m")


async def test_the_probe_is_bounded_even_when_the_provider_waits_long(
    fake: FakeUpstream, pool: ClientPool
) -> None:
    """A provider allowed 600 s per answer is still tested within ``PROBE_TIMEOUT``."""
    fake.push(Hang(60))
    provider = _build(pool, {"type": "openai", "base_url": fake.base_url, "timeout": 600.0})
    with pytest.raises(UpstreamTimeout):
        async with asyncio.timeout(50):  # 10 s expected; anything near 600 fails here
            await provider.probe("m")


async def test_openai_itself_is_probed_with_max_completion_tokens(pool: ClientPool) -> None:
    """api.openai.com's reasoning models refuse ``max_tokens``; no request is sent here: the
    body is what the adapter would send."""
    provider = build_provider(ProviderConfig(key="o", type="openai"), pool)
    url, body = provider._probe_request("o3")
    assert url.host == "api.openai.com" and body["max_completion_tokens"] == 1
    assert "max_tokens" not in body


async def test_an_older_azure_api_version_is_probed_with_max_tokens(
    pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for("azure", tmp_path) as (fake, settings):
        provider = _build(pool, settings, api_version="2024-02-01")
        assert await provider.probe(MODEL) == 200
    assert fake.requests[0].body["max_tokens"] == 1
    assert "max_completion_tokens" not in fake.requests[0].body


async def test_the_mock_is_always_up(pool: ClientPool) -> None:
    provider = build_provider(ProviderConfig(key="demo", type="mock"), pool)
    assert await provider.probe("mock-1") == 200
