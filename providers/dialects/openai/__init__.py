"""The OpenAI Chat Completions dialect: ``OPENAI`` answers everything about it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from providers.canonical import Request, Response
from providers.dialects.openai import check, errors, messages
from providers.dialects.openai.stream import OpenAIDecoder, OpenAIEncoder
from providers.dialects.openai.wire import with_model
from providers.dialects.spec import Framer
from providers.dialects.streams import Decoder, Encoder
from providers.types import Dialect, ProviderConfig, Usage

__all__ = ["OPENAI", "OpenAIDialect"]

_OUTPUT_LIMITS: Final = ("max_completion_tokens", "max_tokens")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class OpenAIDialect:
    """OpenAI chat completions (``/v1/chat/completions``); see ``DialectSpec``."""

    __slots__ = ()
    name: Dialect = "openai"
    # An SSE comment line, which SSE parsers ignore by the spec.
    ping: bytes = b": ping\n\n"
    forwarded_headers: tuple[str, ...] = ()

    def check_request(self, body: Any, *, count_only: bool = False) -> None:
        check.check_request(body)  # no field is required only to generate

    def with_model(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return with_model(body, model)

    def parse_request(self, body: dict[str, Any], model: str = "") -> Request:
        return messages.request_from(body)

    def render_request(self, request: Request, config: ProviderConfig) -> dict[str, Any]:
        return messages.request_to(request)

    def parse_response(self, body: dict[str, Any]) -> Response:
        return messages.response_from(body)

    def render_response(self, response: Response) -> dict[str, Any]:
        return messages.response_to(response)

    def decoder(self, provider: str) -> Decoder:
        return OpenAIDecoder(provider)

    def encoder(self, model: str, request: dict[str, Any] | None = None) -> Encoder:
        # The usage chunk goes out only when the client asked for it.
        options = (request or {}).get("stream_options")
        wanted = isinstance(options, dict) and options.get("include_usage") is True
        return OpenAIEncoder(model, include_usage=wanted)

    def error_body(self, status: int, message: str, *, kind: str | None = None,
                   param: str | None = None, code: str | None = None) -> bytes:
        return errors.error_body(status, message, kind=kind, param=param, code=code)

    def error_event(self, status: int, message: str, *, kind: str | None = None,
                    code: str | None = None) -> bytes:
        return errors.error_event(status, message, kind=kind, code=code)

    def output_limit(self, body: dict[str, Any]) -> int | None:
        found = None
        for name in _OUTPUT_LIMITS:
            value = body.get(name)
            if type(value) is int and value and (found is None or value > found):
                found = value  # (``type is``: not a bool)
        return found

    def cap_output(self, body: dict[str, Any], cap: int, *, fill: bool = False
                   ) -> dict[str, Any]:
        if fill and self.output_limit(body) is None:
            # max_tokens: the field the translations write, and the one compatible APIs know.
            return {**body, "max_tokens": cap}
        over = {name: cap for name in _OUTPUT_LIMITS if (_int(body.get(name)) or 0) > cap}
        return {**body, **over} if over else body

    def with_system_prompt(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return body
        return {**body, "messages": [{"role": "system", "content": text}, *messages]}

    def model_list(self, models: Sequence[tuple[str, str]], created: float) -> bytes:
        data = [_model(model_id, owner, created) for model_id, owner in models]
        return orjson.dumps({"object": "list", "data": data})

    def model(self, model_id: str, owner: str, created: float) -> bytes:
        return orjson.dumps(_model(model_id, owner, created))

    def usage_from(self, raw: Any) -> Usage:
        return messages.usage_from(raw)

    def usage_to(self, usage: Usage) -> dict[str, Any]:
        return messages.usage_to(usage)

    def array_framer(self) -> Framer | None:
        return None


OPENAI: Final = OpenAIDialect()


def _model(model_id: str, owner: str, created: float) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": int(created), "owned_by": owner}
