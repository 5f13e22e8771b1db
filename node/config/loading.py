"""Loading: file -> ``${VAR}`` -> ``AT_*`` overlay -> validated :class:`Settings`.

Everything is validated once, at start, into frozen structs; a bad value raises
:class:`ConfigError` whose message is one line naming the key, the value and what was expected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml
from yarl import URL

from node.config.edge import check_audit, check_edge
from node.config.environment import apply_env, config_path, expand_vars, process_environment
from node.config.schema import (
    RETRY_KINDS,
    ROUTE_STRATEGIES,
    ProviderSection,
    RouteSection,
    ServerSection,
    Settings,
    checked_policy_fields,
    decode_custom,
)
from node.config.secrets import REDACTED, is_secret_provider_field, is_secret_setting
from node.config.telemetry import check_telemetry
from node.config.wiring import built_provider, cluster_config
from node.errors import ConfigError
from providers import ClientPool

PROVIDER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A route name is a model name clients send; no "/", so it never reads as provider/model.
ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_RETRIES = 10
_LABEL = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
REDIRECT_CODES = (302, 307)  # what node.admin.auth sends for each


def _lookup(tree: Any, dotted: str) -> Any:
    for part in filter(None, re.split(r"\.|\[(\d+)\]", dotted)):
        if isinstance(tree, dict):
            tree = tree.get(part)
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return None
    return tree


def _shown(key: str, value: Any, prefix: str) -> str:
    if value is None:
        return "missing"
    secret = (
        is_secret_provider_field(key[len(prefix) :].lstrip("."))
        if prefix.startswith("providers.")
        else is_secret_setting(key)
    )
    if secret:
        return REDACTED
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:57]}..."  # one readable line


def _convert(tree: Any, kind: type[Any], prefix: str) -> Any:
    try:
        return msgspec.convert(tree, kind, strict=False, dec_hook=decode_custom)
    except msgspec.ValidationError as exc:
        text = str(exc)
        reason, _, where = text.rpartition(" - at `")
        if not reason:
            reason, where = text, "$`"
        key = prefix + where.rstrip("`").removeprefix("$")
        unknown = re.match(r"Object contains unknown field `(.+)`", reason)
        if unknown:
            key = f"{key}.{unknown.group(1)}".lstrip(".")
            raise ConfigError(f"{key}: unknown key (check the spelling)") from None
        missing = re.match(r"Object missing required field `(.+)`", reason)
        if missing:
            key = f"{key}.{missing.group(1)}".lstrip(".")
            raise ConfigError(f"{key}: missing: this key is required") from None
        key = key.lstrip(".") or "config"
        value = _lookup(tree, key[len(prefix.lstrip(".")) :].lstrip(".") if prefix else key)
        shown = _shown(key, value, prefix.lstrip("."))
        raise ConfigError(f"{key}: {shown} is not valid: {reason}") from None


def parse_settings(tree: Any) -> Settings:
    """Validate a parsed (and env-overlaid) tree into :class:`Settings`."""
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(tree).__name__}")
    providers_tree = tree.get("providers") or {}
    if not isinstance(providers_tree, dict):
        raise ConfigError("providers: expected a mapping of provider key to settings")
    providers = {str(key): parse_provider(str(key), entry) for key, entry in providers_tree.items()}
    routes_tree = tree.get("routes") or {}
    if not isinstance(routes_tree, dict):
        raise ConfigError("routes: expected a mapping of served model name to route")
    routes = {str(name): parse_route(str(name), entry, providers)
              for name, entry in routes_tree.items()}
    settings: Settings = _convert({**tree, "providers": {}, "routes": {}}, Settings, "")
    settings = msgspec.structs.replace(settings, providers=providers, routes=routes)
    _check(settings)
    return settings


def parse_provider(key: str, tree: Any) -> ProviderSection:
    """Validate one provider's settings (from at.yaml, the environment or the admin API).

    The schema is checked here and the rest by building the adapter, which is free of IO, so
    a provider that passes can be stored and served.
    """
    if not PROVIDER_KEY.match(key):
        raise ConfigError(
            f"providers.{key}: the provider key is not valid: expected 1-64 letters, digits, _ . -"
        )
    tree = checked_policy_fields(key, tree)
    section: ProviderSection = _convert(tree, ProviderSection, f"providers.{key}")
    built_provider(key, section, ClientPool())
    return section


def parse_route(name: str, tree: Any, providers: Collection[str] | None) -> RouteSection:
    """Validate one route (from at.yaml or the admin API); errors name ``routes.<name>...``.

    ``providers``: the provider keys its targets may name (None: not checked, for a stored
    route read back, whose targets the route table checks against the live catalog).
    """
    where = f"routes.{name}"
    if not ROUTE_NAME.match(name):
        raise ConfigError(f"{where}: the route name is not valid: expected 1-128 letters, "
                          "digits, _ . : - (no /)")
    if providers is not None and name in providers:
        raise ConfigError(f"{where}: the name is a provider key too: a route name must not "
                          "collide with a provider")
    if not isinstance(tree, dict):
        raise ConfigError(f"{where}: expected a mapping with targets, strategy, retries, "
                          "retry_on, timeout, cooldown")
    retry_on = tree.get("retry_on")
    if retry_on is not None:
        if not isinstance(retry_on, list):
            raise ConfigError(f"{where}.retry_on: expected a list of {', '.join(RETRY_KINDS)}")
        # YAML reads a bare 429 as a number.
        tree = {**tree, "retry_on": [str(kind) for kind in retry_on]}
        for i, kind in enumerate(retry_on):
            if str(kind) not in RETRY_KINDS or isinstance(kind, bool):
                raise ConfigError(f"{where}.retry_on[{i}]: {kind!r} is not valid: expected "
                                  f"one of {', '.join(RETRY_KINDS)}")
    section: RouteSection = _convert(tree, RouteSection, where)
    _check_route(where, section, providers)
    return section


def _check_route(where: str, route: RouteSection, providers: Collection[str] | None) -> None:
    if route.strategy not in ROUTE_STRATEGIES:
        raise ConfigError(f"{where}.strategy: {route.strategy!r} is not valid: expected one "
                          f"of {', '.join(ROUTE_STRATEGIES)}")
    if not route.targets:
        raise ConfigError(f"{where}.targets: empty: expected at least one target")
    if not 0 <= route.retries <= MAX_RETRIES:
        raise ConfigError(f"{where}.retries: {route.retries} is not valid: expected 0 to "
                          f"{MAX_RETRIES}")
    if route.cooldown <= 0:
        raise ConfigError(f"{where}.cooldown: {route.cooldown:g} is not valid: expected a "
                          "duration above 0")
    seen: set[str] = set()
    for i, target in enumerate(route.targets):
        at = f"{where}.targets[{i}]"
        head = target.model.partition("/")[0]
        if providers is not None and head not in providers:
            known = ", ".join(sorted(providers)) or "none configured"
            raise ConfigError(f"{at}.model: {target.model!r} names no provider: expected "
                              f"provider/model (providers: {known})")
        if target.model in seen:
            raise ConfigError(f"{at}.model: {target.model!r} is listed twice")
        seen.add(target.model)
        if not target.weight > 0 or target.weight == float("inf"):
            raise ConfigError(f"{at}.weight: {target.weight!r} is not valid: expected a "
                              "number above 0")
        if target.priority < 1:
            raise ConfigError(f"{at}.priority: {target.priority} is not valid: expected 1 or "
                              "more (1 is the first tier)")


def _check(settings: Settings) -> None:
    """Rules that types alone cannot say."""
    server = settings.server
    if not 0 < server.port < 65536:
        raise ConfigError(f"server.port: {server.port} is not valid: expected 1-65535")
    if server.base_path and (
        not server.base_path.startswith("/") or server.base_path.endswith("/")
    ):
        raise ConfigError(
            f"server.base_path: {server.base_path!r} is not valid: "
            "expected a path like /at (leading slash, no trailing slash)"
        )
    if server.max_body_bytes < 1024:
        raise ConfigError(
            f"server.max_body_bytes: {server.max_body_bytes} is not valid: expected >= 1024"
        )
    if server.log_format not in {"auto", "json", "console"}:
        raise ConfigError(
            f"server.log_format: {server.log_format!r} is not valid: expected auto, json or console"
        )
    _check_server(server)
    check_edge(server.tls, {"server.cors": server.cors, "server.admin_cors": server.admin_cors},
               server.metrics_auth)
    check_audit(settings.audit)
    check_telemetry(settings.telemetry)
    store = settings.store
    chosen = [name for name in ("memory", "sqlite", "postgres") if getattr(store, name) is not None]
    if len(chosen) > 1:
        raise ConfigError(f"store: {' and '.join(chosen)} are both set: expected at most one")
    if server.workers is not None and not 1 <= server.workers <= 512:
        raise ConfigError(
            f"server.workers: {server.workers} is not valid: expected 1-512 (or unset: one "
            "per usable CPU)")
    if (server.workers or 1) > 1 and store.memory is not None:
        raise ConfigError(
            f"server.workers: {server.workers} needs a shared store: store.memory lives in one "
            "process; expected 1 with store.memory, or store.sqlite / store.postgres")
    # The cluster package states its own rules; building its config checks them.
    cluster_config(settings)


def _check_server(server: ServerSection) -> None:
    """The listening address, the log level and forward auth: each once failed only when
    used (a traceback at start, a silent default, a 500 on every admin request)."""
    if not _is_host(server.host):
        raise ConfigError(f"server.host: {server.host!r} is not valid: expected an IP address "
                          "or a host name")
    if server.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"server.log_level: {server.log_level!r} is not valid: expected one "
                          f"of {', '.join(LOG_LEVELS)}")
    forward = server.forward_auth
    where = "server.forward_auth"
    if forward.address:
        url = URL(forward.address) if "://" in forward.address else None
        if url is None or url.scheme not in ("http", "https") or not url.raw_host:
            raise ConfigError(f"{where}.address: {forward.address!r} is not valid: expected an "
                              "http:// or https:// URL")
    if forward.auth_response_headers_regex:
        try:
            re.compile(forward.auth_response_headers_regex)
        except re.error as exc:
            raise ConfigError(f"{where}.auth_response_headers_regex: not a valid regular "
                              f"expression: {exc}") from None
    if forward.redirect_code not in REDIRECT_CODES:
        raise ConfigError(f"{where}.redirect_code: {forward.redirect_code} is not valid: "
                          "expected 302 or 307")


def _is_host(host: str) -> bool:
    if not host:
        return True  # every interface, as 0.0.0.0
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return bool(HOST_NAME.match(host))
    return True


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the file (if any), expand ``${VAR}``, overlay ``AT_*`` and validate."""
    environ = process_environment() if env is None else dict(env)
    tree: Any = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
        try:
            tree = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise ConfigError(f"config: {path}{where} is not valid YAML: {problem}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"config: {path} must hold a mapping at the top level")
    tree = expand_vars(tree, environ)
    tree = apply_env(tree, environ)
    return parse_settings(tree)


def load_settings_for(explicit: str | None) -> Settings:
    """What ``atgw`` runs with: the chosen file (if any) and the process environment."""
    environ = process_environment()
    return load_settings(config_path(explicit, environ), environ)


