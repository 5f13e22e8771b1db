"""Each target's live state on this node: in flight, cool-downs, probes, error rate, latency.

A target that fails (connect error, timeout, 429, 5xx) cools down: for the upstream's
``Retry-After`` when it sent one, else for the route's ``cooldown`` doubled with each failure
in a row (capped). When the cool-down ends, the next request is its one probe; other requests
pass the target by until the probe has answered, and its answer decides: healthy again, or a
longer cool-down. Everything here is plain attributes on the event loop: no locks, no IO.
"""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime
from typing import Final, Literal

from providers import (
    ProviderError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = ["FailureKind", "TargetState", "failure_kind", "retry_after_seconds"]

FailureKind = Literal["connect", "timeout", "429", "5xx"]

ALPHA: Final = 0.2  # weight of the newest sample in the error rate and latency averages
MAX_BACKOFF: Final = 32  # a cool-down grows to at most this many times the route's cooldown
MAX_RETRY_AFTER: Final = 3600.0  # an upstream's Retry-After is honoured up to an hour


def failure_kind(exc: ProviderError) -> FailureKind | None:
    """The kind of an upstream failure that says the target is unwell (None: the request's
    own fault, a 4xx other than 429, which any target would answer alike)."""
    if isinstance(exc, UpstreamRateLimited):
        return "429"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamUnreachable):
        return "connect"
    if isinstance(exc, UpstreamServerError) or exc.status >= 500:
        return "5xx"
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """An upstream's ``Retry-After`` (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class TargetState:
    """One target (``provider/model``) as this node sees it; shared by every route naming it.

    ``until`` is the monotonic end of the cool-down (0.0: healthy); once passed with
    ``probing`` False the next request probes. ``errors`` and ``latency`` are exponentially
    weighted (``latency`` is the time to the first byte; None until the first success).
    """

    __slots__ = ("cooldowns", "error", "errors", "failures", "in_flight", "kind", "latency",
                 "probing", "target", "until")

    def __init__(self, target: str) -> None:
        self.target = target
        self.in_flight = 0
        self.until = 0.0
        self.probing = False
        self.failures = 0  # in a row
        self.errors = 0.0
        self.latency: float | None = None
        self.cooldowns = 0
        self.kind: FailureKind | None = None  # of the last failure
        self.error: ProviderError | None = None  # the last failure, as the client saw it

    def ready(self, now: float) -> bool:
        """May a request be sent now (healthy, or a cool-down over with no probe out)?"""
        until = self.until
        return not until or (until <= now and not self.probing)

    def cooling(self, now: float) -> bool:
        return self.until > now

    def begin(self) -> None:
        """A request goes out; after a cool-down it is the probe."""
        self.in_flight += 1
        if self.until:
            self.probing = True

    def end(self) -> None:
        """The request is over (answered, failed, or its stream ended)."""
        self.in_flight -= 1

    def succeeded(self, seconds: float) -> None:
        """The upstream answered (a 2xx, or the request's own 4xx): healthy."""
        self.until = 0.0
        self.probing = False
        self.failures = 0
        self.errors *= 1 - ALPHA
        latency = self.latency
        self.latency = seconds if latency is None else latency + ALPHA * (seconds - latency)

    def failed(self, kind: FailureKind, error: ProviderError, cooldown: float,
               now: float) -> float:
        """Cool the target down after a failure; returns how long it now cools down.

        A failure of a request sent before the cool-down began (many fail at once when an
        upstream dies under load) does not lengthen the backoff: only failures in a row of
        requests sent to a target believed healthy, and failed probes, double it."""
        self.errors += ALPHA * (1 - self.errors)
        self.kind, self.error = kind, error
        waited = retry_after_seconds(error.retry_after) if kind == "429" else None
        if self.until > now:
            if waited is not None and now + waited > self.until:
                self.until = now + waited
            return self.until - now
        self.failures += 1
        self.probing = False
        if waited is None:
            waited = cooldown * min(2 ** (self.failures - 1), MAX_BACKOFF)
        self.until = now + waited
        self.cooldowns += 1
        return waited

    def abandoned(self) -> None:
        """The attempt ended without an answer either way (the client left): a probe may
        be sent again."""
        self.probing = False

    def public(self, now: float) -> dict[str, object]:
        """The admin API's view: status, until (epoch seconds), in flight, error rate,
        latency EWMA in ms."""
        cooling = self.until > now
        status = "cooling_down" if cooling else "probing" if self.probing else (
            "probe_due" if self.until else "healthy")
        out: dict[str, object] = {
            "status": status, "in_flight": self.in_flight, "error_rate": round(self.errors, 4),
            "latency_ewma_ms": None if self.latency is None else round(self.latency * 1000, 3),
            "failures_in_a_row": self.failures, "cooldowns": self.cooldowns,
        }
        if cooling:
            out["until"] = round(time.time() + (self.until - now), 3)
            out["reason"] = self.kind
        return out
