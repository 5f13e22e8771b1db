"""Configuration: at.yaml, ``AT_*`` environment overrides and ``${VAR}`` expansion.

This module is the only reader of the environment and of the config file. Everything is
validated once, at start, into frozen structs; a bad value raises :class:`ConfigError` whose
message is one line naming the key, the value and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from node.errors import ConfigError
from providers import PROVIDER_TYPES

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PROVIDER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# AT_* variables that are not config keys: the config file's path.
NOT_CONFIG_ENV = frozenset({"AT_CONFIG_FILE"})
SECRET_KEYS = frozenset({"api_key", "admin_token", "encryption_key", "key", "datasource"})


class Duration(float):
    """Seconds, written in the file as ``30s``, ``15m``, ``1h``, ``250ms`` or a plain number."""


class _Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ForwardAuth(_Struct, frozen=True):
    """Delegate admin authentication to an external service (Traefik-style forward auth)."""

    address: str = ""
    auth_request_headers: list[str] = []
    auth_response_headers: list[str] = []
    auth_response_headers_regex: str = ""
    trust_forward_header: bool = False
    insecure_skip_verify: bool = False
    timeout: Duration = Duration(10)
    request_method: str = "GET"
    redirect_url: str = ""
    redirect_code: int = 302
    redirect_status_codes: list[int] = msgspec.field(default_factory=lambda: [401])


class ClusterSecurity(_Struct, frozen=True):
    enabled: bool = True
    key: str = ""


class ClusterSection(_Struct, frozen=True):
    dns_addr: str = ""
    dns_server: str = ""
    peers: list[str] = []
    bind_addr: str = "0.0.0.0"
    advertise: str = ""
    port: int = 5000
    raft_port: int = 5001
    replicas: int = 3
    security: ClusterSecurity = ClusterSecurity()
    reconcile_interval: Duration = Duration(5)
    dns_interval: Duration = Duration(5)


class ServerSection(_Struct, frozen=True):
    host: str = "0.0.0.0"
    port: int = 8080
    base_path: str = ""
    admin_token: str = ""
    forward_auth: ForwardAuth = ForwardAuth()
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "info"
    log_format: str = "auto"
    usage_flush_interval: Duration = Duration(2)
    stream_keepalive: Duration = Duration(15)
    shutdown_timeout: Duration = Duration(30)
    alan: ClusterSection | None = None


class ProviderSection(_Struct, frozen=True):
    type: str
    api_key: str = ""
    base_url: str = ""
    model: str = ""
    models: list[str] = []
    extra_headers: dict[str, str] = {}
    proxy: str = ""
    api_version: str = ""
    timeout: Duration = Duration(600)
    connect_timeout: Duration = Duration(10)
    max_tokens: int = 4096
    max_output_tokens: int = 0
    credentials_file: str = ""


class SqliteSection(_Struct, frozen=True):
    datasource: str = "at.db"
    table_prefix: str = "at_"


class PostgresSection(_Struct, frozen=True):
    datasource: str
    schema: str = ""
    table_prefix: str = "at_"
    conn_max_lifetime: Duration = Duration(900)
    max_idle_conns: int = 3
    max_open_conns: int = 3


class StoreSection(_Struct, frozen=True):
    encryption_key: str = ""
    memory: dict[str, Any] | None = None
    sqlite: SqliteSection | None = None
    postgres: PostgresSection | None = None
    # Test-only: a key rotation on this node exits 137 at this step (store.faults); "" = off.
    rotation_fault: str = ""


class Settings(_Struct, frozen=True):
    """The whole validated configuration of one node."""

    server: ServerSection = ServerSection()
    providers: dict[str, ProviderSection] = {}
    store: StoreSection = StoreSection()
    cluster: ClusterSection | None = None

    @property
    def cluster_section(self) -> ClusterSection | None:
        """``cluster``, or AT's name for it, ``server.alan``; None when not clustered."""
        section = self.cluster or self.server.alan
        if section is None or not (section.dns_addr or section.peers):
            return None
        return section


def _decode_custom(kind: type, value: Any) -> Any:
    if kind is Duration:
        return parse_duration(value)
    raise NotImplementedError


