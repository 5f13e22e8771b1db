"""Upstream error answers (a status and a body, or an error event inside a stream) become
``ProviderError`` subclasses carrying the upstream's own message (OpenAI, Anthropic and
Gemini error bodies). Pure: the adapters read the bytes, the dialect decoders call this too."""

from __future__ import annotations

import re

import orjson

from providers.const import ERROR_MESSAGE_LIMIT
from providers.errors import (
    ContextOverflow,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
)

__all__ = ["context_overflow", "error_message", "upstream_error"]


def upstream_error(
    provider: str, status: int, body: bytes, retry_after: str | None = None
) -> UpstreamError:
    """Build the error for an upstream non-2xx answer, with the upstream's own message."""
    detail = error_message(body) or f"HTTP {status}"
    message = f"upstream {provider!r} answered {status}: {detail}"
    if status in (400, 413, 422) and _OVERFLOW_HINT.search(detail):
        return context_overflow(provider, status, detail, message)
    if status == 429:
        return UpstreamRateLimited(
            message, provider=provider, retry_after=retry_after, upstream_status=status
        )
    if 400 <= status < 500:
        return UpstreamClientError(
            message, provider=provider, status=status, upstream_status=status
        )
    return UpstreamServerError(message, provider=provider, upstream_status=status)


_OVERFLOW_HINT = re.compile(
    r"context.length|context window|prompt is too long|maximum number of tokens|too many tokens",
    re.IGNORECASE)
# (prompt tokens, limit) as each upstream words it; the group names say which is which.
_OVERFLOW_NUMBERS = (
    re.compile(r"prompt is too long: (?P<n>\d+) tokens > (?P<m>\d+) maximum"),  # Anthropic
    re.compile(r"maximum context length is (?P<m>\d+) tokens.*?(?:resulted in|requested) "
               r"(?P<n>\d+) tokens", re.IGNORECASE | re.DOTALL),  # OpenAI, vLLM
    re.compile(r"input token count \(?(?P<n>\d+)\)? exceeds the maximum number of tokens "
               r"allowed \(?(?P<m>\d+)\)?", re.IGNORECASE),  # Gemini
)


def context_overflow(provider: str, status: int, detail: str, message: str) -> ContextOverflow:
    """A prompt that does not fit: with the numbers known, the message is Anthropic's exact
    wording, which Claude Code parses to compact its context and retry."""
    for pattern in _OVERFLOW_NUMBERS:
        found = pattern.search(detail)
        if found:
            tokens, limit = int(found["n"]), int(found["m"])
            return ContextOverflow(
                f"prompt is too long: {tokens} tokens > {limit} maximum", provider=provider,
                upstream_status=status, prompt_tokens=tokens, limit=limit)
    return ContextOverflow(message, provider=provider, upstream_status=status)



def error_message(body: bytes) -> str:
    """Find the human message in an upstream error body (OpenAI, Anthropic, Gemini)."""
    if not body:
        return ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _clip(body.decode("utf-8", "replace").strip())
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            err = err.get("message") or err.get("error") or ""
        if isinstance(err, str) and err:
            return _clip(err)
        if isinstance(data.get("message"), str):
            return _clip(data["message"])
    return _clip(body.decode("utf-8", "replace").strip())


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= ERROR_MESSAGE_LIMIT:
        return text
    return text[: ERROR_MESSAGE_LIMIT - 3] + "..."
