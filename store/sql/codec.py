"""Row <-> record conversion and the usage aggregation query (no IO).

Reading never trusts a stored row: a time beyond what ``datetime`` holds is clamped to
EARLIEST or LATEST (so 9999-12-31T23:59:59.999999Z, a common "never", reads back as LATEST
and still never expires), and a row that cannot be read at all raises BadRecord naming it.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..errors import BadRecord
from ..records import ApiKeyRecord, UsageRecord, policy_json
from ..usage import EARLIEST, LATEST, day_of, utc


def to_epoch(moment: datetime | None) -> float | None:
    """Seconds since the epoch (naive datetimes are taken as UTC); BadRecord when the moment
    has no UTC equivalent (an offset pushing it past year 9999 or before year 1)."""
    if moment is None:
        return None
    try:
        return utc(moment).timestamp()
    except (OverflowError, ValueError) as exc:
        raise BadRecord(f"{moment.isoformat()} is out of the storable range") from exc


def from_epoch(seconds: float) -> datetime:
    """Aware UTC datetime from stored seconds, clamped to EARLIEST..LATEST."""
    if math.isnan(seconds):
        raise BadRecord("a stored time is not a number")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):  # which one depends on how far, and the OS
        return LATEST if seconds > 0 else EARLIEST


def _names(value: tuple[str, ...] | None) -> str | None:
    return None if value is None else json.dumps(list(value))


def _unnames(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = json.loads(text)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise BadRecord(f"expected a JSON list of names, found {text[:60]!r}")
    return tuple(names)


def _policy(text: str) -> dict[str, Any]:
    policy = json.loads(text)
    if not isinstance(policy, dict):
        raise BadRecord(f"expected a JSON object as the policy, found {text[:60]!r}")
    return policy


def api_key_values(record: ApiKeyRecord) -> dict[str, Any]:
    """Column values for an API key row."""
    return {"id": record.id, "name": record.name, "key_hash": record.key_hash,
            "prefix": record.prefix, "providers": _names(record.providers),
            "models": _names(record.models), "expires_at": to_epoch(record.expires_at),
            "enabled": record.enabled, "created_at": to_epoch(record.created_at),
            "policy": policy_json(record)}


def api_key_from_row(row: sa.Row[Any]) -> ApiKeyRecord:
    """An ApiKeyRecord from its row; BadRecord naming the key when the row cannot be read."""
    try:
        return ApiKeyRecord(
            id=row.id, name=row.name, key_hash=row.key_hash, prefix=row.prefix,
            providers=_unnames(row.providers), models=_unnames(row.models),
            expires_at=None if row.expires_at is None else from_epoch(row.expires_at),
            enabled=bool(row.enabled), created_at=from_epoch(row.created_at),
            policy=_policy(row.policy))
    except (TypeError, ValueError) as exc:  # BadRecord and JSONDecodeError are ValueErrors
        raise BadRecord(f"API key {row.id!r}: the stored row cannot be read ({exc})") from exc


USAGE_COLUMNS = ("at", "day", "key_id", "provider", "model", "input_tokens", "output_tokens",
                 "status", "latency_ms", "cache_read_tokens", "cache_write_tokens", "cost_usd",
                 "request_id", "ttft_ms", "overhead_ms", "attempts", "error")
"""The columns of a usage row as :func:`usage_row` lays them out."""


def usage_row(record: UsageRecord) -> tuple[Any, ...]:
    """A usage row's values in ``USAGE_COLUMNS`` order; ``day`` is precomputed so grouping
    is portable."""
    return (to_epoch(record.at), day_of(record.at), record.key_id, record.provider,
            record.model, record.input_tokens, record.output_tokens, record.status,
            record.latency_ms, record.cache_read_tokens, record.cache_write_tokens,
            record.cost_usd, record.request_id, record.ttft_ms, record.overhead_ms,
            record.attempts, record.error)


def summary_query(usage: sa.Table, since: float | None, until: float | None) -> sa.Select[Any]:
    """Aggregate per (day, key, provider, model) within [since, until)."""
    c = usage.c
    query = sa.select(
        c.day, c.key_id, c.provider, c.model, sa.func.count().label("requests"),
        sa.func.sum(c.input_tokens).label("input_tokens"),
        sa.func.sum(c.output_tokens).label("output_tokens"),
        sa.func.sum(c.cache_read_tokens).label("cache_read_tokens"),
        sa.func.sum(c.cache_write_tokens).label("cache_write_tokens"),
        sa.func.sum(sa.case((c.status >= 400, 1), else_=0)).label("errors"),
        sa.func.sum(c.cost_usd).label("cost_usd"),
        sa.func.sum(c.latency_ms).label("latency"),
    ).group_by(c.day, c.key_id, c.provider, c.model).order_by(
        c.day, c.key_id, c.provider, c.model)
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    return query
