"""``/providers``: configured upstreams, validated in full before anything is stored.

A provider's settings follow the one schema of :mod:`node.config`; unknown fields are refused
there, naming the field. Stored secrets are carried over an update that keeps the destination,
and so are the markers a GET shows for them: a provider read back and sent again is unchanged.

Two routes ask the upstream itself, with the provider's own credentials: ``POST .../test``
(one minimal request; every outcome is a 200 saying whether it worked) and ``GET
.../upstream-models`` (the upstream's model list; its failure is a 502). Upstream error text
reaches the admin only as the adapter scrubbed it of the provider's secrets.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from node.admin.changes import announce
from node.catalog import MASK, mask_secret, provider_public
from node.config import parse_provider, to_plain
from node.config.secrets import provider_secret_fields, secret_at, secret_slots
from node.errors import BadRequest, ConfigError, Conflict, ModelNotFound, RequestError
from node.json_io import json_response, read_object
from node.state import GATEWAY
from providers import InvalidConfig, InvalidRequest, ProviderError

if TYPE_CHECKING:
    from node.gateway import Gateway

# What decides where a secret is sent. Stored secrets are carried over an update only when
# none of these changes; a destination field itself is never carried over.
_DESTINATION = ("type", "base_url", "proxy")
_TEST_FIELDS = frozenset({"model"})


class UpstreamFailed(RequestError):
    """502: the upstream asked on the admin's behalf failed (its status is in the message)."""

    status = 502
    code = "upstream_error"


async def list_providers(request: web.Request) -> web.Response:
    gateway = request.config_dict[GATEWAY]
    entries = gateway.catalog.entries()
    data = [{"key": key, **provider_public(entries[key])} for key in sorted(entries)]
    broken = [{"key": k, "error": e} for k, e in sorted(gateway.broken_providers.items())]
    return json_response({"data": data, "invalid": broken})


