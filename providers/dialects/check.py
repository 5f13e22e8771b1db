"""A small typed schema the dialects' ``check_request`` declare their request shapes in.

A shape is a function ``(value) -> None``; :func:`validate` runs one over a request body and
raises ``InvalidRequest`` naming the first offending field by its JSON path
(``messages[2].content[0].text``). Each dialect declares, at every depth its codecs read, the
types they rely on, so a wrong type answers 400 instead of crashing a translator; fields the
gateway does not read are not declared and pass through for the upstream to judge.

The path is built only when something fails: a shape raises :class:`Mismatch`, and each
enclosing object or array adds its own segment on the way out. A valid body (every request)
costs no string work at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from providers.errors import InvalidRequest

__all__ = [
    "MAX_OUTPUT_TOKENS",
    "MISSING",
    "Mismatch",
    "Shape",
    "array",
    "boolean",
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
    "validate",
]

MISSING: Any = object()
MAX_OUTPUT_TOKENS: Final = 10_000_000
"""Far above any model's output window: a larger limit is a client bug, not a wish."""

Shape = Callable[[Any], None]
"""Raises :class:`Mismatch` unless the value has the shape."""


class Mismatch(Exception):
    """A value without its shape; ``segments`` is its path from the failing value outwards
    (names and indexes), which :func:`validate` turns into ``a.b[2].c``."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments: list[str | int] = []


def expected(what: str, value: Any) -> Mismatch:
    got = "missing" if value is MISSING else f"got {_kind(value)}"
    return Mismatch(f"expected {what}, {got}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _path(segments: list[str | int]) -> str:
    out = ""
    for segment in reversed(segments):
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out = f"{out}.{segment}" if out else segment
    return out


def validate(shape: Shape, body: Any) -> None:
    """Check a request body: ``InvalidRequest`` naming the field (``param``) on a mismatch."""
    try:
        shape(require_object(body))
    except Mismatch as bad:
        path = _path(bad.segments)
        raise InvalidRequest(f"{path or 'request body'}: {bad.problem}",
                             param=path or None) from None


def require_object(body: Any) -> dict[str, Any]:
    """``body`` if it is a JSON object; ``InvalidRequest`` (no ``param``) otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body: expected a JSON object", param=None)
    return body


def string(value: Any) -> None:
    if not isinstance(value, str):
        raise expected("a string", value)


def non_empty_string(value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise expected("a non-empty string", value)


model_name: Final[Shape] = non_empty_string


def boolean(value: Any) -> None:
    if not isinstance(value, bool):
        raise expected("a boolean", value)


def _in_range(value: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        low = "" if lo is None else f" >= {lo}"
        high = "" if hi is None else f" <= {hi}"
        joint = " and" if low and high else ""
        raise Mismatch(f"must be{low}{joint}{high}, got {value}")


def integer(lo: int | None = None, hi: int | None = None) -> Shape:
    def check(value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise expected("an integer", value)
        _in_range(value, lo, hi)

    return check


def number(lo: float | None = None, hi: float | None = None) -> Shape:
    def check(value: Any) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise expected("a number", value)
        _in_range(value, lo, hi)

    return check


def nullable(shape: Shape) -> Shape:
    """``shape`` or null (for fields a codec reads as ``value or default``)."""

    def check(value: Any) -> None:
        if value is not None:
            shape(value)

    return check


def array(item: Shape | None = None, *, non_empty: bool = False) -> Shape:
    what = "a non-empty array" if non_empty else "an array"

    def check(value: Any) -> None:
        if not isinstance(value, list) or (non_empty and not value):
            raise expected(what, value)
        if item is not None:
            for i, element in enumerate(value):
                try:
                    item(element)
                except Mismatch as bad:
                    bad.segments.append(i)
                    raise

    return check


string_list: Final[Shape] = array(string)


def obj(fields: Mapping[str, Shape] | None = None, *, required: tuple[str, ...] = ()) -> Shape:
    """An object whose ``fields`` have their shapes where present (``required`` must be)."""
    declared = dict(fields or {})

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            raise expected("an object", value)
        for name in required:
            if name not in value:
                bad = expected("a value", MISSING)
                bad.segments.append(name)
                raise bad
        # The body's own fields, not every declared one: bodies set few of them.
        for name, found in value.items():
            shape = declared.get(name)
            if shape is not None:
                try:
                    shape(found)
                except Mismatch as bad:
                    bad.segments.append(name)
                    raise

    return check


def one_of(what: str, *choices: tuple[type | tuple[type, ...], Shape]) -> Shape:
    """The first choice whose Python type matches decides (``str`` or an array, ...)."""

    def check(value: Any) -> None:
        for kind, shape in choices:
            if isinstance(value, kind) and not isinstance(value, bool):
                shape(value)
                return
        raise expected(what, value)

    return check


def tagged(variants: Mapping[str, Shape], key: str = "type") -> Shape:
    """An object told apart by its ``key`` (a string); unknown kinds pass through."""

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            raise expected("an object", value)
        kind = value.get(key, MISSING)
        if not isinstance(kind, str):
            bad = expected("a string", kind)
            bad.segments.append(key)
            raise bad
        shape = variants.get(kind)
        if shape is not None:
            shape(value)

    return check
