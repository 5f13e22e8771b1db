"""Pure helpers for the OpenAI wire format: request shaping, usage, embeddings bodies."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from providers.dialects.openai.messages import usage_from
from providers.types import Usage

__all__ = [
    "completion_body",
    "find_usage",
    "streaming_body",
    "with_model",
]

def with_model(body: dict[str, Any], model: str) -> dict[str, Any]:
    """``body`` with ``model`` set; a shallow copy only when the model changes."""
    if body.get("model") == model:
        return body
    return {**body, "model": model}


def completion_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` for a non-streamed call: ``stream`` off and its options dropped."""
    if not body.get("stream"):
        return body
    out = {**body, "stream": False}
    out.pop("stream_options", None)
    return out


def streaming_body(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``body`` for a streamed call, asking for usage; True if the client did not ask.

    The second value tells the stream to drop the usage-only chunk again.
    """
    options = body.get("stream_options")
    wanted = isinstance(options, dict) and options.get("include_usage") is True
    if wanted and body.get("stream") is True:
        return body, False
    out = {**body, "stream": True}
    if not wanted:
        base = options if isinstance(options, dict) else {}
        out["stream_options"] = {**base, "include_usage": True}
    return out, not wanted


def find_usage(raw: bytes) -> Usage:
    """Read ``usage`` from a complete OpenAI JSON body without parsing all of it (through
    ``usage_from``, the dialect's one converter: cached prompt tokens are not input).

    ``usage`` sits at the end of chat and embeddings bodies, whose choices or vectors
    can be large; so parse only the object after the last ``"usage"`` key, falling back
    to a full parse when that does not work out.
    """
    at = raw.rfind(b'"usage"')
    if at < 0:
        return Usage()
    rest = raw[at + 7 : at + 40].lstrip()
    if rest[:1] != b":" or rest[1:].lstrip()[:1] != b"{":
        return Usage()  # "usage": null, or the word as a value, not the key
    start = raw.find(b"{", at)
    end = raw.find(b"}", start)
    for _ in range(8):  # one try per nesting level (prompt_tokens_details, ...)
        if start < 0 or end < 0:
            break
        try:
            return usage_from(orjson.loads(raw[start : end + 1]))
        except orjson.JSONDecodeError:
            end = raw.find(b"}", end + 1)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Usage()
    return usage_from(data.get("usage") if isinstance(data, dict) else None)


def embeddings_body(vectors: list[list[float]], model: str, tokens: int,
                    encoding_format: object = None) -> bytes:
    """An OpenAI embeddings response; ``encoding_format="base64"`` packs each vector as
    little-endian float32, which the openai SDK asks for by default and unpacks itself."""
    as_base64 = encoding_format == "base64"
    data = [
        {"object": "embedding", "index": index,
         "embedding": base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
         if as_base64 else vector}
        for index, vector in enumerate(vectors)
    ]  # fmt: skip
    return orjson.dumps({"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
