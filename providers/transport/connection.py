"""One upstream HTTP/1.1 connection and the response it is reading.

A ``Connection`` is an asyncio protocol that feeds every byte it receives to an httptools
(llhttp) parser; the parser's callbacks fill the current ``UpstreamResponse``. The request
path does no per-request allocation beyond the response itself: no stream reader objects,
no tracing signals, no per-read timeout context managers (one timer per wait instead).

Failures surface as ``ProviderError``s that name the provider and the host, so callers
never see a socket or parser exception.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import Final, cast

import httptools

from providers.errors import ProviderError, UpstreamTimeout, UpstreamUnreachable

__all__ = ["Connection", "UpstreamResponse"]

PAUSE_BYTES: Final = 1 << 20
"""Stop reading from the socket while this much body waits for a slow consumer."""


class UpstreamResponse:
    """The status, headers and body of one upstream answer, as they arrive."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_deadline",
        "_decoder",
        "_done",
        "_error",
        "_idle",
        "_size",
        "_waiter",
        "headers",
        "host",
        "provider",
        "status",
    )

    def __init__(self, conn: Connection, provider: str, host: str,
                 deadline: float | None, idle: float | None) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.provider = provider
        self.host = host
        self._conn = conn
        self._chunks: list[bytes] = []
        self._size = 0
        self._done = False
        self._error: ProviderError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = deadline
        self._idle = idle
        self._decoder: zlib._Decompress | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def complete(self) -> bool:
        """The body has arrived and been read, all of it."""
        return self._done and not self._chunks

    @property
    def arrived(self) -> bool:
        """The body has arrived, all of it (some may be still to read)."""
        return self._done

    async def wait_headers(self) -> None:
        while not self.status and self._error is None:
            await self._wait()
        if self._error is not None and not self.status:
            raise self._error

    async def readany(self) -> bytes:
        """The body bytes received so far (waiting for some); ``b""`` once it is done."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            await self._wait()
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        if self._size >= PAUSE_BYTES:
            self._conn.resume()
        self._size = 0
        return data

    async def read(self, limit: int = 0) -> bytes:
        """The whole body (or its first ``limit`` bytes, leaving the rest unread)."""
        parts: list[bytes] = []
        size = 0
        while not limit or size < limit:
            data = await self.readany()
            if not data:
                break
            parts.append(data)
            size += len(data)
        body = b"".join(parts)
        return body[:limit] if limit else body

    def release(self) -> None:
        """Done with this response: the connection goes back to the pool if it can."""
        self._conn.finished(self)

    def close(self) -> None:
        """Abandon this response and its connection (the upstream sees a disconnect);
        a no-op once released, when the connection may already serve another request."""
        self._conn.abandon(self)

    async def _wait(self) -> None:
        loop = self._conn.loop
        waiter = self._waiter = loop.create_future()
        when = self._deadline
        if self._idle is not None:
            idle_end = loop.time() + self._idle
            when = idle_end if when is None else min(when, idle_end)
        timer = loop.call_at(when, self._timed_out) if when is not None else None
        try:
            await waiter
        except asyncio.CancelledError:
            self._conn.abandon(self)  # nobody will read the rest: never reuse it
            raise
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _timed_out(self) -> None:
        self.fail(UpstreamTimeout(
            f"provider {self.provider!r} at {self.host} did not answer in time",
            provider=self.provider,
        ))
        self._conn.abandon(self)

    # Called by the connection's parser callbacks.

    def start(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate", "x-gzip"):
            # Never asked for, but some servers compress anyway; 47 = zlib or gzip header.
            self._decoder = zlib.decompressobj(47)
        self._wake()

    def feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                self.fail(self._broken("a body that does not decompress"))
                self._conn.abandon(self)
                return
        self._chunks.append(data)
        self._size += len(data)
        if self._size >= PAUSE_BYTES:
            self._conn.pause()
        self._wake()

    def finish(self) -> None:
        self._done = True
        self._wake()

    def fail(self, error: ProviderError) -> None:
        if self._error is None and not self._done:
            self._error = error
        self._wake()

    def _broken(self, what: str) -> UpstreamUnreachable:
        return UpstreamUnreachable(
            f"provider {self.provider!r} at {self.host} sent {what}", provider=self.provider
        )


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``on_idle`` hands it back to its pool when reusable,
    ``on_lost`` tells the pool it is gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_idle: Callable[[Connection], None],
                 on_lost: Callable[[Connection], None]) -> None:
        self.loop = loop
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.reused = False
        self._on_idle = on_idle
        self._parser = httptools.HttpResponseParser(self)
        self._response: UpstreamResponse | None = None
        self._headers: dict[str, str] = {}
        self._keep_alive = False
        self._paused = False

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes, response: UpstreamResponse) -> None:
        """Write one request; its answer fills ``response``."""
        self._response = response
        self._headers = {}
        self._keep_alive = False
        assert self.transport is not None
        self.transport.write(data)

    def finished(self, response: UpstreamResponse) -> None:
        if response is not self._response:
            return
        self._response = None
        if response.complete and self._keep_alive and self.usable:
            self.reused = True
            self.idle_since = self.loop.time()
            self._on_idle(self)
        else:
            self.abort()

    def abandon(self, response: UpstreamResponse) -> None:
        """Drop the connection under ``response``; a reader waiting on it (maybe in another
        task) wakes with an error instead of hanging."""
        if response is self._response:
            self._response = None
            self.abort()
            response.fail(UpstreamUnreachable(
                f"provider {response.provider!r} at {response.host}: the response was closed",
                provider=response.provider,
            ))

    def abort(self) -> None:
        self._keep_alive = False
        if self.transport is not None:
            self.transport.abort()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            response = self._response
            if response is not None:
                response.fail(response._broken("a malformed HTTP response"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._on_lost(self)
        response = self._response
        if response is None:
            return
        if response.status and not response._done:
            # No Content-Length and no chunking: the body ends with the connection.
            if exc is None and self._delimited_by_close():
                response.finish()
                return
            response.fail(response._broken("a truncated response (dropped mid-body)"))
        elif not response.status:
            response.fail(UpstreamUnreachable(
                f"provider {response.provider!r} at {response.host} closed the connection",
                provider=response.provider,
            ))

    def _delimited_by_close(self) -> bool:
        headers = self._headers
        return "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", "")

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        response = self._response
        if response is None:
            self.abort()  # an answer nobody asked for
            return
        status = self._parser.get_status_code()
        if status < 200:
            self._headers = {}  # 1xx interim answer: the real one follows
            return
        response.start(status, self._headers)

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response.feed(body)

    def on_message_complete(self) -> None:
        response = self._response
        if response is None or not response.status:
            return
        self._keep_alive = self._parser.should_keep_alive()
        response.finish()