def parse_duration(value: Any) -> Duration:
    """Turn ``15m``/``30s``/``1.5h``/``250ms``/``42`` into seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 15m, 1h or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a duration that is not negative")
        return Duration(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a duration like 30s, 15m, 1h or a number of seconds")
    return Duration(float(match.group(1)) * _UNITS[match.group(2)])


def expand_vars(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{path or 'config'}: ${{{name}}} is not set in the environment "
                f"(set it, or write ${{{name}:-default}})"
            )

        return _VAR.sub(substitute, value)
    if isinstance(value, dict):
        return {k: expand_vars(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_vars(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _fields(struct: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(struct)}


def _struct_of(kind: Any) -> type[msgspec.Struct] | None:
    """The Struct class in ``kind`` (unwrapping ``X | None``), or None."""
    if getattr(kind, "__origin__", None) in (dict, list):
        return None
    for candidate in (kind, *getattr(kind, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _env_path(struct: type[msgspec.Struct], words: list[str], tree: Mapping[str, Any]) -> list[str]:
    """Map ``["SERVER", "BASE", "PATH"]`` onto the schema: ``["server", "base_path"]``.

    Field names contain underscores, so the split is searched against the schema; provider
    keys (free-form) prefer keys already present in the file.
    """
    fields = _fields(struct)
    for cut in range(len(words), 0, -1):
        name = "_".join(words[:cut]).lower()
        if name not in fields:
            continue
        rest = words[cut:]
        if not rest:
            return [name]
        inner = _struct_of(fields[name])
        if inner is not None:
            found = _env_path(inner, rest, tree.get(name) or {})
            if found:
                return [name, *found]
        elif name == "providers":
            found = _provider_env_path(rest, tree.get("providers") or {})
            if found:
                return [name, *found]
    return []


def _provider_env_path(words: list[str], providers: Mapping[str, Any]) -> list[str]:
    known = {str(k).upper(): str(k) for k in providers}
    cuts = range(1, len(words))
    # A key already in the file wins; otherwise the shortest key that leaves a valid field,
    # so AT_PROVIDERS_X_CONNECT_TIMEOUT is x.connect_timeout, not x_connect.timeout.
    for want_known in (True, False):
        for cut in cuts:
            upper = "_".join(words[:cut])
            if (upper in known) != want_known:
                continue
            rest = _env_path(ProviderSection, words[cut:], {})
            if rest:
                return [known.get(upper, upper.lower()), *rest]
    return []


def _env_value(value: str, kind: Any) -> Any:
    """Environment values are strings; lists are comma separated, mappings are YAML."""
    origin = getattr(kind, "__origin__", None)
    if origin is list:
        return [part.strip() for part in value.split(",") if part.strip()]
    if origin is dict or _struct_of(kind) is not None:
        parsed = yaml.safe_load(value) if value.strip() else {}
        return parsed if parsed is not None else {}
    return value


def apply_env(tree: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Overlay every ``AT_<PATH>`` variable onto the parsed file."""
    for name in sorted(env):
        if not name.startswith("AT_") or name in NOT_CONFIG_ENV:
            continue
        path = _env_path(Settings, name[3:].split("_"), tree)
        if not path:
            raise ConfigError(f"{name}: does not name a config key (e.g. AT_SERVER_PORT)")
        node: dict[str, Any] = tree
        kind: Any = Settings
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
            struct = _struct_of(kind)
            kind = _fields(struct)[part] if struct is not None else ProviderSection
        struct = _struct_of(kind) or ProviderSection
        node[path[-1]] = _env_value(env[name], _fields(struct).get(path[-1], str))
    return tree


def _lookup(tree: Any, dotted: str) -> Any:
    for part in filter(None, re.split(r"\.|\[(\d+)\]", dotted)):
        if isinstance(tree, dict):
            tree = tree.get(part)
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return None
    return tree


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "missing"
    if key.rsplit(".", 1)[-1] in SECRET_KEYS:
        return "<redacted>"
    return repr(value)


def _convert(tree: Any, kind: type[Any], prefix: str) -> Any:
    try:
        return msgspec.convert(tree, kind, strict=False, dec_hook=_decode_custom)
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
        raise ConfigError(f"{key}: {_shown(key, value)} is not valid: {reason}") from None


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
    settings: Settings = _convert({**tree, "providers": {}}, Settings, "")
    settings = msgspec.structs.replace(settings, providers=providers)
    _check(settings)
    return settings


def parse_provider(key: str, tree: Any) -> ProviderSection:
    """Validate one provider's settings (from at.yaml, the environment or the admin API)."""
    if not PROVIDER_KEY.match(key):
        raise ConfigError(
            f"providers.{key}: the provider key is not valid: expected 1-64 letters, digits, _ . -"
        )
    section: ProviderSection = _convert(tree, ProviderSection, f"providers.{key}")
    if section.type not in PROVIDER_TYPES:
        raise ConfigError(
            f"providers.{key}.type: {section.type!r} is not valid: expected one of "
            + ", ".join(sorted(PROVIDER_TYPES))
        )
    if section.proxy and section.proxy.split("://", 1)[0] not in {"http", "https", "socks5"}:
        raise ConfigError(
            f"providers.{key}.proxy: is not valid: expected an http://, https:// or socks5:// URL"
        )
    return section


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
    store = settings.store
    chosen = [name for name in ("memory", "sqlite", "postgres") if getattr(store, name) is not None]
    if len(chosen) > 1:
        raise ConfigError(f"store: {' and '.join(chosen)} are both set: expected at most one")
    _check_cluster(settings.cluster_section)


def _check_cluster(cluster: ClusterSection | None) -> None:
    if cluster is None:
        return
    if cluster.replicas < 1:
        raise ConfigError(f"cluster.replicas: {cluster.replicas} is not valid: expected >= 1")
    for name in ("port", "raft_port"):
        port = getattr(cluster, name)
        if not 0 < port < 65536:
            raise ConfigError(f"cluster.{name}: {port} is not valid: expected 1-65535")
    if cluster.port == cluster.raft_port:
        raise ConfigError("cluster.raft_port: must differ from cluster.port")
    if cluster.security.enabled and not cluster.security.key:
        raise ConfigError(
            "cluster.security.key: missing: a clustered node needs a shared secret "
            "(set AT_CLUSTER_SECURITY_KEY)"
        )




def config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """``--config``, else ``$AT_CONFIG_FILE``, else ``./at.yaml`` if present, else None."""
    if explicit:
        return Path(explicit)
    if env.get("AT_CONFIG_FILE"):
        return Path(env["AT_CONFIG_FILE"])
    default = Path("at.yaml")
    return default if default.exists() else None


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the file (if any), expand ``${VAR}``, overlay ``AT_*`` and validate."""
    environ = dict(os.environ if env is None else env)
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
    return load_settings(config_path(explicit, os.environ), os.environ)


def to_plain(section: msgspec.Struct) -> dict[str, Any]:
    """A section as plain JSON-able data (durations become seconds)."""
    data: dict[str, Any] = msgspec.to_builtins(section, enc_hook=float)
    return data
