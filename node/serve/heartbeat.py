"""Keep-alive pings on a stream whose upstream has gone quiet.

Agents treat seconds of byte silence as a stall (Claude Code gives up after about 20 s),
and buffering proxies cut idle connections; a model thinking for a minute is silent that
long. A ``Heartbeat`` writes the inbound dialect's ping (``DialectSpec.ping``) after each
``interval`` without a write. It costs one timer per stream, re-armed only when it fires:
the relay just notes the time of each write.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from aiohttp import web

__all__ = ["HEADERS_WITHIN", "Heartbeat", "send_within"]

HEADERS_WITHIN: Final = 1.0
"""Seconds a stream's headers may wait for its first chunk before a ping carries them."""
_HEAD_ROOM: Final = 4096  # the response head and chunk framing that may go with a chunk


async def send_within(request: web.BaseRequest, response: web.StreamResponse, chunk: bytes,
                      limit: float, *, eof: bool = False) -> None:
    """Write ``chunk`` (and end the response if ``eof``), or close the connection and raise
    ``ConnectionResetError`` if the client has not taken the bytes within ``limit`` seconds:
    a client that stops reading would otherwise hold the exchange, and its upstream
    connection, for good.

    A write waits only while the transport has paused writing, which it does when its
    buffer goes above the high-water mark; a write into an unpaused transport that stays
    under that mark cannot wait, so it goes without a timer (the common case: arming and
    cancelling one cost as much as the rest of a small stream's relay)."""
    write = response.write_eof(chunk) if eof else response.write(chunk)
    transport = request.transport
    if transport is not None and not request.protocol.writing_paused and \
            transport.get_write_buffer_size() + len(chunk) + _HEAD_ROOM \
            < transport.get_write_buffer_limits()[1]:
        await write
        return
    try:
        async with asyncio.timeout(limit):
            await write
    except TimeoutError:
        transport = request.transport
        if transport is not None:
            transport.close()
        raise ConnectionResetError("the client stopped reading") from None


class Heartbeat:
    """Pings ``response`` after each ``interval`` without a write. The first check comes
    after at most ``HEADERS_WITHIN``: a stream's headers wait for its first chunk (one
    socket write less), and an upstream still silent by then gets them sent with a ping."""

    def __init__(self, request: web.BaseRequest, response: web.StreamResponse, ping: bytes,
                 interval: float, send_timeout: float) -> None:
        self._request = request
        self._response = response
        self._ping = ping
        self._interval = interval
        self._send_timeout = send_timeout
        self._loop = asyncio.get_running_loop()
        self.last_write: float | None = None  # nothing sent yet, not even the headers
        self.pings = 0
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(
            min(interval, HEADERS_WITHIN), self._tick)

    def wrote(self) -> None:
        self.last_write = self._loop.time()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _tick(self) -> None:
        now = self._loop.time()
        last = self.last_write
        idle = self._task is None or self._task.done()
        if idle and (last is None or now >= last + self._interval):
            self._task = self._loop.create_task(self._send())
            last = self.last_write = now
        self._timer = self._loop.call_at((last or now) + self._interval, self._tick)

    async def _send(self) -> None:
        # A client that left makes the write fail; the relay notices on its own write.
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send_within(self._request, self._response, self._ping,
                              self._send_timeout)
            self.pings += 1
