"""``GET /v1/key``: what the calling key may do and what is left of it (plain JSON).

Numbers come from the quota ledger: one lease statement asking for nothing returns each
window's ``left`` (``cap`` minus what every node was granted). Units other nodes hold unused
count as used here (this node cannot see them), so ``used`` is an upper bound and
``remaining`` (``left`` plus this node's own free units) never overstates what the cluster
would still admit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.gateway import Gateway
from node.json_io import json_response
from node.limits import USD_UNIT, Limit, limits_of
from node.serve.auth import authenticate
from node.state import GATEWAY
from store import ApiKeyRecord, Lease, LeaseAsk, StoreError


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _unit(limit: Limit, units: int) -> float:
    return units / USD_UNIT if limit.name.startswith("usd_") else units


async def _leases(gateway: Gateway, limits: list[Limit]) -> dict[str, Lease]:
    asks = [LeaseAsk(limit.scope, limit.name, limit.period, limit.cap, 0, 0)
            for limit in limits]
    if not asks:
        return {}
    try:
        return {lease.limit: lease for lease in await gateway.store.lease(asks)}
    except StoreError:
        return {}  # reported from this node's slices alone


def _windowed(gateway: Gateway, limit: Limit, lease: Lease | None) -> dict[str, Any]:
    cache = gateway.limits.cache
    if lease is not None:
        free = cache.free_in(limit, lease.win_start)
        used = max(0, min(limit.cap, limit.cap - lease.left - free))
        remaining = max(0, min(limit.cap - used, lease.left + free))
        resets_at = _iso(lease.win_end)
    else:
        seen = cache.view(limit)
        if seen is None:  # nothing known: claim nothing is left
            used, remaining, resets_at = limit.cap, 0, None
        else:
            used, remaining = seen[0], seen[1]
            resets_at = _iso(datetime.now(UTC).timestamp() + seen[2])
    return {"limit": _unit(limit, limit.cap), "used": _unit(limit, used),
            "remaining": _unit(limit, remaining), "resets_at": resets_at}


async def _spend(gateway: Gateway, key: ApiKeyRecord,
                 report: dict[str, dict[str, Any]]) -> dict[str, float]:
    """USD spent today and this month: the budgets' ledgers when limited, else usage."""
    spend: dict[str, float] = {}
    now = datetime.now(UTC)
    for name, period in (("usd_per_day", "today"), ("usd_per_month", "month")):
        if name in report:
            spend[period] = float(report[name]["used"])
    if len(spend) < 2:
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        rows = await gateway.store.usage_summary(since=month, until=None)
        mine = [row for row in rows if row.get("key_id") == key.id]
        today = now.date().isoformat()
        spend.setdefault("month", sum(float(r.get("cost_usd", 0.0)) for r in mine))
        spend.setdefault("today", sum(float(r.get("cost_usd", 0.0)) for r in mine
                                      if str(r.get("day", ""))[:10] == today))
    return {"today": round(spend["today"], 6), "month": round(spend["month"], 6)}


async def key_info(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    key = authenticate(request, gateway)
    found = limits_of(key, "", None)
    windowed = [limit for limit, _, _ in found if limit is not None]
    leases = await _leases(gateway, windowed)
    report = {limit.name: _windowed(gateway, limit, leases.get(limit.name))
              for limit in windowed}
    for limit, scope, cap in found:
        if limit is None:
            running = gateway.limits.in_flight(scope)
            report["max_concurrent"] = {"limit": cap, "used": running,
                                        "remaining": max(0, cap - running), "resets_at": None}
    return json_response({
        "name": key.name,
        "scopes": {"providers": list(key.providers) if key.providers is not None else None,
                   "models": list(key.models) if key.models is not None else None},
        "expires_at": _iso(key.expires_at.timestamp()) if key.expires_at else None,
        "limits": report,
        "spend_usd": await _spend(gateway, key, report),
    })


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/v1/key", key_info)
