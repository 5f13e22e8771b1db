"""The node's HTTP edge: slow clients are bounded, and a malformed request gets a plain
answer that echoes nothing it sent.

aiohttp bounds neither how long a request head may take to arrive nor (without a handler's
help) a body, so 300 connections trickling a header line every few seconds would each hold a
file descriptor forever. :class:`GuardedRequestHandler` notes when the first byte of a head
arrives and forgets it when the head is complete (the middleware says so through
:func:`request_started`); :class:`GuardedSite` sweeps its connections a few times per head
timeout and closes those whose head is overdue. One sweep instead of a timer per request: a
timer armed and cancelled on every request cost more than the rest of the edge. Bodies are
bounded where they are read (``node.json_io``).

HTTPS is served on the same port when ``server.tls`` is set: :func:`tls_context` builds the
one server context, and :func:`reload_certificate` (on SIGHUP) loads the files again into that
same context, so new handshakes present the new certificate while open connections go on.

This relies on aiohttp 3.x internals (``RequestHandler``'s constructor and ``handle_error``,
``TCPSite``'s fields); aiohttp is pinned below 4.
"""

from __future__ import annotations

import asyncio
import ssl
from http import HTTPStatus
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from node.config.edge import TlsSection
from node.errors import ConfigError

__all__ = ["GuardedRequestHandler", "GuardedSite", "reload_certificate", "request_finished",
           "request_started", "tls_context"]

log = structlog.get_logger("node.edge")
_BAD_REQUEST = "Bad Request: the request is not valid HTTP\n"


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's protocol, plus a deadline on request heads and a quiet error page."""

    __slots__ = ("_head_since", "_serving")

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_since = 0.0  # loop time the pending head began; 0.0: none pending
        self._serving = False

    def data_received(self, data: bytes) -> None:
        if data and not self._serving and not self._head_since:
            self._head_since = self._loop.time()
        super().data_received(data)

    def started(self) -> None:
        self._head_since = 0.0
        self._serving = True

    def finished(self) -> None:
        self._serving = False

    def head_overdue(self, now: float, timeout: float) -> bool:
        return bool(self._head_since) and now - self._head_since > timeout

    def close_slow_head(self, timeout: float) -> None:
        self._head_since = 0.0
        log.info("closed a connection whose request head was too slow", seconds=timeout)
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
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        options = {**server._kwargs, "keepalive_timeout": self._idle_timeout}

        def protocol() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, loop=loop, **options)

        self._server = await loop.create_server(
            protocol, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
        self._sweeper = loop.create_task(self._sweep(server))

    async def _sweep(self, server: web.Server) -> None:
        """Close connections whose head is overdue: late by at most a quarter timeout."""
        timeout = self._head_timeout
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(timeout / 4)
            now = loop.time()
            for handler in server.connections:
                if isinstance(handler, GuardedRequestHandler) and handler.head_overdue(
                        now, timeout):
                    handler.close_slow_head(timeout)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await super().stop()


def request_started(request: web.Request) -> None:
    """The middleware's word that a request head is complete and being served."""
    protocol = request.protocol
    if isinstance(protocol, GuardedRequestHandler):
        protocol.started()


def request_finished(request: web.Request) -> None:
    protocol = request.protocol
    if isinstance(protocol, GuardedRequestHandler):
        protocol.finished()


def tls_context(tls: TlsSection) -> ssl.SSLContext:
    """The server context for ``server.tls``; :class:`ConfigError` naming the key when the
    files cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = (ssl.TLSVersion.TLSv1_3 if tls.min_version == "TLSv1.3"
                               else ssl.TLSVersion.TLSv1_2)
    _load(context, tls)
    return context


def reload_certificate(context: ssl.SSLContext, tls: TlsSection) -> bool:
    """Load the certificate and key again into ``context`` (SIGHUP); on failure the old pair
    stays in service and the reason is logged."""
    try:
        _load(context, tls)
    except ConfigError as exc:
        log.error("certificate not reloaded; the previous one stays in service", error=str(exc))
        return False
    log.info("certificate reloaded", cert_file=tls.cert_file)
    return True


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    return b""


def _load(context: ssl.SSLContext, tls: TlsSection) -> None:
    for name in ("cert_file", "key_file"):
        path = Path(getattr(tls, name))
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"server.tls.{name}: cannot read {str(path)!r}: "
                              f"{exc.strerror}") from None
        if name == "cert_file" and b"-----BEGIN CERTIFICATE-----" not in text:
            raise ConfigError(f"server.tls.cert_file: {str(path)!r} holds no PEM certificate")
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except ssl.SSLError:
        raise ConfigError(f"server.tls.key_file: {tls.key_file!r} is not an unencrypted PEM "
                          "private key matching server.tls.cert_file") from None
