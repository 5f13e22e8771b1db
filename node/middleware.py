"""The one middleware every request passes: request id, timing, metrics and error rendering.

It is the only place that turns exceptions into HTTP answers. Errors are rendered in the
dialect of the route (OpenAI, Anthropic or Gemini JSON); no stack trace reaches a client.
Headers ``x-request-id`` and ``x-at-overhead-ms`` are added in ``on_response_prepare`` so that
streamed responses, whose headers leave before the handler returns, carry them too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from multidict import CIMultiDict

from cluster import ClusterError, LockBusy, NoQuorum
from node.config import Settings
from node.edge import SERVER, request_finished, request_started
from node.errors import RequestError
from node.state import CLIENT_GONE, GATEWAY, STATE, RequestState
from providers import Dialect, ProviderError, error_body
from store import BadRecord, NotFound, StaleKey, StoreError, StoreUnavailable
from store import Conflict as StoreConflict

if TYPE_CHECKING:
    from node.cors import Cors

log = structlog.get_logger("node.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "x-request-id"
OVERHEAD = "x-at-overhead-ms"
_MAX_REQUEST_ID = 128


def dialect_of(request: web.Request, base: str) -> Dialect:
    """The dialect a request's answers and errors are in: by path, and for the model list
    and model lookups every client shares (``GET /v1/models[/{id}]``), by who is asking."""
    path = request.path
    rest = path[len(base) :] if base and path.startswith(base) else path
    if rest.startswith("/v1/messages"):
        return "anthropic"
    if rest.startswith("/v1beta/"):
        return "gemini"
    if request.method == "GET" and (rest == "/v1/models" or rest.startswith("/v1/models/")):
        # Codex asks ?client_version=... and reads a ``models`` array (the Responses list).
        return "responses" if "client_version" in request.query else client_dialect(request)
    if rest.startswith("/v1/models/"):
        return "gemini"  # google-genai's v1 paths: POST /v1/models/{model}:generateContent
    return "openai"


def client_dialect(request: web.Request) -> Dialect:
    """The dialect of the SDK behind a request, from how it authenticates: Anthropic's send
    ``anthropic-version`` (or ``x-api-key`` alone), Google's ``x-goog-api-key`` or ``?key=``."""
    headers = request.headers
    if "anthropic-version" in headers or ("x-api-key" in headers
                                          and "Authorization" not in headers):
        return "anthropic"
    if "x-goog-api-key" in headers or "key" in request.query:
        return "gemini"
    return "openai"


def _error_response(dialect: Dialect, status: int, message: str, kind: str | None = None,
                    headers: dict[str, str] | None = None, code: str | None = None,
                    param: str | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(dialect, status, message, kind=kind, code=code, param=param),
        content_type="application/json",
        headers=headers,
    )


def render_error(exc: BaseException, dialect: Dialect) -> web.Response:
    """Map every package's exception tree onto a status and the dialect's error JSON."""
    if isinstance(exc, RequestError):
        headers = dict(exc.headers) if exc.headers else None
        return _error_response(dialect, exc.status, exc.message, exc.kind, headers=headers,
                               code=exc.code, param=exc.param)
    if isinstance(exc, ProviderError):
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
        return _error_response(dialect, exc.status, exc.message, headers=headers, code=exc.code,
                               param=getattr(exc, "param", None))
    if isinstance(exc, StoreConflict | LockBusy):
        return _error_response(dialect, 409, str(exc))
    if isinstance(exc, NoQuorum):
        return _error_response(dialect, 503, str(exc))
    if isinstance(exc, NotFound):
        return _error_response(dialect, 404, str(exc))
    if isinstance(exc, StaleKey):
        return _error_response(
            dialect, 503, "this node is waiting for the current encryption key from its peers; "
            "retry shortly or use another node")
    if isinstance(exc, StoreUnavailable):
        return _error_response(dialect, 503, "the store is unavailable; try again")
    if isinstance(exc, BadRecord):  # values the store cannot hold: the request's fault
        return _error_response(dialect, 400, str(exc))
    if isinstance(exc, StoreError | ClusterError):
        log.error("internal error", error=str(exc), error_type=type(exc).__name__)
        return _error_response(dialect, 500, "internal error; see the node's log")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return _error_response(dialect, 413, "request body is too large")
    if isinstance(exc, web.HTTPException):
        message = exc.reason if exc.status != 404 else "no such route"
        allow = exc.headers.get("Allow")  # a 405 must say which methods the path takes
        return _error_response(dialect, exc.status, message,
                               headers={"Allow": allow} if allow else None)
    log.error("unhandled error", exc_info=exc)
    return _error_response(dialect, 500, "internal error; see the node's log")


