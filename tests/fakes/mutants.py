"""Hypothesis strategies that break valid JSON bodies: wrong types at any depth, missing
fields, nulls, huge numbers, deep nesting, and fields the codecs read added where they are
absent. Used to fuzz request checks and translators, and as the wrong answers of a fake
upstream.

``mutants(seeds)`` draws one seed and mutates it one to three times; ``stream_mutants``
does the same to one event of an SSE stream (given as ``SSEEvent``s).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import strategies as st

from providers.sse import SSEDecoder, SSEEvent

__all__ = ["FIELDS", "events_of", "json_values", "mutants", "stream_mutants"]

FIELDS = [
    # requests, every dialect
    "model", "messages", "role", "content", "type", "text", "tools", "tool_choice", "function",
    "name", "arguments", "parameters", "description", "tool_calls", "tool_call_id", "id",
    "image_url", "url", "file", "file_data", "stop", "stream", "stream_options",
    "include_usage", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "user",
    "response_format", "reasoning_content", "reasoning", "system", "source", "media_type",
    "data", "input", "tool_use_id", "is_error", "thinking", "signature", "input_schema",
    "stop_sequences", "metadata", "user_id", "top_k", "contents", "parts", "thought",
    "inlineData", "fileData", "mimeType", "fileUri", "functionCall", "functionResponse",
    "args", "response", "thoughtSignature", "systemInstruction", "functionDeclarations",
    "parametersJsonSchema", "toolConfig", "functionCallingConfig", "mode",
    "allowedFunctionNames", "generationConfig", "maxOutputTokens", "topP", "topK",
    "stopSequences", "responseMimeType",
    # answers and stream events
    "choices", "message", "delta", "finish_reason", "usage", "prompt_tokens",
    "completion_tokens", "prompt_tokens_details", "cached_tokens", "index", "stop_reason",
    "content_block", "partial_json", "input_tokens", "output_tokens", "candidates",
    "finishReason", "usageMetadata", "promptTokenCount", "candidatesTokenCount",
    "promptFeedback", "blockReason", "responseId", "modelVersion", "error", "code",
]  # fmt: skip
_WORDS = ["text", "tool_use", "tool_result", "image", "document", "thinking", "function",
          "image_url", "user", "assistant", "model", "system", "tool", "STOP", "stop",
          "tool_calls", "content_block_delta", "input_json_delta", "text_delta", "url",
          "base64", "data:image/png;base64,AA", "message_delta", "auto", "ANY", "any"]
_HUGE = [2**63 - 1, 2**64 - 1, -(2**63), 10**18, 1e308, -1e308, -1, 0]

leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.sampled_from(_HUGE)
          | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
          | st.sampled_from(_WORDS))
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def _spots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path inside ``value`` (the root included)."""
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _spots(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _spots(inner, (*path, i))
    return found


def _deep(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"parts": value}
    return value


def _replace(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return root


def _delete(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return root


@st.composite
def _mutate(draw: st.DrawFn, value: Any) -> Any:
    path = draw(st.sampled_from(_spots(value)))
    op = draw(st.sampled_from(["replace", "replace", "delete", "null", "huge", "deep", "wrap",
                               "add"]))
    if op == "replace":
        return _replace(value, path, draw(json_values))
    if op == "delete":
        return _delete(value, path)
    if op == "null":
        return _replace(value, path, None)
    if op == "huge":
        return _replace(value, path, draw(st.sampled_from(_HUGE)))
    if op == "deep":
        return _replace(value, path, _deep(draw(st.integers(10, 120))))
    target = value
    for key in path:
        target = target[key]
    if op == "wrap":
        return _replace(value, path, [target])
    if isinstance(target, dict):  # add a field the codecs read, with any value
        target[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return value


@st.composite
def mutants(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """One of ``seeds`` (deep-copied), mutated one to three times."""
    value = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        value = draw(_mutate(value))
    return value


def events_of(script: list[Any]) -> list[SSEEvent]:
    """The events of a fake upstream's SSE script (dicts, ``"[DONE]"`` or whole frames)."""
    frames = b"".join(
        item if isinstance(item, bytes)
        else b"data: [DONE]\n\n" if item == "[DONE]"
        else b"data: " + orjson.dumps(item) + b"\n\n"
        for item in script
    )
    decoder = SSEDecoder()
    return [*decoder.feed(frames), *decoder.flush()]


@st.composite
def stream_mutants(draw: st.DrawFn, streams: list[list[SSEEvent]]) -> list[SSEEvent]:
    """One of ``streams`` with one or two events' JSON mutated (or made garbage)."""
    events = list(draw(st.sampled_from(streams)))
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(events) - 1))
        event = events[at]
        if draw(st.integers(0, 9)) == 0:
            events[at] = SSEEvent(draw(st.binary(max_size=12)), event.event)
            continue
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue  # [DONE]
        events[at] = SSEEvent(orjson.dumps(draw(_mutate(data))), event.event)
    return events
