"""A gateway key's policy applied to one chat request, before it is resolved.

In order: the key's default model (when the request names none, or the bare ``default``),
its system prompt (the dialect's own system instruction, before the client's), its
``max_input_tokens`` (a cheap estimate over the cap is a 400) and its ``max_output_tokens``
(a lower client limit stays; none becomes the cap, so every answer is bounded). The client's
body is never changed in place: each step returns a copy when it changes something.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from node.errors import BadRequest
from node.limits.policy import NO_POLICY

if TYPE_CHECKING:
    from node.serve.exchange import Exchange

__all__ = ["DEFAULT_MODEL", "apply_policy", "has_default_model", "input_estimate"]

DEFAULT_MODEL: Final = "default"
"""The bare name that asks for the key's default model."""

# Keys whose string values are no text the model reads as tokens (names, ids, inline media,
# opaque signatures); the estimate skips them.
_NOT_TEXT: Final = frozenset({"model", "role", "type", "data", "signature", "id",
                              "tool_call_id", "tool_use_id", "mime_type", "mimeType",
                              "media_type", "url", "fileUri", "file_uri"})


def has_default_model(exchange: Exchange) -> bool:
    """True when the exchange's key names a default model (a request may then name none)."""
    return exchange.key is not None and exchange.policy.default_model is not None


def apply_policy(exchange: Exchange, body: dict[str, Any], model_name: str
                 ) -> tuple[dict[str, Any], str]:
    """``(body, model_name)`` as the key's policy shapes them (400 for too long an input)."""
    assert exchange.key is not None
    policy = exchange.policy
    if policy is NO_POLICY:
        return body, model_name
    spec = exchange.spec
    if policy.default_model is not None and model_name in ("", DEFAULT_MODEL):
        model_name = policy.default_model
        body = spec.with_model(body, model_name)
    if policy.system_prompt is not None:
        body = spec.with_system_prompt(body, policy.system_prompt)
    cap = policy.max_input_tokens
    if cap is not None:
        estimate = input_estimate(body)
        if estimate > cap:
            raise BadRequest(
                f"This request's input is about {estimate} tokens, over this API key's "
                f"max_input_tokens of {cap}", param="max_input_tokens")
    if policy.max_output_tokens is not None:
        body = spec.cap_output(body, policy.max_output_tokens, fill=True)
    return body, model_name


def input_estimate(body: Any) -> int:
    """About how many tokens the text of ``body`` is: its UTF-8 bytes / 4 (a common average
    for English; a cap on size, not the provable bound limits reserve)."""
    return _text_bytes(body) // 4


def _text_bytes(value: Any) -> int:
    if isinstance(value, str):
        return 0 if value.startswith("data:") else len(value.encode())
    if isinstance(value, Mapping):
        return sum(_text_bytes(item) for name, item in value.items() if name not in _NOT_TEXT)
    if isinstance(value, list):
        return sum(_text_bytes(item) for item in value)
    return 0
