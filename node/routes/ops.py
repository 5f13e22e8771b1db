"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any

from aiohttp import web

from node.config.edge import MetricsAuth
from node.errors import NodeError, Unauthorized, Unavailable
from node.json_io import json_response
from node.state import GATEWAY, WORKER_LINK
from node.version import VERSION
from store import StoreError


async def health(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP. Never depends on the store or the cluster."""
    gateway = request.app[GATEWAY]
    uptime = round(time.time() - gateway.started, 3)
    body: dict[str, object] = {"status": "ok", "version": VERSION, "uptime_seconds": uptime}
    link = request.app.get(WORKER_LINK)
    if link is not None:
        body["worker"] = link.name     # which process of the node answered
        body["workers"] = _workers(link.status())
    return json_response(body)


def _workers(status: dict[str, Any]) -> dict[str, int]:
    """How many of the node's worker processes serve, as the supervisor last saw them."""
    workers = (status.get("self") or {}).get("workers") or []
    return {"serving": sum(1 for w in workers if w.get("serving")), "of": len(workers)}


async def ready(request: web.Request) -> web.Response:
    """Readiness: the store answers and the keyring is usable. Raft quorum is reported but
    not required, so a StatefulSet can start its pods in parallel and form a quorum later."""
    gateway = request.app[GATEWAY]
    checks: dict[str, object] = {}
    ok = True
    try:
        await gateway.store.ping()
        checks["store"] = "ok"
    except StoreError as exc:
        checks["store"] = f"unavailable: {exc}"
        ok = False
    if gateway.cluster is not None:
        cluster = gateway.cluster.status()
        if WORKER_LINK in request.app:  # the node is ready when all its workers serve
            workers = checks["workers"] = _workers(cluster)
            ok = ok and workers["serving"] == workers["of"]
    if gateway.cluster is not None and cluster.get("enabled", True):
        checks["cluster"] = {"leader": cluster.get("leader"), "quorum": cluster.get("has_quorum")}
        conflict = (cluster.get("self") or {}).get("conflict")
        if conflict:  # another live node holds this identity: this one left the cluster
            checks["cluster"] = {"conflict": conflict}
            ok = False
    if gateway.store.needs_key_material:
        checks["key"] = "stale: this node's passphrase does not open the active key"
        ok = False
    else:
        checks["key"] = {"version": gateway.store.key_version}
    checks["providers"] = len(gateway.catalog.entries())
    if gateway.broken_providers:
        checks["broken_providers"] = sorted(gateway.broken_providers)
    status = "ready" if ok else "not ready"
    return json_response({"status": status, "checks": checks}, 200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; behind ``server.metrics_auth`` when it is set, open otherwise."""
    gateway = request.app[GATEWAY]
    auth = gateway.settings.server.metrics_auth
    if auth is not None and auth.enabled:
        _check_scraper(request, auth)
    link = request.app.get(WORKER_LINK)
    if link is None:
        body = gateway.metrics.render()
    else:  # one exposition for the node: every worker's values summed
        try:
            others = await link.others_metrics()
        except NodeError as exc:
            raise Unavailable(f"/metrics: the node's other workers did not answer: {exc}"
                              ) from exc
        body = gateway.metrics.render_merged(others)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def _check_scraper(request: web.Request, auth: MetricsAuth) -> None:
    """401 unless the request carries the configured credentials (compared in constant
    time, so the time to refuse says nothing about how much of a guess was right)."""
    if auth.token:
        scheme, expected, challenge = "bearer", auth.token, 'Bearer realm="metrics"'
    else:
        scheme, challenge = "basic", 'Basic realm="metrics", charset="UTF-8"'
        expected = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
    given_scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    ok = hmac.compare_digest(given.strip().encode(), expected.encode())
    if given_scheme.lower() != scheme or not ok:
        error = Unauthorized("/metrics: credentials are required (server.metrics_auth)")
        error.headers = {"WWW-Authenticate": challenge}
        raise error


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/health", health)
    app.router.add_get(f"{base}/ready", ready)
    app.router.add_get(f"{base}/metrics", metrics)
