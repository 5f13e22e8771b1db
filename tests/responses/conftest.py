"""Fixtures of the Responses tests: the dialect tests' fake upstreams and node builder."""

from __future__ import annotations

from tests.dialects.conftest import node_for, upstream

__all__ = ["node_for", "upstream"]
