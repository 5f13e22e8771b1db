"""Cluster membership for at-gateway nodes: discovery, Raft locks and a sealed peer bus.

Public face::

    from cluster import ClusterAgent, ClusterConfig, ClusterHooks, NoQuorum, LockBusy

See ``agent.py`` for the lifecycle and ``hooks.py`` for what the node implements.
"""

from cluster.agent import ClusterAgent
from cluster.config import ClusterConfig, Peer, parse_peer
from cluster.discovery import Discovery, DnsDiscovery, StaticDiscovery
from cluster.errors import (
    BusError,
    ClusterError,
    ConfigError,
    DiscoveryError,
    LockBusy,
    NoQuorum,
    SealError,
)
from cluster.hooks import ClusterHooks

__all__ = [
    "BusError",
    "ClusterAgent",
    "ClusterConfig",
    "ClusterError",
    "ClusterHooks",
    "ConfigError",
    "Discovery",
    "DiscoveryError",
    "DnsDiscovery",
    "LockBusy",
    "NoQuorum",
    "Peer",
    "SealError",
    "StaticDiscovery",
    "parse_peer",
]
