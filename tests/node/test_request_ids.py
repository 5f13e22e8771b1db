"""Request ids the node makes: 24 hex digits that grow with time (cheap to index)."""

from __future__ import annotations

import re
import time

from node.middleware import new_request_id


def test_ids_are_24_hex_digits_and_grow_with_time() -> None:
    ids = []
    for _ in range(50):
        ids.append(new_request_id())
        time.sleep(0.00002)  # past the microsecond: order is then the time's
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids), ids
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_made_in_one_microsecond_still_differ() -> None:
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert int(max(ids)[:13], 16) - int(min(ids)[:13], 16) < 10_000_000  # within 10 s
