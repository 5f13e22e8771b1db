"""The provider catalog: configured providers, built adapters, and model resolution.

Providers come from at.yaml and from the store; a stored provider overrides the YAML one with
the same key. The catalog lives in memory; admin changes and cluster change notices rebuild
single entries, so the request path never reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from node.config import ProviderSection, parse_provider, to_plain
from node.config.secrets import replace_secrets
from node.config.wiring import built_provider
from node.errors import ModelNotFound
from providers import ClientPool, Provider

MASK = "<set>"  # what the admin API shows for a secret; sent back, it means "keep it"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a requested model goes: the provider key, its adapter and the upstream model."""

    provider_key: str
    provider: Provider
    model: str


@dataclass(frozen=True, slots=True)
class Entry:
    section: ProviderSection
    provider: Provider
    source: str  # "yaml" or "store"
    aliases: Mapping[str, str]  # served name -> upstream model name
    patterns: tuple[tuple[str, str], ...] = ()  # (name prefix, upstream name or "" = as asked)

    def configured(self, model: str) -> bool:
        """True for a model name the configuration wrote down (not one a client made up and
        a pattern or ``provider/anything`` let through)."""
        return (model in self.aliases or model in self.aliases.values()
                or any(upstream == model for _, upstream in self.patterns))


def _aliases(
    section: ProviderSection, default: str
) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """``models`` entries are ``name``, ``alias=upstream-model``, or a pattern ending in
    ``*`` (``claude-*=deepseek-chat``: every name with that prefix; without ``=`` the name is
    sent as asked), so an agent's built-in model names need no configuration each."""
    out: dict[str, str] = {}
    patterns: list[tuple[str, str]] = []
    if default:
        out[default] = default
    for entry in section.models:
        name, _, upstream = entry.partition("=")
        name, upstream = name.strip(), upstream.strip()
        if name.endswith("*"):
            patterns.append((name[:-1], upstream))
        else:
            out[name] = upstream or name
    return out, tuple(patterns)


class Catalog:
    """Provider key -> adapter, plus model name lookup."""

    def __init__(self, pool: ClientPool) -> None:
        self._pool = pool
        self._yaml: dict[str, ProviderSection] = {}
        self._entries: dict[str, Entry] = {}
        self._bare: dict[str, Route] = {}
        self._patterns: list[tuple[str, str, Entry]] = []  # longest prefix first

    def load(
        self, yaml: Mapping[str, ProviderSection], stored: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Build every adapter; stored providers override YAML ones with the same key."""
        self._yaml = dict(yaml)
        entries = {key: self._build(key, section, "yaml") for key, section in yaml.items()}
        for key, config in stored.items():
            entries[key] = self._build(key, parse_provider(key, config), "store")
        self._entries = entries
        self._index()

    def set_stored(self, key: str, config: Mapping[str, Any] | None) -> None:
        """Apply one stored provider (None: deleted from the store, YAML shows through)."""
        if config is not None:
            self._entries[key] = self._build(key, parse_provider(key, config), "store")
        elif key in self._yaml:
            self._entries[key] = self._build(key, self._yaml[key], "yaml")
        else:
            self._entries.pop(key, None)
        self._index()

    def _build(self, key: str, section: ProviderSection, source: str) -> Entry:
        provider = built_provider(key, section, self._pool)
        # The default model as the providers package settled it (the mock's has one built in).
        aliases, patterns = _aliases(section, provider.config.model)
        return Entry(section, provider, source, aliases, patterns)

    def _index(self) -> None:
        bare: dict[str, Route] = {}
        patterns: list[tuple[str, str, Entry]] = []
        for key in sorted(self._entries):
            entry = self._entries[key]
            for name, upstream in entry.aliases.items():
                bare.setdefault(name, Route(key, entry.provider, upstream))
            patterns += [(prefix, key, entry) for prefix, _ in entry.patterns]
        self._bare = bare
        # Longest prefix wins; between equal prefixes the first provider key in order.
        self._patterns = sorted(patterns, key=lambda p: -len(p[0]))

    def entries(self) -> Mapping[str, Entry]:
        return self._entries

    def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def resolve(self, name: str) -> Route:
        """``provider_key/model`` (split at the first ``/``), a bare served name or alias, or
        a bare provider key (its default model)."""
        head, sep, tail = name.partition("/")
        if sep:
            entry = self._entries.get(head)
            if entry is not None:
                if not tail:
                    return Route(head, entry.provider, self._default(head, entry))
                model = entry.aliases.get(tail) or _matched(entry, tail) or tail
                return Route(head, entry.provider, model)
        route = self._bare.get(name)
        if route is not None:
            return route
        for prefix, key, entry in self._patterns:
            if name.startswith(prefix):
                return Route(key, entry.provider, _matched(entry, name) or name)
        entry = self._entries.get(name)
        if entry is not None:
            return Route(name, entry.provider, self._default(name, entry))
        raise ModelNotFound(
            f"The model '{name}' does not exist: use provider/model "
            f"(providers: {', '.join(sorted(self._entries)) or 'none configured'})",
            param="model",
        )

    def _default(self, key: str, entry: Entry) -> str:
        default = next(iter(entry.aliases), "")
        if not default:
            raise ModelNotFound(
                f"Provider '{key}' has no default model: ask for '{key}/<model>'", param="model"
            )
        return default

    def metric_label(self, provider_key: str, model: str) -> str:
        """``provider/model`` for a configured model, ``provider/other`` otherwise: metric
        label sets must not grow with every name a client invents."""
        entry = self._entries.get(provider_key)
        if entry is not None and entry.configured(model):
            return f"{provider_key}/{model}"
        return f"{provider_key}/other"

    def model_ids(self) -> Iterable[tuple[str, str, str]]:
        """(id, provider key, provider type) for every served model, ``provider/model``."""
        for key in sorted(self._entries):
            entry = self._entries[key]
            for name in entry.aliases:
                yield f"{key}/{name}", key, entry.section.type


def _matched(entry: Entry, name: str) -> str:
    """The upstream model of the longest pattern of ``entry`` matching ``name`` ("" if none
    matches or the pattern keeps the asked name)."""
    best = ""
    found = ""
    for prefix, upstream in entry.patterns:
        if name.startswith(prefix) and len(prefix) >= len(best):
            best, found = prefix, upstream or name
    return found


def provider_public(entry: Entry) -> dict[str, Any]:
    """A provider as the admin API shows it: every secret field replaced by a marker.

    A proxy is shown without its credentials, so where traffic goes stays visible.
    """
    data = replace_secrets(to_plain(entry.section), mask_secret)
    data["source"] = entry.source
    return data


def mask_secret(field: str, value: str) -> str:
    """How the admin API shows one secret value (``MASK``; a proxy keeps its host)."""
    if not value:
        return value
    if field == "proxy":
        if "@" not in value:
            return value
        scheme, _, rest = value.partition("://")
        return f"{scheme}://{MASK}@{rest.rpartition('@')[2]}"
    return MASK
