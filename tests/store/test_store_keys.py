"""Encryption at rest, passphrase checks, rotation, fencing and key handover (SQL backends)."""

from __future__ import annotations

import asyncio

import pytest

from store import ConcurrentRotation, StaleKey, Store, WrongPassphrase

from .conftest import Opener, StoreFactory, raw_rows
from .keycheck import assert_consistent, assert_no_plaintext, snapshot

SECRETS = [
    "sk-alpha-secret",
    "hdr-alpha-secret",
    "socks5://bob:hunter2@10.0.0.1:1080",
    "sk-beta-secret",
]


def provider(i: int) -> dict[str, object]:
    return {
        "type": "openai",
        "api_key": f"sk-{i}-secret",
        "model": "gpt-4o",
        "extra_headers": {"X-Org": f"hdr-{i}-secret"},
    }


async def seed(store: Store, n: int = 5) -> None:
    put = store.put_provider
    await put(
        "alpha",
        {
            "type": "openai",
            "api_key": SECRETS[0],
            "extra_headers": {"X-Org": SECRETS[1]},
            "proxy": SECRETS[2],
        },
    )
    await put("beta", {"type": "anthropic", "api_key": SECRETS[3]})
    for i in range(n):
        await put(f"p{i}", provider(i))


async def assert_all_readable(store: Store, n: int = 5) -> None:
    providers = {p.key: p.config for p in await store.list_providers()}
    assert providers["alpha"]["proxy"] == SECRETS[2]
    assert providers["alpha"]["extra_headers"] == {"X-Org": SECRETS[1]}
    assert providers["beta"]["api_key"] == SECRETS[3]
    for i in range(n):
        assert providers[f"p{i}"] == provider(i)


async def test_secrets_are_not_stored_in_plaintext(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="pw")
    store = await opener(config)
    await seed(store)
    await store.close()
    await assert_no_plaintext(config, SECRETS)
    assert await assert_consistent(config) == 1


async def test_wrong_passphrase_refuses_and_writes_nothing(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="right")
    store = await opener(config)
    await seed(store, 1)
    await store.close()
    before = await snapshot(config)
    for bad in ("wrong", ""):
        with pytest.raises(WrongPassphrase) as info:
            await opener(sql_config_for(encryption_key=bad))
        assert "\n" not in str(info.value) and "encryption_key" in str(info.value)
    assert await snapshot(config) == before


async def test_plaintext_store_is_encrypted_when_a_passphrase_arrives(
    opener: Opener, sql_config_for: StoreFactory,
) -> None:
    plain = sql_config_for()
    store = await opener(plain)
    await seed(store)
    assert not store.encrypted
    await store.close()
    assert SECRETS[0] in repr(await raw_rows(plain, "providers"))
    store = await opener(sql_config_for(encryption_key="pw"))
    assert store.encrypted and store.key_version == 1
    await assert_all_readable(store)
    await store.close()
    await assert_no_plaintext(plain, SECRETS)
    await assert_consistent(plain)


@pytest.mark.parametrize("steps", [[None], ["new"], [""], ["", "back"], [None, "x", None, ""]])
async def test_rotation_keeps_every_credential(
    opener: Opener, sql_config_for: StoreFactory, steps: list[str | None]
) -> None:
    config = sql_config_for(encryption_key="pw")
    store = await opener(config)
    await seed(store)
    passphrase = "pw"
    for step in steps:
        result = await store.rotate_key(step)
        assert result.reencrypted == 7
        passphrase = passphrase if step is None else step
        await assert_all_readable(store)
        assert await assert_consistent(config) == result.version == store.key_version
        if result.encrypted:
            await assert_no_plaintext(config, SECRETS)
    await store.close()
    reopened = await opener(sql_config_for(encryption_key=passphrase))
    await assert_all_readable(reopened)
    await reopened.close()


async def test_stale_node_write_is_fenced_and_reads_pull(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="pw")
    a, b = await opener(config, node_id="a"), await opener(config, node_id="b")
    await seed(a)
    rotated = await a.rotate_key()
    assert b.key_version == 1 < rotated.version  # b missed the notice
    got = await b.get_provider("alpha")  # pull-on-miss
    assert got is not None and got.config["api_key"] == SECRETS[0]
    await b.put_provider("gamma", {"api_key": "sk-gamma-secret"})
    rows = {r[0]: r[2] for r in await raw_rows(config, "providers")}
    assert rows["gamma"] == rotated.version == b.key_version
    await assert_consistent(config)
    await a.close()
    await b.close()


