"""Raw-table assertions shared by the encryption tests (plain SQL, no store code)."""

from __future__ import annotations

import json
from typing import Any

from store import StoreConfig

from .conftest import raw_rows


async def snapshot(config: StoreConfig) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table, for before/after comparisons."""
    tables = (
        "schema_version",
        "providers",
        "api_keys",
        "settings",
        "usage",
        "key_state",
        "kdf",
        "keyring",
        "key_wraps",
    )
    return {t: sorted(await raw_rows(config, t), key=repr) for t in tables}


async def assert_no_plaintext(config: StoreConfig, secrets: list[str]) -> None:
    """No secret appears anywhere in the raw database tables."""
    dump = repr(await snapshot(config))
    for secret in secrets:
        assert secret not in dump, f"{secret!r} stored in plaintext"


async def assert_consistent(config: StoreConfig) -> int:
    """Keyring invariants after a completed rotation; returns the active version."""
    (state,) = await raw_rows(config, "key_state")
    _, _, active, kek_id = state
    ring = {row[0]: row[2] for row in await raw_rows(config, "keyring")}
    assert "pending" not in ring.values(), ring
    actives = [v for v, s in ring.items() if s == "active"]
    assert actives == ([active] if active else []), (ring, active)
    assert all(s == "retired" for v, s in ring.items() if v != active), ring
    kdf = {row[0]: row[4] for row in await raw_rows(config, "kdf")}
    assert [k for k, s in kdf.items() if s == "active"] == ([kek_id] if kek_id else []), kdf
    assert "pending" not in kdf.values()
    wraps = {(row[0], row[1]) for row in await raw_rows(config, "key_wraps")}
    assert wraps == ({(active, kek_id)} if active else set()), wraps
    for key, doc, version, *_ in await raw_rows(config, "providers"):
        assert version == active, (key, version, active)
        assert ("enc:v1:" in doc) == (active != 0 and _has_secret(json.loads(doc)))
    return int(active)


def _has_secret(doc: dict[str, Any]) -> bool:
    return any(k in doc for k in ("api_key", "proxy", "extra_headers"))
