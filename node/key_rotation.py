"""Key rotation as the admin API runs it: lock, rotate in the store, tell the peers.

The work runs in a task owned by the node, not by the HTTP request: a client that disconnects
mid-rotation does not stop it (the caller awaits it through ``asyncio.shield``). The cluster
lock is advisory; the store's compare-and-set on the active key version is the fence.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from node.errors import Conflict
from store import NOTIFY_FAULT, maybe_fault

if TYPE_CHECKING:
    from node.gateway import Gateway

log = structlog.get_logger("node.key_rotation")
LOCK_NAME = "encryption-key-rotation"
LOCK_LEASE_SECONDS = 60.0


async def rotate(gateway: Gateway, passphrase: str | None) -> dict[str, Any]:
    """Run one rotation to completion and describe it (version, count, peer acks)."""
    if gateway.rotation_lock.locked():
        raise Conflict("A key rotation is already running on this node")
    task = gateway.spawn(_rotate(gateway, passphrase), name="rotate-key")
    return await asyncio.shield(task)


async def _rotate(gateway: Gateway, passphrase: str | None) -> dict[str, Any]:
    async with gateway.rotation_lock:
        cluster = gateway.cluster
        if cluster is None:
            result = await gateway.store.rotate_key(passphrase)
            acks: dict[str, bool] = {}
        else:
            async with cluster.lock(LOCK_NAME, lease=LOCK_LEASE_SECONDS):
                result = await gateway.store.rotate_key(passphrase)
                # Test hook (store.rotation_fault: before-notify): die after the database
                # committed but before any peer heard.
                maybe_fault(NOTIFY_FAULT, gateway.settings.store.rotation_fault or None)
                acks = await cluster.notify_key(result.version)
    log.info(
        "encryption key rotated",
        version=result.version,
        reencrypted=result.reencrypted,
        encrypted=result.encrypted,
        complete=result.complete,
        peers=acks,
    )
    return {
        "version": result.version,
        "reencrypted": result.reencrypted,
        "encrypted": result.encrypted,
        # False: the new key is active, but some rows are still under an older one (they
        # stay readable and move at the next rotation or start)
        "complete": result.complete,
        "peers": acks,
    }
