"""Answers for periods of closed days, kept and given again while their rows are unchanged.

A period that ended two days ago or more changes only when the rows it reads do: a late or
backfilled event, an erasure, the retention cut passing through it, a restriction starting or
ending. So its answer is kept under the number of rows its scope reads (one count over the
table's primary key, the client's exclusions applied), and given again while that number is
the same. The previous period of every dashboard (its totals and comparison line) and any past
period are then one count away, not a report's passes. What is kept is what the stats service
answers: suppressed and perturbed, never a raw value.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from collector.reports.query import Scope

__all__ = ["ClosedPeriods", "CLOSED_AFTER_DAYS"]

T = TypeVar("T")
CLOSED_AFTER_DAYS = 2  # events of a day may still be in a spool (an outage) for a while after it ends
COUNT_SECONDS = 1.0  # one dashboard asks ~20 questions of one scope within a second: counted once


class ClosedPeriods:
    def __init__(self, store: Any, max_entries: int = 4096, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.max_entries = max_entries
        self.clock = clock
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._counts: dict[Hashable, tuple[float, int]] = {}
        self._lock = threading.Lock()  # the stats service runs in worker threads
        self.hits = 0  # answers given again (tests read it)

    def answer(self, scope: Scope, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s answer for ``scope``, kept when its period is closed. ``key`` names
        the question (endpoint, client settings, request); the scope's row count is added."""
        if scope.period.last > self.clock().date() - timedelta(days=CLOSED_AFTER_DAYS):
            return compute()
        full = (key, tuple(scope.exclusions), self._rows(scope))
        with self._lock:
            if full in self._answers:
                self._answers.move_to_end(full)
                self.hits += 1
                return copy.deepcopy(self._answers[full])
        result = compute()
        with self._lock:
            self._answers[full] = copy.deepcopy(result)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
        return result

    def _rows(self, scope: Scope) -> int:
        """The rows the scope reads, unfiltered (the complement rule reads those too)."""
        params: dict[str, Any] = {}
        where = replace(scope, filters=[], conditions=[]).where(params, engagement=True)
        key = (where, repr(sorted((k, str(v)) for k, v in params.items() if k not in ("now", "not_before_ms"))))
        counted = self._counts.get(key)
        if counted is not None and time.monotonic() - counted[0] < COUNT_SECONDS:
            return counted[1]
        rows = int(self.store.query(f"SELECT count() FROM spii.events WHERE {where}", params)[0][0])
        if len(self._counts) > self.max_entries:
            self._counts.clear()
        self._counts[key] = (time.monotonic(), rows)
        return rows
