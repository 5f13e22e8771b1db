"""Reading the audit log back: the day files in a time range, decompressed as streams (today's
file is still open, its stream unfinished but decodable up to the last batch), merged in time
order with the admin changes the database holds for the whole cluster, filtered, and paged by
an offset cursor.

Given the database's admin changes, the files' own admin records are left out (each change is
in both); without them (the database could not be read), the files answer for this node."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
import orjson

from node.audit.writer import FILE_NAME

__all__ = ["AuditQuery", "read_page"]

_CHUNK = 64 * 1024
# Query parameter -> record field; a record matches when every given field is equal.
FILTERS = {"key": "key_id", "model": "model", "status": "status", "request_id": "request_id",
           "admin": "admin", "type": "type", "provider": "provider", "node": "node"}


@dataclass(frozen=True)
class AuditQuery:
    since: str  # ISO-8601 UTC, inclusive
    until: str  # exclusive
    equal: Mapping[str, Any]
    offset: int = 0
    limit: int = 100


def read_page(directory: Path, query: AuditQuery,
              changes: Iterable[dict[str, Any]] | None = None,
              ) -> tuple[list[dict[str, Any]], int | None]:
    """Matching records in time order, and the next page's offset (None: last).
    ``changes``: the admin changes of the whole cluster, oldest first (from the database)."""
    page: list[dict[str, Any]] = []
    skipped = 0
    for record in _matching(directory, query, changes):
        if skipped < query.offset:
            skipped += 1
            continue
        if len(page) == query.limit:
            return page, query.offset + len(page)
        page.append(record)
    return page, None


def _matching(directory: Path, query: AuditQuery,
              changes: Iterable[dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    files = [_filtered(_records(path), query, skip_admin=changes is not None)
             for path in _files(directory, query.since[:10], query.until[:10])]
    if changes is not None:
        files.append(_filtered(iter(changes), query, skip_admin=False))
    # Each source is in time order (a file as its node wrote it): one merge, read lazily.
    return heapq.merge(*files, key=lambda record: str(record.get("at", "")))


def _filtered(records: Iterator[dict[str, Any]], query: AuditQuery, *,
              skip_admin: bool) -> Iterator[dict[str, Any]]:
    for record in records:
        if skip_admin and record.get("type") == "admin":
            continue
        at = record.get("at", "")
        if not query.since <= at < query.until:
            continue
        if all(_equal(record.get(field), value) for field, value in query.equal.items()):
            yield record


def _equal(have: Any, want: Any) -> bool:
    if isinstance(have, dict):  # the admin identity: any of its header values
        return want in have.values()
    return have == want or str(have) == str(want)


def _files(directory: Path, first_day: str, last_day: str) -> list[Path]:
    if not directory.is_dir():
        return []
    found: list[tuple[str, int, str, Path]] = []
    for path in directory.iterdir():
        match = FILE_NAME.match(path.name)
        if match and first_day <= match["day"] <= last_day:
            found.append((match["day"], int(match["part"] or 0), match["node"], path))
    return [entry[-1] for entry in sorted(found)]


def _records(path: Path) -> Iterator[dict[str, Any]]:
    decompressor = brotli.Decompressor()
    rest = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                try:
                    data = rest + _decompressed(decompressor, chunk)
                except brotli.error:
                    return  # a stream cut by a failed write: what came before stands
                *lines, rest = data.split(b"\n")
                for line in lines:
                    if line:
                        yield orjson.loads(line)
    except OSError:
        return


def _decompressed(decompressor: brotli.Decompressor, chunk: bytes) -> bytes:
    """All the output of ``chunk``: one call may stop at the decoder's output buffer (for a
    stream flushed in several blocks, brotli 1.2 returns a block or so per call, and says
    it can take more input all the same), so calls with no input follow until one gives
    nothing."""
    parts = [decompressor.process(chunk)]
    while parts[-1]:
        parts.append(decompressor.process(b""))
    return b"".join(parts)
