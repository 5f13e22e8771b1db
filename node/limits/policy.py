"""A key's policy (limits and per-request caps) as the node reads it from ``ApiKeyRecord.policy``.

The record keeps the policy as a plain JSON object; this module gives it meaning. Only the
limits that are set appear in :attr:`KeyPolicy.limits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from store import ApiKeyRecord

__all__ = ["LIMIT_NAMES", "KeyPolicy", "key_policy"]

LIMIT_NAMES = ("requests_per_minute", "requests_per_hour", "requests_per_day",
               "input_tokens_per_minute", "input_tokens_per_day", "output_tokens_per_minute",
               "output_tokens_per_day", "usd_per_day", "usd_per_month", "max_concurrent")


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What a key may do beyond its scopes."""

    limits: Mapping[str, float] = field(default_factory=dict)
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    system_prompt: str | None = None
    default_model: str | None = None
    price_multiplier: float = 1.0


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def key_policy(record: ApiKeyRecord) -> KeyPolicy:
    """The policy of ``record`` (fields the admin API validated on the way in)."""
    raw = record.policy
    if not raw:
        return KeyPolicy()
    limits = raw.get("limits") or {}
    return KeyPolicy(
        limits={name: float(limits[name]) for name in LIMIT_NAMES
                if isinstance(limits.get(name), int | float) and limits[name] is not True},
        max_input_tokens=_int(raw.get("max_input_tokens")),
        max_output_tokens=_int(raw.get("max_output_tokens")),
        system_prompt=raw.get("system_prompt") if isinstance(raw.get("system_prompt"), str)
        else None,
        default_model=raw.get("default_model") if isinstance(raw.get("default_model"), str)
        else None,
        price_multiplier=float(raw.get("price_multiplier") or 1.0),
    )
