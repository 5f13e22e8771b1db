"""``/events``: Server-Sent Events with this node's and the cluster's live numbers, once a
second.

:class:`LiveStats` is a finished-exchange hook (see :mod:`node.serve.finished`): it adds each
exchange to the current second's slot, in O(1), and keeps the last :data:`WINDOW` seconds.
Each ``stats`` event reports the last full second (requests, errors, tokens), latency
percentiles over the last 10 s, and the gateway requests in flight: this node's at the top
level (``scope: "node"``), the whole cluster's under ``cluster`` (:mod:`node.admin.live_cluster`:
every node shares a digest of its figures with its peers once a second, so any node can show
them all; a node alone is a cluster of one). When clustered, a ``cluster`` event carries
``GET /cluster``'s answer at the start and whenever a leader, quorum, term, key version,
role or reachability changes. The stream sends ``retry:`` so a browser's
EventSource reconnects by itself, and ends when the client leaves or the node shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from node.admin.live_cluster import digest, merged
from node.serve.finished import Finished
from node.state import GATEWAY

if TYPE_CHECKING:
    from node.gateway import Gateway

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

    def __init__(self, name: str) -> None:
        self.name = name  # this node's name in the cluster's figures
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
        recent = sorted(self._recent(second))
        total = sum(s.requests for s in self._seconds)
        return {
            "scope": "node", "at": second, "requests_per_second": last.requests,
            "errors_per_second": last.errors, "tokens_per_second": last.tokens,
            "in_flight": max(in_flight - self.streams, 0),
            "p50_ms": _percentile(recent, 0.5), "p95_ms": _percentile(recent, 0.95),
            "p99_ms": _percentile(recent, 0.99), "requests_5m": total,
            "errors_5m": sum(s.errors for s in self._seconds),
        }

    def _recent(self, second: int) -> list[float]:
        return [v for s in self._seconds if second - PERCENTILE_SECONDS < s.at <= second
                for v in s.latencies]

    def digest(self, in_flight: int, now: float | None = None) -> dict[str, Any]:
        """What this node shares with its peers: see :func:`node.admin.live_cluster.digest`."""
        moment = time.time() if now is None else now
        return digest(self.snapshot(in_flight, moment), self._recent(int(moment) - 1))

    def event(self, gateway: Gateway) -> dict[str, object]:
        """One ``stats`` event: this node's figures, and the cluster's under ``cluster``."""
        now = time.time()
        own = self.snapshot(gateway.metrics.in_flight, now)
        peers = gateway.cluster.digests() if gateway.cluster is not None else {}
        shared = digest(own, self._recent(int(now) - 1))
        return {**own, "node": self.name, "cluster": merged(self.name, shared, peers)}


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)


LIVE: web.AppKey[LiveStats] = web.AppKey("live_stats", LiveStats)
SHARING: web.AppKey[asyncio.Task[None]] = web.AppKey("live_sharing", asyncio.Task)


def _shape(status: dict[str, Any]) -> object:
    """What a ``cluster`` event is sent for: a change of leader, quorum, term, or a node's
    key version, reachability or role (not the counters and times that change each ping)."""
    peers = [(p.get("name"), p.get("key_version"), p.get("reachable"), p.get("voter"))
             for p in status.get("peers", [])]
    own = status.get("self", {})
    return (status.get("leader"), status.get("has_quorum"), status.get("raft_term"),
            own.get("key_version"), own.get("raft_state"), peers)


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
        sequence, shape = 0, None
        while True:
            sequence += 1
            data = orjson.dumps(live.event(gateway))
            await response.write(b"id: %d\nevent: stats\ndata: %s\n\n" % (sequence, data))
            status = gateway.cluster.status() if gateway.cluster is not None else None
            if status is not None and _shape(status) != shape:
                shape = _shape(status)
                await response.write(b"event: cluster\ndata: %s\n\n" % orjson.dumps(status))
            await asyncio.sleep(1.0 - time.time() % 1.0 + 0.01)  # just past each second
    except ConnectionResetError:  # the client left between two events
        return response
    finally:
        live.streams -= 1


async def _share(gateway: Gateway, live: LiveStats) -> None:
    """Give the peers this node's digest just past each second, while clustered."""
    while True:
        await asyncio.sleep(1.0 - time.time() % 1.0 + 0.01)
        if gateway.cluster is not None:
            gateway.cluster.share_digest(live.digest(gateway.metrics.in_flight))


async def _hook(app: web.Application) -> None:
    # Runs after the root app's cleanup contexts started, so the gateway (and the cluster
    # link, when clustered) exists.
    gateway = app[GATEWAY]
    gateway.finished_hooks.append(app[LIVE])
    if gateway.cluster is not None:
        app[SHARING] = asyncio.create_task(_share(gateway, app[LIVE]), name="share-live-digest")


async def _stop_sharing(app: web.Application) -> None:
    task = app.get(SHARING)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def install(root: web.Application, api: web.Application, node_name: str) -> None:
    """Keep the stats on the admin sub-app and hook them into the gateway at start-up."""
    stats = LiveStats(node_name or socket.gethostname())
    api[LIVE] = stats
    root[LIVE] = stats
    root.on_startup.append(_hook)
    root.on_shutdown.append(_stop_sharing)  # before the cluster link goes away


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/events", events)
