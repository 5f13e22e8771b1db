"""``/routes``: served model names over weighted, tiered targets (issue 13).

A route's fields follow the at.yaml schema (:func:`node.config.parse_route`); unknown fields
are refused naming the field, targets must name a provider of the catalog and the name must
not be a provider key. Stored routes override YAML ones of the same name. Each change is
written to the store, applied here, and announced so every peer reloads it from the database.
``GET /routes/{name}`` shows each target's live state on the answering node.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from node.admin.changes import announce, check_fields
from node.config import RouteSection, parse_route, to_plain
from node.errors import BadRequest, ConfigError, Conflict, ModelNotFound
from node.json_io import json_response, read_object
from node.routing import route_public
from node.state import GATEWAY

FIELDS = tuple(RouteSection.__struct_fields__)
_LIVE = ("provider", "upstream_model", "state")  # a target's live view in GET /routes/{name}


async def list_routes(request: web.Request) -> web.Response:
    routes = request.config_dict[GATEWAY].routes
    plans = routes.plans()
    data = [route_public(plans[name]) for name in sorted(plans)]
    broken = [{"name": name, "error": error} for name, error in sorted(routes.broken.items())]
    return json_response({"data": data, "invalid": broken})


async def get_route(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    plan = request.config_dict[GATEWAY].routes.get(name)
    if plan is None:
        raise ModelNotFound(f"No route '{name}'")
    return json_response(route_public(plan, time.monotonic()))


def _validated(request: web.Request, name: str, body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, FIELDS, "a route")
    catalog = request.config_dict[GATEWAY].catalog
    try:
        section = parse_route(name, body, catalog.entries().keys())
    except ConfigError as exc:
        message = str(exc)
        # "routes.<name>.targets[0].weight: ..." names the field "targets[0].weight".
        head, prefix = message.split(": ", 1)[0], f"routes.{name}"
        param = head[len(prefix):].lstrip(".") if head.startswith(prefix) else ""
        raise BadRequest(message, param=param or "name") from None
    return to_plain(section)


async def create_route(request: web.Request) -> web.Response:
    body = await read_object(request)
    name = body.pop("name", None)
    if not isinstance(name, str):
        raise BadRequest("'name' is required: the model name clients will ask for",
                         param="name")
    gateway = request.config_dict[GATEWAY]
    config = _validated(request, name, body)
    if await gateway.store.get_route(name) is not None:
        raise Conflict(f"Route '{name}' already exists; use PUT /api/v1/routes/{name}")
    return await _save(request, name, config, 201)


async def put_route(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await read_object(request)
    if body.get("name", name) != name:
        raise BadRequest("'name' differs from the route in the path", param="name")
    body.pop("name", None)
    # A GET's output sent back is accepted: what it shows beside the fields is dropped.
    for shown in ("source", "unavailable_targets"):
        body.pop(shown, None)
    targets = body.get("targets")
    if isinstance(targets, list):
        body["targets"] = [
            {k: v for k, v in target.items() if k not in _LIVE} if isinstance(target, dict)
            else target for target in targets]
    config = _validated(request, name, body)
    existed = await request.config_dict[GATEWAY].store.get_route(name) is not None
    return await _save(request, name, config, 200 if existed else 201)


async def _save(request: web.Request, name: str, config: dict[str, Any],
                status: int) -> web.Response:
    gateway = request.config_dict[GATEWAY]
    await gateway.store.put_route(name, config)
    await gateway.reload_route(name)
    acks = await announce(request, "route", name)
    plan = gateway.routes.get(name)
    assert plan is not None
    return json_response({**route_public(plan), "peers": acks}, status)


async def delete_route(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    gateway = request.config_dict[GATEWAY]
    if not await gateway.store.delete_route(name):
        if name in gateway.settings.routes:
            raise Conflict(f"Route '{name}' is defined in at.yaml; remove it there")
        raise ModelNotFound(f"No route '{name}'")
    await gateway.reload_route(name)
    acks = await announce(request, "route", name)
    return json_response({"deleted": name, "peers": acks})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/routes", list_routes)
    router.add_post("/routes", create_route)
    router.add_get("/routes/{name}", get_route)
    router.add_put("/routes/{name}", put_route)
    router.add_delete("/routes/{name}", delete_route)
