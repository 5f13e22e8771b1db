"""A fake Gemini API (``/v1beta/models/{model}:generateContent`` and friends).

Same server, script and recording as ``FakeUpstream``; default answers are Gemini's:
a text candidate, an ``alt=sse`` stream (a stream request without ``alt=sse`` is refused,
as the gateway must always ask for SSE), ``{"totalTokens": 42}`` for countTokens, and
``GET /v1beta/models`` paged as Gemini pages it (``pageSize``, ``pageToken``,
``nextPageToken``; names are ``models/<id>``).
"""

from __future__ import annotations

from typing import Any

from tests.fakes.openai_upstream import FakeUpstream, Json, Sse, page_of
from tests.fakes.replies import gemini_chunks, gemini_response

__all__ = ["GeminiUpstream"]


def _error(status: int, name: str, message: str) -> Json:
    return Json({"error": {"code": status, "message": message, "status": name}}, status=status)


class GeminiUpstream(FakeUpstream):
    """``base_url`` is the API root (the adapter adds ``/v1beta``)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _default(self, path: str, body: Any) -> Any:
        last = self.requests[-1]
        if "x-goog-api-key" not in last.headers:
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers")
        if path == "/v1beta/models":
            return self._models()
        model, _, action = path.removeprefix("/v1beta/models/").rpartition(":")
        if action == "countTokens":
            return Json({"totalTokens": 42})
        if action == "batchEmbedContents":
            # As the API: one vector per request, each request naming this URL's model.
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or any(
                    r.get("model") != f"models/{model}" for r in requests):
                return _error(400, "INVALID_ARGUMENT", "requests[].model must match the URL")
            return Json({"embeddings": [
                {"values": [0.25 * (i + 1)] * r.get("outputDimensionality", 4)}
                for i, r in enumerate(requests)]})
        if action == "streamGenerateContent":
            if last.query.get("alt") != "sse":
                return _error(400, "INVALID_ARGUMENT", "this fake only streams with alt=sse")
            return Sse(gemini_chunks("text"))
        if action == "generateContent":
            return Json({**gemini_response("text"), "modelVersion": model})
        return _error(404, "NOT_FOUND", f"no route {path}")

    def _models(self) -> Json:
        query = self.requests[-1].query
        token = query.get("pageToken", "")
        start = int(token.removeprefix("page-")) if token else 0
        size = min(int(query.get("pageSize", "50")), self.page_limit)
        names, more = page_of(self.model_ids, start, size)
        models = [{"name": f"models/{name}", "version": "001", "displayName": name,
                   "supportedGenerationMethods": ["generateContent", "countTokens"]}
                  for name in names]
        page: dict[str, Any] = {"models": models}
        if more:
            page["nextPageToken"] = f"page-{start + size}"
        return Json(page)
