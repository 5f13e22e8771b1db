"""The installed version of at-gateway."""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("at-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0+source"


VERSION = _version()
