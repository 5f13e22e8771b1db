"""``/cluster``: this node's view of the cluster (or that it runs alone)."""

from __future__ import annotations

from aiohttp import web

from node.json_io import json_response
from node.state import GATEWAY


async def cluster(request: web.Request) -> web.Response:
    gateway = request.config_dict[GATEWAY]
    if gateway.cluster is None:
        return json_response({"enabled": False, "self": {"key_version": gateway.store.key_version}})
    return json_response({"enabled": True, **gateway.cluster.status()})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cluster", cluster)
