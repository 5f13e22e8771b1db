"""No provider secret reaches a client through upstream error text: upstreams and proxies
that echo the request (headers, target) in their error bodies get their echo redacted."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from providers import ClientPool, ProviderConfig, ProviderError, build_provider
from providers.const import ERROR_MESSAGE_LIMIT
from providers.types import Provider
from providers.upstream_errors import upstream_error
from providers.upstreams.redact import MARKER, Redactor
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.frames import collect_events
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.google_upstream import AzureUpstream, VertexUpstream, service_account_file
from tests.fakes.openai_upstream import Echo, FakeUpstream, Json, Sse
from tests.fakes.proxies import HttpProxy

API_KEY = "sk-live-0123456789abcdef"
HEADER_SECRET = "org-secret/token+value=="
EXTRA = {"X-Org-Token": HEADER_SECRET}
BODY: dict[str, Any] = {"model": "m", "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
FAKES: dict[str, type[FakeUpstream]] = {
    "openai": FakeUpstream, "azure": AzureUpstream,
    "anthropic": AnthropicUpstream, "gemini": GeminiUpstream,
}  # fmt: skip


def _leaks(text: str, secrets: list[str]) -> list[str]:
    """Each secret, or a URL-encoded or base64 form of it, found in ``text``."""
    forms = {form for s in secrets for form in (
        s, quote(s, safe=""), base64.b64encode(s.encode()).decode().rstrip("="))}
    return sorted(form for form in forms if form in text)


@pytest.fixture(params=sorted(FAKES))
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, FakeUpstream]]:
    async with FAKES[request.param]() as fake:
        yield request.param, fake


def _provider(kind: str, fake: FakeUpstream, pool: ClientPool, **extra: Any) -> Provider:
    return build_provider(ProviderConfig(
        key="up", type=kind, base_url=fake.base_url, api_key=API_KEY, extra_headers=EXTRA,
        **extra), pool)  # fmt: skip


async def _failure(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value


async def test_echoed_request_headers_are_redacted(
    upstream: tuple[str, FakeUpstream], pool: ClientPool
) -> None:
    kind, fake = upstream
    provider = _provider(kind, fake, pool)
    fake.push(Echo(), Echo())
    errors = [await _failure(provider.complete("openai", BODY, "m")),
              await _failure(provider.open_stream("openai", BODY, "m"))]  # fmt: skip
    for error in errors:
        assert error.status == 401
        assert error.message.count(MARKER) >= 2  # the echo did carry both secrets
        assert _leaks(error.message, [API_KEY, HEADER_SECRET]) == []
        assert _leaks(str(error), [API_KEY, HEADER_SECRET]) == []


async def test_secrets_in_error_events_inside_a_stream_are_redacted(
    upstream: tuple[str, FakeUpstream], pool: ClientPool
) -> None:
    kind, fake = upstream
    said = f"key {API_KEY} header {quote(HEADER_SECRET, safe='')} refused"
    event: Any = {"error": {"message": said, "type": "invalid_request_error", "code": 401}}
    if kind == "anthropic":
        event = b'event: error\ndata: {"type":"error","error":{"type":"authentication_error",' \
                b'"message":"' + said.encode() + b'"}}\n\n'
    fake.push(Sse([event]))
    stream = await _provider(kind, fake, pool).open_stream("openai", BODY, "m")
    sent = b"".join(await collect_events(stream)).decode()
    assert stream.failed and MARKER in sent
    assert _leaks(sent, [API_KEY, HEADER_SECRET]) == []


async def test_a_json_answer_to_a_stream_request_is_redacted(
    upstream: tuple[str, FakeUpstream], pool: ClientPool
) -> None:
    kind, fake = upstream
    fake.push(Json({"error": {"message": f"bad key {API_KEY}"}}))
    error = await _failure(_provider(kind, fake, pool).open_stream("openai", BODY, "m"))
    assert "with JSON" in error.message and MARKER in error.message
    assert _leaks(error.message, [API_KEY]) == []


async def test_proxy_credentials_echoed_by_the_upstream_are_redacted(
    fake: FakeUpstream, pool: ClientPool
) -> None:
    password = "pa@ss-word-789"
    async with HttpProxy(forward_credentials=True) as proxy:
        url = proxy.url.replace("http://", f"http://gateway:{quote(password, safe='')}@")
        fake.push(Echo())
        error = await _failure(_provider("openai", fake, pool, proxy=url).complete(
            "openai", BODY, "m"))  # fmt: skip
    basic = base64.b64encode(f"gateway:{password}".encode()).decode()
    assert proxy.auth_headers == [f"Basic {basic}"]
    assert basic[:20] not in error.message and MARKER in error.message
    assert _leaks(error.message, [API_KEY, password, f"gateway:{password}"]) == []


async def test_vertex_bearer_token_is_redacted(tmp_path: Path, pool: ClientPool) -> None:
    async with VertexUpstream() as fake:
        sa = service_account_file(tmp_path, fake.token_uri)
        config = ProviderConfig(key="v", type="vertex", base_url=fake.base_url,
                                credentials_file=str(sa))  # fmt: skip
        fake.push(Echo())
        error = await _failure(build_provider(config, pool).complete("openai", BODY, "m"))
    assert fake.requests[0].headers["Authorization"] == "Bearer ya29.fake-vertex-token-1"
    assert "ya29" not in error.message and MARKER in error.message


@pytest.mark.parametrize("base_url", ["", "fake"])
async def test_vertex_credentials_path_stays_out_of_errors(
    tmp_path: Path, pool: ClientPool, base_url: str
) -> None:
    """The service-account file cannot be read: the client learns why, not where it is.
    Without a base_url the project is read first (before any request), with one the token."""
    missing = tmp_path / "node-private-keys-7f3a" / "sa.json"
    async with VertexUpstream() as fake:
        config = ProviderConfig(key="v", type="vertex", credentials_file=str(missing),
                                base_url=fake.base_url if base_url else "")  # fmt: skip
        error = await _failure(build_provider(config, pool).complete("openai", BODY, "m"))
    assert error.status == 502 and "Google access token" in error.message
    assert "No such file or directory" in error.message
    assert "node-private-keys-7f3a" not in error.message and "sa.json" not in error.message
    assert fake.requests == []


async def test_vertex_token_endpoint_reply_is_redacted(tmp_path: Path, pool: ClientPool) -> None:
    async with VertexUpstream() as fake:
        sa = service_account_file(tmp_path, fake.token_uri)
        fake.token_refusal = Json({"error": "invalid_grant", "error_description":
                                   f"key file {sa} rejected; header {HEADER_SECRET}"}, 400)
        config = ProviderConfig(key="v", type="vertex", base_url=fake.base_url,
                                credentials_file=str(sa), extra_headers=EXTRA)  # fmt: skip
        error = await _failure(build_provider(config, pool).complete("openai", BODY, "m"))
    assert "invalid_grant" in error.message and MARKER in error.message
    assert _leaks(error.message, [str(sa), HEADER_SECRET]) == []
    assert fake.requests == []


async def test_a_token_error_cut_inside_a_secret_is_redacted(
    tmp_path: Path, pool: ClientPool
) -> None:
    async with VertexUpstream() as fake:
        sa = service_account_file(tmp_path, fake.token_uri)
        config = ProviderConfig(key="v", type="vertex", base_url=fake.base_url,
                                credentials_file=str(sa), extra_headers=EXTRA)  # fmt: skip
        for pad in range(280, 300, 3):  # the 300-character cut falls inside the secret
            fake.token_refusal = Json({"error": "x" * pad + HEADER_SECRET * 2}, 400)
            provider = build_provider(config, pool)
            error = await _failure(provider.complete("openai", BODY, "m"))
            assert error.message.endswith("..."), error.message
            assert HEADER_SECRET[:6] not in error.message, error.message


def test_forms_an_echo_may_take_are_redacted() -> None:
    secret = "s3cr3t/with spaces+plus"
    redactor = Redactor([secret])
    for form in (secret, quote(secret, safe=""), quote(secret), quote(secret).lower(),
                 base64.b64encode(secret.encode()).decode(), "s3cr3t/with spaces+plus"):
        assert redactor.text(f"got [{form}] here") == f"got [{MARKER}] here", form


def test_a_secret_cut_by_the_message_limit_is_redacted() -> None:
    """The upstream's text is clipped to a length limit; the cut may fall in a secret."""
    redactor = Redactor([API_KEY])
    for keep in (4, 10, len(API_KEY) - 1):
        filler = "x" * (ERROR_MESSAGE_LIMIT - len("...") - len(" ") - keep)
        error = upstream_error("up", 401, f"{filler} {API_KEY} and more".encode())
        assert error.message.endswith("...") and API_KEY[:keep] in error.message
        clean = redactor.scrub(error).message
        assert API_KEY[:keep] not in clean and clean.endswith(f"{MARKER}...")


def test_short_values_and_unknown_text_are_left_alone() -> None:
    redactor = Redactor(["abc", "", "the-secret-value"])
    assert redactor.text("abc and abd...") == "abc and abd..."
    assert Redactor().text("anything sk-1") == "anything sk-1"
