"""``/audit``: the audit log read back, and the one middleware that records admin changes.

Every admin write passes :func:`record_changes` (after authentication), so a change made
through any resource (providers, tokens, routes, limits, key rotation, sessions) is on the
record once, with who made it: the forward-auth identity when there is one, else
``admin-token``. The record names the method, the path and the item; never the body, which
may hold provider secrets. It goes to this node's file and to the database, so ``/audit`` on
any node lists the admin changes of the whole cluster, merged in time order with this node's
exchange records (which stay in its files).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web

from node.admin import session
from node.admin.auth import Handler
from node.audit import AUDIT, FILTERS, AuditQuery, read_page
from node.errors import BadRequest, Unavailable
from node.json_io import json_response
from node.state import STATE

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_LIMIT = 1000


@web.middleware
async def record_changes(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in _WRITES:
        return await handler(request)
    audit = request.config_dict.get(AUDIT)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception as exc:  # recorded, then rendered by the node's middleware as always
        status = getattr(exc, "status", 500)
        raise
    finally:
        if audit is not None and _on_record(request, status):
            admin = structlog.contextvars.get_contextvars().get("admin") or "admin-token"
            resource = request.match_info.route.resource
            await audit.change({
                "request_id": state.request_id if (state := request.get(STATE)) else "",
                "admin": admin,
                "method": request.method, "path": request.path,
                "route": resource.canonical if resource is not None else "",
                "item": dict(request.match_info), "status": status,
            })


def _on_record(request: web.Request, status: int) -> bool:
    """A write that got in. 401 and 403 were not let in: nothing changed, and recorded as
    ``admin-token`` a guessed sign-in would read as the admin's own. Of the open session
    routes only a sign-in that succeeded is (it proves the token); signing out needs no
    credential and changes nothing on the node."""
    if status in (401, 403):
        return False
    if request.match_info.handler in session.OPEN:
        return request.method == "POST" and status < 400
    return True


def _moment(request: web.Request, name: str, default: datetime) -> str:
    value = request.query.get(name)
    if not value:
        moment = default
    else:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            raise BadRequest(f"'{name}' must be an ISO date or time", param=name) from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _count(request: web.Request, name: str, default: int, most: int) -> int:
    value = request.query.get(name, str(default))
    if not value.isdigit() or not 0 <= int(value) <= most:
        raise BadRequest(f"'{name}' must be a whole number from 0 to {most}", param=name)
    return int(value)


async def audit_records(request: web.Request) -> web.Response:
    """Records in ``[since, until)`` (default: the last 24 hours) matching the filters."""
    audit = request.config_dict.get(AUDIT)
    if audit is None:
        raise Unavailable("the audit log is off on this node (set audit.path)")
    for name in request.query:
        if name not in FILTERS and name not in {"since", "until", "cursor", "limit"}:
            raise BadRequest(f"'{name}' is not a filter of /audit (expected: since, until, "
                             f"cursor, limit, {', '.join(FILTERS)})", param=name)
    now = datetime.now(UTC)
    query = AuditQuery(
        since=_moment(request, "since", now - timedelta(days=1)),
        until=_moment(request, "until", now + timedelta(seconds=1)),
        equal={FILTERS[name]: value for name, value in request.query.items()
               if name in FILTERS},
        offset=_count(request, "cursor", 0, 10**9),
        limit=_count(request, "limit", 100, MAX_LIMIT) or 100,
    )
    await audit.writer.flush()  # what this node has queued is part of the answer
    changes = ([] if query.equal.get("type") == "exchange"
               else await audit.admin_changes(query.since, query.until))
    page, following = await asyncio.to_thread(read_page, audit.directory, query, changes)
    return json_response({"data": page,
                          "next_cursor": str(following) if following is not None else None})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/audit", audit_records)
