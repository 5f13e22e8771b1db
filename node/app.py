"""The app factory: wires routes, the middleware and one cleanup context per resource.

Start order: HTTP client pool -> store (migrate, check passphrase, bootstrap, load into
memory, usage queue) -> cluster agent. Shutdown runs in reverse; the usage queue is flushed
before the store closes, so a clean shutdown loses no usage record.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web

from node import admin, ui
from node.audit import audit_ctx
from node.bootstrap import bootstrap
from node.config import Settings, cluster_config, store_config
from node.cors import Cors
from node.errors import ConfigError
from node.gateway import Gateway
from node.middleware import ResponseHeaders, gateway_middleware
from node.routes import anthropic, gemini, key, openai, ops, responses
from node.state import GATEWAY
from node.telemetry import telemetry_ctx
from node.workers import WorkerSpec, worker_ctx
from providers import ClientPool
from store import Store, open_store


def _say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    pool: ClientPool | None = None,
    say: Callable[[str], None] = _say,
    node_name: str = "",
    worker: WorkerSpec | None = None,
) -> web.Application:
    """Build one node's application (or one worker's of a multi-process node: ``worker``).
    ``store``/``pool`` may be injected by tests."""
    cors = Cors.of(settings)  # None unless a CORS policy is configured: no cost then
    app = web.Application(
        middlewares=[gateway_middleware, *([cors.middleware] if cors is not None else [])],
        client_max_size=settings.server.max_body_bytes,
    )
    base = settings.server.base_path
    openai.add_routes(app, base)
    anthropic.add_routes(app, base)
    gemini.add_routes(app, base)
    responses.add_routes(app, base)
    key.add_routes(app, base)
    # A worker's own figures are one process's: named as such beside its siblings.
    process = f"{node_name or socket.gethostname()}.{worker.name}" if worker else node_name
    admin_api = admin.mount(app, base, process)
    ops.add_routes(app, base)
    ui.add_routes(app, base)
    app.on_response_prepare.append(ResponseHeaders(settings, cors))
    app.cleanup_ctx.append(partial(_node_ctx, settings, store, pool, say, admin_api, worker))
    app.cleanup_ctx.append(responses.book_ctx)  # needs the gateway: after _node_ctx
    if worker is None:
        app.cleanup_ctx.append(partial(_cluster_ctx, settings, node_name))
        audit_name = node_name
    else:
        app.cleanup_ctx.append(partial(worker_ctx, worker, node_name or socket.gethostname()))
        audit_name = process  # a file per worker
    app.cleanup_ctx.append(partial(audit_ctx, settings, audit_name))
    app.cleanup_ctx.append(partial(telemetry_ctx, settings))
    return app


async def _node_ctx(
    settings: Settings,
    injected_store: Store | None,
    injected_pool: ClientPool | None,
    say: Callable[[str], None],
    admin_api: web.Application,
    worker: WorkerSpec | None,
    app: web.Application,
) -> AsyncIterator[None]:
    pool = injected_pool or ClientPool()
    store = injected_store or await open_store(store_config(settings))
    try:
        await bootstrap(store, admin_token_configured=bool(settings.server.admin_token), say=say)
        if store.needs_key_material and cluster_config(settings) is None and worker is None:
            # No peer can ever hand over the key: serving would answer 404 for every stored
            # provider while waiting for nothing.
            raise ConfigError(
                "store.encryption_key: does not open the store's active key: the passphrase "
                "was changed (rotate-key) since this node last ran; start it with the current "
                "passphrase")
        gateway = Gateway(settings, store, pool, workers=worker.count if worker else 1)
        await gateway.load()
        gateway.usage.start()
        gateway.limits.start()
        app[GATEWAY] = gateway
        # Handlers read it through config_dict; but once a handler returns, request.app is the
        # innermost app, and the root app's response hooks still look the gateway up there.
        admin_api[GATEWAY] = gateway
        yield
        await gateway.drain_tasks()
        await gateway.limits.stop()  # unused quota goes back before the store closes
        await gateway.usage.close()
        await gateway.close_admin_http()
    finally:
        if injected_store is None:
            await store.close()
        if injected_pool is None:
            await pool.aclose()


async def _cluster_ctx(
    settings: Settings, node_name: str, app: web.Application
) -> AsyncIterator[None]:
    config = cluster_config(settings)
    if config is None:
        yield
        return
    from node.cluster_link import NodeHooks, fetch_key_material, start_agent

    gateway = app[GATEWAY]
    hooks = NodeHooks(gateway)
    agent = await start_agent(config, hooks, node_name)
    gateway.cluster = agent
    if hooks.needs_key_material():
        gateway.spawn(fetch_key_material(agent, hooks), name="fetch-key-material")
    try:
        yield
    finally:
        gateway.cluster = None
        await agent.stop()
