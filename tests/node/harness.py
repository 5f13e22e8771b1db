"""Run a real node (the full app on a loopback port) inside the test's event loop."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from node.app import create_app
from node.config import parse_settings
from node.dispatch import NodeRunner
from node.gateway import Gateway
from node.state import GATEWAY
from store import Store

_ADMIN = re.compile(r"admin token \(for /api/v1, shown once\): (\S+)")
_KEY = re.compile(r"gateway API key 'default' \(shown once\): (\S+)")


@dataclass
class Node:
    url: str
    app: web.Application
    admin_token: str
    api_key: str
    said: list[str] = field(default_factory=list)
    runner: NodeRunner | None = None

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


def settings_tree(**sections: Any) -> dict[str, Any]:
    """A config tree with a mock provider and a memory store unless overridden."""
    tree: dict[str, Any] = {
        "server": {"usage_flush_interval": "100ms"},
        "providers": {"demo": {"type": "mock"}},
        "store": {"memory": {}},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(tree.get(name), dict) and name != "providers":
            tree[name] = {**tree[name], **value}
        else:
            tree[name] = value
    return tree


@asynccontextmanager
async def running_node(
    tree: dict[str, Any] | None = None, *, store: Store | None = None, node_name: str = "",
    extend: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[Node]:
    """``extend`` may add routes of the test's own before the app starts."""
    settings = parse_settings(tree if tree is not None else settings_tree())
    said: list[str] = []
    app = create_app(settings, store=store, say=said.append, node_name=node_name)
    if extend is not None:
        extend(app)
    runner = NodeRunner(app, handler_cancellation=True, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    text = "\n".join(said)
    admin = _ADMIN.search(text)
    key = _KEY.search(text)
    node = Node(
        url=f"http://127.0.0.1:{port}{settings.server.base_path}",
        app=app,
        admin_token=admin.group(1) if admin else settings.server.admin_token,
        api_key=key.group(1) if key else "",
        said=said,
        runner=runner,
    )
    try:
        yield node
    finally:
        await runner.cleanup()


async def post(
    node: Node, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with aiohttp.ClientSession() as session, session.post(
        node.url + path, json=body, headers=headers if headers is not None else node.auth()
    ) as resp:
        data = await resp.json(content_type=None)
        return resp.status, data, resp.headers
