"""The Gemini ``generateContent`` dialect: ``GEMINI`` answers everything about it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from providers.canonical import Request, Response
from providers.dialects.gemini import check, errors, messages
from providers.dialects.gemini.stream import GeminiDecoder, GeminiEncoder
from providers.dialects.gemini.wire import ArrayFramer
from providers.dialects.spec import Framer
from providers.dialects.streams import Decoder, Encoder
from providers.types import Dialect, ProviderConfig, Usage

__all__ = ["GEMINI", "GeminiDialect"]

_METHODS: Final = ("generateContent", "streamGenerateContent")


class GeminiDialect:
    """Gemini (``models/<model>:generateContent``); see ``DialectSpec``."""

    __slots__ = ()
    name: Dialect = "gemini"
    # google-genai parses every line that is not "data:" as JSON (a comment would break
    # it); an empty line dispatches nothing, by the spec and in that SDK.
    ping: bytes = b"\n"
    forwarded_headers: tuple[str, ...] = ()

    def check_request(self, body: Any, *, count_only: bool = False) -> None:
        check.check_request(body)  # no field is required only to generate

    def with_model(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return body  # the model is in the URL, never in the body

    def parse_request(self, body: dict[str, Any], model: str = "") -> Request:
        return messages.request_from(body, model)

    def render_request(self, request: Request, config: ProviderConfig) -> dict[str, Any]:
        return messages.request_to(request)

    def parse_response(self, body: dict[str, Any]) -> Response:
        return messages.response_from(body)

    def render_response(self, response: Response) -> dict[str, Any]:
        return messages.response_to(response)

    def decoder(self, provider: str) -> Decoder:
        return GeminiDecoder(provider)

    def encoder(self, model: str, request: dict[str, Any] | None = None) -> Encoder:
        return GeminiEncoder(model)

    def error_body(self, status: int, message: str, *, kind: str | None = None,
                   param: str | None = None, code: str | None = None) -> bytes:
        return errors.error_body(status, message, kind=kind, param=param, code=code)

    def error_event(self, status: int, message: str, *, kind: str | None = None,
                    code: str | None = None) -> bytes:
        return errors.error_event(status, message, kind=kind, code=code)

    def output_limit(self, body: dict[str, Any]) -> int | None:
        limit = _limit(_generation(body)[1])
        return limit if isinstance(limit, int) and not isinstance(limit, bool) else None

    def cap_output(self, body: dict[str, Any], cap: int, *, fill: bool = False
                   ) -> dict[str, Any]:
        name, config = _generation(body)
        limit = self.output_limit(body)
        if limit is None and not (fill and isinstance(config, dict | None)):
            return body
        if limit is not None and limit <= cap:
            return body
        config = dict(config or {})
        # The spelling the client used (Google refuses a field set under both names).
        snake = "maxOutputTokens" not in config and (
            "max_output_tokens" in config or name == "generation_config")
        config["max_output_tokens" if snake else "maxOutputTokens"] = cap
        return {**body, name: config}

    def with_system_prompt(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        # Google's JSON accepts the proto's snake_case names too: extend the one the client
        # wrote, so the client's instruction is never shadowed by a second one.
        name = "system_instruction" if "system_instruction" in body else "systemInstruction"
        instruction = body.get(name)
        if instruction is None:
            return {**body, name: {"parts": [{"text": text}]}}
        parts = instruction.get("parts") if isinstance(instruction, dict) else False
        if not isinstance(parts, list | None):
            return body
        assert isinstance(instruction, dict)
        return {**body, name: {**instruction, "parts": [{"text": text}, *(parts or [])]}}

    def model_list(self, models: Sequence[tuple[str, str]], created: float) -> bytes:
        return orjson.dumps({"models": [_model(model_id) for model_id, _ in models]})

    def model(self, model_id: str, owner: str, created: float) -> bytes:
        return orjson.dumps(_model(model_id))

    def usage_from(self, raw: Any) -> Usage:
        return messages.usage_from(raw)

    def usage_to(self, usage: Usage) -> dict[str, Any]:
        return dict(messages.usage_to(usage))

    def array_framer(self) -> Framer | None:
        return ArrayFramer()


GEMINI: Final = GeminiDialect()


def _generation(body: dict[str, Any]) -> tuple[str, Any]:
    """The generation config's field name as the client spelled it, and its value."""
    if "generationConfig" not in body and "generation_config" in body:
        return "generation_config", body["generation_config"]
    return "generationConfig", body.get("generationConfig")


def _limit(config: Any) -> Any:
    if not isinstance(config, dict):
        return None
    limit = config.get("maxOutputTokens")
    return config.get("max_output_tokens") if limit is None else limit


def _model(model_id: str) -> dict[str, Any]:
    return {"name": f"models/{model_id}", "displayName": model_id,
            "supportedGenerationMethods": list(_METHODS)}
