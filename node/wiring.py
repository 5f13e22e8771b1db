"""Turn the node's validated settings into the other packages' own config objects."""

from __future__ import annotations

from cluster import ClusterConfig
from cluster import ConfigError as ClusterConfigError
from node.config import ClusterSection, Settings
from node.errors import ConfigError
from store import ConfigError as StoreConfigError
from store import StoreConfig


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
