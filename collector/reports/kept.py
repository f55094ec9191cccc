"""Report answers kept and given again: closed periods while their rows are unchanged, and the
costly answers of open periods for a short while, refreshed ahead of time while analysts look.

**Closed periods.** A period that ended two days ago or more changes only when the rows it
reads do: a late or backfilled event, an erasure, the retention cut passing through it, a
restriction starting or ending. So its answer is kept under the number of rows its scope reads
(one count over the table's primary key, the client's exclusions applied), and given again
while that number is the same. The previous period of every dashboard (its totals and
comparison line) and any past period are then one count away, not a report's passes.

**Open periods** (today is in them) change with every event, so nothing keys them. A client
whose period holds at least ``fresh_rows`` events (SPII_REPORT_FRESH_ROWS: where a dashboard
takes seconds) has each answer kept for ``fresh_seconds`` (SPII_REPORT_FRESH_SECONDS) from the
moment its computation started: a reload, a filter removed, the back button, a second analyst
are answered from memory, with numbers at most that old. Smaller clients are always computed
(they cost little, and a site owner checking their first visits sees them at once). Answers
asked again within ``warm_seconds`` are recomputed by ``spii serve`` before they go stale
(``due``/``refresh``), at most a quarter of one core, so a dashboard being watched keeps
answering from memory; when recomputing them takes longer than ``fresh_seconds`` at that
share (a client with 100 million events), they are kept until the refresher gets back to them,
never longer than ``warm_seconds``. ``forget`` drops every open answer at once: an erasure, a
restriction or an objection (subject flags changed) is never hidden behind a kept answer. A
period reaching back to the retention boundary is never kept open (the cut moves through it by
the second).

What is kept is what the stats service answers: suppressed and perturbed, never a raw value.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import orjson

from collector.reports.query import Scope

__all__ = ["KeptAnswers", "CLOSED_AFTER_DAYS", "COUNT_SECONDS", "REFRESH_SHARE"]

T = TypeVar("T")
CLOSED_AFTER_DAYS = 2  # events of a day may still be in a spool (an outage) for a while after it ends
COUNT_SECONDS = 1.0  # one dashboard asks ~20 questions of one scope within a second: counted once (recent())
REFRESH_AT = 0.75  # an open answer being watched is recomputed once this share of its freshness has passed
REFRESH_SHARE = 0.25  # of one core, at most, for recomputing watched answers (the refresher rests 3x each one's cost)


V = TypeVar("V")


class _Lru(Generic[V]):
    """Least recently used first out, within a number of entries and of bytes (an answer's
    size as JSON: a 1,000-row breakdown is ~100 KB, a total a few hundred bytes)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self.bytes = 0

    def get(self, key: Hashable) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: V, size: int) -> None:
        self.pop(key)
        self._items[key] = (value, size)
        self.bytes += size
        while self._items and (len(self._items) > self.max_entries or self.bytes > self.max_bytes):
            self.bytes -= self._items.popitem(last=False)[1][1]

    def pop(self, key: Hashable) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= item[1]

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def items(self) -> list[tuple[Hashable, V]]:
        return [(key, value) for key, (value, _) in self._items.items()]

    def __len__(self) -> int:
        return len(self._items)


def _size(answer: Any) -> int:
    return len(orjson.dumps(answer, default=str))


@dataclass
class _Open:
    answer: Any
    started: float  # when its computation started (the timer's clock): its numbers are at least this old
    asked: float  # when it was last asked for
    compute: Callable[[], Any]
    cost: float  # seconds its computation took


