"""Named constants of the providers package."""

from __future__ import annotations

from typing import Final

PROVIDER_TYPES: Final[frozenset[str]] = frozenset(
    {"openai", "anthropic", "gemini", "vertex", "azure", "mock"}
)
"""Every provider ``type`` a config may name (some adapters may not be built yet)."""

OPENAI_DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"

ERROR_BODY_LIMIT: Final = 64 * 1024
"""How much of an upstream error body is read to find its message (bigger is cut)."""

ERROR_MESSAGE_LIMIT: Final = 500
"""Longest upstream error text passed on to a client."""

KEEPALIVE_SECONDS: Final = 30.0
USER_AGENT: Final = "at-gateway"
