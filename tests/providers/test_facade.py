"""The public face of ``providers``: exports, factory, config checks, module hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import providers
from providers import PROVIDER_TYPES, ClientPool, InvalidConfig, ProviderConfig, build_provider

PACKAGE = Path(providers.__file__).parent


def test_exports_are_pinned() -> None:
    assert sorted(providers.__all__) == sorted(
        [
            "DIALECTS",
            "PROVIDER_TYPES",
            "ArrayFramer",
            "DialectSpec",
            "Framer",
            "ClientPool",
            "ContextOverflow",
            "Dialect",
            "InvalidConfig",
            "InvalidRequest",
            "Provider",
            "ProviderConfig",
            "ProviderError",
            "Reply",
            "Stream",
            "StreamTranscript",
            "UpstreamClientError",
            "UpstreamError",
            "UpstreamRateLimited",
            "UpstreamServerError",
            "UpstreamTimeout",
            "UpstreamUnreachable",
            "Usage",
            "build_provider",
            "finish_response",
            "check_embedding_request",
            "check_request",
            "dialect",
            "error_body",
            "error_event",
            "reply_output",
            "request_shape",
        ]
    )
    for name in providers.__all__:
        assert hasattr(providers, name)
    assert frozenset({"openai", "anthropic", "gemini", "vertex", "azure", "mock"}) == (
        PROVIDER_TYPES
    )


async def test_build_provider_types(pool: ClientPool) -> None:
    assert build_provider(ProviderConfig(key="o", type="openai"), pool).dialect == "openai"
    assert build_provider(ProviderConfig(key="d", type="mock"), pool).dialect == "openai"
    with pytest.raises(InvalidConfig, match=r"providers\.x\.type: got 'bedrock'"):
        build_provider(ProviderConfig(key="x", type="bedrock"), pool)
    dialects = {"anthropic": "anthropic", "gemini": "gemini", "vertex": "openai"}
    for kind, dialect in dialects.items():
        assert build_provider(ProviderConfig(key="x", type=kind), pool).dialect == dialect
    with pytest.raises(InvalidConfig, match=r"providers\.x\.base_url: azure needs"):
        build_provider(ProviderConfig(key="x", type="azure"), pool)
    azure = ProviderConfig(key="x", type="azure", base_url="https://r.openai.azure.com")
    assert build_provider(azure, pool).dialect == "openai"


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout", 0), ("connect_timeout", -1.0), ("max_tokens", 0), ("proxy", "gopher://x")],
)
def test_config_is_checked_when_built(field: str, value: object) -> None:
    with pytest.raises(InvalidConfig, match=rf"providers\.k\.{field}: got"):
        ProviderConfig(key="k", type="openai", **{field: value})  # type: ignore[arg-type]


def test_modules_import_in_a_fresh_interpreter() -> None:
    """Catches import cycles; the package's __init__ is always imported first anyway."""
    names = ["providers"] + [
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted(PACKAGE.rglob("*.py"))
    ]
    code = "; ".join(f"import {name}" for name in names)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent, timeout=60)


def test_modules_stay_small() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path.name


def test_no_dependency_on_sibling_packages() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for sibling in ("node", "store", "cluster"):
            assert f"import {sibling}" not in text and f"from {sibling}" not in text, path.name
