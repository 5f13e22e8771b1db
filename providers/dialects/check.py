"""Field checks the dialects' ``check_request`` share, so a wrong type answers 400 instead
of a crash.

Only the fields the gateway itself reads, or that every upstream requires, are checked;
everything else passes through for the upstream to judge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers.errors import InvalidRequest

__all__ = [
    "MISSING", "fail", "is_int", "is_number", "messages", "model_name", "optional", "require",
    "require_object",
]

MISSING: Any = object()


def fail(param: str, expected: str, value: Any) -> InvalidRequest:
    got = "missing" if value is MISSING else f"got {type(value).__name__}"
    return InvalidRequest(f"{param}: expected {expected}, {got}", param=param)


def require_object(body: Any) -> dict[str, Any]:
    """``body`` if it is a JSON object; ``InvalidRequest`` (no ``param``) otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body: expected a JSON object", param=None)
    return body


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require(body: dict[str, Any], name: str, ok: Callable[[Any], bool], expected: str) -> None:
    value = body.get(name, MISSING)
    if value is MISSING or not ok(value):
        raise fail(name, expected, value)


def optional(body: dict[str, Any], name: str, ok: Callable[[Any], bool], expected: str) -> None:
    value = body.get(name, MISSING)
    if value is not MISSING and value is not None and not ok(value):
        raise fail(name, expected, value)


def model_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def messages(body: dict[str, Any], name: str, *, role_required: bool) -> None:
    found = body.get(name, MISSING)
    if not isinstance(found, list) or not found:
        raise fail(name, "a non-empty array", found)
    for i, message in enumerate(found):
        if not isinstance(message, dict):
            raise fail(f"{name}[{i}]", "an object", message)
        role = message.get("role", MISSING)
        if (role_required or role is not MISSING) and not isinstance(role, str):
            raise fail(f"{name}[{i}].role", "a string", role)
