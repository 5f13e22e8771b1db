"""A fake Anthropic Messages API (``/v1/messages``, ``/v1/messages/count_tokens``).

Same server, script and recording as ``FakeUpstream``; the default answers are
Anthropic's: a text message (streamed with ``event:`` lines when ``stream`` is true) and
``{"input_tokens": 42}`` for count_tokens, and ``GET /v1/models`` paged as Anthropic pages
it (``limit``, ``after_id``; ``has_more``, ``first_id``, ``last_id``). A request without
``x-api-key`` or ``anthropic-version`` gets Anthropic's 401/400 error body.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.openai_upstream import FakeUpstream, Json, Sse, page_of
from tests.fakes.replies import anthropic_message, anthropic_sse

__all__ = ["AnthropicUpstream"]


def _error(status: int, kind: str, message: str) -> Json:
    return Json({"type": "error", "error": {"type": kind, "message": message}}, status=status)


class AnthropicUpstream(FakeUpstream):
    """``base_url`` is the API root without ``/v1``, as the anthropic SDK takes it."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _default(self, path: str, body: Any) -> Any:
        body = body if isinstance(body, dict) else {}
        headers = self.requests[-1].headers
        if "x-api-key" not in headers:
            return _error(401, "authentication_error", "x-api-key header is required")
        if "anthropic-version" not in headers:
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        if path == "/v1/models":
            return self._models()
        if path == "/v1/messages/count_tokens":
            return Json({"input_tokens": 42})
        if path != "/v1/messages":
            return _error(404, "not_found_error", f"no route {path}")
        if not isinstance(body.get("max_tokens"), int):
            return _error(400, "invalid_request_error", "max_tokens: Field required")
        if body.get("stream"):
            return Sse(anthropic_sse("text"))
        return Json({**anthropic_message("text"), "model": body.get("model", "claude-fake")})

    def _models(self) -> Json:
        query = self.requests[-1].query
        limit = int(query.get("limit", "20"))
        if not 1 <= limit <= 1000:
            return _error(400, "invalid_request_error", "limit: must be between 1 and 1000")
        after = query.get("after_id")
        start = self.model_ids.index(after) + 1 if after in self.model_ids else 0
        names, more = page_of(self.model_ids, start, min(limit, self.page_limit))
        data = [{"type": "model", "id": name, "display_name": name.title(),
                 "created_at": "2025-01-01T00:00:00Z"} for name in names]
        return Json({"data": data, "has_more": more, "first_id": names[0] if names else None,
                     "last_id": names[-1] if names else None})
