"""The shipper: sealed spool segments -> one ClickHouse INSERT each -> delete the segment.

Retries with capped exponential backoff and never drops a segment. A segment the store keeps
rejecting for its data while the store itself answers (a parse or type error, not an outage) is
bisected: each half is inserted on its own, halves that fail again are split again, so the good
rows are stored and only the lines the store refuses on their own go to
``spool/failed/<segment>.bad.jsonl`` for an operator. Every part's dedup token is derived from
the segment id and the part's line range, so a crash in the middle and a second bisection after
the restart store no row twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from functools import partial

from collector.metrics import Metrics
from collector.spool.segments import Segment, Spool
from collector.store.clickhouse import Store

log = logging.getLogger("spii.shipper")

POISON_ATTEMPTS = 3
# ClickHouse error codes that mean "this data cannot be inserted" (parse / type errors), as
# opposed to an outage (connection refused, table missing, too many parts): only those can
# quarantine a segment; everything else is retried forever.
DATA_ERROR_CODES = frozenset({6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 130, 131, 241})
_CODE = re.compile(r"Code: (\d+)")


def is_data_error(exc: BaseException) -> bool:
    match = _CODE.search(str(exc))
    return bool(match) and int(match.group(1)) in DATA_ERROR_CODES


class Shipper:
    def __init__(
        self,
        spool: Spool,
        store: Store,
        metrics: Metrics,
        *,
        fsync_interval: float = 0.2,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.fsync_interval = fsync_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.wake = asyncio.Event()
        self._stopping = False
        self._attempts: dict[str, int] = {}  # failures per segment id, for poison detection
        self._data_errors: dict[str, bool] = {}
        self._ship_lock = asyncio.Lock()  # the run loop and flush() never ship one segment twice
        self.failing: tuple[float, int, str] | None = None  # (since, tries, error) while the store refuses inserts

    def warning(self) -> str | None:
        """What /readyz says while the store refuses inserts (the collector is still ready: events
        wait in the spool and are shipped once it takes them again)."""
        if self.failing is None:
            return None
        since, tries, error = self.failing
        return (f"the store has refused inserts since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(since))} "
                f"({tries} tries, {error}): events wait in the spool until it takes them")

    def _update_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.used_bytes)
        self.metrics.spool_segments.set(self.spool.ready_count())

    async def _fsync_open_segment(self) -> None:
        """fsync the open segment from a worker thread through its own descriptor, so the event
        loop never blocks on the disk (fsync flushes the file, whichever descriptor asks)."""
        path = self.spool.take_dirty_path()
        if path is None:
            return

        def sync(path: str) -> None:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return  # sealed meanwhile: sealing fsyncs
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        await asyncio.get_running_loop().run_in_executor(None, sync, str(path))

    async def _insert(self, body: bytes, token: str) -> Exception | None:
        """One INSERT of ``body``; the exception if the store refused it."""
        return await self._timed_insert(partial(self.store.insert_segment, body, token), body.count(b"\n"))

    async def _timed_insert(self, insert: Callable[[], None], rows: int) -> Exception | None:
        started = time.perf_counter()
        try:
            await asyncio.get_running_loop().run_in_executor(None, insert)
        except Exception as exc:  # noqa: BLE001 - the caller decides: retry, or bisect a data error
            return exc
        self.metrics.ship_seconds.observe(time.perf_counter() - started)
        self.metrics.rows_shipped.inc(rows)
        return None

    async def bisect(self, segment: Segment, body: bytes) -> bool:
        """Store every line of ``body`` the store accepts, keep the ones it refuses on their own.
        False when the store failed otherwise (an outage) midway: the segment stays, and the next
        try bisects the same way, its parts already stored dropped by their dedup tokens."""
        lines = body.splitlines(keepends=True)
        bad: list[bytes] = []
        pending = [(0, len(lines))]  # [start, end) ranges, depth first, in order
        while pending:
            start, end = pending.pop()
            failure = await self._insert(b"".join(lines[start:end]), f"{segment.id}/{start}-{end}")
            if failure is None:
                continue
            self.metrics.ship_failures.inc()
            if not is_data_error(failure):
                log.warning("store failed while splitting a refused segment, will retry",
                            extra={"fields": {"segment": segment.id, "error": type(failure).__name__}})
                return False
            if end - start == 1:
                bad.append(lines[start])
                continue
            middle = (start + end) // 2
            pending += [(middle, end), (start, middle)]
        kept = self.spool.quarantine_lines(segment, bad) if bad else None
        if not bad:
            self.spool.done(segment)
        self.metrics.rows_quarantined.inc(len(bad))
        self.metrics.segments_quarantined.inc(bool(bad))
        log.error("segment refused by a reachable store: good rows stored, refused lines kept",
                  extra={"fields": {"segment": segment.id, "rows": len(lines), "refused": len(bad), "kept_in": kept.name if kept else None}})
        return True

    async def ship_one(self, segment: Segment) -> bool:
        loop = asyncio.get_running_loop()
        if self.store.embedded:  # the embedded store reads the segment's file itself: no copy through Python
            rows = await loop.run_in_executor(None, segment.sync_and_count)
            failure = await self._timed_insert(partial(self.store.insert_file, segment.path, segment.id), rows) if rows else None
        else:
            body = await loop.run_in_executor(None, segment.sync_and_read)
            rows = body.count(b"\n")
            failure = await self._insert(body, segment.id) if body else None
        if failure is not None:  # any store failure is retried
            self.metrics.ship_failures.inc()
            self._data_errors[segment.id] = is_data_error(failure)
            log.warning("ship failed, will retry", extra={"fields": {"segment": segment.id, "error": type(failure).__name__}})
            since, tries = (self.failing[0], self.failing[1]) if self.failing else (time.time(), 0)
            self.failing = (since, tries + 1, type(failure).__name__)
            return False
        self.spool.done(segment)
        self.failing = None
        return True

    async def ship_ready(self) -> bool:
        """Ship every ready segment in order; False at the first failure."""
        async with self._ship_lock:
            for segment in self.spool.ready_segments():
                if not segment.path.exists():
                    continue
                if not await self._ship_with_poison_check(segment):
                    return False
            return True

    async def flush(self) -> bool:
        """Seal the open segment and ship everything now (a subject erasure needs the table to
        hold every event accepted so far). False when the store refused."""
        self.spool.seal()
        shipped = await self.ship_ready()
        self._update_gauges()
        return shipped

    async def _ship_with_poison_check(self, segment: Segment) -> bool:
        attempts = self._attempts.get(segment.id, 0)
        if await self.ship_one(segment):
            self._attempts.pop(segment.id, None)
            return True
        attempts += 1
        self._attempts[segment.id] = attempts
        if attempts >= POISON_ATTEMPTS and self._data_errors.pop(segment.id, False):
            loop = asyncio.get_running_loop()
            if await loop.run_in_executor(None, self.store.ping):
                body = await loop.run_in_executor(None, segment.sync_and_read)
                if await self.bisect(segment, body):
                    self._attempts.pop(segment.id, None)
                    return True
        return False

    async def run(self) -> None:
        backoff = self.backoff_initial
        while not self._stopping:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.fsync_interval)
            except TimeoutError:
                pass
            self.wake.clear()
            await self._fsync_open_segment()
            self.spool.seal_if_old()
            ok = await self.ship_ready()
            self._update_gauges()
            if ok:
                backoff = self.backoff_initial
            else:
                await asyncio.sleep(backoff)
                backoff = min(self.backoff_max, backoff * 2)

    async def drain(self, deadline: float) -> bool:
        """On shutdown: seal and ship what can be shipped before ``deadline`` (monotonic)."""
        self._stopping = True
        self.spool.seal()
        while time.monotonic() < deadline:
            if await self.ship_ready():
                self._update_gauges()
                return True
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        left = self.spool.ready_count()
        log.warning("shutdown deadline reached; segments left for next start", extra={"fields": {"segments": left}})
        return False
