"""Pure units: config, identities, key derivation, the frame seal and the Raft conf."""

from __future__ import annotations

import time
from typing import Any

import pytest

import cluster
from cluster.config import ClusterConfig, ordinal_of, parse_peer, short_name, voter_names
from cluster.errors import ClusterError, ConfigError, SealError
from cluster.kdf import derive_keys
from cluster.messages import Header, MsgType
from cluster.raft import make_conf
from cluster.seal import NONCE_SIZE, Opener, Sealer

FAST: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 1024,
                        "argon2_parallelism": 1}
KEY = bytes(range(32))


def test_public_facade() -> None:
    assert set(cluster.__all__) >= {
        "ClusterAgent",
        "ClusterConfig",
        "ClusterHooks",
        "NoQuorum",
        "LockBusy",
        "ClusterError",
        "ConfigError",
        "BusError",
        "SealError",
    }
    assert issubclass(cluster.ConfigError, ValueError)
    for name in ("NoQuorum", "LockBusy", "BusError", "SealError", "ConfigError"):
        assert issubclass(getattr(cluster, name), cluster.ClusterError)


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match=r"security\.key"):
        ClusterConfig()
    with pytest.raises(ConfigError, match="raft_port"):
        ClusterConfig(security_key="s", port=5000, raft_port=5000)
    with pytest.raises(ConfigError, match="peers"):
        ClusterConfig(security_key="s", peers=("a:b:c:d",))
    assert ClusterConfig(security_enabled=False).security_key == ""


@pytest.mark.parametrize(("fields", "message"), [
    ({"replicas": 0}, "cluster.replicas: 0 is not valid: expected >= 1"),
    ({"port": 0}, "cluster.port: 0 is not valid: expected 1-65535"),
    ({"raft_port": 65536}, "cluster.raft_port: 65536 is not valid: expected 1-65535"),
    ({"port": 7000, "raft_port": 7000},
     "cluster.raft_port: 7000 is not valid: expected a port other than cluster.port"),
    ({"security_key": ""}, "cluster.security.key: missing: expected a shared secret while "
                           "cluster.security.enabled is true"),
    ({"cluster_name": ""}, "cluster.cluster_name: missing: expected a non-empty name"),
    ({"dns_interval": 0.0}, "cluster.dns_interval: 0.0 is not valid: expected seconds > 0"),
    ({"lock_wait": float("nan")}, "cluster.lock_wait: nan is not valid: expected seconds > 0"),
    ({"argon2_time_cost": 0}, "cluster.argon2_time_cost: 0 is not valid: expected >= 1"),
    ({"argon2_parallelism": 0}, "cluster.argon2_parallelism: 0 is not valid: expected >= 1"),
    ({"argon2_memory_kib": 8, "argon2_parallelism": 2},
     "cluster.argon2_memory_kib: 8 is not valid: expected >= 16 (8 KiB per lane of "
     "cluster.argon2_parallelism)"),
    ({"peers": ("a:b",)}, "cluster.peers: 'a:b' is not valid: ports must be numbers"),
    ({"peers": ("a:1:2:3",)},
     "cluster.peers: 'a:1:2:3' is not valid: expected [name=]host[:port[:raft]]"),
    ({"peers": ("a:7000:7000",)}, "cluster.peers: 'a:7000:7000' is not valid: expected a host "
                                  "and two different ports 1-65535"),
    ({"peers": ("[::1:7000",)}, "cluster.peers: '[::1:7000' is not valid: unclosed '['"),
])
def test_every_config_rule_names_the_key_and_the_expectation(
        fields: dict[str, Any], message: str) -> None:
    """One line each, the key as the user writes it; node relies on these messages."""
    with pytest.raises(ConfigError) as caught:
        ClusterConfig(**{"security_key": "s", **fields})
    assert str(caught.value) == message
    assert "\n" not in message and isinstance(caught.value, ValueError)


def test_peer_specs_and_identities() -> None:
    assert parse_peer("n0=127.0.0.1:7000:7001", 5000, 5001).raft_id == "n0:7001"
    peer = parse_peer("node1", 5000, 5001)
    assert (peer.name, peer.host, peer.port, peer.raft_port) == ("node1", "node1", 5000, 5001)
    assert parse_peer("[::1]:6000", 5000, 5001).bus_endpoint == "tcp://[::1]:6000"
    assert ordinal_of("at-2") == ("at", 2)
    assert ordinal_of("at-2.at-headless.ns.svc.cluster.local") == ("at", 2)
    assert ordinal_of("node1") is None
    assert short_name("127.0.0.1") == "127.0.0.1"
    assert short_name("at-1.svc.local") == "at-1"
    # Ordinals sort numerically and voters never depend on discovery order.
    assert voter_names(["at-10", "at-2", "at-0", "at-1"], 3) == ["at-0", "at-1", "at-2"]
    assert voter_names(["c", "a", "b", "d"], 3) == ["a", "b", "c"]


