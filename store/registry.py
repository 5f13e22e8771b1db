"""The one registry of secret fields: what is encrypted at rest, used by writes and rotation.

A field is a path inside a stored JSON document; ``*`` stands for every key of a mapping
(e.g. every ``extra_headers`` value). Add a field here and both writes and every rotation
(new data key, new passphrase, encryption off/on) cover it; the test suite builds a
document from this list and checks each entry is encrypted in the raw table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SecretField:
    """A secret inside the JSON column of ``table``, addressed by ``path``."""

    table: str
    path: tuple[str, ...]


SECRET_FIELDS: tuple[SecretField, ...] = (
    SecretField("providers", ("api_key",)),
    SecretField("providers", ("extra_headers", "*")),
    SecretField("providers", ("proxy",)),
    SecretField("providers", ("credentials_file",)),
)

# (column label, value) -> new value; the column label is the dotted path with "*" resolved.
Transform = Callable[[str, str], str]


def _walk(node: Any, path: tuple[str, ...], label: str) -> Iterator[tuple[Any, str, str]]:
    """Yield (parent mapping, key, column label) for every string at ``path`` under node."""
    if not path or not isinstance(node, dict):
        return
    head, rest = path[0], path[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        col = f"{label}.{key}" if label else str(key)
        if rest:
            yield from _walk(node[key], rest, col)
        elif isinstance(node[key], str):
            yield node, key, col


def transform(table: str, document: Mapping[str, Any], fn: Transform) -> dict[str, Any]:
    """A deep copy of ``document`` with ``fn`` applied to every registered secret."""
    out: dict[str, Any] = copy.deepcopy(dict(document))
    for field in SECRET_FIELDS:
        if field.table != table:
            continue
        for parent, key, column in list(_walk(out, field.path, "")):
            parent[key] = fn(column, parent[key])
    return out


def secret_values(table: str, document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (column label, stored value) of registered secrets in ``document``."""
    found: list[tuple[str, str]] = []
    for field in SECRET_FIELDS:
        if field.table == table:
            found.extend((col, parent[key]) for parent, key, col in
                         _walk(dict(document), field.path, ""))
    return found
