"""The cluster's live figures: each node's digest, and all of them merged.

A digest is what :class:`node.admin.events.LiveStats` knows about one node's last full second
(see :func:`digest`); every node shares its own with its peers once a second over the cluster
bus (``ClusterLink.share_digest``) and keeps theirs (``ClusterLink.digests``). Rates, in-flight,
tokens and the 5-minute counts add up across nodes. Percentiles do not add up, so each digest
carries its latencies of the last 10 s as a histogram of :data:`RATIO`-wide buckets; the
cluster's percentiles are read from the summed histograms (each is the upper edge of its
bucket: at most 19 % above the exact value, whatever the traffic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

SUMMED = ("requests_per_second", "errors_per_second", "tokens_per_second", "in_flight",
          "requests_5m", "errors_5m")
PER_NODE = (*SUMMED, "p50_ms", "p95_ms", "p99_ms")
RATIO = 2 ** 0.25
LOWEST_MS = 0.1
BUCKETS = 120  # 0.1 ms .. about 100 minutes; anything longer lands in the last bucket


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket whose upper edge is the first at or above ``latency_ms``."""
    if latency_ms <= LOWEST_MS:
        return 0
    return min(BUCKETS - 1, math.ceil(math.log(latency_ms / LOWEST_MS, RATIO) - 1e-9))


def upper_edge(bucket: int) -> float:
    return LOWEST_MS * RATIO ** bucket


def histogram(latencies_ms: Iterable[float]) -> dict[str, int]:
    """Sparse histogram (bucket index as text, the JSON key) of some latencies."""
    counts: dict[str, int] = {}
    for value in latencies_ms:
        key = str(bucket_of(value))
        counts[key] = counts.get(key, 0) + 1
    return counts


def digest(snapshot: Mapping[str, Any], latencies_ms: Iterable[float]) -> dict[str, Any]:
    """This node's digest: its snapshot's figures plus its recent latencies' histogram."""
    return {**{name: snapshot.get(name) for name in ("at", *PER_NODE)},
            "latency_histogram": histogram(latencies_ms)}


def combined(digests: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One digest for several (a node's workers): counts summed, histograms merged and the
    percentiles read from the merged histogram."""
    every = list(digests)
    total: dict[str, Any] = {"at": max((_number(d.get("at")) for d in every), default=0)}
    for name in SUMMED:
        total[name] = sum(_number(d.get(name)) for d in every)
    counts: dict[int, int] = {}
    for d in every:
        for key, count in _buckets(d.get("latency_histogram")):
            counts[key] = counts.get(key, 0) + count
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        total[name] = _percentile(counts, q)
    total["latency_histogram"] = {str(k): v for k, v in sorted(counts.items())}
    return total


def merged(own_name: str, own: dict[str, Any], peers: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster's figures from this node's digest and its peers' (sums, merged
    percentiles), with each node's own figures under ``nodes``."""
    every = {name: d for name, d in peers.items() if name != own_name and isinstance(d, dict)}
    every[own_name] = own
    total = {"scope": "cluster", **combined(every.values()), "at": own.get("at")}
    del total["latency_histogram"]
    total["nodes"] = {name: {field: d.get(field) for field in PER_NODE}
                      for name, d in sorted(every.items())}
    return total


def _number(value: object) -> float:
    # A peer is authenticated but may run another version: ignore what is not a count.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return value


def _buckets(value: object) -> Iterable[tuple[int, int]]:
    if not isinstance(value, dict):
        return
    for key, count in value.items():
        if isinstance(key, str) and key.isdigit() and int(key) < BUCKETS \
                and isinstance(count, int) and count > 0:
            yield int(key), count


def _percentile(counts: dict[int, int], q: float) -> float | None:
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for key in sorted(counts):
        seen += counts[key]
        if seen >= rank:
            return round(upper_edge(key), 1)
    return None  # not reached: the ranks add up to total
