"""Relay an open upstream stream to the client, chunk by chunk.

The upstream side already speaks the client's dialect (the adapters translate); this loop
writes, keeps a quiet stream alive with the dialect's ping, frames JSON-array streams
(Gemini's) with the dialect's framer, and settles the exchange however the stream ends
(finished, failed upstream, or a client that hung up).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from node.serve.finished import CLIENT_LEFT_TEXT, Bodies
from node.serve.heartbeat import Heartbeat, send_within
from node.state import CLIENT_GONE
from providers import Stream

if TYPE_CHECKING:
    from node.serve.exchange import Exchange

__all__ = ["relay"]

log = structlog.get_logger("node.serve")
JSON_STREAM_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-cache"}
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class EventStream(web.StreamResponse):
    """Headers go out with the first chunk instead of on their own: one socket write less
    per stream (and a single write when the upstream answered in one read)."""

    _send_headers_immediately = False


async def relay(exchange: Exchange, upstream: Stream, *, json_array: bool,
                first: bytes | None = None) -> web.StreamResponse:
    """Write ``upstream`` to the client; the exchange is settled when this returns or is
    cancelled (the client left), and the upstream is closed either way.

    ``first``: the stream's first chunk, already read (a route reads it before answering,
    so that a stream failing before its first event can still go to another target)."""
    gateway = exchange.gateway
    assert exchange.route is not None
    provider = exchange.route.provider_key
    interval = float(gateway.settings.server.stream_keepalive)
    within, request = float(gateway.settings.server.send_timeout), exchange.request
    pinged = interval > 0 and not json_array  # a JSON array has no room for pings
    response = _response(pinged, json_array, exchange.served_headers())
    began, events, size = time.perf_counter(), 0, 0
    framer = exchange.spec.array_framer() if json_array else None
    last = b""
    heartbeat = None
    left = False  # the client hung up
    crashed = False  # something unexpected broke the relay: not a success
    wrapper = _wrapped(first, upstream, exchange.bodies)
    try:
        await response.prepare(request)
        if pinged and not upstream.arrived:  # an answer in hand leaves without a wait
            heartbeat = Heartbeat(request, response, exchange.spec.ping, interval, within)
        async for chunk in upstream if wrapper is None else wrapper:
            if framer is not None:
                chunk = framer.feed(chunk)
            events += chunk.count(b"\n\n")
            size += len(chunk)
            if upstream.final:
                last = chunk
                break
            await send_within(request, response, chunk, within)
            _wrote(exchange, heartbeat)
        if framer is not None:
            last += framer.end()
    except ConnectionResetError:
        # The client hung up (or stopped reading) while we wrote: not a server error, and
        # nobody to answer.
        log.debug("client left mid-stream", provider=provider)
        left = True
        return response
    except asyncio.CancelledError:
        left = True  # aiohttp cancels the handler of a client that hung up
        raise
    except Exception:
        crashed = _cut(request)  # recorded as the 500 it is, not as a success
        raise
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        # Runs on client disconnect (the handler is cancelled) too: abort the upstream.
        await _close(upstream, wrapper)
        gateway.metrics.stream_done(provider, events, size, time.perf_counter() - began)
        _settle(exchange, upstream, left, crashed)
    with contextlib.suppress(ConnectionResetError):  # the client left as the stream ended
        await send_within(request, response, last, within, eof=True)
        # the whole answer left in this one write (``or``: no clock read when it had not)
        exchange.first_byte = exchange.first_byte or time.perf_counter()
    return response


def _wrote(exchange: Exchange, heartbeat: Heartbeat | None) -> None:
    """A chunk reached the client: the first one's moment is the time to first byte (one
    clock read per stream), and the heartbeat's silence starts again."""
    if exchange.first_byte is None:
        exchange.first_byte = time.perf_counter()
    if heartbeat is not None:
        heartbeat.wrote()


async def _close(upstream: Stream, wrapper: AsyncGenerator[bytes, None] | None) -> None:
    if wrapper is not None:
        await wrapper.aclose()
    await upstream.aclose()


def _wrapped(first: bytes | None, upstream: Stream, bodies: Bodies | None
             ) -> AsyncGenerator[bytes, None] | None:
    """The stream with its first chunk put back and, while the audit log keeps bodies, each
    chunk kept as it passes; None (the stream itself is read) when neither applies."""
    kept = bodies.chunks if bodies is not None else None
    return None if first is None and kept is None else _after(first, upstream, kept)


async def _after(first: bytes | None, upstream: Stream, kept: list[bytes] | None
                 ) -> AsyncGenerator[bytes, None]:
    if first is not None:
        if kept is not None:
            kept.append(first)
        yield first
        if upstream.final:
            return
    async for chunk in upstream:
        if kept is not None:
            kept.append(chunk)
        yield chunk


def _response(pinged: bool, json_array: bool, served: dict[str, str]) -> web.StreamResponse:
    # Headers may wait for the first chunk only where a heartbeat bounds that wait.
    kind = EventStream if pinged else web.StreamResponse
    served.update(JSON_STREAM_HEADERS if json_array else SSE_HEADERS)
    return kind(headers=served)


def _settle(exchange: Exchange, upstream: Stream, left: bool, crashed: bool) -> None:
    if upstream.failed:
        assert exchange.route is not None
        exchange.gateway.metrics.upstream_error(exchange.route.provider_key, "mid_stream")
        exchange.failure = upstream.error or "the upstream stream failed"
    elif left:
        exchange.failure = CLIENT_LEFT_TEXT
    # Any status >= 400 settles the limits with the usage unknown (the reservation is kept).
    status = 500 if crashed else 502 if upstream.failed else CLIENT_GONE if left else 200
    exchange.settle(upstream.usage, status)
    if left:
        exchange.state.client_left = True


def _cut(request: web.BaseRequest) -> bool:
    """Close the connection of a relay that broke: the middleware's error answer would
    otherwise land inside a stream whose 200 headers are already out. True (crashed)."""
    if request.transport is not None:
        request.transport.close()
    return True
