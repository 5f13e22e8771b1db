"""A base_url is stored and shown as plain text, so credentials in it are refused with one
line that says where they belong instead."""

from __future__ import annotations

import pytest

from providers import InvalidConfig, ProviderConfig


@pytest.mark.parametrize(("base_url", "found"), [
    ("https://user:hunter22@api.example/v1", "user:password@"),
    ("https://token@api.example/v1", "user:password@"),
    ("https://api.example/v1?key=AIzaSecret", "a query string"),
    ("https://api.example/v1?api-version=2&sig=abc", "a query string"),
    ("https://api.example/v1?opaque", "a query string"),
])  # fmt: skip
def test_credentials_in_base_url_are_refused(base_url: str, found: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        ProviderConfig(key="up", type="openai", base_url=base_url)
    message = caught.value.message
    assert message.startswith(f"providers.up.base_url: holds {found}")
    assert "api_key or extra_headers" in message and "\n" not in message
    assert "hunter22" not in message and "AIzaSecret" not in message


@pytest.mark.parametrize("base_url", [
    "", "https://api.example/v1", "http://127.0.0.1:8080/v1/",
    "https://x.example/d/chat/completions?api-version=2024-06-01",
])  # fmt: skip
def test_plain_base_urls_are_kept(base_url: str) -> None:
    assert ProviderConfig(key="up", type="openai", base_url=base_url).base_url == base_url
