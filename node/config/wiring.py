"""Turn the node's validated settings into the other packages' own config objects.

Rules the other packages own (cluster ports and secret, provider types and proxy schemes) are
stated there; their errors are reported here as the node's one-line :class:`ConfigError`.
"""

from __future__ import annotations

from cluster import ClusterConfig
from cluster import ConfigError as ClusterConfigError
from node.config.schema import ClusterSection, ProviderSection, Settings, to_plain
from node.config.secrets import redact_message
from node.errors import ConfigError
from providers import ClientPool, InvalidConfig, Provider, ProviderConfig, build_provider
from store import ConfigError as StoreConfigError
from store import StoreConfig

MOCK_DEFAULT_MODEL = "mock-1"


def store_config(settings: Settings) -> StoreConfig:
    """``store.memory`` / ``store.postgres`` / ``store.sqlite``; SQLite at ./at.db by default."""
    try:
        return _store_config(settings)
    except StoreConfigError as exc:
        raise ConfigError(f"store.{exc}") from None


def _store_config(settings: Settings) -> StoreConfig:
    section = settings.store
    fault = section.rotation_fault or None
    passphrase = section.encryption_key
    if section.memory is not None:
        return StoreConfig(kind="memory", encryption_key=passphrase, rotation_fault=fault)
    if section.postgres is not None:
        pg = section.postgres
        return StoreConfig(
            kind="postgres",
            datasource=pg.datasource,
            schema=pg.schema,
            table_prefix=pg.table_prefix,
            conn_max_lifetime=float(pg.conn_max_lifetime),
            max_idle_conns=pg.max_idle_conns,
            max_open_conns=pg.max_open_conns,
            encryption_key=passphrase,
            rotation_fault=fault,
        )
    sqlite = section.sqlite
    return StoreConfig(
        kind="sqlite",
        datasource=sqlite.datasource if sqlite else "at.db",
        table_prefix=sqlite.table_prefix if sqlite else "at_",
        encryption_key=passphrase,
        rotation_fault=fault,
    )


def cluster_config(settings: Settings) -> ClusterConfig | None:
    """The cluster section (``cluster`` or AT's ``server.alan``), None when not clustered."""
    section = settings.cluster_section
    if section is None:
        return None
    try:
        return _cluster_config(section)
    except ClusterConfigError as exc:
        raise ConfigError(str(exc)) from None


def _cluster_config(section: ClusterSection) -> ClusterConfig:
    return ClusterConfig(
        dns_addr=section.dns_addr,
        dns_server=section.dns_server,
        peers=tuple(section.peers),
        bind_addr=section.bind_addr,
        advertise=section.advertise,
        port=section.port,
        raft_port=section.raft_port,
        replicas=section.replicas,
        security_enabled=section.security.enabled,
        security_key=section.security.key,
        reconcile_interval=float(section.reconcile_interval),
        dns_interval=float(section.dns_interval),
    )


def provider_config(key: str, section: ProviderSection) -> ProviderConfig:
    """The providers package's config for one provider (its own rules are checked here)."""
    try:
        return ProviderConfig(
            key=key,
            type=section.type,
            base_url=section.base_url,
            api_key=section.api_key,
            model=section.model or (MOCK_DEFAULT_MODEL if section.type == "mock" else ""),
            models=tuple(_served_names(section)),
            extra_headers=dict(section.extra_headers),
            proxy=section.proxy,
            api_version=section.api_version,
            timeout=float(section.timeout),
            connect_timeout=float(section.connect_timeout),
            max_tokens=section.max_tokens,
            max_output_tokens=section.max_output_tokens,
            credentials_file=section.credentials_file,
            responses_api=section.responses_api,
        )
    except InvalidConfig as exc:
        raise ConfigError(redact_message(str(exc), to_plain(section))) from None


def built_provider(key: str, section: ProviderSection, pool: ClientPool) -> Provider:
    """The adapter for one provider; building it is free of IO and checks everything."""
    config = provider_config(key, section)
    try:
        return build_provider(config, pool)
    except InvalidConfig as exc:
        raise ConfigError(redact_message(str(exc), to_plain(section))) from None


def _served_names(section: ProviderSection) -> list[str]:
    """``models`` entries without the ``=upstream`` part and without ``*`` patterns."""
    return [name for entry in section.models
            if not (name := entry.split("=", 1)[0].strip()).endswith("*")]
