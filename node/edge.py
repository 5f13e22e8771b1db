"""The node's HTTP edge: slow clients are bounded, and a malformed request gets a plain
answer that echoes nothing it sent.

aiohttp bounds neither how long a request head may take to arrive nor (without a handler's
help) a body, so 300 connections trickling a header line every few seconds would each hold a
file descriptor forever. :class:`GuardedRequestHandler` arms one timer when the first byte of
a head arrives and cancels it when the head is complete (the middleware says so through
:func:`request_started`); bodies are bounded where they are read (``node.json_io``).

This relies on aiohttp 3.x internals (``RequestHandler``'s constructor and ``handle_error``,
``TCPSite``'s fields); aiohttp is pinned below 4.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web

__all__ = ["GuardedRequestHandler", "GuardedSite", "request_finished", "request_started"]

log = structlog.get_logger("node.edge")
_BAD_REQUEST = "Bad Request: the request is not valid HTTP\n"


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's protocol, plus a deadline on request heads and a quiet error page."""

    __slots__ = ("_head_timeout", "_head_timer", "_serving")

    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._serving = False

    def data_received(self, data: bytes) -> None:
        if data and not self._serving and self._head_timer is None:
            loop = asyncio.get_running_loop()
            self._head_timer = loop.call_later(self._head_timeout, self._head_too_slow)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def started(self) -> None:
        self._cancel_head_timer()
        self._serving = True

    def finished(self) -> None:
        self._serving = False

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        log.info("closed a connection whose request head was too slow",
                 seconds=self._head_timeout)
        if self.transport is not None:
            self.transport.close()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """Answer without the offending bytes (an obs-folded ``Authorization`` header would
        come back to the client in aiohttp's page) and log without them either."""
        if status >= 500:  # our failure, not the client's: worth a trace
            log.error("server error", status=status, error_type=type(exc).__name__,
                      exc_info=exc)
        else:
            log.info("malformed request", status=status, error_type=type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent; cannot send an error page")
        text = _BAD_REQUEST if 400 <= status < 500 else f"{HTTPStatus(status).phrase}\n"
        response = web.Response(status=status, text=text, headers={"Server": SERVER})
        response.force_close()
        return response


SERVER = "at-gateway"
"""The ``Server`` header: the product, no version to fingerprint."""


class GuardedSite(web.TCPSite):
    """A TCP site whose connections are :class:`GuardedRequestHandler` s."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, head_timeout: float,
                 idle_timeout: float, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._head_timeout = head_timeout
        self._idle_timeout = idle_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        options = {**server._kwargs, "keepalive_timeout": self._idle_timeout}

        def protocol() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, loop=loop, head_timeout=self._head_timeout,
                                         **options)

        self._server = await loop.create_server(
            protocol, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def request_started(request: web.Request) -> None:
    """The middleware's word that a request head is complete and being served."""
    protocol = request.protocol
    if isinstance(protocol, GuardedRequestHandler):
        protocol.started()


def request_finished(request: web.Request) -> None:
    protocol = request.protocol
    if isinstance(protocol, GuardedRequestHandler):
        protocol.finished()
