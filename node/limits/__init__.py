"""Exact per-key and per-provider limits from quota leases (notes/limits.md).

:mod:`~node.limits.cache` holds the leased slices and admits from memory;
:mod:`~node.limits.admission` turns a request into needs and a refusal into a 429;
:mod:`~node.limits.needs` computes the provable bounds; :mod:`~node.limits.policy` reads and
validates a key's policy; :mod:`~node.limits.prices` prices tokens and each exchange's cost;
:mod:`~node.limits.janitor` deletes the ledger rows of long-finished windows.
"""

from node.limits.admission import USD_UNIT, Admitted, Limits, Plan, limits_of
from node.limits.cache import Hold, LeaseCache, Leases, Limit, Refusal, Reservation, Slice
from node.limits.janitor import Janitor

__all__ = ["USD_UNIT", "Admitted", "Hold", "Janitor", "LeaseCache", "Leases", "Limit", "Limits",
           "Plan", "Refusal", "Reservation", "Slice", "limits_of"]