def new_request_id() -> str:
    """24 hex digits: the time in microseconds, then 44 random bits (an id, not a secret: no
    CSPRNG needed). Time first, so that ids grow: the usage table's request-id index takes
    each at its end, which costs half of inserting a random one."""
    return f"{time.time_ns() // 1000:013x}{random.getrandbits(44):011x}"


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id + log context, in-flight gauge, error rendering, request metrics."""
    start = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = (
        incoming if 0 < len(incoming) <= _MAX_REQUEST_ID and incoming.isprintable()
        else new_request_id()
    )
    # Bound, not cleared first (a copy and a walk of the whole context): aiohttp runs each
    # request in a task of its own, so its context starts as the connection's, which holds
    # nothing bound (tests/node/test_auth.py holds this).
    structlog.contextvars.bind_contextvars(request_id=request_id)
    gateway = request.app[GATEWAY]
    dialect = dialect_of(request, gateway.settings.server.base_path)
    state = request[STATE] = RequestState(start, request_id, dialect)
    metrics = gateway.metrics
    metrics.in_flight += 1
    status = 500
    request_started(request)
    try:
        response = await handler(request)
        status = response.status
    except BaseException as exc:  # every failure is answered, cancellations excepted
        if not isinstance(exc, Exception):
            status = CLIENT_GONE  # aiohttp cancels the handler of a client that hung up
            raise
        response = render_error(exc, dialect)
        status = response.status
    finally:
        request_finished(request)
        if state.client_left:
            status = CLIENT_GONE
        metrics.in_flight -= 1
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics.request_done(request.method, route, status, time.perf_counter() - start)
        if status == CLIENT_GONE:
            log.info("client left", method=request.method, path=request.path)
        elif status >= 500 or status == 413:
            log.warning("request failed", method=request.method, path=request.path,
                        status=status)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


# Sent on every answer; a handler that sets its own value wins (the UI sets its own CSP).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class ResponseHeaders:
    """``on_response_prepare``: the edge's headers (security, HSTS over TLS, CORS) and the
    overhead stamped just before the headers are sent, streams included."""

    def __init__(self, settings: Settings, cors: Cors | None = None) -> None:
        tls = settings.server.tls
        self._hsts = (f"max-age={tls.hsts_max_age}; includeSubDomains"
                      if tls is not None and tls.hsts_max_age else "")
        self._cors = cors

    async def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Server"] = SERVER  # the product, not aiohttp's version banner
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        if self._hsts and request.secure:
            headers["Strict-Transport-Security"] = self._hsts
        if self._cors is not None:
            headers.update(self._cors.headers_for(request))
        _stamp(request, headers)


def _stamp(request: web.Request, headers: CIMultiDict[str]) -> None:
    """The request's own headers: its id, rate limits and the overhead, measured now."""
    state = request.get(STATE)
    if state is None:
        return  # answered before the middleware (a request aiohttp could not parse)
    if state.rate_headers:
        headers.update(state.rate_headers)  # streams included: their headers leave here
    overhead = state.overhead_seconds()  # a stream's headers leave before it finishes
    headers[OVERHEAD] = f"{overhead * 1000:.3f}"
    if REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = state.request_id
    resource = request.match_info.route.resource
    if resource is not None:
        request.app[GATEWAY].metrics.overhead_seen(resource.canonical, overhead)
