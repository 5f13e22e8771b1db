"""``Provider.list_models``: each upstream's own model list, asked as its API wants (path,
auth headers, paging) and normalised to ``UpstreamModel``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers import (
    ClientPool,
    InvalidConfig,
    ProviderConfig,
    ProviderError,
    UpstreamClientError,
    UpstreamUnreachable,
    build_provider,
)
from providers.types import UpstreamModel
from providers.upstreams.listing import MAX_MODEL_PAGES
from providers.upstreams.redact import MARKER
from tests.fakes.google_upstream import TOKEN
from tests.fakes.openai_upstream import Echo, FakeUpstream, Json
from tests.fakes.proxies import HttpProxy
from tests.providers.upstream_kinds import API_KEY, KINDS, dead_settings, upstream_for

NAMES = ["alpha", "beta", "gamma", "delta", "epsilon"]
OWNER = {"openai": "fake-org", "anthropic": "anthropic", "gemini": "google",
         "vertex": "google", "azure": "organization-owner"}  # fmt: skip
LISTING = {"azure": {"api_version": "2022-12-01"}}  # the last GA version that lists deployments


def _build(pool: ClientPool, settings: dict[str, Any], **extra: Any) -> Any:
    return build_provider(ProviderConfig(key="up", **{**settings, **extra}), pool)


def _ids(kind: str) -> list[str]:
    """What requests name each listed model (Vertex's OpenAI endpoint: ``google/<id>``)."""
    return [f"google/{name}" for name in NAMES] if kind == "vertex" else NAMES


def _check_auth(kind: str, fake: FakeUpstream) -> None:
    for sent in fake.requests:
        assert sent.method == "GET" and sent.raw == b""
        assert "Content-Length" not in sent.headers  # a GET carries no body
        headers = sent.headers
        if kind == "anthropic":
            assert headers["x-api-key"] == API_KEY and headers["anthropic-version"]
        elif kind == "gemini":
            assert headers["x-goog-api-key"] == API_KEY
        elif kind == "vertex":
            assert headers["Authorization"].startswith(f"Bearer {TOKEN}")
        elif kind == "azure":
            assert headers["api-key"] == API_KEY
        else:
            assert headers["Authorization"] == f"Bearer {API_KEY}"
        assert headers["X-Team"] == "blue"


@pytest.mark.parametrize("kind", KINDS)
async def test_each_upstream_lists_its_models(kind: str, pool: ClientPool, tmp_path: Path) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        fake.model_ids = list(NAMES)
        provider = _build(pool, settings, extra_headers={"X-Team": "blue"}, **LISTING.get(kind, {}))
        models = await provider.list_models()
    assert models == [UpstreamModel(name, OWNER[kind]) for name in _ids(kind)]
    paths = {"openai": "/v1/models", "anthropic": "/v1/models", "gemini": "/v1beta/models",
             "vertex": "/v1beta1/publishers/google/models", "azure": "/openai/deployments"}
    assert fake.requests[0].path == paths[kind]
    _check_auth(kind, fake)


@pytest.mark.parametrize(("kind", "cursor"), [
    ("anthropic", "after_id"), ("gemini", "pageToken"), ("vertex", "pageToken"),
])  # fmt: skip
async def test_paged_lists_are_followed_to_the_end(
    kind: str, cursor: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        fake.model_ids, fake.page_limit = list(NAMES), 2
        models = await _build(pool, settings, extra_headers={"X-Team": "blue"}).list_models()
    assert [model.id for model in models] == _ids(kind)
    assert len(fake.requests) == 3
    assert cursor not in fake.requests[0].query
    assert all(sent.query.get(cursor) for sent in fake.requests[1:])
    if kind == "anthropic":  # each page starts after the last id of the one before
        assert [sent.query.get("after_id") for sent in fake.requests] == [None, "beta", "delta"]
        assert {sent.query["limit"] for sent in fake.requests} == {"1000"}
    _check_auth(kind, fake)


async def test_a_list_without_end_stops_at_the_page_bound(
    pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for("gemini", tmp_path) as (fake, settings):
        fake.model_ids = [f"m{i}" for i in range(MAX_MODEL_PAGES + 5)]
        fake.page_limit = 1
        models = await _build(pool, settings).list_models()
    assert len(fake.requests) == MAX_MODEL_PAGES
    assert [model.id for model in models] == fake.model_ids[:MAX_MODEL_PAGES]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_dead_upstream_fails_the_list(kind: str, pool: ClientPool, tmp_path: Path) -> None:
    async with upstream_for(kind, tmp_path) as (_, settings):
        provider = _build(pool, dead_settings(kind, settings), **LISTING.get(kind, {}))
        with pytest.raises(UpstreamUnreachable, match="cannot connect"):
            await provider.list_models()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_401_fails_the_list_with_the_upstream_status(
    kind: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        fake.push(Json({"error": {"message": "key revoked"}}, status=401))
        with pytest.raises(UpstreamClientError) as caught:
            await _build(pool, settings, **LISTING.get(kind, {})).list_models()
    assert caught.value.upstream_status == 401
    assert caught.value.message == "upstream 'up' answered 401: key revoked"


@pytest.mark.parametrize("kind", KINDS)
async def test_an_error_echoing_the_request_is_scrubbed(
    kind: str, pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for(kind, tmp_path) as (fake, settings):
        fake.push(Echo())
        provider = _build(pool, settings, extra_headers={"X-Team": "hdr-secret-0123456789"},
                          **LISTING.get(kind, {}))
        with pytest.raises(ProviderError) as caught:
            await provider.list_models()
    message = caught.value.message
    assert MARKER in message  # the echo did carry the credentials
    for secret in (API_KEY, "hdr-secret-0123456789", TOKEN):
        assert secret not in message


async def test_an_answer_in_the_wrong_shape_is_the_upstream_failure(
    fake: FakeUpstream, pool: ClientPool
) -> None:
    fake.push(Json({"data": "not a list"}))
    provider = _build(pool, {"type": "openai", "base_url": fake.base_url})
    with pytest.raises(ProviderError, match="without a 'data' list") as caught:
        await provider.list_models()
    assert caught.value.status == 502


async def test_azure_api_versions_without_a_deployment_list_are_refused_naming_the_key(
    pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for("azure", tmp_path) as (fake, settings):
        with pytest.raises(InvalidConfig) as caught:
            await _build(pool, settings).list_models()  # the default, 2024-10-21
    assert caught.value.status == 400 and fake.requests == []
    assert caught.value.message.startswith("providers.up.api_version: '2024-10-21'")


async def test_a_fixed_azure_deployment_lists_its_resource(
    pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for("azure", tmp_path) as (fake, settings):
        base = settings["base_url"] + "/openai/deployments/fixed"
        models = await _build(pool, settings, base_url=base, api_version="2023-03-15-preview"
                              ).list_models()
    assert [model.id for model in models] == ["fake-model"]
    assert fake.requests[0].path == "/openai/deployments"
    assert fake.requests[0].query == {"api-version": "2023-03-15-preview"}


async def test_vertex_elsewhere_than_a_vertex_endpoint_is_refused(
    pool: ClientPool, tmp_path: Path
) -> None:
    async with upstream_for("vertex", tmp_path) as (fake, settings):
        proxy_like = settings["base_url"].replace("/v1/projects/proj/locations/us", "/relay")
        with pytest.raises(InvalidConfig) as caught:
            await _build(pool, settings, base_url=proxy_like).list_models()
    assert caught.value.status == 400 and "base_url" in caught.value.message
    assert fake.requests == []


async def test_the_list_goes_through_the_provider_proxy(
    fake: FakeUpstream, pool: ClientPool
) -> None:
    async with HttpProxy() as proxy:
        provider = _build(pool, {"type": "openai", "base_url": fake.base_url,
                                 "proxy": proxy.url.replace("//", "//u:pw@")})
        models = await provider.list_models()
    assert [model.id for model in models] == ["fake-model"]
    assert proxy.auth_headers == ["Basic dTpwdw=="] and fake.requests[0].path == "/v1/models"


async def test_the_mock_lists_what_it_was_configured_with(pool: ClientPool) -> None:
    provider = build_provider(ProviderConfig(
        key="demo", type="mock", model="mock-1", models=("mock-2", "nick=mock-3", "gpt-*")),
        pool)  # fmt: skip
    assert [model.id for model in await provider.list_models()] == ["mock-1", "mock-2", "mock-3"]
