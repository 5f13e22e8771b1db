"""A small typed schema the dialects' ``check_request`` declare their request shapes in.

A shape is a function ``(value, path) -> None`` that raises ``InvalidRequest`` naming the
first offending field by its JSON path (``messages[2].content[0].text``). Each dialect
declares, at every depth its codecs read, the types they rely on, so a wrong type answers
400 instead of crashing a translator; fields the gateway does not read are not declared
and pass through for the upstream to judge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from providers.errors import InvalidRequest

__all__ = [
    "MAX_OUTPUT_TOKENS",
    "MISSING",
    "Shape",
    "array",
    "boolean",
    "fail",
    "integer",
    "model_name",
    "non_empty_string",
    "nullable",
    "number",
    "obj",
    "one_of",
    "require_object",
    "string",
    "string_list",
    "tagged",
]

MISSING: Any = object()
MAX_OUTPUT_TOKENS: Final = 10_000_000
"""Far above any model's output window: a larger limit is a client bug, not a wish."""

Shape = Callable[[Any, str], None]
"""Raises ``InvalidRequest`` unless the value (found at the path) has the shape."""


def fail(param: str, expected: str, value: Any) -> InvalidRequest:
    got = "missing" if value is MISSING else f"got {_kind(value)}"
    return InvalidRequest(f"{param}: expected {expected}, {got}", param=param)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def require_object(body: Any) -> dict[str, Any]:
    """``body`` if it is a JSON object; ``InvalidRequest`` (no ``param``) otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body: expected a JSON object", param=None)
    return body


def string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise fail(path, "a string", value)


def non_empty_string(value: Any, path: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise fail(path, "a non-empty string", value)


model_name: Final[Shape] = non_empty_string


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise fail(path, "a boolean", value)


def _in_range(value: float, path: str, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        low = "" if lo is None else f" >= {lo}"
        high = "" if hi is None else f" <= {hi}"
        joint = " and" if low and high else ""
        raise InvalidRequest(f"{path}: must be{low}{joint}{high}, got {value}", param=path)


def integer(lo: int | None = None, hi: int | None = None) -> Shape:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(path, "an integer", value)
        _in_range(value, path, lo, hi)

    return check


def number(lo: float | None = None, hi: float | None = None) -> Shape:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise fail(path, "a number", value)
        _in_range(value, path, lo, hi)

    return check


def nullable(shape: Shape) -> Shape:
    """``shape`` or null (for fields a codec reads as ``value or default``)."""

    def check(value: Any, path: str) -> None:
        if value is not None:
            shape(value, path)

    return check


def array(item: Shape | None = None, *, non_empty: bool = False) -> Shape:
    expected = "a non-empty array" if non_empty else "an array"

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list) or (non_empty and not value):
            raise fail(path, expected, value)
        if item is not None:
            for i, element in enumerate(value):
                item(element, f"{path}[{i}]")

    return check


string_list: Final[Shape] = array(string)


def obj(fields: Mapping[str, Shape] | None = None, *, required: tuple[str, ...] = ()) -> Shape:
    """An object whose ``fields`` have their shapes where present (``required`` must be)."""
    declared = dict(fields or {})

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise fail(path or "request body", "an object", value)
        for name, shape in declared.items():
            if name in value:
                shape(value[name], _at(path, name))
            elif name in required:
                shape(MISSING, _at(path, name))  # every shape refuses MISSING, naming it

    return check


def one_of(expected: str, *choices: tuple[type | tuple[type, ...], Shape]) -> Shape:
    """The first choice whose Python type matches decides (``str`` or an array, ...)."""

    def check(value: Any, path: str) -> None:
        for kind, shape in choices:
            if isinstance(value, kind) and not isinstance(value, bool):
                shape(value, path)
                return
        raise fail(path, expected, value)

    return check


def tagged(variants: Mapping[str, Shape], key: str = "type") -> Shape:
    """An object told apart by its ``key`` (a string); unknown kinds pass through."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise fail(path, "an object", value)
        kind = value.get(key, MISSING)
        if not isinstance(kind, str):
            raise fail(_at(path, key), "a string", kind)
        shape = variants.get(kind)
        if shape is not None:
            shape(value, path)

    return check
