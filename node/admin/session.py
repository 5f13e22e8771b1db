"""``/session``: the admin token exchanged for a browser session cookie.

A browser cannot send ``Authorization`` on an ``EventSource``, and a token kept in page
storage is readable by any script that ever runs there; so the UI signs in once and holds an
``HttpOnly`` cookie instead. The cookie is ``v1.<expiry>.<mac>``: an HMAC-SHA256 over the
expiry, under a key derived from the admin token's hash and the store's passphrase. Every
node holds both (the hash from at.yaml or the store), so every node accepts every node's
cookie with nothing kept per session; changing the admin token or the passphrase ends every
session at once. The hash alone, which the database holds, is not enough to make a cookie:
with it, anyone who could read the database could have signed themselves in. An expiry later
than :data:`MAX_LIFETIME` from now is refused, whoever signed it. ``DELETE`` clears the cookie
in this browser (a copied cookie stays valid until its expiry, at most :data:`MAX_LIFETIME`).

Cookie-authenticated writes must carry :data:`CSRF_HEADER` (a page of another site cannot
set a custom header without a CORS preflight, which this API never grants) and, when the
browser sends ``Origin``, an origin of this host. ``SameSite=Strict`` already keeps the
cookie off cross-site requests; the header is the second lock.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from aiohttp import web

from node.admin.changes import check_fields
from node.errors import BadRequest, Forbidden, Unauthorized
from node.json_io import json_response, read_object
from node.state import GATEWAY

if TYPE_CHECKING:
    from node.gateway import Gateway

COOKIE = "at_session"
CSRF_HEADER = "X-AT-CSRF"
DEFAULT_LIFETIME = 8 * 3600
MAX_LIFETIME = 24 * 3600
MIN_LIFETIME = 60
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_FIELDS = frozenset({"token", "lifetime_seconds"})


def _key(gateway: Gateway) -> bytes:
    passphrase = hashlib.sha256(gateway.settings.store.encryption_key.encode()).digest()
    return hmac.new(gateway.admin_token_sha256.encode(),
                    b"at-gateway ui session v1\0" + passphrase, hashlib.sha256).digest()


def sign(gateway: Gateway, expires: int) -> str:
    """The cookie value for a session ending at epoch second ``expires``."""
    mac = hmac.new(_key(gateway), f"v1.{expires}".encode(), hashlib.sha256).hexdigest()
    return f"v1.{expires}.{mac}"


def session_expiry(gateway: Gateway, value: str, now: float | None = None) -> int | None:
    """The expiry of a valid, unexpired cookie value; None for anything else."""
    if not gateway.admin_token_sha256:
        return None
    version, _, rest = value.partition(".")
    expires_text, _, _mac = rest.partition(".")
    if version != "v1" or not expires_text.isdigit() or len(expires_text) > 12:
        return None
    expires = int(expires_text)
    if not hmac.compare_digest(sign(gateway, expires), value):
        return None
    moment = time.time() if now is None else now
    return expires if moment < expires <= moment + MAX_LIFETIME + 60 else None


def check_csrf(request: web.Request) -> None:
    """403 unless a cookie-authenticated write came from the UI of this very origin."""
    if request.method in _SAFE:
        return
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"Session writes need the header '{CSRF_HEADER}: 1' (the UI sends it)")
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise Forbidden("Session writes must come from this gateway's own origin")


def _cookie_path(request: web.Request) -> str:
    return request.config_dict[GATEWAY].settings.server.base_path + "/"


async def create_session(request: web.Request) -> web.Response:
    body = await read_object(request)
    check_fields(body, _FIELDS, "a session")
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise BadRequest("'token' is required: the admin token", param="token")
    lifetime = body.get("lifetime_seconds", DEFAULT_LIFETIME)
    if (not isinstance(lifetime, int) or isinstance(lifetime, bool)
            or not MIN_LIFETIME <= lifetime <= MAX_LIFETIME):
        raise BadRequest(f"'lifetime_seconds' must be a whole number from {MIN_LIFETIME} to "
                         f"{MAX_LIFETIME}", param="lifetime_seconds")
    gateway = request.config_dict[GATEWAY]
    if not gateway.admin_token_ok(token):
        raise Unauthorized("That is not the admin token")
    expires = int(time.time()) + lifetime
    response = json_response({"expires_at": expires, "lifetime_seconds": lifetime}, 201)
    response.set_cookie(COOKIE, sign(gateway, expires), max_age=lifetime,
                        path=_cookie_path(request), httponly=True, samesite="Strict",
                        secure=request.secure or None)
    response.headers["Cache-Control"] = "no-store"
    return response


async def delete_session(request: web.Request) -> web.Response:
    response = json_response({"signed_out": True})
    response.del_cookie(COOKIE, path=_cookie_path(request), samesite="Strict")
    return response


async def get_session(request: web.Request) -> web.Response:
    """Who this caller is to the API: by cookie (with its expiry), bearer or forward auth."""
    gateway = request.config_dict[GATEWAY]
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and gateway.admin_token_ok(auth[7:].strip()):
        return json_response({"via": "bearer", "expires_at": None})
    expires = session_expiry(gateway, request.cookies.get(COOKIE, ""))
    if expires is not None:
        return json_response({"via": "cookie", "expires_at": expires})
    return json_response({"via": "forward_auth", "expires_at": None})


OPEN = (create_session, delete_session)
"""Handlers the auth middleware lets through: signing in is how a credential is presented,
and signing out needs none."""


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/session", create_session)
    router.add_delete("/session", delete_session)
    router.add_get("/session", get_session)
