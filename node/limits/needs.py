"""What one request may use, as provable upper bounds: the units reserved at admission.

Input tokens are bounded by the UTF-8 bytes of the request's JSON (byte-level BPE tokenizers
spend at least one byte per token, and the JSON holds every text, tool schema and message
besides structure that outweighs each message's template overhead), plus a fixed allowance per
image, audio clip or file part. Output tokens are bounded by the output limit the request
carries upstream: when the client set none, one is set, so the answer cannot outgrow its
reservation (notes/limits.md section 2.6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from node.limits.policy import LIMIT_NAMES
from providers import DialectSpec, Usage
from store import Period

__all__ = ["MEDIA_TOKENS", "dimension", "input_bound", "input_used", "with_output_limit"]

MEDIA_TOKENS = 4096
"""Tokens allowed per media part (image, audio, document): above what the providers charge
for one image, and the bytes of an inline part are counted on top."""

# A media part serialises (orjson, compact) with one of these: its type as a JSON value or its
# Gemini key. A JSON string cannot hold a bare quote, so text that mentions them does not
# match; a match elsewhere only over-reserves. One regex pass over the bytes already made for
# the length replaces a walk of the body in Python.
_MEDIA = re.compile(rb'"type":"(?:image_url|input_audio|input_image|input_file|file|image|'
                    rb'document)"'
                    rb'|"(?:inlineData|fileData|inline_data|file_data)":')


def dimension(name: str) -> tuple[str, Period | None]:
    """``requests_per_minute`` -> (``requests``, ``minute``); ``max_concurrent`` has no
    period. Dimensions: requests, input, output, usd."""
    known = _DIMENSIONS.get(name)
    return known if known is not None else _dimension(name)


def _dimension(name: str) -> tuple[str, Period | None]:
    if name == "max_concurrent":
        return "concurrent", None
    what, _, period = name.partition("_per_")
    dim = what.removesuffix("_tokens")
    if period not in ("minute", "hour", "day", "month"):
        raise ValueError(f"not a limit name: {name!r}")
    return dim, period  # type: ignore[return-value]  # checked just above


_DIMENSIONS: Final[Mapping[str, tuple[str, Period | None]]] = MappingProxyType(
    {name: _dimension(name) for name in LIMIT_NAMES})
"""Every limit name's dimension, worked out once: admission asks several times a request."""


def input_bound(body: dict[str, Any]) -> int:
    """An upper bound of the input tokens ``body`` can cost."""
    data = orjson.dumps(body)
    return len(data) + MEDIA_TOKENS * len(_MEDIA.findall(data))


def input_used(usage: Usage) -> int:
    """Every input token, cached or not (the bound covers them all)."""
    return usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens


def with_output_limit(spec: DialectSpec, body: dict[str, Any], limit: int) -> dict[str, Any]:
    """``body`` carrying an output limit of at most ``limit`` (set when absent), in the
    dialect's own field (``max_tokens``, ``maxOutputTokens``, ``max_output_tokens``)."""
    return spec.cap_output(body, limit, fill=True)
