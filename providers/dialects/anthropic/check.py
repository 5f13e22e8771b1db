"""Shape checks of Anthropic Messages request bodies."""

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

__all__ = ["check_request"]


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field) if ``body`` is no Messages request."""
    body = require_object(body)
    require(body, "model", model_name, "a non-empty string")
    messages(body, "messages", role_required=True)
    require(body, "max_tokens", is_int, "an integer")
    optional(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    optional(body, "system", lambda v: isinstance(v, (str, list)), "a string or an array")
    optional(body, "temperature", is_number, "a number")
    optional(body, "tools", lambda v: isinstance(v, list), "an array")
    optional(body, "stop_sequences", lambda v: isinstance(v, list), "an array")
