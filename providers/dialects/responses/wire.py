"""Pure helpers of the Responses wire format: ids, the client's tool kinds, usage.

Custom tools (free-form input) and namespaced tools have no equivalent on Chat Completions,
Anthropic or Gemini: a custom tool goes upstream as a function with one string parameter
``input``, a namespaced one as ``<namespace>__<name>``. ``ToolKinds`` remembers, from the
client's own request, which names were which, so a call coming back is given the shape the
client declared (``custom_tool_call{input}``, ``function_call{namespace}``).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from providers.canonical import as_int
from providers.types import Usage

__all__ = [
    "CUSTOM_INPUT",
    "NAMESPACE_MARK",
    "REASONING_MARK",
    "ToolKinds",
    "custom_parameters",
    "new_response_id",
    "reasoning_envelope",
    "unwrap_reasoning",
    "usage_from",
    "usage_to",
    "with_model",
]

CUSTOM_INPUT: Final = "input"
"""The one string parameter a custom tool has as a function on other upstreams."""
NAMESPACE_MARK: Final = "__"
"""Joins a namespace and a tool name into one function name (``ns__tool``)."""
REASONING_MARK: Final = "atgw1:"
"""Prefixes the ``encrypted_content`` the gateway mints for another upstream's signed
reasoning (an Anthropic thinking block), so a replay restores it byte-exact. OpenAI's own
``encrypted_content`` never has it: it is relayed untouched to OpenAI upstreams and dropped
for any other (which could not read it)."""


def new_response_id() -> str:
    """A fresh response id (random: an id is also the handle of a stored conversation)."""
    return f"resp_{secrets.token_hex(24)}"


def with_model(body: dict[str, Any], model: str) -> dict[str, Any]:
    """``body`` with ``model`` set; a shallow copy only when the model changes."""
    if body.get("model") == model:
        return body
    return {**body, "model": model}


def custom_parameters(description: str) -> dict[str, Any]:
    """The JSON Schema of a custom tool turned function (its grammar, if any, described)."""
    prop: dict[str, Any] = {"type": "string"}
    if description:
        prop["description"] = description
    return {"type": "object", "properties": {CUSTOM_INPUT: prop}, "required": [CUSTOM_INPUT]}


@dataclass(slots=True)
class ToolKinds:
    """Which function names stand for custom tools, and which for namespaced ones."""

    custom: set[str] = field(default_factory=set)
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, body: dict[str, Any] | None) -> ToolKinds:
        kinds = cls()
        tools = (body or {}).get("tools")
        for tool in tools if isinstance(tools, list) else ():
            if not isinstance(tool, dict):
                continue
            if tool.get("type") == "custom" and isinstance(tool.get("name"), str):
                kinds.custom.add(tool["name"])
            elif tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
                for inner in tool.get("tools") or ():
                    if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                        joined = f"{tool['name']}{NAMESPACE_MARK}{inner['name']}"
                        kinds.namespaced[joined] = (tool["name"], inner["name"])
                        if inner.get("type") == "custom":
                            kinds.custom.add(joined)
        return kinds

    def call_item(self, item_id: str, call_id: str, name: str, arguments: str,
                  status: str = "completed") -> dict[str, Any]:
        """A finished call as the client declared its tool."""
        head: dict[str, Any] = {"id": item_id, "call_id": call_id}
        custom = name in self.custom
        namespace = self.namespaced.get(name)
        if namespace is not None:
            head["namespace"], name = namespace
        if custom:
            return {"type": "custom_tool_call", **head, "name": name,
                    "input": _custom_input(arguments), "status": status}
        return {"type": "function_call", **head, "name": name, "arguments": arguments,
                "status": status}

    def is_custom(self, name: str) -> bool:
        return name in self.custom


def _custom_input(arguments: str) -> str:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get(CUSTOM_INPUT), str):
        return str(value[CUSTOM_INPUT])
    return arguments


def reasoning_envelope(raw: dict[str, Any]) -> str:
    """Another upstream's signed reasoning block as a Responses ``encrypted_content``."""
    return REASONING_MARK + base64.urlsafe_b64encode(orjson.dumps(raw)).decode()


def unwrap_reasoning(content: Any) -> dict[str, Any] | None:
    """The block inside a gateway-minted ``encrypted_content``; None for anything else."""
    if not isinstance(content, str) or not content.startswith(REASONING_MARK):
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(content[len(REASONING_MARK):]))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def usage_from(usage: Any) -> Usage:
    """Responses usage in the canonical meaning (cached input tokens split out)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("input_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(input_tokens=max(as_int(usage.get("input_tokens")) - cached, 0),
                 output_tokens=as_int(usage.get("output_tokens")), cache_read_tokens=cached)


def usage_to(usage: Usage) -> dict[str, Any]:
    """Canonical usage as Responses usage; ``total_tokens`` always (Codex requires it)."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + usage.output_tokens,
    }
