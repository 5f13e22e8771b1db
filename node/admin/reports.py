"""Usage over time and the request log, read from the usage records (for the UI and CSV).

``GET /usage/buckets`` and ``GET /usage.csv``: requests, tokens, errors and cost per hour or
day, grouped by key, model or provider, within ``[from, to)`` (UTC). Hourly reports ask the
store once per hour, so they are bounded to :data:`MAX_HOURS`; daily ones use the store's
per-day summary in one query. ``GET /logs``: single records, newest first, filtered by request
id, key, model, provider, status and time, with a cursor (the last row's ``id``).
``GET /logs/{request_id}``: every record of one request id, newest first (one, unless a client
sent the same X-Request-ID again), with its detail: time to first byte, the gateway's own
time, upstream attempts and the error text; 404 when the log has none.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from node.admin.usage import query_time
from node.errors import BadRequest, ModelNotFound
from node.json_io import json_response
from node.state import GATEWAY
from store import REQUEST_ID_CHARS

MAX_HOURS = 24 * 7
MAX_DAYS = 366
GROUPS = ("key", "model", "provider")
SUMS = ("requests", "input_tokens", "output_tokens", "errors", "cost_usd")
LOG_PAGE = 200


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise BadRequest(f"'{name}' must be one of: {', '.join(allowed)}", param=name)
    return value


def _window(request: web.Request, bucket: str) -> tuple[datetime, datetime, list[datetime]]:
    now = datetime.now(UTC)
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    until = query_time(request, "to") or now
    since = query_time(request, "from") or until - step * (24 if bucket == "hour" else 30)
    if since >= until:
        raise BadRequest("'from' must be before 'to'", param="from")
    start = since.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    limit = MAX_HOURS if bucket == "hour" else MAX_DAYS
    if (until - start) / step > limit:
        raise BadRequest(f"at most {limit} {bucket}s fit in one report: narrow 'from'..'to' "
                         "or use bucket=day", param="from")
    starts: list[datetime] = []
    moment = start
    while moment < until:
        starts.append(moment)
        moment += step
    return since, until, starts


def _group(row: dict[str, Any], group_by: str) -> str:
    if group_by == "key":
        return str(row["key_id"])
    if group_by == "provider":
        return str(row["provider"])
    return f"{row['provider']}/{row['model']}"


async def _report(request: web.Request) -> dict[str, Any]:
    bucket = _choice(request, "bucket", ("hour", "day"), "hour")
    group_by = _choice(request, "group_by", GROUPS, "model")
    since, until, starts = _window(request, bucket)
    gateway = request.config_dict[GATEWAY]
    await gateway.usage.flush()
    sums: dict[str, list[list[float]]] = {}

    def add(index: int, row: dict[str, Any]) -> None:
        series = sums.setdefault(_group(row, group_by), [[0.0] * len(starts) for _ in SUMS])
        for values, name in zip(series, SUMS, strict=True):
            values[index] += row[name]

    if bucket == "hour":
        for index, start in enumerate(starts):
            lo, hi = max(start, since), min(start + timedelta(hours=1), until)
            for row in await gateway.store.usage_summary(since=lo, until=hi):
                add(index, row)
    else:
        days = {start.date().isoformat(): i for i, start in enumerate(starts)}
        for row in await gateway.store.usage_summary(since=since, until=until):
            add(days[row["day"]], row)
    names = {r.id: r.name for r in gateway.keys.records()} if group_by == "key" else {}
    series = []
    for group in sorted(sums):
        entry: dict[str, Any] = {"group": group, "label": names.get(group, group)}
        for values, name in zip(sums[group], SUMS, strict=True):
            entry[name] = [round(v, 6) if name == "cost_usd" else int(v) for v in values]
            entry[f"total_{name}"] = round(sum(values), 6) if name == "cost_usd" else int(
                sum(values))
        series.append(entry)
    return {"from": since.isoformat(), "to": until.isoformat(), "bucket": bucket,
            "group_by": group_by, "timezone": "UTC",
            "buckets": [s.isoformat() for s in starts], "series": series}


async def buckets(request: web.Request) -> web.Response:
    return json_response(await _report(request))


async def usage_csv(request: web.Request) -> web.Response:
    report = await _report(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["bucket", report["group_by"], "label", *SUMS])
    for entry in report["series"]:
        for index, start in enumerate(report["buckets"]):
            values = [entry[name][index] for name in SUMS]
            if any(values):
                writer.writerow([start, entry["group"], entry["label"], *values])
    name = f"usage-{report['bucket']}-{report['group_by']}.csv"
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


def _status_range(value: str) -> tuple[int, int]:
    if value in ("", "any"):
        return 0, 999
    if value == "ok":
        return 0, 399
    if value == "error":
        return 400, 999
    if value.isdigit() and len(value) == 3:
        return int(value), int(value)
    raise BadRequest("'status' must be ok, error, any or a 3-digit HTTP status",
                     param="status")


def _int(request: web.Request, name: str, low: int, high: int, default: int | None
         ) -> int | None:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}", param=name)
    return int(text)


def _request_id(request: web.Request) -> str | None:
    return _checked_id(request.query.get("request_id", ""))


def _checked_id(value: str) -> str | None:
    if len(value) > REQUEST_ID_CHARS or not value.isprintable():
        raise BadRequest(f"'request_id' must be at most {REQUEST_ID_CHARS} printable "
                         "characters: the X-Request-ID the gateway answered",
                         param="request_id")
    return value or None


async def logs(request: web.Request) -> web.Response:
    query = request.query
    status_from, status_to = _status_range(query.get("status", ""))
    limit = _int(request, "limit", 1, LOG_PAGE, 50) or 50
    before = _int(request, "cursor", 1, 2**62, None)
    gateway = request.config_dict[GATEWAY]
    await gateway.usage.flush()
    rows = await gateway.store.usage_log(
        since=query_time(request, "since"), until=query_time(request, "until"),
        key_id=query.get("key") or None, provider=query.get("provider") or None,
        model=query.get("model") or None, status_from=status_from, status_to=status_to,
        before=before, limit=limit + 1, request_id=_request_id(request))
    page = rows[:limit]
    more = len(rows) > limit
    return json_response({"data": page,
                          "next_cursor": str(page[-1]["id"]) if more and page else None})


async def log_detail(request: web.Request) -> web.Response:
    request_id = _checked_id(request.match_info["request_id"])
    gateway = request.config_dict[GATEWAY]
    await gateway.usage.flush()
    rows = await gateway.store.usage_log(request_id=request_id, limit=LOG_PAGE)
    if not rows:
        raise ModelNotFound(f"No request '{request_id}' in the log", param="request_id")
    return json_response({"data": rows})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/usage/buckets", buckets)
    router.add_get("/usage.csv", usage_csv)
    router.add_get("/logs", logs)
    # ``.+``: an X-Request-ID may hold a "/" (sent percent-encoded, matched decoded)
    router.add_get("/logs/{request_id:.+}", log_detail)
