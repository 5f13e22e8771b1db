"""structlog set up once: contextvars -> level -> timestamp -> redaction -> JSON or console.

The request-id middleware binds ``request_id`` into contextvars, so every line logged while a
request is served carries it. :class:`Redactor` runs before rendering and removes secrets
wherever they appear: in values under secret-looking keys and inside free text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_FIELD = re.compile(
    r"(api[_-]?key|authorization|token|secret|password|passphrase|encryption_key|"
    r"x-goog-api-key|cookie|credential)",
    re.IGNORECASE,
)
# Gateway keys, OpenAI/Anthropic style keys, Google API keys and bearer tokens in free text.
_SECRET_TEXT = re.compile(
    r"(at-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|"
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{12,})"
)
# user:password@ in URLs (proxies, DSNs).
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+(?=@)")
REDACTED = "<redacted>"
# The free-text patterns, for other redactors of text (the audit log's bodies).
SECRET_PATTERNS = (_SECRET_TEXT, _URL_CREDENTIALS)


class Redactor:
    """A structlog processor that scrubs secrets from an event dict before it is rendered.

    ``secrets`` are exact values to remove (provider API keys, the admin token) in addition
    to the patterns every gateway key and common provider key follows.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def _text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _SECRET_TEXT.sub(REDACTED, text)
        return _URL_CREDENTIALS.sub(REDACTED, text)

    def _value(self, key: str, value: Any) -> Any:
        if _SECRET_FIELD.search(key) and value not in (None, "", 0, False):
            return REDACTED
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, dict):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._value(key, v) for v in value]
        return value

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._value(key, event_dict[key])
        return event_dict


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    fields: dict[str, str] | None = None,
) -> None:
    """Configure structlog (and route stdlib logging through the same redaction).
    ``fields`` go into every line (a worker's name)."""
    out = stream or sys.stderr
    json = fmt == "json" or (fmt == "auto" and not out.isatty())
    redactor = Redactor(secrets)
    static = dict(fields or {})

    def add_fields(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        for name, value in static.items():
            event.setdefault(name, value)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        *([add_fields] if static else []),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redactor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    # aiohttp's access log duplicates our own request line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
