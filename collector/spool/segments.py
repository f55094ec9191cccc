"""The durable spool: finished (already pseudonymised) rows are appended to a segment file
with one ``write`` syscall BEFORE the collector answers 202, so a ``kill -9`` of the collector
never loses an acknowledged event (the bytes are in the kernel's page cache).

What a power loss can lose: rows written since the last fsync (default cadence 200 ms; a sealed
segment is fsynced by the shipper's worker thread before it is shipped, never on the event loop,
and recovery cuts a torn tail from open and sealed segments alike).

Layout under ``<data dir>/spool`` (``<data dir>/spool/worker-<i>`` for each of N workers):
  open/<segment id>.jsonl    the segment being appended to (one per collector process)
  ready/<segment id>.jsonl   sealed segments waiting for the shipper, shipped in name order
  failed/<segment id>.jsonl  segments the store rejected as malformed (kept for an operator)

A segment id is ``<unix ns>-<random>``: it sorts by age and is unique across processes and
nodes, so it doubles as the ClickHouse ``insert_deduplication_token``.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from collector.files import atomic_write, fsync_dir

log = logging.getLogger("spii.spool")

SUFFIX = ".jsonl"


# Why the spool refuses events (the collector answers 503 with Retry-After and counts the reason).
REFUSALS = {
    "spool_full": "spool over its disk budget",
    "disk_low": "the spool's filesystem is below its free-space floor (SPII_SPOOL_MIN_FREE_BYTES)",
    "disk_full": "the spool's disk is full",
    "disk_error": "the spool's disk failed to write",
    "read_only": "the spool's filesystem is read-only",
}
_WRITE_FAILURES = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EIO: "disk_error", errno.EROFS: "read_only"}
# How often the free space is looked at (statvfs): at most this often, or after this many bytes.
SPACE_CHECK_SECONDS = 0.5
SPACE_CHECK_BYTES = 1 << 20
PROBE_BYTES = 4096


class SpoolRefused(Exception):
    """The spool cannot take events now (``reason``: a key of :data:`REFUSALS`): the collector
    answers 503 instead of accepting, and nothing of the refused rows is in the spool."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSALS[reason])
        self.reason = reason


def write_failure(exc: OSError) -> str:
    """The refusal a failed write of the spool stands for."""
    return _WRITE_FAILURES.get(exc.errno or 0, "disk_error")


def new_segment_id() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


@dataclass
class Segment:
    id: str
    path: Path

    def sync_and_count(self) -> int:
        """Make the sealed segment and its rename durable, and count its rows: for a worker
        thread (the embedded store then reads the file itself)."""
        rows = 0
        with open(self.path, "rb") as handle:
            os.fsync(handle.fileno())
            while chunk := handle.read(1 << 20):
                rows += chunk.count(b"\n")
        fsync_dir(self.path.parent)
        return rows

    def sync_and_read(self) -> bytes:
        """Make the sealed segment and its rename durable, then read it: for a worker thread."""
        with open(self.path, "rb") as handle:
            os.fsync(handle.fileno())
            data = handle.read()
        fsync_dir(self.path.parent)
        return data


def cut_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last complete line (a crash can leave a partial line, or
    zero bytes after a power loss); the number of bytes kept."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        keep = 0
        block = 64 * 1024
        end = size
        while end > 0:  # scan backwards for the last newline, a block at a time
            start = max(0, end - block)
            handle.seek(start)
            found = handle.read(end - start).rstrip(b"\0").rfind(b"\n")
            if found >= 0:
                keep = start + found + 1
                break
            end = start
        if keep < size:
            log.warning("spool: dropping a torn, unacknowledged tail of %s (%d bytes)", path.name, size - keep)
            handle.truncate(keep)
            os.fsync(handle.fileno())
    return keep


