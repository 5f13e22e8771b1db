"""The request path shared by every dialect: read, authenticate, resolve, call, account.

Nothing here touches the database or the cluster: keys and providers come from memory and
usage goes to an in-memory queue that is flushed in the background.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import structlog
from aiohttp import web

from node.catalog import Route
from node.errors import BadRequest, Forbidden, Unauthorized
from node.heartbeat import PINGS, Heartbeat
from node.key_index import model_allowed
from node.state import GATEWAY, START, UPSTREAM_SECONDS
from providers import Dialect, Stream, Usage, check_request
from store import ApiKeyRecord, UsageRecord

T = TypeVar("T")
log = structlog.get_logger("node.exchange")
ANTHROPIC_HEADERS = ("anthropic-beta", "anthropic-version")
JSON_STREAM_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-cache"}
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def presented_key(request: web.Request) -> str:
    """The gateway key from ``Authorization: Bearer``, ``x-api-key`` or ``x-goog-api-key``."""
    headers = request.headers
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or ""


def authenticate(request: web.Request) -> ApiKeyRecord:
    gateway = request.app[GATEWAY]
    presented = presented_key(request)
    if not presented:
        gateway.metrics.auth_result("missing")
        raise Unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'")
    record = gateway.keys.lookup(presented)
    if record is None:
        gateway.metrics.auth_result("denied")
        raise Unauthorized("Invalid API key (unknown, disabled or expired)")
    gateway.metrics.auth_result("allowed")
    return record


def client_headers(request: web.Request, dialect: Dialect) -> dict[str, str] | None:
    """The client headers an adapter may forward upstream (Anthropic's version and betas)."""
    if dialect != "anthropic":
        return None
    found = {name: request.headers[name] for name in ANTHROPIC_HEADERS if name in request.headers}
    return found or None


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 for anything else)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def allowed_route(request: web.Request, key: ApiKeyRecord, model_name: str) -> Route:
    """Resolve ``model_name`` (404 if unknown) and check the key may use it (403)."""
    route = request.app[GATEWAY].catalog.resolve(model_name)
    if not model_allowed(key, route.provider_key, route.model):
        raise Forbidden(
            f"This API key may not use '{route.provider_key}/{route.model}'", param="model"
        )
    return route


