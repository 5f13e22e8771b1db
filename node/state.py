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
CLIENT_GONE = 499
"""The status counted, logged and recorded for a client that hung up (nginx's convention)."""


class RequestState:
    """What the node notes about one request while serving it, in ``request[STATE]``.

    One object with plain attributes rather than a key per fact: aiohttp's request mapping
    answers ``get`` of a missing key by raising and catching a KeyError, a microsecond each,
    several times a request.
    """

    __slots__ = ("client_left", "dialect", "overhead", "rate_headers", "request_id", "start",
                 "upstream_seconds")

    def __init__(self, start: float, request_id: str, dialect: Dialect) -> None:
        self.start = start  # perf_counter() when the middleware took the request
        self.request_id = request_id
        self.dialect: Dialect = dialect  # what its answers and errors are written in
        self.upstream_seconds = 0.0  # spent waiting on upstreams: not the gateway's own time
        # ``x-ratelimit-*`` of an admitted request of a limited key (and, on an error, what
        # served it), added to its answer.
        self.rate_headers: dict[str, str] | None = None
        self.client_left = False  # the client hung up before its answer was complete
        self.overhead: float | None = None  # fixed at its first reading: see overhead_seconds

    def overhead_seconds(self, now: float | None = None) -> float:
        """The gateway's own time on the request (``x-at-overhead-ms``), fixed at its first
        reading: the answer's headers and the usage record then state the same value."""
        found = self.overhead
        if found is None:
            now = time.perf_counter() if now is None else now
            found = self.overhead = max(now - self.start - self.upstream_seconds, 0.0)
        return found


STATE = web.RequestKey("state", RequestState)
"""Set by the node's middleware on every request it takes."""
