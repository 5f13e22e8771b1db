"""``/openapi.json``: an OpenAPI 3.1 description of this admin API.

Written by hand, next to the handlers it describes, and kept true by tests: every route of
the sub-app has an operation here and every operation a route (tests/node/test_openapi.py),
and a schemathesis run sends generated requests to every operation and checks that no answer
is a 5xx or breaks its schema. Response schemas name the fields clients rely on and allow
more, so adding a field is not a breaking change.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.json_io import json_response
from node.limits.policy import POLICY_FIELDS
from node.state import GATEWAY
from node.version import VERSION

Schema = dict[str, Any]

_STR: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_NUM: Schema = {"type": "number"}
_BOOL: Schema = {"type": "boolean"}
_NAMES: Schema = {"type": ["array", "null"], "items": {"type": "string", "minLength": 1}}
_PEERS: Schema = {"type": "object", "additionalProperties": {"type": "boolean"}}


def _obj(props: dict[str, Schema], required: tuple[str, ...] = (), *,
         closed: bool = False) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str, **more: Schema) -> Schema:
    return _obj({"data": {"type": "array", "items": _ref(name)}, **more}, ("data",))


_ERROR = _obj({"error": _obj({"message": _STR, "type": {"type": ["string", "null"]},
                              "param": {"type": ["string", "null"]},
                              "code": {"type": ["string", "null"]}}, ("message",))},
              ("error",))

SCHEMAS: dict[str, Schema] = {
    "Error": _ERROR,
    "Provider": _obj({"key": _STR, "type": _STR, "source": _STR}, ("key", "type")),
    "ProviderInput": {"type": "object", "description": "A provider's settings as in at.yaml "
                      "(type, base_url, api_key, model, models, proxy, ...); a secret shown "
                      "masked by a GET keeps the stored value", "properties": {"type": _STR}},
    "Route": _obj({"name": _STR, "targets": {"type": "array"}, "source": _STR}, ("name",)),
    "Token": _obj({"id": _STR, "name": _STR, "prefix": _STR, "providers": _NAMES,
                   "models": _NAMES, "expires_at": {"type": ["string", "null"]},
                   "enabled": _BOOL, "created_at": _STR},
                  ("id", "name", "prefix", "enabled", "created_at")),
    "TokenInput": _obj({"name": {"type": "string", "minLength": 1}, "enabled": _BOOL,
                        "providers": _NAMES, "models": _NAMES,
                        "expires_at": {"type": ["string", "null"], "format": "date-time"},
                        **{name: {"description": "a policy field (limits, caps, system "
                                  "prompt, default model, price multiplier)"}
                           for name in sorted(POLICY_FIELDS)}}, closed=True),
    "UsageRow": _obj({"day": _STR, "key_id": _STR, "provider": _STR, "model": _STR,
                      "requests": _INT, "input_tokens": _INT, "output_tokens": _INT,
                      "errors": _INT, "cost_usd": _NUM, "avg_latency_ms": _NUM},
                     ("day", "key_id", "provider", "model", "requests")),
    "UsageSeries": _obj({"group": _STR, "label": _STR,
                         **{n: {"type": "array", "items": _NUM} for n in
                            ("requests", "input_tokens", "output_tokens", "errors",
                             "cost_usd")}}, ("group", "requests")),
    "LogRow": _obj({"id": _INT, "at": _STR, "key_id": _STR, "provider": _STR, "model": _STR,
                    "status": _INT, "latency_ms": _NUM, "input_tokens": _INT,
                    "output_tokens": _INT, "cache_read_tokens": _INT,
                    "cache_write_tokens": _INT, "cost_usd": _NUM, "request_id": _STR,
                    "ttft_ms": {"type": ["number", "null"], "description": "time to the "
                                "first bytes of a streamed answer; null when not measured"},
                    "overhead_ms": {"type": ["number", "null"], "description": "the "
                                    "gateway's own time (x-at-overhead-ms)"},
                    "attempts": {"type": ["integer", "null"],
                                 "description": "upstream calls made (retries add to it)"},
                    "error": {"type": "string", "description": "what failed; empty for a "
                              "success"}},
                   ("id", "at", "key_id", "status")),
}


def _ok(schema: Schema | None, description: str = "OK", status: str = "200",
        media: str = "application/json") -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {media: {"schema": schema}}
    return {status: body}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "Bad input (the message names the field)", 401: "Not signed in",
             403: "A session write without the CSRF header", 404: "No such item",
             409: "Conflict", 502: "The upstream failed", 503: "No quorum or store down"}
    return {str(s): {"description": names[s], "content": {
        "application/json": {"schema": _ref("Error")}}} for s in (401, *statuses)}


def _q(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


def _body(schema: Schema, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **more}


_TIME = {"type": "string", "format": "date-time"}
_DELETED = _obj({"deleted": _STR, "peers": _PEERS}, ("deleted",))
_PAGE_ARGS = [_q("limit", {"type": "integer", "minimum": 1, "maximum": 500},
                 "page size; without it every key is listed"),
              _q("cursor", _STR, "next_cursor of the previous page"),
              _q("q", _STR, "part of the name, id or prefix")]
_REPORT_ARGS = [_q("from", _TIME), _q("to", _TIME),
                _q("bucket", {"enum": ["hour", "day"]}),
                _q("group_by", {"enum": ["key", "model", "provider"]})]


def _paths() -> dict[str, Any]:
    key, name, tid = [_p("key")], [_p("name")], [_p("id")]
    return {
        "/providers": {
            "get": _op("List providers (YAML and stored)", {
                **_ok(_list_of("Provider", invalid={"type": "array"})), **_errors()}),
            "post": _op("Create a stored provider", {
                **_ok(_ref("Provider"), "Created", "201"), **_errors(400, 409)},
                requestBody=_body(_obj({"key": _STR, "type": _STR}, ("key", "type")))),
        },
        "/providers/{key}": {
            "parameters": key,
            "get": _op("One provider (secrets masked)", {**_ok(_ref("Provider")),
                                                         **_errors(404)}),
            "put": _op("Create or replace a stored provider", {
                **_ok(_ref("Provider")), **_ok(_ref("Provider"), "Created", "201"),
                **_errors(400)}, requestBody=_body(_ref("ProviderInput"))),
            "delete": _op("Delete a stored provider", {**_ok(_DELETED), **_errors(404, 409)}),
        },
        "/providers/{key}/test": {
            "parameters": key,
            "post": _op("Send one minimal request upstream", {**_ok(_obj({
                "ok": _BOOL, "status": {"type": ["integer", "null"]}, "latency_ms": _NUM,
                "error": {"type": ["string", "null"]}, "model": _STR}, ("ok",))),
                **_errors(400, 404)},
                requestBody=_body(_obj({"model": _STR}, closed=True), required=False)),
        },
        "/providers/{key}/upstream-models": {
            "parameters": key,
            "get": _op("The upstream's own model list", {**_ok(_obj({
                "data": {"type": "array", "items": _obj({"id": _STR}, ("id",))},
                "provider": _STR}, ("data",))), **_errors(400, 404, 502)}),
        },
        "/routes": {
            "get": _op("List routes", {**_ok(_list_of("Route", invalid={"type": "array"})),
                                       **_errors()}),
            "post": _op("Create a stored route", {
                **_ok(_ref("Route"), "Created", "201"), **_errors(400, 409)},
                requestBody=_body(_obj({"name": _STR, "targets": {"type": "array"}},
                                       ("name",)))),
        },
        "/routes/{name}": {
            "parameters": name,
            "get": _op("One route with its targets' live state", {**_ok(_ref("Route")),
                                                                  **_errors(404)}),
            "put": _op("Create or replace a stored route", {
                **_ok(_ref("Route")), **_ok(_ref("Route"), "Created", "201"),
                **_errors(400)}, requestBody=_body({"type": "object"})),
            "delete": _op("Delete a stored route", {**_ok(_DELETED), **_errors(404, 409)}),
        },
        "/tokens": {
            "get": _op("List gateway API keys, or one page of them", {**_ok(_list_of(
                "Token", total=_INT, next_cursor={"type": ["string", "null"]})),
                **_errors(400)}, parameters=_PAGE_ARGS),
            "post": _op("Create a key; the secret is in this answer only", {**_ok(
                {"allOf": [_ref("Token"), _obj({"key": _STR}, ("key",))]}, "Created",
                "201"), **_errors(400)}, requestBody=_body(_ref("TokenInput"))),
        },
        "/tokens/{id}": {
            "parameters": tid,
            "get": _op("One key (never its secret)", {**_ok(_ref("Token")), **_errors(404)}),
            "patch": _op("Change a key's name, scope, expiry, policy or enabled", {
                **_ok(_ref("Token")), **_errors(400, 404)},
                requestBody=_body(_ref("TokenInput"))),
            "delete": _op("Revoke a key", {**_ok(_DELETED), **_errors(404)}),
        },
        "/settings/rotate-key": {
            "post": _op("Rotate the data key (optionally a new passphrase)", {
                **_ok({"type": "object"}), **_errors(400, 409, 503)},
                requestBody=_body(_obj({"encryption_key": _STR}, closed=True),
                                  required=False)),
        },
        "/usage": {
            "get": _op("Usage per UTC day, key, provider and model", {
                **_ok(_list_of("UsageRow")), **_errors(400)},
                parameters=[_q("since", _TIME), _q("until", _TIME)]),
        },
        "/usage/buckets": {
            "get": _op("Usage per hour or day, grouped by key, model or provider", {**_ok(_obj(
                {"buckets": {"type": "array", "items": _STR}, "timezone": _STR,
                 "series": {"type": "array", "items": _ref("UsageSeries")}},
                ("buckets", "series"))), **_errors(400)}, parameters=_REPORT_ARGS),
        },
        "/usage.csv": {
            "get": _op("The same report as CSV", {**_ok(_STR, media="text/csv"),
                                                  **_errors(400)}, parameters=_REPORT_ARGS),
        },
        "/logs": {
            "get": _op("The request log: usage records newest first", {**_ok(_list_of(
                "LogRow", next_cursor={"type": ["string", "null"]})), **_errors(400)},
                parameters=[_q("request_id", {"type": "string", "maxLength": 128},
                               "exactly this X-Request-ID, searched across every page"),
                            _q("key", _STR), _q("model", _STR), _q("provider", _STR),
                            _q("status", _STR, "ok, error, any or a status like 429"),
                            _q("since", _TIME), _q("until", _TIME),
                            _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                            _q("cursor", _STR, "next_cursor of the previous page")]),
        },
        "/logs/{request_id}": {
            "parameters": [{"name": "request_id", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
            "get": _op("Every record of one request id with its detail (timings, attempts, "
                       "error text; never a prompt or an answer)", {**_ok(_list_of("LogRow")),
                                                                 **_errors(400, 404)}),
        },
        "/audit": {
            "get": _op("Audit records, oldest first: this node's exchanges (its daily files) "
                       "merged with the whole cluster's admin changes (the database)", {**_ok(_obj(
                           {"data": {"type": "array", "items": {"type": "object"}},
                            "next_cursor": {"type": ["string", "null"]}},
                           ("data", "next_cursor"))), **_errors(400, 503)},
                parameters=[_q("since", _TIME), _q("until", _TIME),
                            _q("limit", {"type": "integer", "minimum": 0, "maximum": 1000}),
                            _q("cursor", _STR, "next_cursor of the previous page"),
                            *(_q(name, _STR) for name in ("key", "model", "provider",
                                                          "status", "request_id", "admin",
                                                          "type", "node"))]),
        },
        "/cluster": {
            "get": _op("This node's view of the cluster (and its worker processes)", {**_ok(_obj(
                {"enabled": _BOOL, "self": _obj({
                    "name": _STR, "worker_count": _INT,
                    "workers": {"type": "array", "items": _obj({
                        "name": _STR, "pid": _INT, "serving": _BOOL, "restarts": _INT,
                        "in_flight": _INT}, ("name", "pid", "serving", "restarts"))}}),
                 "peers": {"type": "array", "items": _obj({
                     "name": _STR, "reachable": _BOOL,
                     "worker_count": {"type": ["integer", "null"]}})}},
                ("enabled",))), **_errors()}),
        },
        "/session": {
            "get": _op("How this caller is signed in", {**_ok(_obj(
                {"via": {"enum": ["bearer", "cookie", "forward_auth"]},
                 "expires_at": {"type": ["integer", "null"]}}, ("via",))), **_errors()}),
            "post": _op("Exchange the admin token for a session cookie (no auth needed)", {
                **_ok(_obj({"expires_at": _INT, "lifetime_seconds": _INT}), "Signed in",
                      "201"), **_errors(400)}, security=[],
                requestBody=_body(_obj({"token": _STR, "lifetime_seconds": {
                    "type": "integer", "minimum": 60, "maximum": 86400}}, ("token",),
                    closed=True))),
            "delete": _op("Sign out (clears the cookie)", {**_ok(_obj({
                "signed_out": _BOOL}))}, security=[]),
        },
        "/events": {
            "get": _op("Live numbers, one 'stats' event a second (SSE): this node's at the "
                       "top level, the whole cluster's (summed, percentiles merged, each "
                       "node's own under 'nodes') under 'cluster'", {
                **_ok(_STR, media="text/event-stream"), **_errors()}),
        },
        "/openapi.json": {
            "get": _op("This document", {**_ok({"type": "object"}), **_errors()}),
        },
    }


def describe(base_path: str = "") -> dict[str, Any]:
    """The OpenAPI document for the admin API mounted at ``{base_path}/api/v1``."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "at-gateway admin API", "version": VERSION,
                 "description": "Every route needs the admin token (Bearer), a UI session "
                 "cookie (writes also need the header 'X-AT-CSRF: 1') or forward auth."},
        "servers": [{"url": f"{base_path}/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "at_session"}},
            "schemas": SCHEMAS,
        },
        "paths": _paths(),
    }


async def openapi(request: web.Request) -> web.Response:
    return json_response(describe(request.config_dict[GATEWAY].settings.server.base_path))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/openapi.json", openapi)
