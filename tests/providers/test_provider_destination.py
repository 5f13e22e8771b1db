"""What decides where a provider's secrets go is checked when its settings are built: no
extra header may re-target or split the request, and the node's own Google credentials go to
Google only."""

from __future__ import annotations

import pytest

from providers import ClientPool, InvalidConfig, ProviderConfig, build_provider

SECRET = "sk-real-secret-1"


@pytest.mark.parametrize("name", [
    "Host", "host", "HOST", "Content-Length", "transfer-encoding", "Connection",
    "Proxy-Authorization", "Upgrade", "TE", "Trailer", "Keep-Alive",
])  # fmt: skip
def test_headers_the_transport_writes_are_refused(name: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        ProviderConfig(key="p", type="openai", base_url="http://127.0.0.1:9/v1", api_key=SECRET,
                       extra_headers={name: "evil.example"})
    assert caught.value.message.startswith("providers.p.extra_headers:")
    assert "evil.example" not in caught.value.message


@pytest.mark.parametrize("headers", [
    {"X-Team": "blue\r\nHost: evil.example"},
    {"X-Team": "blue\nX-Other: 1"},
    {"X-Team": "blue\0"},
    {"X-Team\r\nHost": "evil.example"},
    {"Host:evil.example": ""},
    {"X Team": "blue"},
    {"": "blue"},
])  # fmt: skip
def test_header_breaks_are_refused_before_the_first_request(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidConfig) as caught:
        ProviderConfig(key="p", type="openai", api_key=SECRET, extra_headers=headers)
    assert caught.value.message.startswith("providers.p.extra_headers:")
    assert "\n" not in caught.value.message and "blue" not in caught.value.message


def test_ordinary_extra_headers_still_reach_the_request_head() -> None:
    headers = {"X-Team": "blue", "OpenAI-Organization": "org-1", "anthropic-beta": "a,b"}
    config = ProviderConfig(key="p", type="openai", extra_headers=headers)
    provider = build_provider(config, ClientPool())
    assert provider.config.extra_headers == headers


@pytest.mark.parametrize("base_url", [
    "https://attacker.example/v1",
    "http://us-central1-aiplatform.googleapis.com/v1",  # in clear text
    "https://googleapis.com.attacker.example/v1",
    "https://evil-googleapis.com/v1",
    "http://127.0.0.1:9/v1",
])  # fmt: skip
def test_vertex_without_its_own_credentials_sends_to_google_only(base_url: str) -> None:
    with pytest.raises(InvalidConfig, match=r"providers\.v\.base_url: .*credentials_file"):
        ProviderConfig(key="v", type="vertex", base_url=base_url)
    # A service account named with the endpoint is that endpoint's own.
    config = ProviderConfig(key="v", type="vertex", base_url=base_url, credentials_file="/sa.json")
    assert config.base_url == base_url


@pytest.mark.parametrize("base_url", [
    "", "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi",
    "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/x/endpoints/openapi",
])  # fmt: skip
def test_vertex_on_google_needs_no_credentials_file(base_url: str) -> None:
    assert ProviderConfig(key="v", type="vertex", base_url=base_url).base_url == base_url
    # Another type's base_url is not Vertex's business.
    assert ProviderConfig(key="o", type="openai", base_url="https://attacker.example/v1")
