"""Typed keys for application and per-request state (no string keys, no globals)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from providers import Dialect

if TYPE_CHECKING:
    from node.gateway import Gateway
    from node.workers.link import WorkerLink

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
WORKER_LINK: web.AppKey[WorkerLink] = web.AppKey("worker_link")
"""Set in a worker of a multi-process node (``server.workers`` > 1) only."""
START = web.RequestKey("start", float)
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_LEFT = web.RequestKey("client_left", bool)
"""Set when the client hung up before its answer was complete."""
CLIENT_GONE = 499
"""The status counted, logged and recorded for a client that hung up (nginx's convention)."""
UPSTREAM_SECONDS = web.RequestKey("upstream_seconds", float)
OVERHEAD_SECONDS = web.RequestKey("overhead_seconds", float)
"""The gateway's own time as ``x-at-overhead-ms`` states it: set when the answer's headers
leave, or earlier by a finishing exchange (whose usage record keeps the same value)."""
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers")
"""``x-ratelimit-*`` of an admitted request of a limited key, added to its response."""
DIALECT: web.RequestKey[Dialect] = web.RequestKey("dialect")


def overhead_seconds(request: web.BaseRequest, now: float | None = None) -> float:
    """The gateway's own time on ``request`` (``x-at-overhead-ms``), fixed at its first
    reading: the answer's headers and the usage record then state the same value."""
    found = request.get(OVERHEAD_SECONDS)
    if found is None:
        now = time.perf_counter() if now is None else now
        found = request[OVERHEAD_SECONDS] = max(
            now - request[START] - request[UPSTREAM_SECONDS], 0.0)
    return found
