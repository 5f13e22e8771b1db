"""The gateway process: config, app factory, routes, middleware and the ``atgw`` CLI."""

from node.app import create_app
from node.config import Settings, load_settings
from node.errors import ConfigError, NodeError

__all__ = ["ConfigError", "NodeError", "Settings", "create_app", "load_settings"]
