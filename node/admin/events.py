"""``/events``: Server-Sent Events with this node's live numbers, once a second.

:class:`LiveStats` is a finished-exchange hook (see :mod:`node.serve.finished`): it adds each
exchange to the current second's slot, in O(1), and keeps the last :data:`WINDOW` seconds.
Each ``stats`` event reports the last full second (requests, errors, tokens), latency
percentiles over the last 10 s, and the gateway requests in flight. The stream sends
``retry:`` so a browser's EventSource reconnects by itself, and ends when the client leaves
or the node shuts down. Cluster-wide numbers (a digest from every peer) are not here yet:
each node reports itself, and says so (``scope: "node"``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from node.serve.finished import Finished
from node.state import GATEWAY

WINDOW = 300
PERCENTILE_SECONDS = 10


@dataclass(slots=True)
class _Second:
    at: int
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    latencies: list[float] = field(default_factory=list)


class LiveStats:
    """Per-second counts of finished exchanges, kept for :data:`WINDOW` seconds."""

    def __init__(self) -> None:
        self._seconds: deque[_Second] = deque(maxlen=WINDOW)
        self.streams = 0  # open /events streams, which count as in flight but are not traffic

    def _slot(self, now: int) -> _Second:
        if not self._seconds or self._seconds[-1].at != now:
            self._seconds.append(_Second(now))
        return self._seconds[-1]

    def __call__(self, done: Finished) -> None:
        slot = self._slot(int(time.time()))
        slot.requests += 1
        slot.errors += done.status >= 400
        slot.tokens += done.usage.input_tokens + done.usage.output_tokens
        slot.latencies.append(done.latency_seconds * 1000)

    def snapshot(self, in_flight: int, now: float | None = None) -> dict[str, object]:
        second = int(time.time() if now is None else now) - 1  # the last full second
        last = next((s for s in reversed(self._seconds) if s.at == second), _Second(second))
        recent = sorted(v for s in self._seconds if second - PERCENTILE_SECONDS < s.at <= second
                        for v in s.latencies)
        total = sum(s.requests for s in self._seconds)
        return {
            "scope": "node", "at": second, "requests_per_second": last.requests,
            "errors_per_second": last.errors, "tokens_per_second": last.tokens,
            "in_flight": max(in_flight - self.streams, 0),
            "p50_ms": _percentile(recent, 0.5), "p95_ms": _percentile(recent, 0.95),
            "p99_ms": _percentile(recent, 0.99), "requests_5m": total,
            "errors_5m": sum(s.errors for s in self._seconds),
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)


LIVE: web.AppKey[LiveStats] = web.AppKey("live_stats", LiveStats)


async def events(request: web.Request) -> web.StreamResponse:
    gateway = request.config_dict[GATEWAY]
    live = request.config_dict[LIVE]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})  # nginx would otherwise hold the events back
    await response.prepare(request)
    live.streams += 1
    try:
        await response.write(b"retry: 2000\n\n")
        sequence = 0
        while True:
            sequence += 1
            data = orjson.dumps(live.snapshot(gateway.metrics.in_flight))
            await response.write(b"id: %d\nevent: stats\ndata: %s\n\n" % (sequence, data))
            await asyncio.sleep(1.0 - time.time() % 1.0 + 0.01)  # just past each second
    except ConnectionResetError:  # the client left between two events
        return response
    finally:
        live.streams -= 1


async def _hook(app: web.Application) -> None:
    # Runs after the root app's cleanup contexts started, so the gateway exists.
    app[GATEWAY].finished_hooks.append(app[LIVE])


def install(root: web.Application, api: web.Application) -> None:
    """Keep the stats on the admin sub-app and hook them into the gateway at start-up."""
    stats = LiveStats()
    api[LIVE] = stats
    root[LIVE] = stats
    root.on_startup.append(_hook)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/events", events)
