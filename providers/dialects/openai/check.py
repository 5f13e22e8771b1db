"""Shape checks of OpenAI chat-completions and embeddings request bodies."""

from __future__ import annotations

from typing import Any

from providers.dialects.check import (
    is_int,
    is_number,
    messages,
    model_name,
    optional,
    require,
    require_object,
)

__all__ = ["check_embedding_request", "check_request"]


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field) if ``body`` is no chat request."""
    body = require_object(body)
    require(body, "model", model_name, "a non-empty string")
    messages(body, "messages", role_required=True)
    optional(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        optional(body, name, is_int, "an integer")
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        optional(body, name, is_number, "a number")
    optional(body, "stream_options", lambda v: isinstance(v, dict), "an object")
    options = body.get("stream_options")
    if isinstance(options, dict):
        optional(options, "include_usage", lambda v: isinstance(v, bool), "a boolean")
    optional(body, "tools", lambda v: isinstance(v, list), "an array")
    optional(body, "stop", lambda v: isinstance(v, (str, list)), "a string or an array")


def check_embedding_request(body: Any) -> None:
    """Raise ``InvalidRequest`` unless ``body`` is an OpenAI embeddings request."""
    body = require_object(body)
    require(body, "model", model_name, "a non-empty string")

    def ok(value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, list) and bool(value))

    require(body, "input", ok, "a string or a non-empty array")
