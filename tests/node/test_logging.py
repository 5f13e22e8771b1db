"""Logs are JSON off a TTY, carry the request id, and never carry a secret."""

from __future__ import annotations

import io

import orjson
import structlog

from node.logging import Redactor, configure_logging


def test_redactor_scrubs_fields_and_free_text() -> None:
    redact = Redactor(["super-secret-provider-key"])
    event = {
        "event": "calling with super-secret-provider-key and at-" + "a" * 43,
        "api_key": "sk-anything",
        "headers": {"Authorization": "Bearer xyz", "X-Trace": "ok"},
        "proxy": "socks5://bob:hunter2@10.0.0.1:1080",
        "note": "key AIza" + "b" * 35,
    }
    out = redact(None, "info", dict(event))
    text = str(out)
    for secret in ("super-secret-provider-key", "a" * 43, "sk-anything", "xyz", "hunter2",
                   "b" * 35):
        assert secret not in text
    assert out["headers"]["X-Trace"] == "ok"


def test_json_lines_with_request_id_and_redaction() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", secrets=["p-secret-123"], stream=stream)
    structlog.contextvars.bind_contextvars(request_id="rid-1")
    try:
        structlog.get_logger("t").info("upstream said", detail="p-secret-123 leaked?")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
    line = orjson.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "rid-1"
    assert line["event"] == "upstream said"
    assert "p-secret-123" not in stream.getvalue()
