"""Shape checks of Gemini generateContent request bodies."""

from __future__ import annotations

from typing import Any

from providers.dialects.check import (
    MISSING,
    fail,
    messages,
    optional,
    require_object,
)

__all__ = ["check_request"]


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field) unless ``body`` is generateContent's."""
    body = require_object(body)
    messages(body, "contents", role_required=False)
    for i, content in enumerate(body["contents"]):
        optional(content, "parts", lambda v: isinstance(v, list), "an array")
        if "parts" not in content:
            raise fail(f"contents[{i}].parts", "an array", MISSING)
    optional(body, "generationConfig", lambda v: isinstance(v, dict), "an object")
    optional(body, "systemInstruction", lambda v: isinstance(v, dict), "an object")
    optional(body, "tools", lambda v: isinstance(v, list), "an array")
