"""Pure, deterministic content for the mock provider: replies, chunks, embeddings.

One token is one whitespace-separated word, for input and output alike.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

import orjson

from providers.dialects.openai.wire import embeddings_body
from providers.types import Usage

__all__ = [
    "CREATED",
    "MockAnswer",
    "answer",
    "count_words",
    "embeddings",
    "last_user_text",
]

CREATED = 1_700_000_000
"""The fixed ``created`` timestamp of every mock response (determinism over realism)."""

REPLY_WORDS = 32
"""Length of an uncut mock reply, in words."""

_FILLER = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
)  # fmt: skip


def text_of(content: Any) -> str:
    """The text of an OpenAI or Anthropic message ``content`` (string or parts list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return " ".join(texts)
    return ""


def count_words(body: dict[str, Any]) -> int:
    """Input tokens: words in ``system`` and every message's content."""
    total = len(text_of(body.get("system")).split())
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += len(text_of(message.get("content")).split())
    return total


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last ``user`` message ("" when there is none)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return text_of(message.get("content"))
    return ""


def _limit(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(value, 0)
    return None


@dataclass(frozen=True, slots=True)
class MockAnswer:
    """What the mock says to one request."""

    id: str
    words: tuple[str, ...]
    finish_reason: str
    usage: Usage

    def content(self) -> str:
        return " ".join(self.words)


def answer(body: dict[str, Any], model: str) -> MockAnswer:
    """The deterministic reply to ``body``: same body and model, same answer."""
    prompt = last_user_text(body)
    digest = hashlib.sha256(model.encode() + b"\0" + prompt.encode()).digest()
    words = ["Mock", "reply", "to:", *prompt[:40].split()]
    i = 0
    while len(words) < REPLY_WORDS:
        words.append(_FILLER[digest[i % len(digest)] % len(_FILLER)])
        i += 1
    limit = _limit(body)
    finish = "stop"
    if limit is not None and limit < len(words):
        words, finish = words[:limit], "length"
    usage = Usage(input_tokens=count_words(body), output_tokens=len(words))
    return MockAnswer("chatcmpl-mock-" + digest.hex()[:24], tuple(words), finish, usage)


def usage_json(usage: Usage) -> dict[str, int]:
    """``usage`` in OpenAI's shape."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def completion(reply: MockAnswer, model: str) -> bytes:
    """A complete ``chat.completion`` body."""
    return orjson.dumps(
        {
            "id": reply.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content()},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": usage_json(reply.usage),
        }
    )


def chunks(reply: MockAnswer, model: str, *, include_usage: bool) -> list[bytes]:
    """The ``data`` payloads of a stream: role, one delta per word, finish, usage?, DONE."""
    head = {"id": reply.id, "object": "chat.completion.chunk", "created": CREATED, "model": model}

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return orjson.dumps({**head, "choices": [choice]})

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(reply.words)]
    out.append(chunk({}, reply.finish_reason))
    if include_usage:
        out.append(orjson.dumps({**head, "choices": [], "usage": usage_json(reply.usage)}))
    out.append(b"[DONE]")
    return out


def _vector(item: bytes, dims: int) -> list[float]:
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(counter.to_bytes(4, "big") + item).digest()
        counter += 1
    values = [n / 2**31 - 1.0 for n in struct.unpack(f">{dims}I", raw[: dims * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings(body: dict[str, Any], model: str) -> tuple[bytes, Usage]:
    """An embeddings response: one unit vector per input, derived from its hash."""
    items = body.get("input")
    if isinstance(items, str) or (isinstance(items, list) and items and isinstance(items[0], int)):
        items = [items]
    if not isinstance(items, list):
        items = []
    dims = body.get("dimensions")
    dims = dims if isinstance(dims, int) and 0 < dims <= 4096 else 8
    vectors: list[list[float]] = []
    tokens = 0
    for item in items:
        if isinstance(item, str):
            tokens += len(item.split())
        else:
            tokens += len(item) if isinstance(item, list) else 1
        vectors.append(_vector(orjson.dumps(item), dims))
    raw = embeddings_body(vectors, model, tokens, body.get("encoding_format"))
    return raw, Usage(input_tokens=tokens)