class Spool:
    def __init__(
        self,
        root: Path,
        *,
        max_segment_bytes: int = 4 << 20,
        max_segment_age: float = 1.0,
        budget_bytes: int = 1 << 30,
        min_free_bytes: int = 0,
    ) -> None:
        self.root = root
        self.open_dir = root / "open"
        self.ready_dir = root / "ready"
        self.failed_dir = root / "failed"
        for d in (self.open_dir, self.ready_dir, self.failed_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_age = max_segment_age
        self.budget_bytes = budget_bytes
        self.min_free_bytes = min_free_bytes
        self._failure: str | None = None  # a write failed: refuse until a probe write succeeds
        self._disk_low = False
        self._space_checked_at = -SPACE_CHECK_SECONDS
        self._written_since_check = 0
        self._fd: int | None = None
        self._current: Segment | None = None
        self._current_bytes = 0
        self._opened_at = 0.0
        self._dirty = False
        self.rows_appended = 0
        self.recover()
        self._backlog_bytes = self._measure_ready()

    # --- recovery -----------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """After a crash: cut the torn tail of every open and sealed segment, seal the open ones."""
        recovered = self._gather(self.root)
        if recovered:
            log.info("spool: recovered %d open segment(s) for shipping", len(recovered))
        return recovered

    def adopt(self, orphan: Path) -> list[str]:
        """Take over the spool of a process that no longer runs (a worker scaled away, or the
        single-process spool after a move to N workers): its segments ship from here. Segment
        ids are unique across processes, so names never collide."""
        gathered = self._gather(orphan)
        for path in sorted((orphan / "failed").glob("*" + SUFFIX)):
            os.replace(path, self.failed_dir / path.name)
        self._backlog_bytes = self._measure_ready()
        if gathered:
            log.info("spool: adopted %d segment(s) from %s", len(gathered), orphan.name)
        return gathered

    def _gather(self, root: Path) -> list[str]:
        """Cut torn tails under ``root``'s open/ and ready/ and move every segment with data
        into this spool's ready queue; the ids moved."""
        moved = []
        for queue in (root / "ready", root / "open"):
            for path in sorted(queue.glob("*" + SUFFIX)):
                if cut_torn_tail(path) == 0:
                    path.unlink()
                    continue
                target = self.ready_dir / path.name
                if path != target:
                    os.replace(path, target)
                    moved.append(path.stem)
        if moved:
            fsync_dir(self.ready_dir)
            for queue in (root / "ready", root / "open"):
                if queue.is_dir() and queue != self.ready_dir:
                    fsync_dir(queue)
        return moved

    def _measure_ready(self) -> int:
        return sum(p.stat().st_size for p in self.ready_dir.glob("*" + SUFFIX))

    # --- writing ------------------------------------------------------------------------------
    @property
    def used_bytes(self) -> int:
        return self._backlog_bytes + self._current_bytes

    @property
    def over_budget(self) -> bool:
        return self.used_bytes >= self.budget_bytes

    def refusal(self) -> str | None:
        """Why an event cannot be taken now (a key of :data:`REFUSALS`), or None. Cheap enough
        for every event: the free space is looked at twice a second or after each MiB written."""
        if self._backlog_bytes + self._current_bytes >= self.budget_bytes:
            return "spool_full"
        if self._written_since_check >= SPACE_CHECK_BYTES or time.monotonic() - self._space_checked_at >= SPACE_CHECK_SECONDS:
            self.check_space()
        if self._failure is not None:
            return self._failure
        return "disk_low" if self._disk_low else None

    def check_space(self) -> None:
        """Look at the filesystem's free space against the floor; after a failed write, try a
        small probe write, and take events again only once it succeeds."""
        self._space_checked_at = time.monotonic()
        self._written_since_check = 0
        try:
            stat = os.statvfs(self.root)
        except OSError:
            self._disk_low = False  # (a failing filesystem shows at the next write)
        else:
            free = stat.f_bavail * stat.f_frsize
            low = free < self.min_free_bytes
            if low != self._disk_low:
                fields = {"free_bytes": free, "min_free_bytes": self.min_free_bytes}
                if low:
                    log.warning("spool: free space below the floor, refusing events (503)", extra={"fields": fields})
                else:
                    log.info("spool: free space above the floor again, taking events", extra={"fields": fields})
            self._disk_low = low
        if self._failure is not None:
            self._probe()

    def _probe(self) -> None:
        probe = self.root / ".probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * PROBE_BYTES)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError:
            return
        log.info("spool: writes succeed again", extra={"fields": {"after": self._failure}})
        self._failure = None

    def append(self, lines: bytes, enforce_budget: bool = True) -> None:
        """Append complete JSONEachRow lines (each ending in a newline) with one write, or raise
        SpoolRefused with none of them in the spool (a write cut short by a full or failing disk
        is taken back). ``enforce_budget=False``: the caller checked :meth:`refusal` when it
        accepted them."""
        if enforce_budget and (reason := self.refusal()) is not None:
            raise SpoolRefused(reason)
        try:
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            written = os.write(self._fd, lines)
            while written < len(lines):  # a regular file writes short only when the disk fills: the next write says why
                written += os.write(self._fd, memoryview(lines)[written:])
        except OSError as exc:
            self._failed(exc)
            raise SpoolRefused(write_failure(exc)) from None
        self._current_bytes += len(lines)
        self._written_since_check += len(lines)
        self._dirty = True
        self.rows_appended += lines.count(b"\n")
        if self._current_bytes >= self.max_segment_bytes:
            self.seal()

    def _failed(self, exc: OSError) -> None:
        """After a failed write: cut the open segment back to its last whole row (or, if even
        that fails, seal it: the shipper's bisection sets a torn line aside) and refuse events
        until a probe write succeeds."""
        reason = write_failure(exc)
        if self._failure is None:
            log.error("spool: cannot write, refusing events (503) until a write succeeds",
                      extra={"fields": {"reason": reason, "error": errno.errorcode.get(exc.errno or 0, type(exc).__name__)}})
        self._failure = reason
        self._space_checked_at = time.monotonic()
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, self._current_bytes)
            except OSError:
                try:
                    self.seal()
                except OSError:  # left in open/: recovery at the next start cuts its torn tail
                    self._fd, self._current, self._current_bytes, self._dirty = None, None, 0, False

    def _open_segment(self) -> None:
        segment_id = new_segment_id()
        path = self.open_dir / (segment_id + SUFFIX)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        self._current = Segment(segment_id, path)
        self._current_bytes = 0
        self._opened_at = time.monotonic()

    @property
    def has_open_segment(self) -> bool:
        return self._fd is not None

    def take_dirty_path(self) -> Path | None:
        """The open segment's path when it has unsynced writes (marking it synced), else None.
        The caller fsyncs it from a worker thread so the event loop never waits on the disk."""
        if self._current is None or not self._dirty:
            return None
        self._dirty = False
        return self._current.path

    def seal_if_old(self) -> bool:
        if self._fd is not None and time.monotonic() - self._opened_at >= self.max_segment_age:
            self.seal()
            return True
        return False

    def seal(self) -> Segment | None:
        """Close the open segment and move it atomically into the ready queue. No fsync here:
        this runs on the event loop, and the shipper syncs the segment from a worker thread
        (:meth:`Segment.sync_and_read`) before shipping it."""
        if self._fd is None or self._current is None:
            return None
        os.close(self._fd)
        segment = self._current
        if self._current_bytes == 0:  # (opened, then its only write failed): nothing to ship
            segment.path.unlink(missing_ok=True)
            self._fd, self._current, self._dirty = None, None, False
            return None
        target = self.ready_dir / segment.path.name
        os.replace(segment.path, target)
        self._backlog_bytes += self._current_bytes
        self._fd, self._current, self._current_bytes, self._dirty = None, None, 0, False
        return Segment(segment.id, target)

    def close(self) -> None:
        self.seal()

    # --- the shipper's side -------------------------------------------------------------------
    def ready_segments(self) -> list[Segment]:
        return [Segment(p.stem, p) for p in sorted(self.ready_dir.glob("*" + SUFFIX))]

    def ready_count(self) -> int:
        return sum(1 for _ in self.ready_dir.glob("*" + SUFFIX))

    def done(self, segment: Segment) -> None:
        # No directory fsync: if a power loss undoes the unlink, the segment ships again and
        # ClickHouse drops the repeat (its id is the insert_deduplication_token).
        size = segment.path.stat().st_size
        segment.path.unlink()
        self._backlog_bytes = max(0, self._backlog_bytes - size)

    def quarantine_lines(self, segment: Segment, lines: list[bytes]) -> Path:
        """Keep the lines the store refused as ``failed/<segment id>.bad.jsonl`` for an operator
        (written atomically, so a crash and a second bisection leave one copy), then drop the
        segment, whose other lines are stored."""
        kept = self.failed_dir / f"{segment.id}.bad{SUFFIX}"
        atomic_write(kept, b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
        self.done(segment)
        return kept

