"""``/usage``: tokens and requests per key, provider and model, optionally within a window."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from node.errors import BadRequest
from node.json_io import json_response
from node.state import GATEWAY


def query_time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Converted here, where a moment UTC cannot hold (0001-01-01T00:00+01:00) is the
        # client's mistake, not a store failure later.
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise BadRequest(f"'{name}' must be an ISO date or time", param=name) from None


async def usage(request: web.Request) -> web.Response:
    gateway = request.config_dict[GATEWAY]
    await gateway.usage.flush()
    rows = await gateway.store.usage_summary(
        since=query_time(request, "since"), until=query_time(request, "until")
    )
    return json_response({"data": rows})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/usage", usage)
