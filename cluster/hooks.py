"""What the cluster agent needs from the node: ``ClusterHooks`` (implemented by ``node``).

Every method is called on the event loop. The async ones may do database work; they are
bounded by a timeout in the agent and their failures are reported to the sender as ``ok=False``.
"""

from __future__ import annotations

from typing import Protocol


class ClusterHooks(Protocol):
    """The node's side of the cluster protocol."""

    async def on_change(self, kind: str, item: str) -> None:
        """A peer changed ``item`` of ``kind`` ("provider", "api_key"): reload it from the DB."""
        ...

    async def on_key_version(self, version: int) -> None:
        """A peer announced (or reports) key ``version``: reconcile the keyring with the DB."""
        ...

    def key_version(self) -> int:
        """The key version this node holds active (0 = encryption off)."""
        ...

    def needs_key_material(self) -> bool:
        """True when the DB alone cannot help (e.g. this node's passphrase is stale)."""
        ...

    async def export_key_material(self) -> bytes | None:
        """Key material for a peer that asked; None to decline. Travels sealed on the bus."""
        ...

    async def import_key_material(self, blob: bytes) -> None:
        """Install key material a peer sent (what its ``export_key_material`` returned)."""
        ...
