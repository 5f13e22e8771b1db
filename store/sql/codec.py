"""Row <-> record conversion and the usage aggregation query (no IO)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..records import ApiKeyRecord, UsageRecord
from ..usage import day_of, utc


def to_epoch(moment: datetime | None) -> float | None:
    """Seconds since the epoch (naive datetimes are taken as UTC)."""
    return None if moment is None else utc(moment).timestamp()


def from_epoch(seconds: float) -> datetime:
    """Aware UTC datetime from stored seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def _names(value: tuple[str, ...] | None) -> str | None:
    return None if value is None else json.dumps(list(value))


def _unnames(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def api_key_values(record: ApiKeyRecord) -> dict[str, Any]:
    """Column values for an API key row."""
    return {"id": record.id, "name": record.name, "key_hash": record.key_hash,
            "prefix": record.prefix, "providers": _names(record.providers),
            "models": _names(record.models), "expires_at": to_epoch(record.expires_at),
            "enabled": record.enabled, "created_at": to_epoch(record.created_at)}


def api_key_from_row(row: sa.Row[Any]) -> ApiKeyRecord:
    """An ApiKeyRecord from its row."""
    return ApiKeyRecord(
        id=row.id, name=row.name, key_hash=row.key_hash, prefix=row.prefix,
        providers=_unnames(row.providers), models=_unnames(row.models),
        expires_at=None if row.expires_at is None else from_epoch(row.expires_at),
        enabled=bool(row.enabled), created_at=from_epoch(row.created_at))


def usage_values(record: UsageRecord) -> dict[str, Any]:
    """Column values for a usage row; ``day`` is precomputed so grouping is portable."""
    return {"at": to_epoch(record.at), "day": day_of(record.at), "key_id": record.key_id,
            "provider": record.provider, "model": record.model,
            "input_tokens": record.input_tokens, "output_tokens": record.output_tokens,
            "status": record.status, "latency_ms": record.latency_ms,
            "cache_read_tokens": record.cache_read_tokens,
            "cache_write_tokens": record.cache_write_tokens}


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
        sa.func.sum(c.latency_ms).label("latency"),
    ).group_by(c.day, c.key_id, c.provider, c.model).order_by(
        c.day, c.key_id, c.provider, c.model)
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    return query
