"""Key rotation as a resumable state machine; every step is one transaction fenced by a
compare-and-set on ``key_state.epoch``.

Steps (``fault=`` names in brackets)::

    drop a stale pending key    CAS epoch; delete pending keyring/kdf rows (a dead rotator's)
    finish leftovers            sweep + retire of an earlier, interrupted rotation
    PREPARE                     CAS epoch; insert pending data key (+ pending KEK and rewraps
                                of every live data key for a new passphrase)   [after-prepare]
    ACTIVATE                    CAS epoch; set active version/KEK; old key -> decrypt_only
                                                                               [after-activate]
    RE-ENCRYPT                  batches; one CAS per row on its ``rev``         [mid-reencrypt]
                                                                               [after-reencrypt]
    RETIRE                      drop wraps under old KEKs; retire unreferenced [before-retire]

A crash before ACTIVATE leaves the old key active and a pending row that the next rotation
drops; a crash after it leaves rows under the previous key, still readable (its wrapped key
stays until no row references it), which the next open_store or rotation re-encrypts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import crypto
from ..errors import ConcurrentRotation, Conflict, DecryptError, StaleKey, StoreError
from ..faults import armed_fault, maybe_fault
from ..keyring import MissingKey
from ..records import RotationResult
from .engine import transaction
from .keys import KeyCtx, read_state, reconcile
from .tables import Tables

log = structlog.get_logger("store.rotation")

Kind = Literal["dek", "kek", "off"]
LIVE = ("active", "decrypt_only")


@dataclass(frozen=True, slots=True)
class Plan:
    """What PREPARE staged: the version and KEK id ACTIVATE will switch to."""

    version: int
    kek_id: int
    old_version: int
    old_kek: int


async def _cas(conn: AsyncConnection, t: Tables, epoch: int, **values: int) -> None:
    result = await conn.execute(sa.update(t.key_state).where(
        t.key_state.c.id == 1, t.key_state.c.epoch == epoch).values(epoch=epoch + 1, **values))
    if result.rowcount != 1:
        raise ConcurrentRotation("another key rotation changed the keyring first; retry")


async def rotate(ctx: KeyCtx, passphrase: str | None, fault: str | None) -> RotationResult:
    """Run one rotation end to end (see the module docstring)."""
    fault = armed_fault(fault, ctx.config.rotation_fault)
    await reconcile(ctx)
    if ctx.ring.needs_material:
        raise StaleKey("this node lacks the active key; import key material before rotating")
    await drop_pending(ctx)
    # The fence: every later step is a CAS from this epoch, so any rotation step another
    # node commits from here on (even one noticed while finishing leftovers) makes us lose.
    base, ring = ctx.ring.epoch, ctx.ring
    done = await finish(ctx, None)
    if ring.epoch != base or ring.needs_material:
        raise ConcurrentRotation("another key rotation changed the keyring first; retry")
    if ring.active == 0 and not passphrase:
        return RotationResult(0, done, False)
    kind: Kind = "dek" if passphrase is None else "off" if passphrase == "" else "kek"
    new_kek: tuple[bytes, bytes] | None = None
    if kind == "kek":
        salt = crypto.new_salt()
        new_kek = (salt, await crypto.derive_kek_async(str(passphrase), salt, ctx.config.kdf))
    try:
        async with transaction(ctx.engine, "preparing a key rotation", write=True) as conn:
            plan = await _prepare(conn, ctx, base, kind, new_kek)
    except Conflict as exc:
        if isinstance(exc, ConcurrentRotation):
            raise
        raise ConcurrentRotation("another key rotation prepared the same version") from exc
    maybe_fault("after-prepare", fault)
    async with transaction(ctx.engine, "activating a key", write=True) as conn:
        await _activate(conn, ctx, base + 1, plan)
    maybe_fault("after-activate", fault)
    try:
        done += await finish(ctx, fault)
    except StoreError as exc:
        # The new key is active (committed above): the rotation stands, and answering it as
        # failed would have a client rotate again for nothing.
        log.warning("key rotation committed; moving the remaining rows to it failed",
                    version=ring.active, error=str(exc))
        return RotationResult(ring.active, done, ring.active != 0, complete=False)
    return RotationResult(ring.active, done, ring.active != 0)


async def roll_forward(ctx: KeyCtx) -> None:
    """Activate a prepared passphrase change: this node was started with the new passphrase.

    PREPARE already wrapped the new data key and every live one under the new KEK, so the
    rotation can be finished by whoever holds the new passphrase.
    """
    await reconcile(ctx)
    t = ctx.t
    async with transaction(ctx.engine, "activating a prepared key", write=True) as conn:
        state = await read_state(conn, t)
        version = (await conn.execute(sa.select(t.keyring.c.version).where(
            t.keyring.c.state == "pending"))).scalar()
        kek_id = (await conn.execute(sa.select(t.kdf.c.kek_id).where(
            t.kdf.c.state == "pending"))).scalar()
        if version is None or kek_id is None or kek_id not in ctx.ring.keks:
            raise ConcurrentRotation("the prepared key changed while starting; retry")
        plan = Plan(int(version), int(kek_id), state.active, state.kek_id)
        await _activate(conn, ctx, state.epoch, plan)


async def drop_pending(ctx: KeyCtx) -> None:
    """Delete a pending key left by a rotator that died before ACTIVATE (fenced by CAS)."""
    t = ctx.t
    async with transaction(ctx.engine, "dropping a stale pending key", write=True) as conn:
        pending = (await conn.execute(sa.select(t.keyring.c.version).where(
            t.keyring.c.state == "pending"))).scalars().all()
        kdf_pending = (await conn.execute(sa.select(t.kdf.c.kek_id).where(
            t.kdf.c.state == "pending"))).scalars().all()
        if not pending and not kdf_pending:
            return
        await _cas(conn, t, ctx.ring.epoch)
        await conn.execute(sa.delete(t.key_wraps).where(t.key_wraps.c.version.in_(pending)))
        await conn.execute(sa.delete(t.key_wraps).where(t.key_wraps.c.kek_id.in_(kdf_pending)))
        await conn.execute(sa.delete(t.keyring).where(t.keyring.c.version.in_(pending)))
        await conn.execute(sa.delete(t.kdf).where(t.kdf.c.kek_id.in_(kdf_pending)))
    for version in pending:
        ctx.ring.deks.pop(version, None)
    await reconcile(ctx)


async def _prepare(conn: AsyncConnection, ctx: KeyCtx, base: int, kind: Kind,
                   new_kek: tuple[bytes, bytes] | None) -> Plan:
    t, ring, now = ctx.t, ctx.ring, time.time()
    await _cas(conn, t, base)
    if kind == "off":
        return Plan(0, 0, ring.active, ring.active_kek)
    max_version = (await conn.execute(sa.select(sa.func.max(t.keyring.c.version)))).scalar()
    max_kek = (await conn.execute(sa.select(sa.func.max(t.kdf.c.kek_id)))).scalar()
    version, dek = int(max_version or 0) + 1, crypto.new_dek()
    if new_kek is None:
        kek_id, kek = ring.active_kek, ring.keks[ring.active_kek]
    else:
        kek_id, kek = int(max_kek or 0) + 1, new_kek[1]
        await conn.execute(t.kdf.insert().values(
            kek_id=kek_id, salt=crypto.b64e(new_kek[0]),
            params=json.dumps(ctx.config.kdf.to_json()),
            check_value=crypto.make_check(kek, kek_id), state="pending", created_at=now))
        live = (await conn.execute(sa.select(t.keyring.c.version).where(
            t.keyring.c.state.in_(LIVE)))).scalars().all()
        for old in live:
            if old not in ring.deks:
                raise StaleKey(f"cannot rewrap data key version {old}: not held by this node")
            await conn.execute(t.key_wraps.insert().values(
                version=old, kek_id=kek_id,
                wrapped=crypto.wrap_dek(kek, ring.deks[old], old, kek_id)))
    await conn.execute(t.keyring.insert().values(
        version=version, fingerprint=crypto.fingerprint(dek), state="pending", created_at=now))
    await conn.execute(t.key_wraps.insert().values(
        version=version, kek_id=kek_id, wrapped=crypto.wrap_dek(kek, dek, version, kek_id)))
    ring.deks[version] = dek
    ring.keks[kek_id] = kek
    return Plan(version, kek_id, ring.active, ring.active_kek)


async def _activate(conn: AsyncConnection, ctx: KeyCtx, epoch: int, plan: Plan) -> None:
    t, ring, now = ctx.t, ctx.ring, time.time()
    old_version, old_kek = plan.old_version, plan.old_kek
    await _cas(conn, t, epoch, active_version=plan.version, kek_id=plan.kek_id)
    if plan.version:
        result = await conn.execute(sa.update(t.keyring).where(
            t.keyring.c.version == plan.version, t.keyring.c.state == "pending",
        ).values(state="active", activated_at=now))
        if result.rowcount != 1:
            raise ConcurrentRotation("the prepared key was dropped by another rotation")
    if old_version:
        await conn.execute(sa.update(t.keyring).where(
            t.keyring.c.version == old_version).values(state="decrypt_only"))
    if plan.kek_id != old_kek:
        await conn.execute(sa.update(t.kdf).where(t.kdf.c.kek_id == plan.kek_id)
                           .values(state="active"))
        await conn.execute(sa.update(t.kdf).where(t.kdf.c.kek_id == old_kek)
                           .values(state="retired"))
    ring.active, ring.active_kek, ring.epoch = plan.version, plan.kek_id, epoch + 1


async def finish(ctx: KeyCtx, fault: str | None) -> int:
    """Re-encrypt every row not under the active version, then retire unused keys."""
    count = await sweep(ctx, fault)
    maybe_fault("after-reencrypt", fault)
    maybe_fault("before-retire", fault)
    await retire(ctx)
    return count


async def sweep(ctx: KeyCtx, fault: str | None) -> int:
    """Move every provider row to the active version, a batch per transaction.

    Each row is updated only if its ``rev`` is unchanged, so a concurrent (fenced) write
    wins; a row this node cannot decrypt is left untouched and its key is kept.
    """
    t, ring = ctx.t, ctx.ring
    target, total, skipped = ring.active, 0, set[str]()
    while True:
        async with transaction(ctx.engine, "reading rows to re-encrypt") as conn:
            rows = (await conn.execute(
                sa.select(t.providers.c.key, t.providers.c.config, t.providers.c.rev)
                .where(t.providers.c.key_version != target, t.providers.c.key.notin_(skipped))
                .order_by(t.providers.c.key).limit(ctx.config.reencrypt_batch))).all()
        if not rows:
            return total
        updates = []
        for row in rows:
            try:
                plain = await decrypt_pulling(ctx, row.key, json.loads(row.config))
            except (StaleKey, DecryptError):
                skipped.add(row.key)
                continue
            stored = ring.encrypt_doc("providers", row.key, plain, target)
            updates.append((row.key, row.rev, json.dumps(stored)))
        async with transaction(ctx.engine, "re-encrypting rows", write=True) as conn:
            if (await read_state(conn, t, share=True)).active != target:
                return total  # a newer rotation took over; it sweeps to its own key
            for key, rev, doc in updates:
                result = await conn.execute(sa.update(t.providers).where(
                    t.providers.c.key == key, t.providers.c.rev == rev,
                ).values(config=doc, key_version=target, rev=rev + 1))
                total += result.rowcount
        if total:
            maybe_fault("mid-reencrypt", fault)


async def decrypt_pulling(ctx: KeyCtx, key: str, doc: dict[str, object]) -> dict[str, object]:
    """Decrypt a provider document, pulling the keyring once if it names an unknown key."""
    try:
        return ctx.ring.decrypt_doc("providers", key, doc)
    except MissingKey:
        await reconcile(ctx)
        return ctx.ring.decrypt_doc("providers", key, doc)


async def retire(ctx: KeyCtx) -> None:
    """Drop wraps under old KEKs and retire data keys that no row references any more."""
    t = ctx.t
    async with transaction(ctx.engine, "retiring old keys", write=True) as conn:
        state = await read_state(conn, t, share=True)
        if state.kek_id:
            covered = sa.select(t.key_wraps.c.version).where(t.key_wraps.c.kek_id == state.kek_id)
            await conn.execute(sa.delete(t.key_wraps).where(
                t.key_wraps.c.kek_id != state.kek_id, t.key_wraps.c.version.in_(covered)))
        used = sa.select(t.providers.c.key_version).distinct()
        idle = (await conn.execute(sa.select(t.keyring.c.version).where(
            t.keyring.c.state == "decrypt_only", t.keyring.c.version.notin_(used)))).scalars().all()
        if idle:
            await conn.execute(sa.update(t.keyring).where(t.keyring.c.version.in_(idle))
                               .values(state="retired"))
            await conn.execute(sa.delete(t.key_wraps).where(t.key_wraps.c.version.in_(idle)))
