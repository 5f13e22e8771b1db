"""Chaos scenarios against the three-node compose cluster.

Each scenario starts from a healthy cluster, injects its fault through the Docker CLI while
bounded gateway traffic runs (``Load``: 12 requests/s, at most 1,500 and 120 s), ends the fault,
then checks every invariant of ``tests/chaos/invariants.py`` into one row of the final table and
fails on any broken one. "ok during fault" counts requests to the nodes that were not faulted,
started between fault and recovery.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.chaos.client import Answer, Gateway, Load
from tests.chaos.conftest import Chaos
from tests.chaos.invariants import Keyring, Row, keyring, verify, wait_converged
from tests.chaos.stack import NODES

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

MODEL = "chaos-alpha/fake-model"
# The cluster lock's TTL on the peers (cluster.lock_ttl, pysyncobj autoUnlockTime): a holder
# that stops prolonging it (paused) loses it after this long. The rotation's own lease (60 s,
# node/key_rotation.py) only bounds a live holder.
LOCK_TTL = 10.0


def others(*nodes: str) -> tuple[str, ...]:
    return tuple(n for n in NODES if n not in nodes)


def rate(load: Load, start: float, end: float, nodes: tuple[str, ...]) -> str:
    ok, total = load.rate_between(start, end, nodes)
    return f"{ok}/{total} ({100 * ok / total:.0f}%)" if total else "0/0"


async def add_bulk_rows(chaos: Chaos, count: int) -> None:
    """Rows without secrets (mock providers) under no key: they make a rotation's sweep slow."""
    await chaos.stack.psql(
        "INSERT INTO at_providers (key, config, key_version, rev, updated_at) "
        "SELECT 'bulk-' || lpad(g::text, 5, '0'), '{\"type\": \"mock\"}', 0, 0, "
        f"extract(epoch from now()) FROM generate_series(1, {count}) g "
        "ON CONFLICT (key) DO NOTHING")


async def drop_bulk_rows(chaos: Chaos) -> None:
    await chaos.stack.psql("DELETE FROM at_providers WHERE key LIKE 'bulk-%'")


async def rotate_until_done(gw: Gateway, node: str, within: float,
                            passphrase: str | None = None) -> tuple[Answer, int]:
    """Retry rotate-key on 409/503 (lock busy, no quorum yet) until 200 or ``within`` runs out."""
    deadline = time.monotonic() + within
    attempts = 0
    while True:
        attempts += 1
        answer = await gw.rotate(node, passphrase)
        if answer.status == 200 or answer.status not in (409, 503) \
                or time.monotonic() > deadline:
            return answer, attempts
        await asyncio.sleep(0.5)


