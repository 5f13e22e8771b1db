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


@pytest.mark.parametrize(("field", "value", "words"), [
    ("base_url", "http://[::1/v1", "not a valid URL (Invalid IPv6 URL)"),
    ("base_url", "http://h:99999/v1", "not a valid URL (Port out of range"),
    ("base_url", "http://h:-1/v1", "not a valid URL (Port out of range"),
    ("base_url", "http://xn--/v1", "not a valid URL"),
    ("base_url", "http://a b/v1", "the host holds a space"),
    ("base_url", "http://a\0b/v1", "control character"),
    ("proxy", "http://[bad", "not a valid URL (Invalid IPv6 URL)"),
    ("proxy", "http://h:abc", "not a valid URL"),
    ("proxy", "socks5://u:pw-SECRET-9@[::1", "not a valid URL"),
])  # fmt: skip
def test_urls_that_do_not_parse_are_refused_naming_the_field(field: str, value: str,
                                                            words: str) -> None:
    """Once a 500 from the admin API and a traceback from check-config."""
    with pytest.raises(InvalidConfig) as caught:
        ProviderConfig(key="up", type="openai", **{field: value})
    message = caught.value.message
    assert message.startswith(f"providers.up.{field}: ") and words in message, message
    assert "SECRET" not in message and "\n" not in message


@pytest.mark.parametrize("api_key", ["sk-a\nb", "sk-a\rb", "sk-a\0b"])
def test_an_api_key_that_cannot_be_a_header_is_refused(api_key: str) -> None:
    """Once accepted, and every request through the provider then failed with a 502."""
    with pytest.raises(InvalidConfig) as caught:
        ProviderConfig(key="up", type="openai", api_key=api_key)
    assert caught.value.message.startswith("providers.up.api_key: holds a line break or NUL")
    assert "sk-a" not in caught.value.message
