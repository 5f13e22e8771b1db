"""Reading admin request bodies and announcing the changes they make to the peers."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiohttp import web

from node.errors import BadRequest
from node.json_io import read_object
from node.state import GATEWAY


async def read_fields(
    request: web.Request, allowed: Collection[str], what: str
) -> dict[str, Any]:
    """The body as a JSON object holding only ``allowed`` fields (400 naming any other).

    A misspelled field must not be ignored: ``allowed_providers`` for ``providers`` would
    otherwise mint a key with no scope at all.
    """
    body = await read_object(request)
    check_fields(body, allowed, what)
    return body


def check_fields(body: dict[str, Any], allowed: Collection[str], what: str) -> None:
    for name in body:
        if name not in allowed:
            raise BadRequest(
                f"'{name}' is not a field of {what} (expected: {', '.join(sorted(allowed))})",
                param=name,
            )


async def announce(request: web.Request, kind: str, item: str) -> dict[str, bool]:
    """Tell the peers to reload one item; their acknowledgements by node (none unclustered)."""
    cluster = request.config_dict[GATEWAY].cluster
    if cluster is None:
        return {}
    acks: dict[str, bool] = await cluster.notify_change(kind, item)
    return acks
