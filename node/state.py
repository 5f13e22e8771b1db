"""Typed keys for application and per-request state (no string keys, no globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from providers import Dialect

if TYPE_CHECKING:
    from node.gateway import Gateway

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
START = web.RequestKey("start", float)
REQUEST_ID = web.RequestKey("request_id", str)
UPSTREAM_SECONDS = web.RequestKey("upstream_seconds", float)
DIALECT: web.RequestKey[Dialect] = web.RequestKey("dialect")
