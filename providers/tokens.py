"""Token estimates for upstreams that cannot count tokens themselves."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["estimate_tokens"]

_BYTES_PER_TOKEN = 4
_PER_MESSAGE = 4  # role markers and separators a chat template adds per message


def estimate_tokens(body: dict[str, Any]) -> int:
    """Estimate the input tokens of an Anthropic-dialect body (about 4 bytes a token).

    Counts the JSON of ``system``, ``messages`` and ``tools``; an estimate, not a bill.
    """
    parts = [body.get(name) for name in ("system", "messages", "tools")]
    size = sum(len(orjson.dumps(part)) for part in parts if part)
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    return size // _BYTES_PER_TOKEN + _PER_MESSAGE * count


def estimate_text_tokens(texts: list[str]) -> int:
    """Estimate the tokens of plain texts (embedding inputs), at least 1 each."""
    return sum(max(1, len(text.encode()) // _BYTES_PER_TOKEN) for text in texts)
