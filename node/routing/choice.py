"""Choosing a route's target for one attempt: the best tier with a target ready, then the
route's strategy within it.

``weighted``: at random in proportion to the weights (the precomputed running totals when the
whole tier is eligible, the usual case). ``least_busy``: the fewest requests in flight on this
node, ties by weight. ``latency``: the lowest time-to-first-byte average; targets with no
sample yet are tried first, so every target gets measured.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Collection, Sequence
from itertools import accumulate
from random import random

from node.routing.table import RoutePlan, Target

__all__ = ["choose"]


def choose(plan: RoutePlan, now: float, tried: Sequence[Target] = (),
           providers: Collection[str] | None = None) -> Target | None:
    """The target for the next attempt, or None when no tier has one ready.

    ``tried``: targets this request already tried (never chosen again); ``providers``: the
    provider keys the gateway key may use (None: any).
    """
    strategy = plan.strategy
    if strategy == "weighted" and not tried and providers is None:
        # The usual first attempt: the first tier whose targets are all ready is chosen from
        # with its precomputed totals, no list built.
        tiers = plan.tiers
        if tiers:
            members = tiers[0].targets
            for target in members:
                if target.state.until:  # cooling down or probing: the general way below
                    break
            else:
                cumulative = tiers[0].cumulative
                return members[min(bisect(cumulative, random() * cumulative[-1]),
                                   len(members) - 1)]
    for tier in plan.tiers:
        members = tier.targets
        pool = [target for target in members
                if target.state.ready(now) and target not in tried
                and (providers is None or target.route.provider_key in providers)]
        if not pool:
            continue
        if len(pool) == 1:
            return pool[0]
        if strategy == "least_busy":
            fewest = min(target.state.in_flight for target in pool)
            pool = [target for target in pool if target.state.in_flight == fewest]
        elif strategy == "latency":
            unmeasured = [target for target in pool if target.state.latency is None]
            if not unmeasured:
                return min(pool, key=_latency)
            pool = unmeasured
        if len(pool) == len(members):
            cumulative = tier.cumulative
        else:
            cumulative = tuple(accumulate(target.weight for target in pool))
        # min(): random() * total may round up to total itself.
        return pool[min(bisect(cumulative, random() * cumulative[-1]), len(pool) - 1)]
    return None


def _latency(target: Target) -> float:
    latency = target.state.latency
    return latency if latency is not None else 0.0
