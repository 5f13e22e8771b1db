"""Sealing and opening bus frames: ChaCha20-Poly1305 with the header as associated data.

Every frame uses a fresh random 96-bit nonce. One bus key is shared by the cluster, so the
message count per key must stay far below 2**32 (notes §2.2); the bus carries a ping per peer
per second and rare notices, many orders of magnitude below. ``Opener`` drops, and counts,
frames that are forged (bad MAC or wrong cluster), stale (outside ±window), replayed (message id
seen) or backwards (a request whose (boot, seq) does not move forward for its sender).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from cluster.errors import SealError
from cluster.messages import Header, Message, MsgType, decode_payload, encode_payload

NONCE_SIZE = 12
REJECT_REASONS = ("malformed", "forged", "stale", "replayed", "backwards")


class Sealer:
    """Seals this node's frames; owns the per-boot sequence counter.

    ``sender`` is the node's identity; the agent settles it after its first discovery pass.
    """

    def __init__(self, key: bytes, *, cluster: str, sender: str, boot: int) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._cluster, self.sender, self._boot = cluster, sender, boot
        self._seq = 0

    def seal(self, kind: MsgType, payload: dict[str, Any], *, sent_at: float | None = None,
             seq: int | None = None) -> tuple[bytes, list[bytes]]:
        """Return ``(msg_id, [header, nonce|ciphertext])``; overrides exist for tests."""
        if seq is None:
            self._seq += 1
            seq = self._seq
        msg_id = os.urandom(16)
        header = Header(kind, msg_id, time.time() if sent_at is None else sent_at,
                        self._boot, seq, self._cluster, self.sender).encode()
        nonce = os.urandom(NONCE_SIZE)
        return msg_id, [header, nonce + self._aead.encrypt(nonce, encode_payload(payload), header)]


class Opener:
    """Verifies frames from peers and keeps the replay state; counters are public."""

    def __init__(self, key: bytes, *, cluster: str, window: float,
                 max_ids: int = 65536) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._cluster, self._window, self._max_ids = cluster, window, max_ids
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._last: dict[str, tuple[int, int]] = {}
        self.counters: dict[str, int] = dict.fromkeys(("accepted", *REJECT_REASONS), 0)

    def open(self, frames: list[bytes]) -> Message:
        """Verify and decode a frame, or count it and raise ``SealError(reason)``."""
        try:
            message = self._open(frames)
        except SealError as exc:
            self.counters[exc.reason] += 1
            raise
        self.counters["accepted"] += 1
        return message

    def _open(self, frames: list[bytes]) -> Message:
        if len(frames) != 2 or len(frames[1]) < NONCE_SIZE + 16:
            raise SealError("malformed")
        raw_header, body = frames
        header = Header.decode(raw_header)
        try:
            plain = self._aead.decrypt(body[:NONCE_SIZE], body[NONCE_SIZE:], raw_header)
        except InvalidTag as exc:
            raise SealError("forged") from exc
        if header.cluster != self._cluster:
            raise SealError("forged")      # a valid MAC under our key but another cluster name
        now = time.time()
        if abs(now - header.sent_at) > self._window:
            raise SealError("stale")
        self._expire(now)
        if header.msg_id in self._seen:
            raise SealError("replayed")
        if not header.type.is_reply:
            # Replies come back on another connection, so only requests are ordered per sender.
            last = self._last.get(header.sender, (0, 0))
            if (header.boot, header.seq) <= last:
                raise SealError("backwards")
            self._last[header.sender] = (header.boot, header.seq)
        self._seen[header.msg_id] = now + 2 * self._window
        return Message(header, decode_payload(plain))

    def _expire(self, now: float) -> None:
        while self._seen:
            msg_id, expiry = next(iter(self._seen.items()))
            if expiry > now and len(self._seen) < self._max_ids:
                break
            del self._seen[msg_id]
