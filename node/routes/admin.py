"""Management API under ``/api/v1``: providers, gateway keys, key rotation, usage, cluster.

Every handler first calls :func:`require_admin`. Secrets are never returned. Each change is
written to the store, applied to this node's memory, then announced to the peers, which reload
that one item from the database.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.admin_auth import require_admin
from node.catalog import provider_public
from node.config import parse_provider, to_plain
from node.errors import BadRequest, ConfigError, Conflict, ModelNotFound
from node.exchange import json_response, read_json, read_object
from node.key_rotation import rotate
from node.keys import DISPLAY_PREFIX_LEN, hash_key, new_key, new_key_id
from node.state import GATEWAY
from store import ApiKeyRecord

# Fields whose stored value is kept on update only when nothing that decides where the
# secret is sent (type, base_url, proxy) changes; otherwise the caller must send them again.
_SECRETS = ("api_key", "extra_headers", "credentials_file")
_DESTINATION = ("type", "base_url", "proxy")


async def _announce(request: web.Request, kind: str, item: str) -> dict[str, bool]:
    cluster = request.app[GATEWAY].cluster
    if cluster is None:
        return {}
    acks: dict[str, bool] = await cluster.notify_change(kind, item)
    return acks


# -- providers ---------------------------------------------------------------------------


async def list_providers(request: web.Request) -> web.Response:
    await require_admin(request)
    gateway = request.app[GATEWAY]
    entries = gateway.catalog.entries()
    data = [{"key": key, **provider_public(entries[key])} for key in sorted(entries)]
    broken = [{"key": k, "error": e} for k, e in sorted(gateway.broken_providers.items())]
    return json_response({"data": data, "invalid": broken})


async def get_provider(request: web.Request) -> web.Response:
    await require_admin(request)
    key = request.match_info["key"]
    entry = request.app[GATEWAY].catalog.get(key)
    if entry is None:
        raise ModelNotFound(f"No provider '{key}'")
    return json_response({"key": key, **provider_public(entry)})


def _validated(key: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        section = parse_provider(key, config)
    except ConfigError as exc:
        raise BadRequest(str(exc)) from None
    out = to_plain(section)
    return out


async def create_provider(request: web.Request) -> web.Response:
    await require_admin(request)
    body = await read_object(request)
    key = body.pop("key", None)
    if not isinstance(key, str):
        raise BadRequest("'key' is required", param="key")
    gateway = request.app[GATEWAY]
    if await gateway.store.get_provider(key) is not None:
        raise Conflict(f"Provider '{key}' already exists; use PUT /api/v1/providers/{key}")
    return await _save(request, key, _validated(key, body), 201)


async def put_provider(request: web.Request) -> web.Response:
    await require_admin(request)
    key = request.match_info["key"]
    body = await read_object(request)
    body.pop("key", None)
    gateway = request.app[GATEWAY]
    current = await gateway.store.get_provider(key)
    if current is not None:
        body = _keep_secrets(dict(current.config), body)
    return await _save(request, key, _validated(key, body), 200 if current else 201)


def _keep_secrets(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Carry stored secrets over an update, unless the update re-targets the provider."""
    retargeted = any(
        field in body and body[field] != current.get(field) for field in _DESTINATION
    )
    for field in _SECRETS:
        if field in body or not current.get(field):
            continue
        if retargeted:
            raise BadRequest(
                f"Changing type, base_url or proxy requires sending '{field}' again "
                "(stored secrets are never sent to a new destination)",
                param=field,
            )
        body[field] = current[field]
    return body


async def _save(
    request: web.Request, key: str, config: dict[str, Any], status: int
) -> web.Response:
    gateway = request.app[GATEWAY]
    await gateway.store.put_provider(key, config)
    await gateway.reload_provider(key)
    if key in gateway.broken_providers:
        raise BadRequest(gateway.broken_providers[key])
    acks = await _announce(request, "provider", key)
    entry = gateway.catalog.get(key)
    assert entry is not None
    return json_response({"key": key, **provider_public(entry), "peers": acks}, status)


async def delete_provider(request: web.Request) -> web.Response:
    await require_admin(request)
    key = request.match_info["key"]
    gateway = request.app[GATEWAY]
    if not await gateway.store.delete_provider(key):
        if key in gateway.settings.providers:
            raise Conflict(f"Provider '{key}' is defined in at.yaml; remove it there")
        raise ModelNotFound(f"No provider '{key}'")
    await gateway.reload_provider(key)
    acks = await _announce(request, "provider", key)
    return json_response({"deleted": key, "peers": acks})


