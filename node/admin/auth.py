"""Who may use ``/api/v1``: the admin token (Bearer, constant-time), a UI session cookie
(:mod:`node.admin.session`, with its CSRF rule for writes) or a forward-auth service.

:func:`authenticate` is the one middleware of the admin sub-app, so every route is covered.
Nothing under ``/api/v1`` is open: with neither a token nor forward auth configured the first
start generates a token (see :mod:`node.bootstrap`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDictProxy

from node.admin import session
from node.config import ForwardAuth
from node.errors import Unauthorized, Unavailable
from node.state import GATEWAY

log = structlog.get_logger("node.admin")

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length", "host"}
)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 401 (or the forward-auth service's refusal) unless the caller is an admin."""
    gateway = request.config_dict[GATEWAY]
    if request.match_info.handler in session.OPEN:
        return await handler(request)
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and gateway.admin_token_ok(auth[7:].strip()):
        return await handler(request)
    cookie = request.cookies.get(session.COOKIE)
    if cookie and session.session_expiry(gateway, cookie) is not None:
        session.check_csrf(request)
        return await handler(request)
    forward = gateway.settings.server.forward_auth
    if not forward.address:
        raise Unauthorized("Admin API: send 'Authorization: Bearer <admin token>' "
                           "(or sign in: POST /api/v1/session)")
    await _forward(request, forward)
    return await handler(request)


async def _forward(request: web.Request, forward: ForwardAuth) -> None:
    """Ask the forward-auth service; a 2xx admits, anything else is relayed as the answer."""
    wanted = {h.lower() for h in forward.auth_request_headers}
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in _HOP_BY_HOP and (not wanted or name.lower() in wanted)
    }
    if not forward.trust_forward_header:
        for name in [n for n in headers if n.lower().startswith("x-forwarded-")]:
            del headers[name]
    headers.setdefault("X-Forwarded-Method", request.method)
    headers.setdefault("X-Forwarded-Proto", request.scheme)
    headers.setdefault("X-Forwarded-Host", request.host)
    headers.setdefault("X-Forwarded-Uri", request.path_qs)
    session = request.config_dict[GATEWAY].admin_http()
    try:
        async with session.request(
            forward.request_method,
            forward.address,
            headers=headers,
            allow_redirects=False,
            ssl=not forward.insecure_skip_verify,
            timeout=aiohttp.ClientTimeout(total=float(forward.timeout)),
        ) as answer:
            body = await answer.read()
            if 200 <= answer.status < 300:
                _copy_identity(request, forward, answer.headers)
                return
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("forward auth unreachable", error=str(exc))
        raise Unavailable("The forward-auth service is unreachable") from None
    if forward.redirect_url and status in forward.redirect_status_codes:
        redirect = web.HTTPFound if forward.redirect_code == 302 else web.HTTPTemporaryRedirect
        raise redirect(forward.redirect_url)
    log.info("forward auth refused", status=status, detail=body[:200].decode("utf-8", "replace"))
    raise _status_error(status)


def _status_error(status: int) -> Unauthorized:
    error = Unauthorized(f"Admin API: the forward-auth service answered {status}")
    error.status = status if 400 <= status < 500 else 401
    return error


def _copy_identity(
    request: web.Request, forward: ForwardAuth, headers: CIMultiDictProxy[str]
) -> None:
    """Note who the forward-auth service says the caller is (for the audit log line)."""
    pattern = re.compile(forward.auth_response_headers_regex) if (
        forward.auth_response_headers_regex
    ) else None
    wanted = {h.lower() for h in forward.auth_response_headers}
    identity = {
        name: value
        for name, value in headers.items()
        if name.lower() in wanted or (pattern is not None and pattern.search(name))
    }
    if identity:
        structlog.contextvars.bind_contextvars(admin=identity)
