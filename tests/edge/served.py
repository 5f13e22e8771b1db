"""A node served the way ``atgw serve`` serves it (GuardedSite, the TLS context built from
``server.tls``), inside the test's loop."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.app import create_app
from node.config import parse_settings
from node.edge import GuardedSite, tls_context
from tests.node.harness import _ADMIN, _KEY, settings_tree


@dataclass
class Served:
    url: str
    api_key: str
    admin_token: str


@asynccontextmanager
async def served_node(**sections: Any) -> AsyncIterator[Served]:
    said: list[str] = []
    settings = parse_settings(settings_tree(**sections))
    tls = settings.server.tls
    runner = web.AppRunner(create_app(settings, say=said.append), handler_cancellation=True,
                           shutdown_timeout=1)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, head_timeout=30.0, idle_timeout=30.0,
                       ssl_context=tls_context(tls) if tls is not None else None)
    await site.start()
    text = "\n".join(said)
    key, admin = (re.search(pattern, text) for pattern in (_KEY, _ADMIN))
    assert key is not None and admin is not None, text
    scheme = "https" if tls is not None else "http"
    try:
        yield Served(f"{scheme}://127.0.0.1:{site.port}", key.group(1), admin.group(1))
    finally:
        await runner.cleanup()
