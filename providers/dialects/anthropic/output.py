"""Structured output in the Anthropic dialect, both ways.

Anthropic renders a schema natively: ``output_config.format`` (``{type: "json_schema",
schema}``), generally available without a beta header (the earlier beta spelling,
``output_format`` with ``structured-outputs-2025-11-13``, is read from clients too). The
answer is then plain JSON text, so nothing changes on the way back.

JSON without a schema (OpenAI's ``json_object``, Gemini's bare ``application/json``) has no
native form: Anthropic's schemas close every object. It takes the tool-forcing pattern
instead, which is also what ``tool_mode`` selects for every structured request (for
Anthropic-compatible servers and older models without ``output_config``): one tool,
``OUTPUT_TOOL``, whose ``input_schema`` is the schema, forced by ``tool_choice``. Its input
is the answer, so the decoders turn that call back into text (see ``is_output_tool``): a
client sees the JSON as the message's text, in whole answers and in streams alike.
"""

from __future__ import annotations

from typing import Any, Final

from providers.canonical import OutputFormat, Request

__all__ = ["OUTPUT_TOOL", "output_from", "render_output", "strict_schema"]

OUTPUT_TOOL: Final = "at_json_output"
"""The tool the tool-forcing pattern adds; no client's tool should bear this name."""

_OPEN_OBJECT: Final = {"type": "object"}
# Keywords Anthropic's constrained decoding refuses (its docs' "JSON Schema limitations");
# like Anthropic's own SDKs, they are kept as words in the description instead.
_UNSUPPORTED: Final = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "maxItems", "minProperties", "maxProperties",
)  # fmt: skip
_NESTED: Final = ("items", "anyOf", "allOf", "oneOf", "not", "prefixItems")


def output_from(body: dict[str, Any]) -> OutputFormat | None:
    """The structured output an Anthropic request asks for (``output_config.format``, or
    the beta ``output_format``); None for free text."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return OutputFormat(schema=schema if isinstance(schema, dict) else None, strict=True)


def render_output(body: dict[str, Any], request: Request, *, tool_mode: bool) -> None:
    """Add ``request.output`` to an Anthropic ``body`` (natively, or by forcing a tool)."""
    output = request.output
    if output is None:
        return
    if output.schema is not None and not tool_mode:
        body["output_config"] = {"format": {"type": "json_schema",
                                            "schema": strict_schema(output.schema)}}
        return
    tool = {"name": OUTPUT_TOOL,
            "description": "Give your final answer as this tool's input.",
            "input_schema": output.schema or _OPEN_OBJECT}  # fmt: skip
    tools = body.setdefault("tools", [])
    tools.append(tool)
    if len(tools) == 1:
        body["tool_choice"] = {"type": "tool", "name": OUTPUT_TOOL}
    elif "tool_choice" not in body:
        # The answer must come as a call: of a client tool, or of the output tool.
        body["tool_choice"] = {"type": "any"}


def strict_schema(schema: Any) -> Any:
    """``schema`` as Anthropic's structured outputs take it: every object closed
    (``additionalProperties: false``), unsupported constraints moved into descriptions."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in schema.items():
        if key in _UNSUPPORTED or (key == "minItems" and value not in (0, 1)):
            notes.append(f"{key}: {value}")
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in _NESTED:
            out[key] = strict_schema(value)
        else:
            out[key] = value
    kind = out.get("type")
    if (kind == "object" or "properties" in out) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if notes:
        described = str(out.get("description") or "")
        out["description"] = f"{described} ({', '.join(notes)})".strip()
    return out
