"""The dialect tests' fixtures (a fake upstream of each type, a node in front of it)."""

from __future__ import annotations

from tests.dialects.conftest import node_for, upstream

__all__ = ["node_for", "upstream"]
