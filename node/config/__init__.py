"""Configuration: at.yaml, ``AT_*`` environment overrides and ``${VAR}`` expansion.

One package, one job per module: :mod:`~node.config.schema` (the structs),
:mod:`~node.config.environment` (``${VAR}``, ``AT_*``, the only reader of ``os.environ``),
:mod:`~node.config.loading` (file -> :class:`Settings`, one-line errors) and
:mod:`~node.config.wiring` (Settings -> the other packages' config objects).
"""

from __future__ import annotations

from node.config.environment import apply_env, config_path, expand_vars
from node.config.loading import (
    load_settings,
    load_settings_for,
    parse_provider,
    parse_route,
    parse_settings,
)
from node.config.schema import (
    ClusterSection,
    Duration,
    ForwardAuth,
    ProviderSection,
    RouteSection,
    RouteTarget,
    ServerSection,
    Settings,
    StoreSection,
    parse_duration,
    to_plain,
)
from node.config.wiring import cluster_config, store_config
from node.errors import ConfigError

__all__ = [
    "ClusterSection",
    "ConfigError",
    "Duration",
    "ForwardAuth",
    "ProviderSection",
    "RouteSection",
    "RouteTarget",
    "ServerSection",
    "Settings",
    "StoreSection",
    "apply_env",
    "cluster_config",
    "config_path",
    "expand_vars",
    "load_settings",
    "load_settings_for",
    "parse_duration",
    "parse_provider",
    "parse_route",
    "parse_settings",
    "store_config",
    "to_plain",
]