class KeptAnswers:
    def __init__(self, store: Any, max_entries: int = 4096, max_bytes: int = 64 << 20,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 fresh_seconds: float = 0.0, fresh_rows: int = 1_000_000, warm_seconds: float = 600.0,
                 timer: Callable[[], float] = time.monotonic, count: Callable[[str], None] = lambda how: None) -> None:
        """``clock`` says which days are closed; ``timer`` (monotonic seconds) how old an open
        answer is; ``fresh_seconds`` 0 keeps no open answer. Closed and open answers each get
        ``max_entries`` and half of ``max_bytes``. ``count(how)`` is told of every answer
        (computed, kept_closed, kept_open, refreshed): the collector's metrics."""
        self.store = store
        self.max_entries = max_entries
        self.clock = clock
        self.fresh_seconds = fresh_seconds
        self.fresh_rows = fresh_rows
        self.warm_seconds = warm_seconds
        self.timer = timer
        self.count = count
        # how long an open answer is kept now: fresh_seconds, or longer when recomputing the
        # watched answers at REFRESH_SHARE of a core takes longer than that (never past warm_seconds)
        self.span = fresh_seconds
        self._answers: _Lru[tuple[Any]] = _Lru(max_entries, max_bytes // 2)
        self._open: _Lru[_Open] = _Lru(max_entries, max_bytes // 2)
        self._generation = 0  # forget() moves it on: a computation that started before is not kept
        self._recent: dict[Hashable, tuple[float, Any]] = {}  # recent(): when, result
        self._lock = threading.Lock()  # the stats service runs in worker threads
        self.hits = 0  # answers given again (tests read it)

    def answer(self, scope: Scope, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s answer for ``scope``, or the one kept for it. ``key`` names the
        question (endpoint, client settings, request)."""
        today = self.clock().date()
        if scope.period.last > today - timedelta(days=CLOSED_AFTER_DAYS):
            return self._open_answer(scope, key, compute, today)
        full = (key, tuple(scope.exclusions), self._rows(scope))
        with self._lock:
            kept = self._answers.get(full)
            if kept is not None:
                self.hits += 1
        if kept is not None:
            self.count("kept_closed")
            return copy.deepcopy(kept[0])
        result = self._computed(compute)
        with self._lock:  # boxed: an answer of None (the total of a period without rows) is kept too
            self._answers.put(full, (copy.deepcopy(result),), _size(result))
        return result

    def would_keep(self, scope: Scope) -> bool:
        """Would answers for ``scope`` be kept: a closed period, or an open one of a big client
        (reports/ready.py asks those ahead)? At most one row count."""
        today = self.clock().date()
        if scope.period.last <= today - timedelta(days=CLOSED_AFTER_DAYS):
            return True
        return self._keeps_open(scope, today) and self._rows(scope) >= self.fresh_rows

    # --- open periods
    def _keeps_open(self, scope: Scope, today: Any) -> bool:
        """Open answers are kept at all, and this period does not reach back to the retention cut."""
        return self.fresh_seconds > 0 and scope.period.first > today - timedelta(days=scope.retention_days)

    def _open_answer(self, scope: Scope, key: Hashable, compute: Callable[[], T], today: Any) -> T:
        if not self._keeps_open(scope, today):
            return self._computed(compute)
        full = (key, tuple(scope.exclusions))
        now = self.timer()
        with self._lock:
            entry = self._open.get(full)
            if entry is not None and now - entry.started >= self.span:
                entry = None  # stale: computed again below
            if entry is not None:
                entry.asked = now
                self.hits += 1
        if entry is not None:
            self.count("kept_open")
            return copy.deepcopy(entry.answer)
        if self._rows(scope) < self.fresh_rows:
            return self._computed(compute)
        return self._compute_open(full, compute, asked=now)

    def _computed(self, compute: Callable[[], T]) -> T:
        result = compute()
        self.count("computed")
        return result

    def _compute_open(self, full: Hashable, compute: Callable[[], T], asked: float, how: str = "computed") -> T:
        with self._lock:
            generation = self._generation
        started = self.timer()
        result = compute()
        self.count(how)
        with self._lock:
            if generation == self._generation:  # no erasure or flag change while it ran
                self._open.put(full, _Open(copy.deepcopy(result), started, asked, compute, self.timer() - started), _size(result))
        return result

    def forget(self) -> None:
        """Drop every kept open answer and every recent() result (subject flags changed, events
        erased). Closed answers need nothing: their row counts or exclusions change with the data."""
        with self._lock:
            self._open.clear()
            self._recent.clear()
            self._generation += 1

    def due(self) -> list[Hashable]:
        """Open answers asked for within ``warm_seconds`` that are near the end of their
        freshness, most recently asked first; answers nobody asked for lately are dropped once
        stale. Sets ``span``: a watched answer is kept until the refresher can come back to it."""
        now = self.timer()
        with self._lock:
            for full in [f for f, e in self._open.items() if now - e.asked >= self.warm_seconds and now - e.started >= self.span]:
                self._open.pop(full)
            watched = [(e.asked, full, e) for full, e in self._open.items() if now - e.asked < self.warm_seconds]
            round_trip = sum(e.cost for _, _, e in watched) / REFRESH_SHARE
            self.span = max(self.fresh_seconds, min(round_trip, self.warm_seconds))
            due = [(asked, full) for asked, full, e in watched if now - e.started >= self.span * REFRESH_AT]
        return [full for _, full in sorted(due, key=lambda pair: pair[0], reverse=True)]

    def refresh(self, full: Hashable) -> float:
        """Recompute one open answer (blocking: run in a worker thread); the seconds it took."""
        with self._lock:
            entry = self._open.get(full)
        if entry is None:
            return 0.0
        started = self.timer()
        self._compute_open(full, entry.compute, asked=entry.asked, how="refreshed")
        return self.timer() - started

    # --- row counts, and queries a dashboard's panels ask alike
    def recent(self, sql: str, params: dict[str, Any], run: Callable[[], T]) -> T:
        """``run()``, the query ``sql`` with ``params``, or its result from less than
        COUNT_SECONDS ago: one dashboard asks the same count of one scope ~20 times, and two
        breakdowns of one property under one filter the same complement check, within a second.
        The collector's clock (``now``) is left out of the key; ``forget`` drops these too."""
        key = (sql, repr(sorted((k, str(v)) for k, v in params.items() if k not in ("now", "not_before_ms"))))
        with self._lock:
            done = self._recent.get(key)
        if done is not None and time.monotonic() - done[0] < COUNT_SECONDS:
            return done[1]
        result = run()
        with self._lock:
            if len(self._recent) > self.max_entries:
                self._recent.clear()
            self._recent[key] = (time.monotonic(), result)
        return result

    def _rows(self, scope: Scope) -> int:
        """The rows the scope reads, unfiltered (the complement rule reads those too)."""
        params: dict[str, Any] = {}
        where = replace(scope, filters=[], conditions=[]).where(params, engagement=True)
        sql = f"SELECT count() FROM spii.events WHERE {where}"
        return self.recent(sql, params, lambda: int(self.store.query(sql, params)[0][0]))
