"""A gateway key's policy: its limits and the rules applied to each of its requests.

The store keeps a key's policy as an opaque JSON object (``ApiKeyRecord.policy``); this module
gives it meaning. :func:`parse_policy` validates what the admin API is sent (every bad value
is a 400 naming the field), so :func:`key_policy` can read a stored policy cheaply on the
request path without validating it again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from node.errors import BadRequest
from store import ApiKeyRecord

__all__ = [
    "LIMIT_NAMES",
    "NO_POLICY",
    "POLICY_FIELDS",
    "USD_LIMITS",
    "KeyPolicy",
    "key_policy",
    "merged_policy",
    "parse_limits",
    "parse_policy",
    "policy_public",
]

LIMIT_NAMES: Final = (
    "requests_per_minute", "requests_per_hour", "requests_per_day",
    "input_tokens_per_minute", "input_tokens_per_day",
    "output_tokens_per_minute", "output_tokens_per_day",
    "usd_per_day", "usd_per_month", "max_concurrent",
)
USD_LIMITS: Final = frozenset({"usd_per_day", "usd_per_month"})
POLICY_FIELDS: Final = frozenset({
    "limits", "max_input_tokens", "max_output_tokens", "system_prompt", "default_model",
    "price_multiplier",
})
# Large enough for any real allowance, small enough that a cap in micro-USD fits a BIGINT.
LIMIT_MAX: Final = 10**12
SYSTEM_PROMPT_MAX_BYTES: Final = 100_000


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What a key may use and how its requests are shaped (defaults: no limit, no change).

    ``limits`` holds only the limits that are set (names from :data:`LIMIT_NAMES`); USD
    limits are in dollars, the others in whole requests or tokens.
    """

    limits: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    system_prompt: str | None = None
    default_model: str | None = None
    price_multiplier: float = 1.0


NO_POLICY: Final = KeyPolicy()


def key_policy(record: ApiKeyRecord) -> KeyPolicy:
    """The policy of ``record`` (stored policies were validated when they were written)."""
    stored = record.policy
    if not stored:
        return NO_POLICY  # most keys: no allocation on the request path
    limits = stored.get("limits") or {}
    return KeyPolicy(
        limits=MappingProxyType({name: limits[name] for name in LIMIT_NAMES
                                 if limits.get(name) is not None}),
        max_input_tokens=stored.get("max_input_tokens"),
        max_output_tokens=stored.get("max_output_tokens"),
        system_prompt=stored.get("system_prompt") or None,
        default_model=stored.get("default_model") or None,
        price_multiplier=float(stored.get("price_multiplier") or 1.0),
    )


def policy_public(policy: KeyPolicy) -> dict[str, Any]:
    """The policy fields as the admin API shows them (unset fields as null, limits as {})."""
    return {
        "limits": dict(policy.limits),
        "max_input_tokens": policy.max_input_tokens,
        "max_output_tokens": policy.max_output_tokens,
        "system_prompt": policy.system_prompt,
        "default_model": policy.default_model,
        "price_multiplier": policy.price_multiplier,
    }


def merged_policy(current: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with the policy fields of ``body`` applied (a PATCH).

    A field given replaces the stored one and null removes it; ``limits`` given replaces the
    whole limits object (a limit left out or null is no longer limited).
    """
    merged = {**current, **parse_policy(body)}
    return {name: value for name, value in merged.items() if value is not None}


def parse_policy(body: Mapping[str, Any]) -> dict[str, Any]:
    """The policy fields present in ``body``, validated (None: the field is cleared).

    Raises :class:`BadRequest` naming the field (``limits.requests_per_minit``) otherwise.
    """
    out: dict[str, Any] = {}
    if "limits" in body:
        limits = parse_limits(body["limits"], "limits")
        out["limits"] = limits or None
    for name in ("max_input_tokens", "max_output_tokens"):
        if name in body:
            out[name] = _count(body[name], name, nullable=True)
    if "system_prompt" in body:
        out["system_prompt"] = _system_prompt(body["system_prompt"])
    if "default_model" in body:
        out["default_model"] = _text(body["default_model"], "default_model")
    if "price_multiplier" in body:
        out["price_multiplier"] = _multiplier(body["price_multiplier"])
    return out


def parse_limits(value: Any, where: str) -> dict[str, float]:
    """A limits object: only :data:`LIMIT_NAMES`, each null (no limit) or a positive number
    (whole for requests, tokens and ``max_concurrent``; USD may be fractional)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"'{where}' must be an object of limit name to number", param=where)
    limits: dict[str, float] = {}
    for name, cap in value.items():
        field_name = f"{where}.{name}"
        if name not in LIMIT_NAMES:
            raise BadRequest(f"'{field_name}' is not a limit (expected one of: "
                             f"{', '.join(LIMIT_NAMES)})", param=field_name)
        if cap is None:
            continue
        if name in USD_LIMITS:
            limits[name] = _positive(cap, field_name)
        else:
            limits[name] = _count(cap, field_name, nullable=False)
    return limits


def _positive(value: Any, name: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 < value <= LIMIT_MAX):
        raise BadRequest(f"'{name}' must be a number above 0 (at most {LIMIT_MAX})", param=name)
    return float(value)


def _count(value: Any, name: str, *, nullable: bool) -> Any:
    if value is None and nullable:
        return None
    # 60.0 is 60: JSON writers differ in how they print whole numbers.
    whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if (isinstance(value, bool) or not (isinstance(value, int) or whole)
            or not 0 < value <= LIMIT_MAX):
        allowed = " or null" if nullable else ""
        raise BadRequest(f"'{name}' must be a whole number above 0{allowed}", param=name)
    return int(value)


def _system_prompt(value: Any) -> str | None:
    text = _text(value, "system_prompt")
    if text is not None and len(text.encode()) > SYSTEM_PROMPT_MAX_BYTES:
        raise BadRequest(f"'system_prompt' must be at most {SYSTEM_PROMPT_MAX_BYTES} bytes",
                         param="system_prompt")
    return text


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None  # "" clears the field, like null
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string or null", param=name)
    return value


def _multiplier(value: Any) -> float | None:
    if value is None:
        return None  # back to the default, 1.0
    return _positive(value, "price_multiplier")