def test_keys_password_always_set() -> None:
    secure = derive_keys(ClusterConfig(security_key="s3cret", **FAST))
    insecure = derive_keys(ClusterConfig(security_enabled=False, **FAST))
    other_cluster = derive_keys(ClusterConfig(security_key="s3cret", cluster_name="b", **FAST))
    assert secure.raft_password and insecure.raft_password  # pitfall 11
    assert len({secure.bus, insecure.bus, other_cluster.bus}) == 3
    assert "s3cret" not in repr(secure) and secure.bus.hex() not in repr(secure)
    assert derive_keys(ClusterConfig(security_key="s3cret", **FAST)) == secure  # deterministic


def test_raft_conf_tuned() -> None:
    conf = make_conf(password="x", bind="127.0.0.1:1", on_state=lambda a, b: None)
    assert conf.password == "x" and conf.useFork is False  # pitfalls 11, 16
    assert conf.appendEntriesUseBatch is False and conf.commandsWaitLeader is False
    assert conf.leaderFallbackTimeout == 2.5 and conf.connectionRetryTime == 1.0
    assert (conf.dnsCacheTime, conf.dnsFailCacheTime) == (10.0, 2.0)
    assert conf.journalFile is None and conf.fullDumpFile is None
    with pytest.raises(ClusterError):
        make_conf(password="", bind=None, on_state=lambda a, b: None)


def _pair(window: float = 30.0) -> tuple[Sealer, Opener]:
    return (Sealer(KEY, cluster="c", sender="n1", boot=1), Opener(KEY, cluster="c", window=window))


def test_seal_roundtrip_and_header_bound() -> None:
    sealer, opener = _pair()
    msg_id, frames = sealer.seal(MsgType.CHANGE, {"kind": "provider", "item": "x"})
    message = opener.open(frames)
    assert message.payload == {"kind": "provider", "item": "x"}
    assert message.header.msg_id == msg_id and message.header.sender == "n1"
    # Changing any header field (here: the sender) breaks the MAC.
    _, frames = sealer.seal(MsgType.CHANGE, {})
    header = Header.decode(frames[0])
    forged = Header(
        header.type, header.msg_id, header.sent_at, header.boot, header.seq, header.cluster, "n2"
    ).encode()
    with pytest.raises(SealError, match="forged"):
        opener.open([forged, frames[1]])


def test_seal_rejections_counted() -> None:
    sealer, opener = _pair(window=30.0)
    _, frames = sealer.seal(MsgType.PING, {})
    opener.open(frames)
    with pytest.raises(SealError, match="replayed"):
        opener.open(frames)
    _, frames = sealer.seal(MsgType.PING, {})
    flipped = frames[1][:-1] + bytes([frames[1][-1] ^ 1])
    with pytest.raises(SealError, match="forged"):
        opener.open([frames[0], flipped])
    _, frames = sealer.seal(MsgType.PING, {}, sent_at=time.time() - 31)
    with pytest.raises(SealError, match="stale"):
        opener.open(frames)
    _, frames = sealer.seal(MsgType.PING, {}, sent_at=time.time() + 31)
    with pytest.raises(SealError, match="stale"):
        opener.open(frames)
    _, frames = sealer.seal(MsgType.PING, {}, seq=1)
    with pytest.raises(SealError, match="backwards"):
        opener.open(frames)
    wrong = Sealer(bytes(32), cluster="c", sender="n1", boot=1)
    with pytest.raises(SealError, match="forged"):
        opener.open(wrong.seal(MsgType.PING, {})[1])
    with pytest.raises(SealError, match="malformed"):
        opener.open([b"x", b"y" * 40])
    assert opener.counters == {
        "accepted": 1,
        "replayed": 1,
        "forged": 2,
        "stale": 2,
        "backwards": 1,
        "malformed": 1,
    }


def test_nonce_uniqueness_property() -> None:
    """Pitfall 21: 10^5 seals under one key never repeat a nonce (or a message id)."""
    sealer = Sealer(KEY, cluster="c", sender="n1", boot=1)
    nonces, ids = set(), set()
    for _ in range(100_000):
        msg_id, frames = sealer.seal(MsgType.PING, {})
        nonces.add(frames[1][:NONCE_SIZE])
        ids.add(msg_id)
    assert len(nonces) == len(ids) == 100_000
