"""A node started with a passphrase that no longer opens its store (changed by rotate-key
while it was down): alone it refuses to start; in a cluster it waits for its peers and says
"not yet" (503), never "no such model" (404), for what it cannot read yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.errors import ConfigError
from store import StoreConfig, open_store
from tests.cluster.conftest import free_ports
from tests.node.harness import post, running_node, settings_tree


async def _rotated_store(path: Path) -> None:
    """A SQLite store with one stored provider whose passphrase went from 'old' to 'new'."""
    store = await open_store(StoreConfig(kind="sqlite", datasource=str(path),
                                         encryption_key="old"))
    await store.put_provider("stored", {"type": "mock", "api_key": "sk-stored"})
    await store.rotate_key("new")
    await store.close()


def _tree(path: Path, **sections: object) -> dict[str, object]:
    return settings_tree(store={"sqlite": {"datasource": str(path)}, "encryption_key": "old",
                                "memory": None}, **sections)


async def test_alone_it_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    await _rotated_store(tmp_path / "at.db")
    with pytest.raises(ConfigError) as caught:
        async with running_node(_tree(tmp_path / "at.db")):
            pass
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("store.encryption_key:") and "passphrase was changed" in message
    assert "old" not in message.replace("ran", "")  # the passphrase itself is never shown


async def test_in_a_cluster_stored_models_answer_503_meanwhile(tmp_path: Path) -> None:
    await _rotated_store(tmp_path / "at.db")
    port, raft, peer_port, peer_raft = free_ports(4)
    # The one peer never comes up: the key cannot arrive, and the node must say so.
    cluster = {"peers": [f"127.0.0.1:{port}", f"127.0.0.1:{peer_port}"],
               "bind_addr": "127.0.0.1", "advertise": "127.0.0.1", "port": port,
               "raft_port": raft, "replicas": 2, "security": {"key": "cluster-secret"}}
    del peer_raft
    async with running_node(_tree(tmp_path / "at.db", cluster=cluster),
                            node_name="n1") as node:
        assert node.gateway.stale_key
        body = {"model": "stored/mock-1", "messages": [{"role": "user", "content": "hi"}]}
        status, data, _ = await post(node, "/v1/chat/completions", body)
        assert status == 503 and "encryption key" in data["error"]["message"]
        # Models from at.yaml are still served meanwhile.
        status, _, _ = await post(node, "/v1/chat/completions", {**body, "model": "demo/mock-1"})
        assert status == 200
