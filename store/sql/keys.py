"""The keyring in the database: unlocking with a passphrase, reconciling, key handover.

Tables (prefix omitted): ``key_state`` (one row: ``epoch`` bumped by every rotation step,
``active_version`` 0 = off, ``kek_id`` 0 = none), ``kdf`` (per KEK: salt, Argon2 params,
check value, state pending|active|retired), ``keyring`` (per data key: fingerprint, state
pending|active|decrypt_only|retired) and ``key_wraps`` (a data key wrapped under one KEK).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import crypto
from ..errors import DecryptError, WrongPassphrase
from ..keyring import Keyring, parse_material
from ..records import StoreConfig
from .engine import transaction
from .tables import Tables

MISMATCH_MSG = ("store.encryption_key does not match this database's key check; start "
                    "with the passphrase the database was last rotated to (nothing was written)")
EMPTY_MSG = ("this database's credentials are encrypted but store.encryption_key is empty; "
                 "set it to the database's passphrase (nothing was written)")


Unlocked = Literal["fresh", "pending", "unlocked"]


@dataclass(slots=True)
class KeyCtx:
    """What the keyring and rotation code need from a SQL store."""

    engine: AsyncEngine
    t: Tables
    ring: Keyring
    config: StoreConfig


@dataclass(frozen=True, slots=True)
class KeyState:
    """The single ``key_state`` row."""

    epoch: int
    active: int
    kek_id: int


async def read_state(conn: AsyncConnection, t: Tables, *, share: bool = False) -> KeyState:
    """Read key_state; ``share`` locks it FOR SHARE on Postgres (a fenced write's guard)."""
    query = sa.select(t.key_state.c.epoch, t.key_state.c.active_version,
                      t.key_state.c.kek_id).where(t.key_state.c.id == 1)
    if share and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = (await conn.execute(query)).one()
    return KeyState(int(row.epoch), int(row.active_version), int(row.kek_id))


async def unlock(ctx: KeyCtx, passphrase: str) -> Unlocked:
    """Derive the KEK for ``passphrase`` and match it against the stored check values.

    Returns "fresh" when the database has never held a KEK (the caller bootstraps one),
    "pending" when the passphrase is the one a rotation prepared but never activated (the
    caller rolls it forward), else "unlocked". Raises WrongPassphrase, having written
    nothing, when no KEK matches. A match with a retired KEK opens the store but leaves
    ``needs_material`` set.
    """
    async with transaction(ctx.engine, "reading the key state") as conn:
        state = await read_state(conn, ctx.t)
        rows = (await conn.execute(sa.select(ctx.t.kdf).order_by(
            ctx.t.kdf.c.kek_id.desc()))).all()
    if not passphrase:
        if state.kek_id != 0:
            raise WrongPassphrase(EMPTY_MSG)
        return "unlocked"
    if not rows:
        return "fresh"
    # the active KEK first, then retired ones (newest first), a pending one last
    for row in sorted(rows, key=lambda r: (r.kek_id != state.kek_id, r.state == "pending")):
        params = crypto.KdfParams.from_json(json.loads(row.params))
        kek = await crypto.derive_kek_async(passphrase, crypto.b64d(row.salt), params)
        if crypto.verify_check(kek, row.kek_id, row.check_value):
            ctx.ring.keks[row.kek_id] = kek
            return "pending" if row.state == "pending" else "unlocked"
    raise WrongPassphrase(MISMATCH_MSG)


async def reconcile(ctx: KeyCtx) -> int:
    """Re-read key_state and pull every non-retired data key this node can unwrap."""
    t, ring = ctx.t, ctx.ring
    async with transaction(ctx.engine, "reconciling the keyring") as conn:
        state = await read_state(conn, t)
        wraps = (await conn.execute(
            sa.select(t.key_wraps.c.version, t.key_wraps.c.kek_id, t.key_wraps.c.wrapped,
                      t.keyring.c.fingerprint)
            .join(t.keyring, t.keyring.c.version == t.key_wraps.c.version)
            .where(t.keyring.c.state != "retired"))).all()
    for row in wraps:
        kek = ring.keks.get(row.kek_id)
        if row.version in ring.deks or kek is None:
            continue
        dek = crypto.unwrap_dek(kek, row.wrapped, row.version, row.kek_id)
        if crypto.fingerprint(dek) != row.fingerprint:
            raise DecryptError(f"data key version {row.version} does not match its fingerprint")
        ring.deks[row.version] = dek
    ring.active, ring.active_kek, ring.epoch = state.active, state.kek_id, state.epoch
    return state.active


async def import_material(ctx: KeyCtx, blob: bytes) -> int:
    """Adopt a KEK handed over by a peer once it verifies against the stored check value."""
    kek_id, kek = parse_material(blob)
    async with transaction(ctx.engine, "reading the kdf") as conn:
        check = (await conn.execute(sa.select(ctx.t.kdf.c.check_value).where(
            ctx.t.kdf.c.kek_id == kek_id))).scalar_one_or_none()
    if check is None or not crypto.verify_check(kek, kek_id, check):
        raise WrongPassphrase("the key material handed over does not match this database")
    ctx.ring.keks[kek_id] = kek
    return await reconcile(ctx)
