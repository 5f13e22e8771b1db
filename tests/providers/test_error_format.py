"""error_body / error_event in each dialect's own shape."""

from __future__ import annotations

import orjson
import pytest

from providers import error_body, error_event


@pytest.mark.parametrize(
    ("status", "etype", "code"),
    [
        (400, "invalid_request_error", None),
        (401, "authentication_error", "invalid_api_key"),
        (403, "permission_error", None),
        (404, "not_found_error", None),
        (429, "rate_limit_error", "rate_limit_exceeded"),
        (500, "api_error", None),
        (502, "api_error", None),
        (504, "timeout", "timeout"),
        (418, "invalid_request_error", None),
    ],
)
def test_openai(status: int, etype: str, code: str | None) -> None:
    body = orjson.loads(error_body("openai", status, "msg"))
    assert body == {"error": {"message": "msg", "type": etype, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "etype"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
        (504, "timeout_error"),
    ],
)
def test_anthropic(status: int, etype: str) -> None:
    body = orjson.loads(error_body("anthropic", status, "msg"))
    assert body == {"type": "error", "error": {"type": etype, "message": "msg"}}


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (502, "UNAVAILABLE"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_gemini(status: int, name: str) -> None:
    body = orjson.loads(error_body("gemini", status, "msg"))
    assert body == {"error": {"code": status, "message": "msg", "status": name}}


def test_kind_and_param_override() -> None:
    assert orjson.loads(error_body("openai", 400, "m", kind="x", param="model"))["error"] == {
        "message": "m",
        "type": "x",
        "param": "model",
        "code": None,
    }
    assert (
        orjson.loads(error_body("anthropic", 500, "m", kind="overloaded_error"))["error"]["type"]
        == "overloaded_error"
    )
    assert orjson.loads(error_body("gemini", 500, "m", kind="ABORTED"))["error"]["status"] == (
        "ABORTED"
    )


def test_events() -> None:
    openai = error_event("openai", 502, "lost")
    assert openai.startswith(b"data: ") and openai.endswith(b"\n\n")
    assert orjson.loads(openai[6:])["error"]["type"] == "api_error"
    anthropic = error_event("anthropic", 529, "busy")
    head, data = anthropic.split(b"\n", 1)
    assert head == b"event: error"
    assert orjson.loads(data[6:]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "busy"},
    }
    gemini = error_event("gemini", 504, "late")
    assert orjson.loads(gemini[6:])["error"]["status"] == "DEADLINE_EXCEEDED"
