"""The retry policy: which failures move a request to another target, and the answer when
no target is left.

A failure is retried on another target (never one this request tried) when its kind is in
the route's ``retry_on`` and the request has retries left; a 4xx other than 429 is the
request's own fault and is answered at once. When no target of any tier is ready, the answer
is the last upstream error (a 429 with the earliest ``Retry-After`` when every target is
cooling down from a 429).
"""

from __future__ import annotations

import math
from collections.abc import Collection

from node.errors import Unavailable
from node.routing.health import FailureKind
from node.routing.table import RoutePlan
from providers import ProviderError, UpstreamRateLimited

__all__ = ["exhausted", "retries_left"]


def retries_left(plan: RoutePlan, kind: FailureKind | None, attempts: int) -> bool:
    """True when a failure of ``kind`` on attempt number ``attempts`` is tried again."""
    return kind is not None and kind in plan.retry_on and attempts <= plan.retries


def exhausted(plan: RoutePlan, now: float, last: BaseException | None,
              providers: Collection[str] | None = None) -> BaseException:
    """What to answer when no target is left for a request (``last``: its own last error)."""
    states = [target.state for target in plan.targets
              if providers is None or target.route.provider_key in providers]
    cooling = [state for state in states if state.cooling(now)]
    if states and len(cooling) == len(states) and all(s.kind == "429" for s in cooling):
        wait = min(state.until for state in cooling) - now
        message = (last.message if isinstance(last, ProviderError) and last.status == 429
                   else f"Every target of '{plan.name}' is rate limited upstream")
        return UpstreamRateLimited(message, retry_after=str(max(1, math.ceil(wait))))
    if last is not None:
        return last
    errors = [state for state in cooling if state.error is not None]
    if errors:
        error = max(errors, key=lambda state: state.until).error
        assert error is not None
        return _copy(error)
    if not states:
        return Unavailable(f"No target of '{plan.name}' is available to this API key or "
                           "configured now")
    return Unavailable(f"Every target of '{plan.name}' is cooling down or being probed; "
                       "retry shortly")


def _copy(error: ProviderError) -> ProviderError:
    """A fresh exception like a target's last one (a stored exception is never re-raised:
    concurrent requests would share and extend its traceback)."""
    try:
        return type(error)(error.message, provider=error.provider, status=error.status,
                           retry_after=error.retry_after)
    except TypeError:  # a subclass with its own signature
        return ProviderError(error.message, provider=error.provider, status=error.status)
