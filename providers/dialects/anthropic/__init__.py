"""The Anthropic Messages dialect: ``ANTHROPIC`` answers everything about it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from providers.canonical import Request, Response
from providers.dialects.anthropic import check, errors, messages
from providers.dialects.anthropic.stream import AnthropicDecoder, AnthropicEncoder
from providers.dialects.spec import Framer
from providers.dialects.streams import Decoder, Encoder
from providers.types import Dialect, ProviderConfig, Usage

__all__ = ["ANTHROPIC", "AnthropicDialect"]


class AnthropicDialect:
    """Anthropic messages (``/v1/messages``); see ``DialectSpec``."""

    __slots__ = ()
    name: Dialect = "anthropic"
    # Anthropic's own keep-alive event (its SDKs skip it).
    ping: bytes = b'event: ping\ndata: {"type": "ping"}\n\n'
    # Headers an Anthropic client sets that change what the API accepts (betas such as
    # context management) or how it answers.
    forwarded_headers: tuple[str, ...] = ("anthropic-beta", "anthropic-version")

    def check_request(self, body: Any, *, count_only: bool = False) -> None:
        check.check_request(body, count_only=count_only)

    def with_model(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return body if body.get("model") == model else {**body, "model": model}

    def parse_request(self, body: dict[str, Any], model: str = "") -> Request:
        return messages.request_from(body)

    def render_request(self, request: Request, config: ProviderConfig) -> dict[str, Any]:
        # max_tokens is required here: config.max_tokens fills it in when the client had none.
        return messages.request_to(request, config.max_tokens)

    def parse_response(self, body: dict[str, Any]) -> Response:
        return messages.response_from(body)

    def render_response(self, response: Response) -> dict[str, Any]:
        return messages.response_to(response)

    def decoder(self, provider: str) -> Decoder:
        return AnthropicDecoder(provider)

    def encoder(self, model: str, request: dict[str, Any] | None = None) -> Encoder:
        return AnthropicEncoder(model)

    def error_body(self, status: int, message: str, *, kind: str | None = None,
                   param: str | None = None, code: str | None = None) -> bytes:
        return errors.error_body(status, message, kind=kind, param=param, code=code)

    def error_event(self, status: int, message: str, *, kind: str | None = None,
                    code: str | None = None) -> bytes:
        return errors.error_event(status, message, kind=kind, code=code)

    def output_limit(self, body: dict[str, Any]) -> int | None:
        limit = body.get("max_tokens")
        return limit if isinstance(limit, int) and not isinstance(limit, bool) else None

    def cap_output(self, body: dict[str, Any], cap: int, *, fill: bool = False
                   ) -> dict[str, Any]:
        limit = self.output_limit(body)
        lowered = limit > cap if limit is not None else fill and "max_tokens" not in body
        return {**body, "max_tokens": cap} if lowered else body

    def with_system_prompt(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        system = body.get("system")
        first = {"type": "text", "text": text}
        if not system:
            return {**body, "system": text}
        if isinstance(system, str):
            # Blocks keep the client's own prompt apart (and any cache breakpoint on it).
            return {**body, "system": [first, {"type": "text", "text": system}]}
        if isinstance(system, list):
            return {**body, "system": [first, *system]}
        return body

    def model_list(self, models: Sequence[tuple[str, str]], created: float) -> bytes:
        # Claude Code's gateway model discovery reads this shape.
        listed = [_model(model_id, created) for model_id, _ in models]
        return orjson.dumps({"data": listed, "has_more": False,
                             "first_id": listed[0]["id"] if listed else None,
                             "last_id": listed[-1]["id"] if listed else None})

    def model(self, model_id: str, owner: str, created: float) -> bytes:
        return orjson.dumps(_model(model_id, created))

    def usage_from(self, raw: Any) -> Usage:
        return messages.usage_from(raw)

    def usage_to(self, usage: Usage) -> dict[str, Any]:
        return dict(messages.usage_to(usage))

    def array_framer(self) -> Framer | None:
        return None


ANTHROPIC: Final = AnthropicDialect()


def _model(model_id: str, created: float) -> dict[str, Any]:
    created_at = datetime.fromtimestamp(int(created), UTC).isoformat().replace("+00:00", "Z")
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": created_at}