@pytest.mark.parametrize("new_passphrase", [None, "other"])
async def test_racing_rotations_one_wins(
    opener: Opener, sql_config_for: StoreFactory, new_passphrase: str | None
) -> None:
    config = sql_config_for(encryption_key="pw")
    a, b = await opener(config, node_id="a"), await opener(config, node_id="b")
    await seed(a)
    results = await asyncio.gather(
        a.rotate_key(new_passphrase), b.rotate_key(new_passphrase), return_exceptions=True
    )
    losers = [r for r in results if isinstance(r, ConcurrentRotation)]
    assert len(losers) == 1, results
    await a.reconcile()
    await b.reconcile()
    winner = a if not isinstance(results[0], BaseException) else b
    await assert_all_readable(winner)
    assert await assert_consistent(config) == 2
    await a.close()
    await b.close()


async def test_passphrase_change_hands_over_key_material(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="old")
    a, b = await opener(config, node_id="a"), await opener(config, node_id="b")
    await seed(a)
    await a.rotate_key("new")
    await b.reconcile()
    assert b.needs_key_material
    with pytest.raises(StaleKey):
        await b.put_provider("gamma", {"api_key": "x"})
    with pytest.raises(StaleKey):
        await b.rotate_key()
    # a restarted node that still has the old passphrase opens, but needs the material too
    c = await opener(config, node_id="c")
    assert c.needs_key_material
    with pytest.raises(WrongPassphrase):
        await c.import_key_material(b"atkm1" + (2).to_bytes(4, "big") + bytes(32))
    blob = a.export_key_material()
    for node in (b, c):
        assert await node.import_key_material(blob) == a.key_version
        assert not node.needs_key_material
        await assert_all_readable(node)
    await b.put_provider("gamma", {"api_key": "sk-gamma-secret"})
    assert (await a.get_provider("gamma")) is not None
    with pytest.raises(WrongPassphrase):
        await opener(sql_config_for(encryption_key="never-used"))
    for node in (a, b, c):
        await node.close()


async def test_writes_during_a_rotation_are_never_lost(
        opener: Opener, sql_config_for: StoreFactory) -> None:
    config = sql_config_for(encryption_key="pw")
    a, b = await opener(config, node_id="a"), await opener(config, node_id="b")
    await seed(a, 10)

    async def keep_writing() -> None:
        for round_ in range(4):
            for i in range(10):
                await b.put_provider(f"p{i}", {**provider(i), "model": f"m{round_}"})

    await asyncio.gather(a.rotate_key(), keep_writing())
    await b.reconcile()
    for node in (a, b):
        got = {p.key: p.config for p in await node.list_providers()}
        assert all(got[f"p{i}"] == {**provider(i), "model": "m3"} for i in range(10))
    await a.rotate_key()  # a later rotation sweeps anything written under the old key
    assert await assert_consistent(config) == 3


async def test_a_peer_bootstrapping_between_unlock_and_rotation_is_waited_for(
        opener: Opener, sql_config_for: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two nodes' first start: b reads "never encrypted", then a turns encryption on before
    b's own first rotation. b must unlock again with a's salt, not give up."""
    from store.sql import keys

    config = sql_config_for(encryption_key="pw")
    real_unlock = keys.unlock
    peers: list[Store] = []

    async def unlock_then_let_a_bootstrap(ctx: keys.KeyCtx, passphrase: str) -> keys.Unlocked:
        unlocked = await real_unlock(ctx, passphrase)
        if unlocked == "fresh" and not peers:
            monkeypatch.setattr(keys, "unlock", real_unlock)  # a opens with the real one
            peers.append(await opener(config, node_id="a"))
        return unlocked

    monkeypatch.setattr(keys, "unlock", unlock_then_let_a_bootstrap)
    b = await opener(config, node_id="b")
    assert peers, "the interleaving did not happen"
    await seed(peers[0])
    await b.reconcile()
    await assert_all_readable(b)
    assert await assert_consistent(config) == 1


async def test_a_rotation_whose_sweep_fails_after_activation_stands(
        opener: Opener, sql_config_for: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the new key is active the rotation is committed: a store failure while moving
    the rows answers it as done but incomplete (not as a failure a client would retry), the
    rows stay readable, and the next rotation moves them all."""
    from store.errors import StoreUnavailable
    from store.sql import rotation

    config = sql_config_for(encryption_key="pw")
    store = await opener(config)
    await seed(store)
    real = rotation.sweep
    calls = 0

    async def flaky(ctx: rotation.KeyCtx, fault: str | None) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first sweeps leftovers; the second follows the activation
            raise StoreUnavailable("the database went away")
        return await real(ctx, fault)

    monkeypatch.setattr(rotation, "sweep", flaky)
    before = store.key_version
    result = await store.rotate_key()
    assert not result.complete and result.version == before + 1 == store.key_version
    await assert_all_readable(store)
    monkeypatch.setattr(rotation, "sweep", real)
    again = await store.rotate_key()
    # the 7 rows left behind move to the first new key, then all 7 to the second
    assert again.complete and again.reencrypted == 14
    assert await assert_consistent(config) == again.version
    await store.close()
