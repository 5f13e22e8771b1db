"""Fakes for Vertex (OpenAI-compatible endpoint + an OAuth token endpoint) and Azure.

``VertexUpstream`` answers ``POST /token`` like Google's OAuth server (the service-account
JSON written by ``service_account_file`` points its ``token_uri`` there) and everything
else like ``FakeUpstream``; it refuses requests without the issued bearer token, and
serves Model Garden's ``GET /v1beta1/publishers/google/models`` paged by ``pageToken``.
``AzureUpstream`` serves deployment URLs and, for an ``api-version`` up to
2023-03-15-preview, ``GET /openai/deployments`` (later versions answer 404 as Azure does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.openai_upstream import FakeUpstream, Json, page_of

__all__ = ["AzureUpstream", "VertexUpstream", "service_account_file"]

TOKEN = "ya29.fake-vertex-token"


class VertexUpstream(FakeUpstream):
    def __init__(self, *, expires_in: int = 3600) -> None:
        super().__init__()
        self.expires_in = expires_in
        self.tokens_issued = 0
        self.token_refusal: Json | None = None  # set: /token answers this instead

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/projects/proj/locations/us/endpoints/openapi"

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path != "/token":  # tokens never consume the script nor get recorded
            return await super()._handle(request)
        if self.token_refusal is not None:
            return web.json_response(self.token_refusal.body, status=self.token_refusal.status)
        form = await request.post()
        assert form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        self.tokens_issued += 1
        token = f"{TOKEN}-{self.tokens_issued}"
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def _default(self, path: str, body: Any) -> Any:
        auth = self.requests[-1].headers.get("Authorization", "")
        if not auth.startswith(f"Bearer {TOKEN}"):
            return Json({"error": {"code": 401, "message": "bad token",
                                   "status": "UNAUTHENTICATED"}}, status=401)
        if path == "/v1beta1/publishers/google/models":
            return self._publisher_models()
        return super()._default(path, body)

    def _publisher_models(self) -> Json:
        token = self.requests[-1].query.get("pageToken", "")
        start = int(token.removeprefix("p")) if token else 0
        names, more = page_of(self.model_ids, start, self.page_limit)
        models = [{"name": f"publishers/google/models/{name}", "versionId": "001",
                   "openSourceCategory": "PROPRIETARY", "launchStage": "GA"} for name in names]
        page: dict[str, Any] = {"publisherModels": models}
        if more:
            page["nextPageToken"] = f"p{start + len(names)}"
        return Json(page)


class AzureUpstream(FakeUpstream):
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _default(self, path: str, body: Any) -> Any:
        last = self.requests[-1]
        if "api-key" not in last.headers or "api-version" not in last.query:
            return Json({"error": {"code": "401", "message": "Access denied"}}, status=401)
        if path == "/openai/deployments" and last.query["api-version"][:10] <= "2023-03-15":
            return Json({"object": "list", "data": [
                {"id": name, "model": "gpt-4o", "owner": "organization-owner",
                 "object": "deployment", "status": "succeeded", "created_at": 1,
                 "updated_at": 1, "scale_settings": {"scale_type": "standard"}}
                for name in self.model_ids]})
        if not path.startswith("/openai/deployments/"):
            return Json({"error": {"code": "404", "message": "Resource not found"}}, status=404)
        return super()._default(path, body)


def service_account_file(directory: Path, token_uri: str, project: str = "proj") -> Path:
    """Write a real service-account JSON with a fresh RSA key whose token_uri is a fake."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": f"gw@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path = directory / "sa.json"
    path.write_text(json.dumps(info))
    return path
