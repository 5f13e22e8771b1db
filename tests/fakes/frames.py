"""Split what a provider stream yields back into single SSE events, for assertions.

Streams write everything one upstream read completes as one chunk; tests reason per event.
"""

from __future__ import annotations

from typing import Any


async def collect_events(stream: Any) -> list[bytes]:
    """Every SSE event the stream yields, one ``...\\n\\n`` frame per item."""
    joined = b"".join([chunk async for chunk in stream])
    return [part + b"\n\n" for part in joined.split(b"\n\n") if part]
