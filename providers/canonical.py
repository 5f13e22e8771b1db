"""The canonical form every cross-dialect translation passes through.

A request, a complete response and a stream event each have one shape here; every dialect
module converts its wire JSON to and from these shapes, so N dialects need 2N converters,
not N squared. The types are plain slotted dataclasses and NamedTuples: one stream event
is built per upstream event, so they must stay cheap.

Usage follows the Anthropic meaning: ``input_tokens`` excludes cache reads and writes.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import orjson

from providers.types import Usage

__all__ = [
    "End",
    "Finish",
    "Media",
    "Message",
    "OutputFormat",
    "Part",
    "Request",
    "Response",
    "Start",
    "StreamEvent",
    "Text",
    "TextDelta",
    "Thinking",
    "ThinkingDelta",
    "Tool",
    "ToolCall",
    "ToolDelta",
    "ToolResult",
    "ToolStart",
    "args_object",
    "args_text",
    "as_int",
    "dropped",
    "media_from_url",
    "media_url",
    "new_id",
    "plain_text",
]

log = logging.getLogger("providers.translate")

Finish = Literal["stop", "length", "tool_calls", "content_filter", "stop_sequence"]
"""Why the model stopped, in OpenAI's words plus ``stop_sequence``."""


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Media:
    """An image or a document, inline (``data`` is base64) or by ``url``."""

    kind: Literal["image", "document"]
    media_type: str = ""
    data: str = ""
    url: str = ""


@dataclass(slots=True)
class ToolCall:
    """A call the assistant made; ``arguments`` is the JSON text of the input object.

    ``signature`` keeps an upstream's opaque per-call state (Gemini ``thoughtSignature``).
    """

    id: str
    name: str
    arguments: str
    signature: str = ""


@dataclass(slots=True)
class ToolResult:
    """The result of call ``call_id`` (``name`` is "" when the dialect does not say)."""

    call_id: str
    content: list[Text | Media]
    is_error: bool = False
    name: str = ""


@dataclass(slots=True)
class Thinking:
    """A reasoning block; ``raw`` is the Anthropic block itself, replayed byte-exact."""

    text: str
    raw: dict[str, Any] | None = None

    @property
    def unsigned(self) -> bool:
        """Reasoning no Anthropic model signed (so it may go to any other upstream)."""
        return self.raw is None or self.raw.get("signature") == UNSIGNED_THINKING


Part = Text | Media | ToolCall | ToolResult | Thinking


@dataclass(slots=True)
class Message:
    role: Literal["system", "user", "assistant"]
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class OutputFormat:
    """The answer must be a JSON object; matching ``schema`` (a JSON Schema) when set, under
    ``name`` (OpenAI requires one), validated strictly by the upstream when ``strict``."""

    schema: dict[str, Any] | None = None
    name: str = "response"
    strict: bool = False


@dataclass(slots=True)
class Request:
    """One chat request. ``tool_choice``: "auto", "none", "required" or a tool name."""

    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    user: str | None = None
    output: OutputFormat | None = None  # None: free text


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[Part]
    finish: Finish | None
    usage: Usage


class Start(NamedTuple):
    """The stream opened; ``usage`` holds what is known up front (input tokens)."""

    id: str
    model: str
    usage: Usage


class TextDelta(NamedTuple):
    text: str


class ToolStart(NamedTuple):
    """Call number ``call`` (0, 1, ... in this turn) begins."""

    call: int
    id: str
    name: str


class ToolDelta(NamedTuple):
    """A fragment of call ``call``'s JSON arguments."""

    call: int
    arguments: str


class ThinkingDelta(NamedTuple):
    """A fragment of the model's reasoning; ``signature`` when the upstream signed it."""

    text: str
    signature: str = ""


class End(NamedTuple):
    """The turn is over (cumulative usage)."""

    finish: Finish | None
    usage: Usage


StreamEvent = Start | TextDelta | ThinkingDelta | ToolStart | ToolDelta | End


def dropped(target: str, name: str) -> None:
    """Log (at debug) a parameter that has no equivalent on ``target``."""
    log.debug("dropped %r: no equivalent in the %s dialect", name, target)


UNSIGNED_THINKING: Final = "at-gateway-unsigned"
"""The signature of reasoning no Anthropic model signed (DeepSeek's ``reasoning_content``,
Gemini thoughts): Anthropic clients need one on every thinking block, and such a block is
left out when the conversation goes back to an Anthropic upstream, which would refuse it."""

SIGNATURE_MARK: Final = "__sig_"
"""Separates a tool-call id from the upstream signature it carries (see ``signed_id``)."""


def signed_id(call_id: str, signature: str) -> str:
    """``call_id`` with ``signature`` folded in, for clients that have no field for it.

    Gemini 3 refuses a history whose function calls lost their ``thoughtSignature``; an
    OpenAI or Anthropic client only echoes the call id back, so the signature rides in the
    id (base64url keeps it inside Anthropic's ``^[A-Za-z0-9_-]+$``) and nothing is stored
    on any node: the next turn may land on any replica.
    """
    if not signature:
        return call_id
    token = base64.urlsafe_b64encode(signature.encode()).rstrip(b"=").decode()
    return f"{call_id}{SIGNATURE_MARK}{token}"


def split_signed_id(call_id: str) -> tuple[str, str]:
    """(plain id, signature) of an id made by ``signed_id``; (id, "") for any other."""
    base, mark, token = call_id.partition(SIGNATURE_MARK)
    if not mark or not token:
        return call_id, ""
    try:
        return base, base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return call_id, ""


def unfold_signatures(request: Request) -> Request:
    """Move signatures folded into tool-call ids back into ``ToolCall.signature``, so that
    every upstream sees plain ids (OpenAI caps them at 40 characters)."""
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ToolCall) and SIGNATURE_MARK in part.id:
                part.id, signature = split_signed_id(part.id)
                part.signature = part.signature or signature
            elif isinstance(part, ToolResult) and SIGNATURE_MARK in part.call_id:
                part.call_id = split_signed_id(part.call_id)[0]
    return request


def new_id(prefix: str, seed: object) -> str:
    """A deterministic id that matches ``^[A-Za-z0-9_-]+$`` (Anthropic's tool id rule)."""
    text = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(seed))
    return f"{prefix}{text}"


def args_object(arguments: str) -> dict[str, Any]:
    """The arguments JSON text as an object ({} when empty; wrapped when not an object)."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"value": value}


def args_text(value: Any) -> str:
    """An input object as compact JSON text."""
    return orjson.dumps(value if value is not None else {}).decode()


def media_from_url(kind: Literal["image", "document"], url: str) -> Media:
    """A ``data:`` URL becomes inline base64; anything else stays a URL."""
    if url.startswith("data:"):
        head, _, data = url[5:].partition(",")
        media_type = head.split(";", 1)[0]
        return Media(kind, media_type, data)
    return Media(kind, url=url)


def media_url(media: Media) -> str:
    """The media as one URL (inline data becomes a ``data:`` URL)."""
    if media.url:
        return media.url
    return f"data:{media.media_type or 'application/octet-stream'};base64,{media.data}"


def plain_text(parts: list[Text | Media] | list[Part]) -> str:
    """The text parts joined (what a text-only slot, like a tool message, can carry)."""
    return "".join(p.text for p in parts if isinstance(p, Text))


_MAX_COUNT: Final = 2**53
"""Token counts beyond this are an upstream's garbage (and would overflow JSON encoders)."""


def as_int(value: Any) -> int:
    """A token count from upstream JSON: 0 unless a non-negative integer of sane size."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT:
        return value
    return 0
