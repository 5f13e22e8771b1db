"""The OpenAI Responses dialect (``/v1/responses``): ``RESPONSES`` answers everything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from providers.canonical import Request, Response
from providers.dialects.responses import answers, check, errors, messages
from providers.dialects.responses.stream import ResponsesDecoder, ResponsesEncoder
from providers.dialects.responses.wire import usage_from, usage_to, with_model
from providers.dialects.spec import Framer
from providers.dialects.streams import Decoder, Encoder
from providers.types import Dialect, ProviderConfig, Usage

__all__ = ["RESPONSES", "ResponsesDialect"]


class ResponsesDialect:
    """OpenAI Responses; see ``DialectSpec``. Its clients (Codex, the Agents SDK) read
    ``GET /models`` as OpenAI's list, plus Codex's own ``models`` array (see
    ``model_list``)."""

    __slots__ = ()
    name: Dialect = "responses"
    ping: bytes = b": ping\n\n"  # an SSE comment: every SSE parser skips it
    forwarded_headers: tuple[str, ...] = ()

    def check_request(self, body: Any, *, count_only: bool = False) -> None:
        check.check_request(body)

    def with_model(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return with_model(body, model)

    def parse_request(self, body: dict[str, Any], model: str = "") -> Request:
        return messages.request_from(body)

    def render_request(self, request: Request, config: ProviderConfig) -> dict[str, Any]:
        return messages.request_to(request)

    def parse_response(self, body: dict[str, Any]) -> Response:
        return answers.response_from(body)

    def render_response(self, response: Response) -> dict[str, Any]:
        return answers.response_to(response)

    def decoder(self, provider: str) -> Decoder:
        return ResponsesDecoder(provider)

    def encoder(self, model: str, request: dict[str, Any] | None = None) -> Encoder:
        return ResponsesEncoder(model, request)

    def error_body(self, status: int, message: str, *, kind: str | None = None,
                   param: str | None = None, code: str | None = None) -> bytes:
        return errors.error_body(status, message, kind=kind, param=param, code=code)

    def error_event(self, status: int, message: str, *, kind: str | None = None,
                    code: str | None = None) -> bytes:
        return errors.error_event(status, message, kind=kind, code=code)

    def output_limit(self, body: dict[str, Any]) -> int | None:
        value = body.get("max_output_tokens")
        return value if type(value) is int and value > 0 else None

    def cap_output(self, body: dict[str, Any], cap: int, *, fill: bool = False
                   ) -> dict[str, Any]:
        limit = self.output_limit(body)
        if (limit is None and fill) or (limit is not None and limit > cap):
            return {**body, "max_output_tokens": cap}
        return body

    def with_system_prompt(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        own = body.get("instructions")
        joined = f"{text}\n\n{own}" if isinstance(own, str) and own else text
        return {**body, "instructions": joined}

    def model_list(self, models: Sequence[tuple[str, str]], created: float) -> bytes:
        # Both shapes in one body: OpenAI's clients read ``data``, Codex reads ``models``
        # (empty keeps it on its bundled catalog instead of failing on unknown metadata).
        data = [_model(model_id, owner, created) for model_id, owner in models]
        return orjson.dumps({"object": "list", "data": data, "models": []})

    def model(self, model_id: str, owner: str, created: float) -> bytes:
        return orjson.dumps(_model(model_id, owner, created))

    def usage_from(self, raw: Any) -> Usage:
        return usage_from(raw)

    def usage_to(self, usage: Usage) -> dict[str, Any]:
        return usage_to(usage)

    def array_framer(self) -> Framer | None:
        return None


RESPONSES: Final = ResponsesDialect()


def _model(model_id: str, owner: str, created: float) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": int(created), "owned_by": owner}
