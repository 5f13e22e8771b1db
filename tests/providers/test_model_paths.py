"""Model names never change the upstream path (Gemini and Azure put them in the URL), and
the per-model URL caches stay bounded whatever names clients send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from providers import ClientPool, InvalidConfig, InvalidRequest, ProviderConfig, build_provider
from providers.types import Provider
from tests.fakes.frames import collect_events
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.google_upstream import AzureUpstream, service_account_file
from tests.fakes.openai_upstream import FakeUpstream

BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
TRAVERSALS = [
    "../../../admin/secret",
    "models/../../../admin/secret",
    "..%2f..%2f..%2fadmin%2fsecret",
    "..%2F..%2F..%2Fadmin%2Fsecret",
    "x/..\\..\\..\\admin\\secret",
    "..",
    ".",
]
IMPOSSIBLE = ["", "x" * 257, "gem\nini", "gem\x00ini", "gem\x7fini", "a/./b", *TRAVERSALS]


@pytest.fixture(params=["gemini", "azure"])
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[FakeUpstream]:
    fake = GeminiUpstream() if request.param == "gemini" else AzureUpstream()
    async with fake:
        yield fake


def _provider(fake: FakeUpstream, pool: ClientPool) -> Provider:
    kind = "gemini" if isinstance(fake, GeminiUpstream) else "azure"
    return build_provider(ProviderConfig(key="up", type=kind, base_url=fake.base_url,
                                         api_key="k-123"), pool)  # fmt: skip


@pytest.mark.parametrize("model", IMPOSSIBLE)
async def test_impossible_model_names_are_refused_before_any_io(
    upstream: FakeUpstream, pool: ClientPool, model: str
) -> None:
    provider = _provider(upstream, pool)
    with pytest.raises(InvalidRequest) as complete:
        await provider.complete("openai", BODY, model)
    with pytest.raises(InvalidRequest) as stream:
        await provider.open_stream("openai", BODY, model)
    for error in (complete.value, stream.value):
        assert (error.status, error.param) == (400, "model")
        assert error.message.startswith("model: ")
    assert upstream.requests == []


async def test_traversal_never_reaches_another_path(
    upstream: FakeUpstream, pool: ClientPool
) -> None:
    """Whatever happens to each name, the wire never carries a path outside the API."""
    provider = _provider(upstream, pool)
    for model in TRAVERSALS:
        with pytest.raises(InvalidRequest):
            await provider.complete("openai", BODY, model)
    assert all("admin" not in sent.raw_path for sent in upstream.requests)


@pytest.mark.parametrize(("model", "segment"), [
    ("a/b?c#d%e", "a%2Fb%3Fc%23d%25e"),
    ("dep:x", "dep%3Ax"),
    ("x" * 256, "x" * 256),
    ("gemini-2.5-flash", "gemini-2.5-flash"),
    ("a..b", "a..b"),
])  # fmt: skip
async def test_a_model_name_is_exactly_one_path_segment(
    upstream: FakeUpstream, pool: ClientPool, model: str, segment: str
) -> None:
    provider = _provider(upstream, pool)
    await provider.complete("openai", BODY, model)
    await collect_events(await provider.open_stream("openai", BODY, model))
    paths = [sent.raw_path.partition("?")[0] for sent in upstream.requests]
    if isinstance(upstream, GeminiUpstream):
        assert paths == [f"/v1beta/models/{segment}:generateContent",
                         f"/v1beta/models/{segment}:streamGenerateContent"]  # fmt: skip
    else:
        assert paths == [f"/openai/deployments/{segment}/chat/completions"] * 2


async def test_gemini_models_prefix_is_still_dropped(pool: ClientPool) -> None:
    async with GeminiUpstream() as fake:
        provider = _provider(fake, pool)
        await provider.complete("gemini", {"contents": []}, "models/gemini-x")
    assert fake.requests[0].raw_path.startswith("/v1beta/models/gemini-x:generateContent")


async def test_url_caches_stay_bounded(pool: ClientPool) -> None:
    """10,000 distinct client-chosen names leave every cache at or under its bound."""
    for kind in ("gemini", "azure"):
        config = ProviderConfig(key="up", type=kind, base_url="https://h.example", api_key="k")
        provider: Any = build_provider(config, pool)
        for i in range(10_000):
            for action in ("generateContent", "streamGenerateContent"):
                provider._target(provider._url(f"model-{i}", action))
        assert 0 < len(provider._urls) <= 256
        assert 0 < len(provider._targets) <= 256


@pytest.mark.parametrize("project", ["../../admin", "p/x", "p?x=1", ".."])
async def test_vertex_project_from_credentials_stays_one_segment(
    tmp_path: Path, pool: ClientPool, project: str
) -> None:
    sa = service_account_file(tmp_path, "http://127.0.0.1:9/token", project=project)
    config = ProviderConfig(key="v", type="vertex", credentials_file=str(sa))
    with pytest.raises(InvalidConfig, match=r"providers\.v\.credentials_file: project"):
        await build_provider(config, pool).complete("openai", BODY, "google/gemini-x")
