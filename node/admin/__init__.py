"""The management API, ``/api/v1``: an aiohttp sub-application with one auth middleware.

Every route of the sub-app passes :func:`node.admin.auth.authenticate`, so a route added
later cannot be left open; handlers do not check credentials themselves. One module per
resource: providers, routes, tokens (gateway API keys), settings (key rotation), usage,
reports (usage over time, CSV, the request log), cluster, session (the UI's sign-in), events
(live numbers as Server-Sent Events) and openapi (this API described, checked against the
router by tests/node/test_openapi.py).
Secrets are never returned. Each change is written to the store, applied to this node's
memory, then announced to the peers, which reload that one item from the database.
"""

from __future__ import annotations

from aiohttp import web

from node.admin import (
    audit,
    cluster,
    events,
    openapi,
    providers,
    reports,
    routes,
    session,
    settings,
    tokens,
    usage,
)
from node.admin.auth import authenticate

__all__ = ["admin_app", "mount"]


def admin_app() -> web.Application:
    """The ``/api/v1`` sub-application; shared state is read through ``config_dict``."""
    # record_changes after authenticate: every admin write that got in is on the record.
    app = web.Application(middlewares=[authenticate, audit.record_changes])
    for resource in (providers, routes, tokens, settings, usage, reports, cluster, session,
                     events, openapi, audit):
        resource.add_routes(app.router)
    return app


def mount(app: web.Application, base: str, node_name: str = "") -> web.Application:
    """Mount the management API at ``{base}/api/v1``; returns the sub-application."""
    api = admin_app()
    events.install(app, api, node_name)
    app.add_subapp(f"{base}/api/v1", api)
    return api
