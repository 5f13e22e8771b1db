"""``/settings/rotate-key``: a new data key, optionally a new passphrase or none at all."""

from __future__ import annotations

from aiohttp import web

from node.admin.changes import check_fields
from node.errors import BadRequest
from node.json_io import json_response, read_json
from node.key_rotation import rotate
from node.state import GATEWAY

FIELDS = frozenset({"encryption_key"})


async def rotate_key(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    check_fields(body, FIELDS, "the rotate-key settings")
    passphrase = body.get("encryption_key")
    if passphrase is not None and not isinstance(passphrase, str):
        raise BadRequest("'encryption_key' must be a string", param="encryption_key")
    return json_response(await rotate(request.config_dict[GATEWAY], passphrase))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/settings/rotate-key", rotate_key)
