"""The audit log's writer: records queued on the request path, written in batches.

One Brotli stream per day file (``<node>-YYYY-MM-DD.jsonl.br``). Brotli streams cannot be
concatenated (a decoder stops at the end of the first), so the day's file stays open with one
compressor: each batch is compressed and flushed, which makes everything written so far
decodable, and the stream is finished, fsynced and closed when the day ends or the node
stops. A node restarted on the same day opens the next part (``...-YYYY-MM-DD.1.jsonl.br``)
instead of appending a second stream.

Files are written in a worker thread (compression and fsync never hold the event loop). An
unwritable directory or a full disk drops the batch: counted, logged, never a failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import brotli
import orjson
import structlog

from node.audit.bodies import BodyRecord, BodyRedactor

__all__ = ["FILE_NAME", "AuditWriter", "day_of"]

log = structlog.get_logger("node.audit")

FILE_NAME = re.compile(
    r"^(?P<node>.+)-(?P<day>\d{4}-\d{2}-\d{2})(?:\.(?P<part>\d+))?\.jsonl\.br$")
MAX_PENDING = 100_000  # records waiting for a batch; past it, new records are dropped


def day_of(at: str) -> str:
    """The UTC day (``YYYY-MM-DD``) of a record's ISO-8601 ``at``."""
    return at[:10]


class _DayFile:
    """One open day file and its Brotli stream (used only from the writer thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] = path.open("xb")
        self.compressor = brotli.Compressor(mode=brotli.MODE_TEXT, quality=5)

    def append(self, data: bytes) -> None:
        compressed = self.compressor.process(data)
        # flush() is in brotli's Compressor but not in its stubs.
        compressed += self.compressor.flush()  # type: ignore[attr-defined]
        self.handle.write(compressed)
        self.handle.flush()

    def close(self) -> None:
        try:
            self.handle.write(self.compressor.finish())
            self.handle.flush()
            os.fsync(self.handle.fileno())
        finally:
            self.handle.close()


class AuditWriter:
    """Queue records, write them every ``interval`` seconds; counters for the metrics."""

    def __init__(self, directory: Path, node: str, *, max_record_bytes: int,
                 retention_days: int, interval: float,
                 secrets: Callable[[], Iterable[str]] = tuple) -> None:
        self.directory = directory
        self.node = node
        self._max_record_bytes = max_record_bytes
        self._retention = retention_days
        self._interval = interval
        self._secrets = secrets  # what bodies are redacted of, asked as each batch is written
        self._pending: deque[bytes | BodyRecord] = deque()
        self._open: _DayFile | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.written = 0
        self.dropped = 0
        self.truncated = 0
        self.failures = 0

    def record(self, record: dict[str, Any]) -> None:
        """Queue one record (cheap: one JSON encoding); never raises for the caller."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        line = orjson.dumps(record)
        if len(line) >= self._max_record_bytes:
            line = self._capped(record)
        self._pending.append(line + b"\n")

    def defer(self, entry: BodyRecord) -> None:
        """Queue a record whose bodies are rendered as its batch is written (not here)."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(entry)

    def _capped(self, record: dict[str, Any]) -> bytes:
        """A record over ``max_record_bytes`` keeps its identity and loses its large values."""
        self.truncated += 1
        kept = {name: value for name, value in record.items()
                if not isinstance(value, str | dict | list) or len(orjson.dumps(value)) <= 256}
        kept["truncated"] = True
        return orjson.dumps(kept)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def flush(self) -> None:
        """Write what is queued now (one batch)."""
        async with self._lock:
            if not self._pending:
                return
            lines = list(self._pending)
            self._pending.clear()
            # The secrets are read here, on the loop, where the providers change.
            redact = (BodyRedactor(self._secrets())
                      if any(isinstance(line, BodyRecord) for line in lines) else None)
            await asyncio.to_thread(self._write, lines, redact)

    async def close(self) -> None:
        """Write the rest, then finish, fsync and close the day's file."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        async with self._lock:
            await asyncio.to_thread(self._close_day)

    # -- the writer thread ------------------------------------------------------------------

    def _write(self, lines: list[bytes | BodyRecord], redact: BodyRedactor | None) -> None:
        by_day: dict[str, list[bytes]] = {}
        for line in lines:
            if isinstance(line, BodyRecord):
                assert redact is not None
                by_day.setdefault(day_of(line.at), []).append(self._rendered(line, redact))
            else:
                by_day.setdefault(day_of(orjson.loads(line)["at"]), []).append(line)
        for day, batch in sorted(by_day.items()):
            try:
                self._day_file(day).append(b"".join(batch))
            except OSError as exc:
                self.failures += 1
                self.dropped += len(batch)
                log.warning("audit records dropped: cannot write", records=len(batch),
                            directory=str(self.directory), error=exc.strerror or str(exc))
                self._abandon()
            else:
                self.written += len(batch)

    def _rendered(self, entry: BodyRecord, redact: BodyRedactor) -> bytes:
        try:
            line, cut = entry.render(redact, self._max_record_bytes)
        except Exception as exc:  # a body that cannot be rendered loses its body, not its record
            log.warning("audit record written without its bodies", error=repr(exc))
            line, cut = orjson.dumps(entry.record), False
        self.truncated += cut
        if len(line) >= self._max_record_bytes:  # what was not a body is too large itself
            line = self._capped(orjson.loads(line))
        return line + b"\n"

    def _day_file(self, day: str) -> _DayFile:
        current = self._open
        if current is not None and current.path.name.startswith(f"{self.node}-{day}"):
            return current
        self._close_day()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_expired(date.fromisoformat(day))
        part = 0
        while True:
            suffix = f".{part}" if part else ""
            path = self.directory / f"{self.node}-{day}{suffix}.jsonl.br"
            try:
                self._open = _DayFile(path)
                return self._open
            except FileExistsError:
                part += 1

    def _close_day(self) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        try:
            current.close()
        except OSError as exc:
            self.failures += 1
            log.warning("audit file not closed cleanly", file=current.path.name,
                        error=exc.strerror or str(exc))

    def _abandon(self) -> None:
        """Forget a file that failed: the next batch starts a new part (a stream whose
        write failed half way cannot be continued)."""
        current, self._open = self._open, None
        if current is not None:
            with contextlib.suppress(OSError):
                current.handle.close()

    def _remove_expired(self, today: date) -> None:
        oldest = today - timedelta(days=self._retention - 1)
        for path in self.directory.glob(f"{self.node}-*.jsonl.br"):
            match = FILE_NAME.match(path.name)
            if match and match["node"] == self.node and date.fromisoformat(
                    match["day"]) < oldest:
                with contextlib.suppress(OSError):
                    path.unlink()
                    log.info("audit file past retention removed", file=path.name)

