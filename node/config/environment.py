"""The environment: ``${VAR}`` expansion, the ``AT_*`` overlay and the config file's path.

This module is the only reader of ``os.environ``; everything else receives a mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from node.config.schema import ProviderSection, Settings
from node.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# AT_* variables that are not config keys: the config file's path.
NOT_CONFIG_ENV = frozenset({"AT_CONFIG_FILE"})


def process_environment() -> dict[str, str]:
    """A copy of the process environment (read here and nowhere else)."""
    return dict(os.environ)


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


def _env_value(name: str, value: str, kind: Any) -> Any:
    """Environment values are strings; lists are comma separated, mappings are YAML."""
    origin = getattr(kind, "__origin__", None)
    if origin is list:
        return [part.strip() for part in value.split(",") if part.strip()]
    if origin is dict or _struct_of(kind) is not None:
        try:
            parsed = yaml.safe_load(value) if value.strip() else {}
        except yaml.YAMLError as exc:
            # The value may hold a secret (headers, keys): name the problem, never quote it.
            problem = getattr(exc, "problem", None) or "cannot be parsed"
            raise ConfigError(f"{name}: not valid YAML: {problem}") from None
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
        node[path[-1]] = _env_value(name, env[name], _fields(struct).get(path[-1], str))
    return tree


def config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """``--config``, else ``$AT_CONFIG_FILE``, else ``./at.yaml`` if present, else None."""
    if explicit:
        return Path(explicit)
    if env.get("AT_CONFIG_FILE"):
        return Path(env["AT_CONFIG_FILE"])
    default = Path("at.yaml")
    return default if default.exists() else None
