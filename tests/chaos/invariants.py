"""What must hold after every scenario, and the row each scenario adds to the final table.

- credentials: a chat request through every chaos provider on every node answers the fake's
  echo, and the fake recorded exactly that provider's key as ``Authorization`` (so every stored
  credential decrypts on every node, to the right value);
- versions: every node reports the database's active key version (``/ready`` and
  ``/api/v1/cluster``), within CONVERGE_BOUND seconds of the fault ending;
- rotations: key versions are contiguous, exactly one is active and it is ``key_state``'s, and the
  scenario added exactly as many versions as rotations it knows committed (none applied twice);
- no provider row is under a retired or missing key; chaos rows are never plaintext;
- ciphertext: no provider key, passphrase or admin token appears anywhere in ``pg_dump``;
- after recovery, gateway requests to every node succeed (100%).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from tests.chaos.client import Gateway, reply_ok
from tests.chaos.stack import ADMIN_TOKEN, NODES, Stack

# Nodes reconcile the keyring from the database every cluster.reconcile_interval (5 s) even when
# every notice was lost, and a restarted node needs ~10 s to start (Argon2, store, Raft). The
# bound is measured from the moment the fault ends (node started, unpaused or reconnected).
CONVERGE_BOUND = 45.0
AFTER_REQUESTS_PER_NODE = 5


@dataclass
class Row:
    """One line of the final table."""

    scenario: str
    fault: str
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    during: str = "-"
    after: str = "-"
    converge: float | None = None
    notes: str = ""

    def fail(self, check: str, problem: str) -> None:
        self.checks[check] = False
        self.problems.append(f"{check}: {problem}")

    def passed(self, check: str) -> None:
        self.checks.setdefault(check, True)

    @property
    def ok(self) -> bool:
        return all(self.checks.values()) and not self.problems


@dataclass(frozen=True, slots=True)
class Keyring:
    versions: list[tuple[int, str, bool]]       # (version, state, activated)
    active: int                                 # key_state.active_version

    @property
    def top(self) -> int:
        return max((v for v, _, activated in self.versions if activated), default=0)


async def keyring(stack: Stack) -> Keyring:
    rows = await stack.psql("SELECT version, state, activated_at IS NOT NULL FROM at_keyring "
                            "ORDER BY version")
    active = await stack.psql("SELECT active_version FROM at_key_state WHERE id = 1")
    return Keyring([(int(v), s, a == "t") for v, s, a in rows], int(active[0][0]))


async def node_versions(gw: Gateway) -> dict[str, tuple[int | None, int | None]]:
    """Per node: (key version from /ready, key version from /api/v1/cluster)."""
    out: dict[str, tuple[int | None, int | None]] = {}
    for node in NODES:
        ready = await gw.ready(node)
        from_ready = None
        if ready.status == 200 and isinstance(ready.body, dict):
            key = ready.body.get("checks", {}).get("key")
            from_ready = key.get("version") if isinstance(key, dict) else None
        status = await gw.cluster(node)
        from_cluster = status["self"]["key_version"] if status else None
        out[node] = (from_ready, from_cluster)
    return out


async def healthy(gw: Gateway) -> str | None:
    """None when every node is ready with a quorum and sees both peers; else what is missing."""
    for node in NODES:
        ready = await gw.ready(node)
        if ready.status != 200:
            return f"{node} /ready {ready.status}"
        status = await gw.cluster(node)
        if status is None:
            return f"{node} /api/v1/cluster unanswered"
        if not status.get("has_quorum") or not status.get("leader"):
            return f"{node} has no quorum/leader"
        reachable = [p["name"] for p in status.get("peers", []) if p.get("reachable")]
        if len(reachable) != len(NODES) - 1:
            return f"{node} reaches {reachable}"
    return None


async def wait_converged(gw: Gateway, stack: Stack, since: float,
                         bound: float = CONVERGE_BOUND) -> tuple[float | None, str]:
    """Seconds from ``since`` until all nodes are healthy and on the database's active version.

    (None, why) when that did not happen within ``bound``.
    """
    why = ""
    while time.monotonic() - since < bound:
        await gw.refresh()
        why = await healthy(gw) or ""
        if not why:
            ring = await keyring(stack)
            versions = await node_versions(gw)
            wrong = {n: v for n, v in versions.items() if v != (ring.active, ring.active)}
            if not wrong:
                return time.monotonic() - since, ""
            why = f"db active {ring.active}, nodes {wrong}"
        await asyncio.sleep(0.5)
    return None, why


async def check_credentials(gw: Gateway, providers: dict[str, str], row: Row) -> tuple[int, int]:
    """Every provider on every node, plus a small burst per node; returns (ok, total)."""
    ok = total = 0
    for node in NODES:
        for name, api_key in providers.items():
            prompt = f"check {row.scenario} {node} {name} {uuid.uuid4().hex[:8]}"
            answer = await gw.chat(node, f"{name}/fake-model", prompt, timeout=10)
            total += 1
            if not reply_ok(answer, prompt):
                row.fail("credentials", f"{node} via {name}: {answer.status} {answer.body!r:.200}")
                continue
            seen = await gw.recorded_auth(prompt)
            if seen != f"Bearer {api_key}":
                row.fail("credentials", f"{node} via {name}: upstream saw {seen!r}")
                continue
            ok += 1
        first = next(iter(providers))
        for _ in range(AFTER_REQUESTS_PER_NODE):
            prompt = f"after {row.scenario} {node} {uuid.uuid4().hex[:8]}"
            answer = await gw.chat(node, f"{first}/fake-model", prompt, timeout=10)
            total += 1
            if reply_ok(answer, prompt):
                ok += 1
            else:
                row.fail("after-100%", f"{node}: {answer.status} {answer.body!r:.200}")
    row.passed("credentials")
    row.passed("after-100%")
    return ok, total


async def check_database(stack: Stack, providers: dict[str, str], secrets: list[str],
                         before: Keyring, expected_new: int | None, row: Row) -> Keyring:
    """Keyring shape, rotation count, row key versions and the plaintext scan."""
    ring = await keyring(stack)
    versions = [v for v, _, _ in ring.versions]
    if not versions or versions != list(range(versions[0], versions[0] + len(versions))):
        row.fail("rotations", f"key versions not contiguous: {versions}")
    active = [v for v, state, _ in ring.versions if state == "active"]
    if active != [ring.active]:
        row.fail("rotations", f"active rows {active}, key_state says {ring.active}")
    added = ring.top - before.top
    if expected_new is not None and added != expected_new:
        row.fail("rotations", f"{added} new key versions, {expected_new} committed rotations")
    row.passed("rotations")
    states = {v: s for v, s, _ in ring.versions}
    rows = await stack.psql("SELECT key, key_version, config FROM at_providers")
    for key, version, config in rows:
        if key in providers:
            if states.get(int(version)) not in ("active", "decrypt_only"):
                row.fail("no-stale-rows", f"{key} under key {version} "
                         f"({states.get(int(version), 'missing')})")
            if providers[key] in config or '"enc:' not in config:
                row.fail("ciphertext", f"{key} stored as {config[:120]}")
    row.passed("no-stale-rows")
    dump = await stack.dump()
    leaked = [s for s in (*providers.values(), *secrets, ADMIN_TOKEN) if s and s in dump]
    if leaked:
        row.fail("ciphertext", f"pg_dump holds {len(leaked)} secrets in clear, e.g. "
                 f"{leaked[0][:12]}...")
    row.passed("ciphertext")
    return ring


async def verify(gw: Gateway, stack: Stack, row: Row, *, providers: dict[str, str],
                 secrets: list[str], before: Keyring, expected_new: int | None,
                 recovered_at: float) -> None:
    """Run every invariant into ``row`` (the caller asserts ``row.ok``)."""
    took, why = await wait_converged(gw, stack, recovered_at)
    row.converge = took
    if took is None:
        row.fail("versions", f"not converged within {CONVERGE_BOUND:.0f}s: {why}")
        for node in NODES:
            row.notes += f"\n--- {node} ---\n{await stack.logs(node, 25)}"
    row.passed("versions")
    ok, total = await check_credentials(gw, providers, row)
    row.after = f"{ok}/{total}"
    await check_database(stack, providers, secrets, before, expected_new, row)
