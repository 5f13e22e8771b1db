"""The dialect registry: one ``DialectSpec`` per wire dialect.

Each dialect is a folder (``messages``: request and response codecs, ``stream``: decoder and
encoder, ``errors``, ``check``, ``wire``) and one line in ``DIALECTS``; the rest of the
gateway asks the registry, never a dialect by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from providers.dialects.anthropic import ANTHROPIC
from providers.dialects.gemini import GEMINI
from providers.dialects.gemini.wire import ArrayFramer
from providers.dialects.openai import OPENAI
from providers.dialects.openai.check import check_embedding_request
from providers.dialects.responses import RESPONSES
from providers.dialects.responses.answers import finish_response
from providers.dialects.spec import DialectSpec, Framer
from providers.dialects.transcript import StreamTranscript, reply_output, request_shape
from providers.types import Dialect

__all__ = [
    "DIALECTS",
    "ArrayFramer",
    "DialectSpec",
    "Framer",
    "StreamTranscript",
    "check_embedding_request",
    "check_request",
    "dialect",
    "error_body",
    "error_event",
    "finish_response",
    "reply_output",
    "request_shape",
]

DIALECTS: Final[Mapping[Dialect, DialectSpec]] = MappingProxyType({
    "openai": OPENAI,
    "anthropic": ANTHROPIC,
    "gemini": GEMINI,
    "responses": RESPONSES,
})


def dialect(name: Dialect) -> DialectSpec:
    """The spec of dialect ``name``."""
    return DIALECTS[name]


def check_request(inbound: Dialect, body: Any, *, count_only: bool = False) -> None:
    """Raise ``InvalidRequest`` (``param`` = the field's JSON path) if ``body`` has the wrong
    shape for ``inbound`` (openai: chat completions; anthropic: messages; gemini:
    generateContent); ``count_only``: a token-count body (Anthropic's count_tokens)."""
    DIALECTS[inbound].check_request(body, count_only=count_only)


def error_body(inbound: Dialect, status: int, message: str, *, kind: str | None = None,
               param: str | None = None, code: str | None = None) -> bytes:
    """The JSON error body a client of ``inbound`` expects with HTTP ``status``.

    ``kind`` replaces the error type (OpenAI/Anthropic ``type``, Gemini ``status``);
    ``param`` fills OpenAI's ``param`` (the offending field).
    """
    return DIALECTS[inbound].error_body(status, message, kind=kind, param=param, code=code)


def error_event(inbound: Dialect, status: int, message: str, *, kind: str | None = None,
                code: str | None = None) -> bytes:
    """One complete SSE error event in ``inbound`` (Anthropic adds ``event: error``)."""
    return DIALECTS[inbound].error_event(status, message, kind=kind, code=code)
