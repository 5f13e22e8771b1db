"""Fixtures of the Responses tests: the dialect tests' fake upstreams and node builder, and
the store tests' backends (memory, SQLite, Postgres)."""

from __future__ import annotations

from tests.dialects.conftest import node_for, upstream
from tests.store.conftest import backend, config_for, store

__all__ = ["backend", "config_for", "node_for", "store", "upstream"]
