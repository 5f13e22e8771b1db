"""First start on an empty store: mint an admin token (unless configured) and a first key.

Both are printed once, to the terminal, and only their SHA-256 is stored. When several nodes
of a cluster start together on one empty database, ``put_setting(only_if_absent=True)`` lets
exactly one of them mint each secret; the others print nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from node.key_index import DISPLAY_PREFIX_LEN, hash_key, new_key, new_key_id
from store import ApiKeyRecord, Store

ADMIN_TOKEN_SETTING = "admin_token_sha256"  # noqa: S105 - a setting name
FIRST_KEY_SETTING = "first_key_created"


async def bootstrap(store: Store, *, admin_token_configured: bool,
                    say: Callable[[str], None]) -> None:
    """Create what a fresh store needs; say each secret once."""
    lines: list[str] = []
    if not admin_token_configured:
        token = "atadm-" + secrets.token_urlsafe(32)
        if await store.put_setting(ADMIN_TOKEN_SETTING, hash_key(token), only_if_absent=True):
            lines.append(f"  admin token (for /api/v1, shown once): {token}")
    if await store.put_setting(FIRST_KEY_SETTING, datetime.now(UTC).isoformat(),
                               only_if_absent=True):
        key = new_key()
        await store.create_api_key(
            ApiKeyRecord(
                id=new_key_id(), name="default", key_hash=hash_key(key),
                prefix=key[:DISPLAY_PREFIX_LEN], providers=None, models=None,
                expires_at=None, enabled=True, created_at=datetime.now(UTC),
            )
        )
        lines.append(f"  gateway API key 'default' (shown once): {key}")
    if lines:
        say("\n".join(["at-gateway: first start on this store; keep these now:", *lines]))