# -- gateway keys ------------------------------------------------------------------------


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
    }


def _names(body: dict[str, Any], field: str) -> tuple[str, ...] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"'{field}' must be null (any) or a list of strings", param=field)
    return tuple(value)


def _expiry(body: dict[str, Any]) -> datetime | None:
    value = body.get("expires_at")
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("'expires_at' must be an RFC 3339 time", param="expires_at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
    )


async def create_token(request: web.Request) -> web.Response:
    await require_admin(request)
    body = await read_object(request)
    secret = new_key()
    blank = ApiKeyRecord(
        id=new_key_id(), name="key", key_hash=hash_key(secret),
        prefix=secret[:DISPLAY_PREFIX_LEN], providers=None, models=None, expires_at=None,
        enabled=True, created_at=datetime.now(UTC),
    )
    record = _fields(body, blank)
    gateway = request.app[GATEWAY]
    await gateway.store.create_api_key(record)
    gateway.keys.put(record)
    acks = await _announce(request, "api_key", record.id)
    return json_response({**_key_public(record), "key": secret, "peers": acks}, 201)


async def list_tokens(request: web.Request) -> web.Response:
    await require_admin(request)
    records = await request.app[GATEWAY].store.list_api_keys()
    ordered = sorted(records, key=lambda r: r.created_at)
    return json_response({"data": [_key_public(r) for r in ordered]})


async def _existing(request: web.Request) -> ApiKeyRecord:
    key_id = request.match_info["id"]
    record = await request.app[GATEWAY].store.get_api_key(key_id)
    if record is None:
        raise ModelNotFound(f"No API key '{key_id}'")
    return record


async def get_token(request: web.Request) -> web.Response:
    await require_admin(request)
    return json_response(_key_public(await _existing(request)))


async def update_token(request: web.Request) -> web.Response:
    await require_admin(request)
    record = _fields(await read_object(request), await _existing(request))
    gateway = request.app[GATEWAY]
    await gateway.store.update_api_key(record)
    gateway.keys.put(record)
    acks = await _announce(request, "api_key", record.id)
    return json_response({**_key_public(record), "peers": acks})


async def delete_token(request: web.Request) -> web.Response:
    await require_admin(request)
    key_id = request.match_info["id"]
    gateway = request.app[GATEWAY]
    if not await gateway.store.delete_api_key(key_id):
        raise ModelNotFound(f"No API key '{key_id}'")
    gateway.keys.remove(key_id)
    acks = await _announce(request, "api_key", key_id)
    return json_response({"deleted": key_id, "peers": acks})


# -- settings, usage, cluster --------------------------------------------------------------


async def rotate_key(request: web.Request) -> web.Response:
    await require_admin(request)
    body = await read_json(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    passphrase = body.get("encryption_key")
    if passphrase is not None and not isinstance(passphrase, str):
        raise BadRequest("'encryption_key' must be a string", param="encryption_key")
    return json_response(await rotate(request.app[GATEWAY], passphrase))


def _time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{name}' must be an ISO date or time", param=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def usage(request: web.Request) -> web.Response:
    await require_admin(request)
    gateway = request.app[GATEWAY]
    await gateway.usage.flush()
    rows = await gateway.store.usage_summary(
        since=_time(request, "since"), until=_time(request, "until")
    )
    return json_response({"data": rows})


async def cluster(request: web.Request) -> web.Response:
    await require_admin(request)
    gateway = request.app[GATEWAY]
    if gateway.cluster is None:
        return json_response({"enabled": False, "self": {"key_version": gateway.store.key_version}})
    return json_response({"enabled": True, **gateway.cluster.status()})


def add_routes(app: web.Application, base: str) -> None:
    api = f"{base}/api/v1"
    router = app.router
    router.add_get(f"{api}/providers", list_providers)
    router.add_post(f"{api}/providers", create_provider)
    router.add_get(f"{api}/providers/{{key}}", get_provider)
    router.add_put(f"{api}/providers/{{key}}", put_provider)
    router.add_delete(f"{api}/providers/{{key}}", delete_provider)
    router.add_get(f"{api}/tokens", list_tokens)
    router.add_post(f"{api}/tokens", create_token)
    router.add_get(f"{api}/tokens/{{id}}", get_token)
    router.add_patch(f"{api}/tokens/{{id}}", update_token)
    router.add_delete(f"{api}/tokens/{{id}}", delete_token)
    router.add_post(f"{api}/settings/rotate-key", rotate_key)
    router.add_get(f"{api}/usage", usage)
    router.add_get(f"{api}/cluster", cluster)