async def get_provider(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    entry = request.config_dict[GATEWAY].catalog.get(key)
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
    body = await read_object(request)
    key = body.pop("key", None)
    if not isinstance(key, str):
        raise BadRequest("'key' is required", param="key")
    gateway = request.config_dict[GATEWAY]
    _not_a_route(gateway, key)
    if await gateway.store.get_provider(key) is not None:
        raise Conflict(f"Provider '{key}' already exists; use PUT /api/v1/providers/{key}")
    return await _save(request, key, _validated(key, _unmasked({}, body)), 201)


def _not_a_route(gateway: Gateway, key: str) -> None:
    """A provider key is also a model name (``key`` alone asks for its default model), so
    it must not take a route's name."""
    if gateway.routes.has(key):
        raise BadRequest(f"'{key}' is the name of a route; a provider key must differ",
                         param="key")


async def put_provider(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    body = await read_object(request)
    body.pop("key", None)
    gateway = request.config_dict[GATEWAY]
    _not_a_route(gateway, key)
    current = await gateway.store.get_provider(key)
    stored = dict(current.config) if current is not None else {}
    body = _unmasked(stored, body)
    if current is not None:
        body = _keep_secrets(stored, body)
    return await _save(request, key, _validated(key, body), 200 if current else 201)


def _retargeted(current: dict[str, Any], body: dict[str, Any]) -> bool:
    return any(body.get(field, "") != current.get(field, "") for field in _DESTINATION)


def _unmasked(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Put the stored value back wherever ``body`` holds the marker a GET shows for it.

    The marker is never stored as a secret: it stands for the stored value under the rule
    of :func:`_keep_secrets` (same destination), and is refused where nothing is stored.
    """
    proxy = body.get("proxy")
    if isinstance(proxy, str) and f"{MASK}@" in proxy:
        stored = current.get("proxy") or ""
        if not stored or mask_secret("proxy", stored) != proxy:
            raise BadRequest(f"'proxy' holds the marker {MASK} but no stored proxy to that "
                             "host has credentials to keep; send them", param="proxy")
        body["proxy"] = stored
    retargeted = _retargeted(current, body)
    for parent, name, path in list(secret_slots(body)):
        if parent[name] != MASK:
            continue
        where = ".".join(path)
        kept = secret_at(current, path)
        if not isinstance(kept, str) or not kept:
            raise BadRequest(f"'{where}' is the marker {MASK} but no value is stored to "
                             "keep; send the value", param=where)
        if retargeted:
            raise BadRequest(
                f"Changing type, base_url or proxy requires sending '{where}' again "
                "(stored secrets are never sent to a new destination)", param=where)
        parent[name] = kept
    return body


def _keep_secrets(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Carry stored secrets over an update, unless the update re-targets the provider.

    The destination compared is the one that results: a field left out takes its default
    ("" = the vendor's public URL, no proxy), so omitting ``base_url`` re-targets too.
    """
    retargeted = _retargeted(current, body)
    for field in provider_secret_fields():
        if field in _DESTINATION or field in body or not current.get(field):
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
    gateway = request.config_dict[GATEWAY]
    await gateway.store.put_provider(key, config)
    await gateway.reload_provider(key)
    if key in gateway.broken_providers:
        raise BadRequest(gateway.broken_providers[key])
    acks = await announce(request, "provider", key)
    entry = gateway.catalog.get(key)
    assert entry is not None
    return json_response({"key": key, **provider_public(entry), "peers": acks}, status)


async def delete_provider(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    gateway = request.config_dict[GATEWAY]
    if not await gateway.store.delete_provider(key):
        if key in gateway.settings.providers:
            raise Conflict(f"Provider '{key}' is defined in at.yaml; remove it there")
        raise ModelNotFound(f"No provider '{key}'")
    await gateway.reload_provider(key)
    acks = await announce(request, "provider", key)
    return json_response({"deleted": key, "peers": acks})


async def test_provider(request: web.Request) -> web.Response:
    """One minimal request to the provider's default model (or the body's ``model``)."""
    key = request.match_info["key"]
    catalog = request.config_dict[GATEWAY].catalog
    entry = catalog.get(key)
    if entry is None:
        raise ModelNotFound(f"No provider '{key}'")
    body = await read_object(request) if request.body_exists else {}
    unknown = sorted(body.keys() - _TEST_FIELDS)
    if unknown:
        raise BadRequest(f"Unknown field '{unknown[0]}': a test takes only 'model'",
                         param=unknown[0])
    asked = body.get("model", "")
    if not isinstance(asked, str):
        raise BadRequest("'model' must be a string", param="model")
    try:
        model = catalog.resolve(f"{key}/{asked}").model  # an alias becomes its upstream name
    except ModelNotFound:
        raise BadRequest(f"Provider '{key}' has no default model: send {{\"model\": ...}}",
                         param="model") from None
    status: int | None = None
    error: str | None = None
    start = time.perf_counter()
    try:
        status = await entry.provider.probe(model)
    except InvalidRequest as exc:  # a model name that cannot be put in the upstream's URL
        raise BadRequest(exc.message, param="model") from None
    except ProviderError as exc:
        status, error = exc.upstream_status, exc.message
    latency = (time.perf_counter() - start) * 1000
    return json_response({"ok": error is None, "status": status,
                          "latency_ms": round(latency, 1), "error": error, "model": model})


async def upstream_models(request: web.Request) -> web.Response:
    """The upstream's own model list, normalised to ``{id, owned_by}`` entries."""
    key = request.match_info["key"]
    entry = request.config_dict[GATEWAY].catalog.get(key)
    if entry is None:
        raise ModelNotFound(f"No provider '{key}'")
    try:
        models = await entry.provider.list_models()
    except InvalidConfig as exc:  # this upstream (or its API version) has no list to ask
        raise BadRequest(exc.message) from None
    except ProviderError as exc:
        raise UpstreamFailed(exc.message) from None
    data = [{"id": model.id, "owned_by": model.owned_by} for model in models]
    return json_response({"object": "list", "data": data, "provider": key})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/providers", list_providers)
    router.add_post("/providers", create_provider)
    router.add_get("/providers/{key}", get_provider)
    router.add_put("/providers/{key}", put_provider)
    router.add_delete("/providers/{key}", delete_provider)
    router.add_post("/providers/{key}/test", test_provider)
    router.add_get("/providers/{key}/upstream-models", upstream_models)
