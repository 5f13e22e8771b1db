"""Bus message types and the binary frame header (sans-IO: bytes in, values out).

A frame is two ZeroMQ parts: ``header`` and ``nonce(12) | ChaCha20-Poly1305(payload)``. The
header is authenticated as associated data, so none of its fields can be changed::

    >B  format version (1)        >B  message type (MsgType)
    16s message id (random)       >d  sent_at (sender wall clock, seconds)
    >Q  boot id (sender start, ns) >Q  sequence (per sender and boot, from 1)
    >B+ cluster name (utf-8)      >B+ sender name (utf-8)      (``>B+`` = length byte, bytes)

Payloads are JSON objects:

    PING           {"key_version": int, "name": str, "voter": bool, "echo"?: hex}
    ACK            {"ref": hex msg id, "ok": bool, "key_version": int, "error": str,
                    "challenge"?: hex}        (``echo`` and ``challenge``: cluster/identity.py)
    CHANGE         {"kind": str, "item": str}
    KEY_PREPARED   {"version": int, "fingerprint": str}
    KEY_ACTIVATED  {"version": int, "fingerprint": str}
    KEY_REQUEST    {"version": int}                      (what the requester holds)
    KEY_REPLY      {"ref": hex msg id, "ok": bool, "blob": base64 | null, "key_version": int}
    DIGEST         {"name": str, "digest": {str: JSON}}   (live numbers, cluster/digests.py)
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from cluster.errors import SealError

FORMAT_VERSION = 1
_FIXED = struct.Struct(">BB16sdQQ")


class MsgType(enum.IntEnum):
    """What a frame carries; ACK and KEY_REPLY are replies, the rest are requests."""

    PING = 1
    ACK = 2
    CHANGE = 3
    KEY_PREPARED = 4
    KEY_ACTIVATED = 5
    KEY_REQUEST = 6
    KEY_REPLY = 7
    DIGEST = 8

    @property
    def is_reply(self) -> bool:
        """Replies travel ROUTER -> DEALER; they are matched to a pending request id."""
        return self in (MsgType.ACK, MsgType.KEY_REPLY)


@dataclass(frozen=True, slots=True)
class Header:
    """The authenticated header of one frame."""

    type: MsgType
    msg_id: bytes
    sent_at: float
    boot: int
    seq: int
    cluster: str
    sender: str

    def encode(self) -> bytes:
        """The exact bytes that travel and that are bound as associated data."""
        cluster, sender = self.cluster.encode(), self.sender.encode()
        if len(cluster) > 255 or len(sender) > 255 or len(self.msg_id) != 16:
            raise SealError("malformed")
        fixed = _FIXED.pack(FORMAT_VERSION, self.type, self.msg_id, self.sent_at,
                            self.boot, self.seq)
        return fixed + bytes([len(cluster)]) + cluster + bytes([len(sender)]) + sender

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Parse header bytes; ``SealError("malformed")`` on anything unexpected."""
        try:
            version, kind, msg_id, sent_at, boot, seq = _FIXED.unpack_from(data)
            offset = _FIXED.size
            cluster, offset = _take(data, offset)
            sender, offset = _take(data, offset)
            if version != FORMAT_VERSION or offset != len(data):
                raise ValueError("trailing bytes or unknown version")
            return cls(MsgType(kind), msg_id, sent_at, boot, seq, cluster, sender)
        except (struct.error, ValueError, UnicodeDecodeError, IndexError) as exc:
            raise SealError("malformed") from exc


def _take(data: bytes, offset: int) -> tuple[str, int]:
    size = data[offset]
    end = offset + 1 + size
    if end > len(data):
        raise ValueError("short string")
    return data[offset + 1:end].decode(), end


@dataclass(frozen=True, slots=True)
class Message:
    """An opened, verified frame."""

    header: Header
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> MsgType:
        """Shortcut for ``header.type``."""
        return self.header.type


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Compact JSON, the plaintext of a frame."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def decode_payload(data: bytes) -> dict[str, Any]:
    """Parse a plaintext; it must be a JSON object."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise SealError("malformed") from exc
    if not isinstance(value, dict):
        raise SealError("malformed")
    return value