async def wait_sweeping(chaos: Chaos, within: float = 20.0) -> bool:
    """Poll the database until a rotation (under the cluster lock) is moving the bulk rows.

    The database, not the node's status: a sweeping node answers HTTP late.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = await chaos.stack.psql(
            "SELECT count(*) FROM at_providers WHERE key LIKE 'bulk-%' AND key_version <> 0")
        if int(rows[0][0]) > 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def locks_acquired(gw: Gateway, node: str) -> int:
    status = await gw.cluster(node)
    assert status is not None
    return int(status["locks"]["acquired"])


def secrets(chaos: Chaos) -> list[str]:
    return [*chaos.passphrases, chaos.stack.env["AT_CLUSTER_SECURITY_KEY"]]


async def finish(gw: Gateway, chaos: Chaos, row: Row, table: list[Row], before: Keyring,
                 expected_new: int | None, recovered_at: float) -> None:
    table.append(row)
    await verify(gw, chaos.stack, row, providers=chaos.providers, secrets=secrets(chaos),
                 before=before, expected_new=expected_new, recovered_at=recovered_at)
    assert row.ok, "broken invariants:\n" + "\n".join(row.problems) + row.notes


async def test_leader_killed_under_load(gw: Gateway, chaos: Chaos, table: list[Row]) -> None:
    stack = chaos.stack
    before = await keyring(stack)
    leader = await gw.leader()
    assert leader in NODES
    row = Row("leader killed under load", f"docker kill {leader} (SIGKILL), 10 s, start")
    load = Load(gw, MODEL)
    load.start()
    await asyncio.sleep(3)
    fault = time.monotonic()
    await stack.kill(leader)
    new_leader, elected = None, None
    while time.monotonic() - fault < 10:
        new_leader = await gw.leader(others(leader))
        if elected is None and new_leader and new_leader != leader:
            elected = time.monotonic() - fault
        await asyncio.sleep(0.2)
    await stack.start(leader)
    recovered = time.monotonic()
    await asyncio.sleep(3)
    await load.stop()
    row.during = rate(load, fault, recovered, others(leader))
    row.notes = (f"new leader {new_leader} after {elected:.1f}s" if elected
                 else "no new leader within 10s")
    if elected is None:
        row.fail("election", "the survivors elected no leader within 10 s")
    await finish(gw, chaos, row, table, before, 0, recovered)


async def test_rotate_on_follower_while_leader_killed(gw: Gateway, chaos: Chaos,
                                                      table: list[Row]) -> None:
    stack = chaos.stack
    before = await keyring(stack)
    leader = await gw.leader()
    assert leader in NODES
    follower = others(leader)[0]
    row = Row("rotate-key on follower, leader killed",
              f"kill {leader}, rotate on {follower} at once")
    load = Load(gw, MODEL, nodes=others(leader))
    load.start()
    await asyncio.sleep(2)
    fault = time.monotonic()
    await stack.kill(leader)
    answer, attempts = await rotate_until_done(gw, follower, within=30)
    took = time.monotonic() - fault
    await stack.start(leader)
    recovered = time.monotonic()
    await asyncio.sleep(2)
    await load.stop()
    row.during = rate(load, fault, recovered, others(leader))
    row.notes = (f"rotate answered {answer.status} after {attempts} attempt(s), {took:.1f}s: "
                 f"{answer.body!r:.160}")
    if answer.status != 200:
        row.fail("rotation", f"rotate-key on {follower} never succeeded: {answer.status}")
    await finish(gw, chaos, row, table, before, 1 if answer.status == 200 else 0, recovered)


async def test_node_disconnected_during_rotation(gw: Gateway, chaos: Chaos,
                                                 table: list[Row]) -> None:
    stack = chaos.stack
    await add_bulk_rows(chaos, 600)
    try:
        before = await keyring(stack)
        leader = await gw.leader()
        assert leader in NODES
        rotator, victim = leader, others(leader)[0]
        row = Row("node disconnected during rotation",
                  f"network disconnect {victim}, rotate on {rotator} at once, reconnect after 10 s")
        load = Load(gw, MODEL)
        load.start()
        # Cut the victim off first, so the whole rotation (and its notice) happens while it
        # is away: it must catch up from the database on its own once it is back.
        await stack.disconnect(victim)
        fault = time.monotonic()
        answer = await gw.rotate(rotator)
        await asyncio.sleep(max(0.0, 10 - (time.monotonic() - fault)))
        await stack.reconnect(victim)
        recovered = time.monotonic()
        await asyncio.sleep(2)
        await load.stop()
        row.during = rate(load, fault, recovered, others(victim))
        peers = answer.body.get("peers") if isinstance(answer.body, dict) else None
        row.notes = f"rotate answered {answer.status} (peer acks {peers})"
        if answer.status != 200:
            row.fail("rotation", f"rotate-key on {rotator}: {answer.status} {answer.body!r:.160}")
        # Cut off, the victim either drops out of discovery (no entry) or fails to ack.
        victim_acks = [ok for name, ok in (peers or {}).items() if name.split(".")[0] == victim]
        if any(victim_acks):
            row.fail("fault", f"{victim} acknowledged a notice while disconnected: {peers}")
        await finish(gw, chaos, row, table, before, 1 if answer.status == 200 else 0, recovered)
    finally:
        await drop_bulk_rows(chaos)


async def test_lock_holder_paused_past_lease(gw: Gateway, chaos: Chaos,
                                             table: list[Row]) -> None:
    stack = chaos.stack
    await add_bulk_rows(chaos, 1500)
    try:
        before = await keyring(stack)
        holder, rival = "at-1", "at-2"
        pause_for = LOCK_TTL + 6
        row = Row("lock holder paused past lease",
                  f"docker pause {holder} right after it took the rotation lock, "
                  f"{pause_for:.0f}s > lock TTL {LOCK_TTL:.0f}s; rotate on {rival}")
        load = Load(gw, MODEL)
        load.start()
        first = asyncio.create_task(gw.rotate(holder, timeout=120))
        assert await wait_sweeping(chaos), "the holder never started its sweep"
        await stack.pause(holder)
        fault = time.monotonic()
        await asyncio.sleep(LOCK_TTL + 1)
        second, attempts = await rotate_until_done(gw, rival, within=pause_for - LOCK_TTL)
        await asyncio.sleep(max(0.0, pause_for - (time.monotonic() - fault)))
        await stack.unpause(holder)
        recovered = time.monotonic()
        answer = await first
        await asyncio.sleep(2)
        await load.stop()
        row.during = rate(load, fault, recovered, others(holder))
        row.notes = (f"paused holder's rotate answered {answer.status} "
                     f"({answer.body!r:.100}); rival's {second.status} after {attempts} "
                     f"attempt(s)")
        # While the paused holder's rotation is mid-flight the database fence decides: the
        # rival either completes (the holder's later steps then lose their compare-and-set)
        # or is refused with 409. A hang or a 5xx is a failure. Once the holder is back, the
        # cluster must not be wedged: a further rotation on the rival succeeds.
        if second.status not in (200, 409):
            row.fail("rotation", f"the rival's rotate during the pause: "
                     f"{second.status} {second.body!r:.160}")
        after = await gw.rotate(rival)
        row.notes += f"; rival's rotate after recovery {after.status}"
        if after.status != 200:
            row.fail("rotation", f"rotate on {rival} after recovery: {after.status} "
                     f"{after.body!r:.160}")
        committed = (answer.status == 200) + (second.status == 200) + (after.status == 200)
        await finish(gw, chaos, row, table, before, committed, recovered)
    finally:
        await drop_bulk_rows(chaos)


@pytest.mark.parametrize("step", ["before-notify", "after-activate"])
async def test_rotating_node_killed_after_commit(gw: Gateway, chaos: Chaos, table: list[Row],
                                                 step: str) -> None:
    stack = chaos.stack
    victim = "at-2"
    stack.env["CHAOS_FAULT_AT_2"] = step
    try:
        await stack.recreate(victim)
        await gw.refresh()
        row = Row(f"rotating node killed after commit ({step})",
                  f"AT_STORE_ROTATION_FAULT={step} on {victim}: exits 137, restart policy")
        before = await keyring(stack)
        load = Load(gw, MODEL, nodes=others(victim))
        # Wait for the recreated node to be back in the cluster before the fault.
        ready, why = await wait_converged(gw, stack, time.monotonic())
        assert ready is not None, f"{victim} did not come back with the fault armed: {why}"
        load.start()
        await asyncio.sleep(2)
        fault = time.monotonic()
        answer = await gw.rotate(victim, timeout=60)
        # The process is gone; Docker restarts it (restart: unless-stopped).
        restarted = None
        while time.monotonic() - fault < 30:
            if await stack.state(victim) == "running":
                cid = await stack.container(victim)
                count = await stack.docker("inspect", "-f", "{{.RestartCount}}", cid)
                if int(count.strip() or 0) > 0:
                    restarted = time.monotonic() - fault
                    break
            await asyncio.sleep(0.2)
        recovered = time.monotonic()
        await asyncio.sleep(2)
        await load.stop()
        row.during = rate(load, fault, recovered, others(victim))
        row.notes = (f"rotate answered {answer.status} ({answer.body!r:.80}); Docker restarted "
                     f"{victim} after {restarted:.1f}s" if restarted is not None
                     else f"rotate answered {answer.status}; {victim} was not restarted")
        if answer.status == 200:
            row.fail("fault", "the armed node finished the rotation: the fault did not fire")
        if restarted is None:
            row.fail("restart", f"{victim} was not restarted by Docker within 30 s")
        await finish(gw, chaos, row, table, before, 1, recovered)
    finally:
        stack.env.pop("CHAOS_FAULT_AT_2", None)
        await stack.recreate(victim)


async def test_all_restarted_after_passphrase_change(gw: Gateway, chaos: Chaos,
                                                     table: list[Row]) -> None:
    stack = chaos.stack
    old = stack.env["AT_STORE_ENCRYPTION_KEY"]
    new = "chaos-passphrase-two"
    chaos.passphrases.append(new)
    before = await keyring(stack)
    row = Row("all nodes restarted after passphrase change",
              "rotate-key with a new passphrase on at-1; recreate all 3 with the new one")
    answer = await gw.rotate("at-1", new)
    assert answer.status == 200, answer
    load = Load(gw, MODEL)
    load.start()
    await asyncio.sleep(2)
    stack.env["AT_STORE_ENCRYPTION_KEY"] = new
    fault = time.monotonic()
    await stack.recreate(*NODES)
    recovered = time.monotonic()
    await gw.refresh()
    await asyncio.sleep(3)
    await load.stop()
    row.during = rate(load, fault, recovered + 3, NODES)
    row.notes = "all three restarted at once; 'during' counts all nodes (none survives)"
    await finish(gw, chaos, row, table, before, 1, recovered)

    # The realistic mistake: one node comes back with the OLD passphrase while the others run.
    # Its passphrase opens only a retired key, so it asks a peer for the key material.
    before = await keyring(stack)
    row = Row("one node restarted with the old passphrase",
              "recreate at-2 with the old passphrase, at-0/at-1 running the new one")
    load = Load(gw, MODEL, nodes=others("at-2"))
    load.start()
    stack.env["AT_STORE_ENCRYPTION_KEY"] = old
    fault = time.monotonic()
    await stack.recreate("at-2")
    recovered = time.monotonic()
    await asyncio.sleep(2)
    await load.stop()
    row.during = rate(load, fault, recovered + 2, others("at-2"))
    stack.env["AT_STORE_ENCRYPTION_KEY"] = new
    await finish(gw, chaos, row, table, before, 0, recovered)
