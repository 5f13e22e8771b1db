"""``/tokens``: gateway API keys, their scopes, expiry and policy (limits, per-request caps,
system prompt, default model, price multiplier); a key is shown once, at creation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.admin.changes import announce, read_fields
from node.errors import BadRequest, ModelNotFound
from node.json_io import json_response
from node.key_index import DISPLAY_PREFIX_LEN, hash_key, new_key, new_key_id
from node.limits.policy import POLICY_FIELDS, key_policy, merged_policy, policy_public
from node.state import GATEWAY
from store import ApiKeyRecord

FIELDS = frozenset({"name", "enabled", "providers", "models", "expires_at"}) | POLICY_FIELDS
_WHAT = "an API key"


def _key_public(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "providers": list(record.providers) if record.providers is not None else None,
        "models": list(record.models) if record.models is not None else None,
        "expires_at": record.expires_at.isoformat() if record.expires_at else None,
        "enabled": record.enabled,
        "created_at": record.created_at.isoformat(),
        **policy_public(key_policy(record)),
    }


def _names(body: dict[str, Any], field: str) -> tuple[str, ...] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"'{field}' must be null (any) or a list of strings", param=field)
    return tuple(value)


# Expiry times a key may have: far-future "never" dates (9999-12-31) are refused, not stored,
# because they overflow time arithmetic downstream; null is the way to say "never".
EXPIRY_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))


def _expiry(body: dict[str, Any]) -> datetime | None:
    value = body.get("expires_at")
    if value is None:
        return None
    lo, hi = EXPIRY_RANGE
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest("'expires_at' must be an RFC 3339 time (or null: never expires)",
                         param="expires_at") from None
    if not lo <= moment < hi:
        raise BadRequest(f"'expires_at' must fall between {lo.year} and {hi.year} "
                         "(null: never expires)", param="expires_at")
    return moment


def _fields(body: dict[str, Any], base: ApiKeyRecord) -> ApiKeyRecord:
    name = body.get("name", base.name)
    if not isinstance(name, str) or not name:
        raise BadRequest("'name' must be a non-empty string", param="name")
    enabled = body.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        raise BadRequest("'enabled' must be a boolean", param="enabled")
    return dataclasses.replace(
        base,
        name=name,
        enabled=enabled,
        providers=_names(body, "providers") if "providers" in body else base.providers,
        models=_names(body, "models") if "models" in body else base.models,
        expires_at=_expiry(body) if "expires_at" in body else base.expires_at,
        policy=merged_policy(base.policy, body),
    )


async def create_token(request: web.Request) -> web.Response:
    body = await read_fields(request, FIELDS, _WHAT)
    secret = new_key()
    blank = ApiKeyRecord(
        id=new_key_id(), name="key", key_hash=hash_key(secret),
        prefix=secret[:DISPLAY_PREFIX_LEN], providers=None, models=None, expires_at=None,
        enabled=True, created_at=datetime.now(UTC),
    )
    record = _fields(body, blank)
    gateway = request.config_dict[GATEWAY]
    await gateway.store.create_api_key(record)
    gateway.keys.put(record)
    acks = await announce(request, "api_key", record.id)
    response = json_response({**_key_public(record), "key": secret, "peers": acks}, 201)
    response.headers["Cache-Control"] = "no-store"  # the key is shown this once
    return response


MAX_PAGE = 500


def _page_args(request: web.Request) -> tuple[int | None, str, str]:
    """``limit`` (none: every key, the original listing), ``cursor``, ``q``."""
    query = request.query
    limit: int | None = None
    if "limit" in query:
        text = query["limit"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
            raise BadRequest(f"'limit' must be a whole number from 1 to {MAX_PAGE}",
                             param="limit")
        limit = int(text)
    return limit, query.get("cursor", ""), query.get("q", "").strip().lower()


def _matches(record: ApiKeyRecord, q: str) -> bool:
    return q in record.name.lower() or q in record.id.lower() or q in record.prefix.lower()


def _order(record: ApiKeyRecord) -> str:
    # The cursor is this string of the page's last key: it sorts like (created_at, id) and
    # stays right when keys are added or removed between pages.
    return f"{record.created_at.timestamp():020.6f}/{record.id}"


async def list_tokens(request: web.Request) -> web.Response:
    """Every key, oldest first; with ``limit``, one page of those matching ``q`` (a
    case-insensitive part of the name, id or prefix) after ``cursor``."""
    limit, cursor, q = _page_args(request)
    records = await request.config_dict[GATEWAY].store.list_api_keys()
    ordered = sorted((r for r in records if not q or _matches(r, q)), key=_order)
    if limit is None:
        return json_response({"data": [_key_public(r) for r in ordered]})
    after = [r for r in ordered if _order(r) > cursor] if cursor else ordered
    page = after[:limit]
    more = len(after) > limit
    return json_response({"data": [_key_public(r) for r in page], "total": len(ordered),
                          "next_cursor": _order(page[-1]) if more else None})


async def _existing(request: web.Request) -> ApiKeyRecord:
    key_id = request.match_info["id"]
    record = await request.config_dict[GATEWAY].store.get_api_key(key_id)
    if record is None:
        raise ModelNotFound(f"No API key '{key_id}'")
    return record


async def get_token(request: web.Request) -> web.Response:
    return json_response(_key_public(await _existing(request)))


async def update_token(request: web.Request) -> web.Response:
    record = _fields(await read_fields(request, FIELDS, _WHAT), await _existing(request))
    gateway = request.config_dict[GATEWAY]
    await gateway.store.update_api_key(record)
    gateway.keys.put(record)
    acks = await announce(request, "api_key", record.id)
    return json_response({**_key_public(record), "peers": acks})


async def delete_token(request: web.Request) -> web.Response:
    key_id = request.match_info["id"]
    gateway = request.config_dict[GATEWAY]
    if not await gateway.store.delete_api_key(key_id):
        raise ModelNotFound(f"No API key '{key_id}'")
    gateway.keys.remove(key_id)
    acks = await announce(request, "api_key", key_id)
    return json_response({"deleted": key_id, "peers": acks})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/tokens", list_tokens)
    router.add_post("/tokens", create_token)
    router.add_get("/tokens/{id}", get_token)
    router.add_patch("/tokens/{id}", update_token)
    router.add_delete("/tokens/{id}", delete_token)
