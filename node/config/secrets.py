"""Which configuration values are secret, derived from the store's one list.

``store.SECRET_FIELDS`` says which provider fields are encrypted at rest. The same list decides
what the admin API masks, what an update carries over, what a config error hides and which
values the log redactor removes, so a field added there is covered everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from node.config.schema import Settings, to_plain
from store import SECRET_FIELDS

REDACTED = "<redacted>"
# Secrets outside a provider's settings, by the last part of their key.
_SETTINGS_SECRETS = frozenset({
    "admin_token", "encryption_key", "key", "datasource", "password", "token"})


def provider_secret_paths() -> tuple[tuple[str, ...], ...]:
    """Paths of the secret fields of a provider; ``*`` is every key of a mapping."""
    return tuple(field.path for field in SECRET_FIELDS if field.table == "providers")


def provider_secret_fields() -> tuple[str, ...]:
    """The top-level provider fields that hold (or contain) a secret."""
    return tuple(dict.fromkeys(path[0] for path in provider_secret_paths()))


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], str]]:
    """(parent mapping, key) of every value at ``path``."""
    for parent, key, _ in _walk_from(node, path, ()):
        yield parent, key


def _walk_from(node: Any, path: tuple[str, ...], above: tuple[str, ...]
               ) -> Iterator[tuple[dict[str, Any], str, tuple[str, ...]]]:
    if not path or not isinstance(node, dict):
        return
    head, rest = path[0], path[1:]
    for key in list(node) if head == "*" else [head] if head in node else []:
        if rest:
            yield from _walk_from(node[key], rest, (*above, key))
        else:
            yield node, key, (*above, key)


def secret_slots(config: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, tuple[str, ...]]]:
    """(parent mapping, key, path) of every secret value in one provider's plain settings,
    the path naming that value (``("extra_headers", "X-Auth")``)."""
    for path in provider_secret_paths():
        yield from _walk_from(config, path, ())


def secret_at(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a concrete ``path`` of :func:`secret_slots`, or None."""
    node: Any = config
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def provider_secret_values(config: Mapping[str, Any]) -> list[str]:
    """Every non-empty secret string in one provider's plain settings."""
    return [
        parent[key]
        for path in provider_secret_paths()
        for parent, key in _walk(dict(config), path)
        if isinstance(parent[key], str) and parent[key]
    ]


def replace_secrets(config: Mapping[str, Any], fn: Callable[[str, str], str]) -> dict[str, Any]:
    """A copy of one provider's plain settings with ``fn(field, value)`` applied to secrets."""
    out: dict[str, Any] = {
        k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()
    }
    for path in provider_secret_paths():
        for parent, key in _walk(out, path):
            if isinstance(parent[key], str):
                parent[key] = fn(path[0], parent[key])
    return out


def is_secret_setting(dotted: str) -> bool:
    """Whether a key outside the providers (``server.admin_token``) names a secret."""
    return dotted.rsplit(".", 1)[-1] in _SETTINGS_SECRETS


def is_secret_provider_field(path: str) -> bool:
    """Whether a path inside one provider (``extra_headers.X-Auth``) names a secret."""
    # Anything under a secret field is secret; msgspec writes a mapping's value ``field[...]``.
    return re.split(r"[.\[]", path, maxsplit=1)[0] in provider_secret_fields()


def redact_message(message: str, config: Mapping[str, Any]) -> str:
    """``message`` without any secret value of ``config`` (e.g. a rejected proxy URL)."""
    for value in sorted(provider_secret_values(config), key=len, reverse=True):
        message = message.replace(repr(value), REDACTED)
        if len(value) >= 3:
            message = message.replace(value, REDACTED)
    return message


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value of the node's own settings: the admin token, the encryption key,
    the cluster key, ``/metrics`` credentials and each configured provider's secrets."""
    found = [settings.server.admin_token, settings.store.encryption_key]
    found += [value for section in settings.providers.values()
              for value in provider_secret_values(to_plain(section))]
    cluster = settings.cluster_section
    if cluster is not None:
        found.append(cluster.security.key)
    if settings.server.metrics_auth is not None:
        found += [settings.server.metrics_auth.password, settings.server.metrics_auth.token]
    return [value for value in found if value]
