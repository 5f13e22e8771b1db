"""Who is calling: the gateway key a client presents, looked up in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from node.errors import Unauthorized
from store import ApiKeyRecord

if TYPE_CHECKING:
    from node.gateway import Gateway

__all__ = ["authenticate", "presented_key"]


def presented_key(request: web.Request) -> str:
    """The gateway key from ``Authorization: Bearer``, ``x-api-key`` or ``x-goog-api-key``."""
    headers = request.headers
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or ""


def authenticate(request: web.Request, gateway: Gateway) -> ApiKeyRecord:
    """The key record of the caller; 401 (in the route's dialect) when missing or unknown."""
    presented = presented_key(request)
    if not presented:
        gateway.metrics.auth_result("missing")
        raise Unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'")
    record = gateway.keys.lookup(presented)
    if record is None:
        gateway.metrics.auth_result("denied")
        raise Unauthorized("Invalid API key (unknown, disabled or expired)")
    gateway.metrics.auth_result("allowed")
    return record
