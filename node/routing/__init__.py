"""Routing: one served model name over several deployments (issue 13).

:mod:`~node.routing.table` compiles routes (at.yaml ``routes`` and stored ones) into plans of
priority tiers; :mod:`~node.routing.choice` picks a target per attempt by the route's strategy;
:mod:`~node.routing.health` keeps each target's live state (in flight, cool-downs with
``Retry-After`` and backoff, one probe after a cool-down, error rate, latency);
:mod:`~node.routing.retry` decides what is retried and what answers when nothing is left.
All of it is memory on the event loop: nothing here touches the database or the cluster.
"""

from node.routing.choice import choose
from node.routing.health import FailureKind, TargetState, failure_kind, retry_after_seconds
from node.routing.retry import exhausted, retries_left
from node.routing.table import RoutePlan, RouteTable, Target, Tier, route_public

__all__ = ["FailureKind", "RoutePlan", "RouteTable", "Target", "TargetState", "Tier", "choose",
           "exhausted", "failure_kind", "retries_left", "retry_after_seconds", "route_public"]
