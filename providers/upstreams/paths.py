"""Model names on their way into upstream URLs, and the bounded caches of those URLs.

The model is the client's choice, and Gemini and Azure put it in the URL path. It must
never change which path is asked for: a name that could not be a model (empty, too long,
control characters, ``.`` or ``..`` segments) is refused with ``InvalidRequest`` before any
IO, and a valid one is percent-encoded into exactly one path segment (``/``, ``%``, ``?``,
``#`` and ``:`` included). Servers that decode ``%2F`` before normalising the path would
otherwise still climb, hence the refusal on top of the encoding.
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar
from urllib.parse import quote, unquote

from providers.errors import InvalidRequest

__all__ = ["MODEL_NAME_LIMIT", "BoundedCache", "check_model", "model_segment"]

MODEL_NAME_LIMIT: Final = 256
"""Longest model name accepted (real ones are far shorter; this also bounds the caches'
memory per entry)."""

CACHE_LIMIT: Final = 256

K = TypeVar("K")
V = TypeVar("V")


def _problem(model: str) -> str:
    """What makes ``model`` impossible as a model name ("" when nothing does)."""
    if not model:
        return "the model name is empty"
    if len(model) > MODEL_NAME_LIMIT:
        return f"a model name has at most {MODEL_NAME_LIMIT} characters, got {len(model)}"
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in model):
        return "a model name holds no control characters"
    for form in (model, unquote(model)):
        segments = form.replace("\\", "/").split("/")
        if "." in segments or ".." in segments:
            return f"got {model!r}; a model name has no '.' or '..' path segments"
    return ""


def check_model(model: str, provider: str) -> None:
    """Raise ``InvalidRequest`` (param ``model``) unless ``model`` could name a model."""
    problem = _problem(model)
    if problem:
        raise InvalidRequest(f"model: {problem}", provider=provider, param="model")


def model_segment(model: str, provider: str) -> str:
    """``model`` checked and percent-encoded as one URL path segment (for ``encoded=True``)."""
    check_model(model, provider)
    return quote(model, safe="")


class BoundedCache(Generic[K, V]):
    """A dict that forgets everything when full: keys may be client-chosen (one URL per
    model name), so it must not grow without bound; refilling costs one build per key."""

    __slots__ = ("_items", "limit")

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self.limit = limit
        self._items: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[key] = value
        return value
