"""Model resolution: provider/model, bare names, aliases, and ``*`` patterns."""

from __future__ import annotations

from typing import Any

import pytest

from node.catalog import Catalog
from node.config import parse_provider
from node.errors import ModelNotFound
from providers import ClientPool


def _catalog(**providers: dict[str, Any]) -> Catalog:
    catalog = Catalog(ClientPool())
    catalog.load({key: parse_provider(key, section) for key, section in providers.items()}, {})
    return catalog


def _where(catalog: Catalog, name: str) -> tuple[str, str]:
    route = catalog.resolve(name)
    return route.provider_key, route.model


def test_patterns_route_an_agents_built_in_names() -> None:
    catalog = _catalog(
        ds={"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "deepseek-chat",
            "models": ["claude-*=deepseek-chat", "claude-haiku-*=deepseek-lite", "r1"]},
        local={"type": "openai", "base_url": "http://127.0.0.1:9/v1",
               "models": ["qwen*", "claude-opus-4-5=big"]},
    )  # fmt: skip
    assert _where(catalog, "claude-sonnet-4-5-20250929") == ("ds", "deepseek-chat")
    assert _where(catalog, "claude-haiku-4-5-20251001") == ("ds", "deepseek-lite")  # longest
    assert _where(catalog, "claude-opus-4-5") == ("local", "big")  # an exact name beats a pattern
    assert _where(catalog, "qwen3-coder") == ("local", "qwen3-coder")  # no "=": as asked
    assert _where(catalog, "ds/claude-x") == ("ds", "deepseek-chat")
    assert _where(catalog, "ds/other") == ("ds", "other")
    assert _where(catalog, "r1") == ("ds", "r1")
    with pytest.raises(ModelNotFound):
        catalog.resolve("gpt-4o")
    listed = [model_id for model_id, _, _ in catalog.model_ids()]
    assert listed == ["ds/deepseek-chat", "ds/r1", "local/claude-opus-4-5"]  # no patterns


def test_a_lone_star_catches_every_other_name() -> None:
    catalog = _catalog(any={"type": "openai", "base_url": "http://127.0.0.1:9/v1",
                            "models": ["*=fallback"]})
    assert _where(catalog, "whatever-model") == ("any", "fallback")