def visible_models(request: web.Request, key: ApiKeyRecord) -> list[tuple[str, str]]:
    """(``provider/model`` id, provider key) of every model the key may use."""
    return [
        (model_id, provider_key)
        for model_id, provider_key, _ in request.app[GATEWAY].catalog.model_ids()
        if model_allowed(key, provider_key, model_id.split("/", 1)[1])
    ]


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 413 past ``server.max_body_bytes``, 400 if malformed."""
    raw = await request.read()
    if not raw:
        raise BadRequest("The request body is empty: expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg}") from None


async def serve(
    request: web.Request,
    dialect: Dialect,
    body: dict[str, Any],
    model_name: str,
    *,
    stream: bool,
    key: ApiKeyRecord,
    json_array: bool = False,
) -> web.StreamResponse:
    """Route one chat-style exchange to its provider and answer in the inbound dialect.

    ``json_array``: deliver the stream as one JSON array written element by element (Gemini's
    ``streamGenerateContent`` without ``alt=sse``) instead of SSE.
    """
    check_request(dialect, body)
    route = allowed_route(request, key, model_name)
    provider = route.provider
    headers = client_headers(request, dialect)
    if not stream:
        reply = await upstream_call(
            request, key, route, provider.complete(dialect, body, route.model, headers=headers))
        account(request, key, route.provider_key, route.model, reply.usage, reply.status)
        return web.Response(body=reply.body, status=reply.status, content_type="application/json")
    upstream = await upstream_call(
        request, key, route, provider.open_stream(dialect, body, route.model, headers=headers))
    return await _relay(request, upstream, key, route, dialect, json_array)


class _EventStream(web.StreamResponse):
    """Headers go out with the first chunk instead of on their own: one socket write less
    per stream (and a single write when the upstream answered in one read)."""

    _send_headers_immediately = False


async def _relay(
    request: web.Request, upstream: Stream, key: ApiKeyRecord, route: Route, dialect: Dialect,
    json_array: bool,
) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    provider, model = route.provider_key, route.model
    interval = float(gateway.settings.server.stream_keepalive)
    pinged = interval > 0 and not json_array  # a JSON array has no room for pings
    # Headers may wait for the first chunk only where a heartbeat bounds that wait.
    kind = _EventStream if pinged else web.StreamResponse
    response = kind(headers=JSON_STREAM_HEADERS if json_array else SSE_HEADERS)
    began = time.perf_counter()
    events = size = 0
    first = True
    last = b""
    heartbeat = None
    try:
        await response.prepare(request)
        if pinged:
            heartbeat = Heartbeat(response, PINGS[dialect], interval)
        async for chunk in upstream:
            if json_array:
                chunk, first = _as_array_items(chunk, first)
            events += chunk.count(b"\n\n")
            size += len(chunk)
            if upstream.final:
                last = chunk
                break
            await response.write(chunk)
            if heartbeat is not None:
                heartbeat.wrote()
        if json_array:
            last += b"[]" if first else b"]"
    except ConnectionResetError:
        # The client hung up while we wrote: not a server error, and nobody to answer.
        log.debug("client left mid-stream", provider=provider)
        return response
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        # Runs on client disconnect (the handler is cancelled) too: abort the upstream.
        await upstream.aclose()
        gateway.metrics.stream_done(provider, events, size, time.perf_counter() - began)
        status = 502 if upstream.failed else 200
        if upstream.failed:
            gateway.metrics.upstream_error(provider, "mid_stream")
        account(request, key, provider, model, upstream.usage, status)
    with contextlib.suppress(ConnectionResetError):  # the client left as the stream ended
        await response.write_eof(last)
    return response


def _as_array_items(chunk: bytes, first: bool) -> tuple[bytes, bool]:
    """SSE ``data:`` events -> elements of a JSON array (``[`` before the first one)."""
    out: list[bytes] = []
    for frame in chunk.split(b"\n\n"):
        for line in frame.splitlines():
            if line.startswith(b"data:"):
                out.append((b"[" if first else b",\r\n") + line[5:].strip())
                first = False
    return b"".join(out), first


def _status_of(exc: BaseException) -> int:
    return int(getattr(exc, "status", 500))


async def upstream_call(
    request: web.Request, key: ApiKeyRecord, route: Route, call: Awaitable[T]
) -> T:
    """Await one upstream call: time it (excluded from the overhead header) and count it;
    a failure is counted and accounted, then raised for the error middleware."""
    metrics = request.app[GATEWAY].metrics
    sent = time.perf_counter()
    try:
        result = await call
    except Exception as exc:
        waited = request[UPSTREAM_SECONDS] = time.perf_counter() - sent
        status = _status_of(exc)
        if hasattr(exc, "provider"):
            metrics.upstream_done(route.provider_key, status, waited)
            metrics.upstream_error(route.provider_key, type(exc).__name__)
        account(request, key, route.provider_key, route.model, Usage(), status)
        raise
    waited = request[UPSTREAM_SECONDS] = time.perf_counter() - sent
    metrics.upstream_done(route.provider_key, 200, waited)
    return result


def account(
    request: web.Request, key: ApiKeyRecord, provider: str, model: str, usage: Usage, status: int
) -> None:
    gateway = request.app[GATEWAY]
    gateway.metrics.tokens_used(key.id, f"{provider}/{model}", usage.input_tokens,
                                usage.output_tokens)
    gateway.usage.record(
        UsageRecord(
            at=datetime.now(UTC),
            key_id=key.id,
            provider=provider,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            status=status,
            latency_ms=(time.perf_counter() - request[START]) * 1000,
        )
    )
