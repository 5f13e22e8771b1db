"""Shape checks of inbound bodies, so a wrong type answers 400 instead of a crash.

Only the fields the gateway itself reads, or that every upstream requires, are checked;
everything else passes through for the upstream to judge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers.errors import InvalidRequest
from providers.types import Dialect

__all__ = ["check_embedding_request", "check_request"]


def _fail(param: str, expected: str, value: Any) -> InvalidRequest:
    got = "missing" if value is _MISSING else f"got {type(value).__name__}"
    return InvalidRequest(f"{param}: expected {expected}, {got}", param=param)


_MISSING: Any = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(body: dict[str, Any], name: str, ok: Callable[[Any], bool], expected: str) -> None:
    value = body.get(name, _MISSING)
    if value is _MISSING or not ok(value):
        raise _fail(name, expected, value)


def _optional(body: dict[str, Any], name: str, ok: Callable[[Any], bool], expected: str) -> None:
    value = body.get(name, _MISSING)
    if value is not _MISSING and value is not None and not ok(value):
        raise _fail(name, expected, value)


def _model(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _messages(body: dict[str, Any], name: str, *, role_required: bool) -> None:
    messages = body.get(name, _MISSING)
    if not isinstance(messages, list) or not messages:
        raise _fail(name, "a non-empty array", messages)
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _fail(f"{name}[{i}]", "an object", message)
        role = message.get("role", _MISSING)
        if (role_required or role is not _MISSING) and not isinstance(role, str):
            raise _fail(f"{name}[{i}].role", "a string", role)


def _check_openai(body: dict[str, Any]) -> None:
    _require(body, "model", _model, "a non-empty string")
    _messages(body, "messages", role_required=True)
    _optional(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        _optional(body, name, _is_int, "an integer")
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _optional(body, name, _is_number, "a number")
    _optional(body, "stream_options", lambda v: isinstance(v, dict), "an object")
    options = body.get("stream_options")
    if isinstance(options, dict):
        _optional(options, "include_usage", lambda v: isinstance(v, bool), "a boolean")
    _optional(body, "tools", lambda v: isinstance(v, list), "an array")
    _optional(body, "stop", lambda v: isinstance(v, (str, list)), "a string or an array")


def _check_anthropic(body: dict[str, Any]) -> None:
    _require(body, "model", _model, "a non-empty string")
    _messages(body, "messages", role_required=True)
    _require(body, "max_tokens", _is_int, "an integer")
    _optional(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    _optional(body, "system", lambda v: isinstance(v, (str, list)), "a string or an array")
    _optional(body, "temperature", _is_number, "a number")
    _optional(body, "tools", lambda v: isinstance(v, list), "an array")
    _optional(body, "stop_sequences", lambda v: isinstance(v, list), "an array")


def _check_gemini(body: dict[str, Any]) -> None:
    _messages(body, "contents", role_required=False)
    for i, content in enumerate(body["contents"]):
        _optional(content, "parts", lambda v: isinstance(v, list), "an array")
        if "parts" not in content:
            raise _fail(f"contents[{i}].parts", "an array", _MISSING)
    _optional(body, "generationConfig", lambda v: isinstance(v, dict), "an object")
    _optional(body, "systemInstruction", lambda v: isinstance(v, dict), "an object")
    _optional(body, "tools", lambda v: isinstance(v, list), "an array")


def check_request(inbound: Dialect, body: Any) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field) if ``body`` has the wrong shape.

    openai: chat completions; anthropic: messages; gemini: generateContent.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("request body: expected a JSON object", param=None)
    if inbound == "anthropic":
        _check_anthropic(body)
    elif inbound == "gemini":
        _check_gemini(body)
    else:
        _check_openai(body)


def check_embedding_request(body: Any) -> None:
    """Raise ``InvalidRequest`` unless ``body`` is an OpenAI embeddings request."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body: expected a JSON object", param=None)
    _require(body, "model", _model, "a non-empty string")

    def ok(value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, list) and bool(value))

    _require(body, "input", ok, "a string or a non-empty array")
