"""One provider schema: node's structs, providers' rules, and the one list of secret fields."""

from __future__ import annotations

from typing import Any

import pytest

from node.config import ConfigError, load_settings, parse_provider, parse_settings
from node.config.secrets import provider_secret_paths
from node.config.wiring import provider_config


def _tree_with(path: tuple[str, ...], leaf: Any) -> dict[str, Any]:
    """An openai provider whose field at ``path`` (``*``: one mapping key) holds ``leaf``."""
    tree: dict[str, Any] = {"type": "openai"}
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node["X-Secret" if path[-1] == "*" else path[-1]] = leaf
    return tree


@pytest.mark.parametrize("path", provider_secret_paths(), ids=".".join)
def test_a_secret_field_is_redacted_in_a_config_error(path: tuple[str, ...]) -> None:
    secret = f"s3cret-{path[0]}-value"
    with pytest.raises(ConfigError) as caught:
        parse_settings({"providers": {"x": _tree_with(path, [secret])}})
    message = str(caught.value)
    assert message.startswith(f"providers.x.{path[0]}"), message
    assert secret not in message


def test_a_rule_of_the_providers_package_is_one_line_without_the_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_provider("x", {"type": "openai", "proxy": "ftp://bob:hunter2-pw@proxy.lan:21"})
    message = str(caught.value)
    assert message.startswith("providers.x.proxy:") and "\n" not in message
    assert "hunter2-pw" not in message


@pytest.mark.parametrize("scheme", ["http", "https", "socks4", "socks5", "socks5h"])
def test_every_proxy_scheme_the_transport_speaks_is_accepted(scheme: str) -> None:
    settings = load_settings(None, {"AT_PROVIDERS_P_TYPE": "openai",
                                    "AT_PROVIDERS_P_PROXY": f"{scheme}://proxy.lan:1080"})
    assert settings.providers["p"].proxy == f"{scheme}://proxy.lan:1080"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("timeout", 0, "providers.x.timeout: got 0.0, expected a positive number of seconds"),
     ("max_tokens", 0, "providers.x.max_tokens: got 0, expected a positive integer"),
     ("type", "nope", "providers.x.type: got 'nope', expected one of")],
)
def test_providers_rules_are_checked_when_settings_load(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"providers": {"x": {"type": "openai", field: value}}})
    assert message in str(caught.value)


def test_one_function_converts_the_schema_for_the_providers_package() -> None:
    section = parse_provider("m", {"type": "mock", "models": ["a", "b=c", "claude-*=d"]})
    config = provider_config("m", section)
    assert (config.key, config.type, config.model, config.models) == ("m", "mock", "mock-1",
                                                                      ("a", "b"))
