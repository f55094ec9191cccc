"""Visits (sessions) assigned at ingest, as Plausible does: a visitor's events belong to one visit
until 30 minutes pass without an event. The visit carries its entry page and its source (the
landing pageview's referrer and UTM tags) onto every later event, so reports can attribute a
whole visit to where it came from without re-sessionising the table on every query.

State lives in this process only (a restart or another worker starts a new visit); a random
64-bit id, never derived from the IP. Visitors without an identifier (GPC/DNT) get no visit.
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict
from typing import TypeVar

__all__ = ["Visit", "SessionCache", "VISIT_SOURCE_COLUMNS", "SESSION_TIMEOUT_SECONDS"]

SESSION_TIMEOUT_SECONDS = 30 * 60
SHARED_VALUES = 65_536
T = TypeVar("T")
# Row columns that describe where the visit came from: copied from the landing event.
VISIT_SOURCE_COLUMNS = ("referrer_host", "referrer_source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class Visit:
    """An open visit. (Plain classes here: compiled, their ``__init__`` is native code, where a
    dataclass's generated one stays Python; one Step is made per event.)"""

    __slots__ = ("session_id", "last_seen", "entry_page", "source", "events", "pageviews")

    def __init__(self, session_id: int, last_seen: float, entry_page: str, source: tuple[str, ...], events: int = 0, pageviews: int = 0) -> None:
        self.session_id = session_id
        self.last_seen = last_seen
        self.entry_page = entry_page
        self.source = source
        self.events = events
        self.pageviews = pageviews

    def __repr__(self) -> str:
        return f"Visit(session_id={self.session_id}, events={self.events}, pageviews={self.pageviews})"


class Step:
    """One event's place in its visit. Stored on the row, these make visits, bounce rate and
    visit duration plain sums (no GROUP BY visit at query time):
    visits = count(event = 1), not bounced = count(pageview = 2), duration = sum(seconds)."""

    __slots__ = ("visit", "event", "pageview", "seconds")

    def __init__(self, visit: Visit, event: int, pageview: int, seconds: int) -> None:
        self.visit = visit
        self.event = event  # 1 = the event that opened the visit
        self.pageview = pageview  # n-th pageview of the visit; 0 for other kinds
        self.seconds = seconds  # since the visit's previous event


# One visit step, to take back: (client, visitor), the visit there before or None, its (last_seen, events, pageviews).
JournalEntry = tuple[tuple[str, int], Visit | None, tuple[float, int, int]]


class SessionCache:
    """(client, visitor) -> open visit, oldest first, so expiry pops from the front in O(1).

    Bounded: at most ``max_entries`` open visits (SPII_MAX_OPEN_VISITS; the oldest go first, and
    their visitor's next event opens a new visit). An open visit costs ~420 bytes (bench/memory.py),
    so the default bound of 1,000,000 is ~420 MB at worst. Steps are journalled until
    :meth:`commit`: a request whose rows could not be stored (503) :meth:`rollback` its steps,
    so visits advance only for stored rows."""

    def __init__(self, timeout: float = SESSION_TIMEOUT_SECONDS, max_entries: int = 1_000_000) -> None:
        self.timeout = timeout
        self.max_entries = max_entries
        self._visits: OrderedDict[tuple[str, int], Visit] = OrderedDict()
        # (key, the visit there before the step or None, its (last_seen, events, pageviews))
        self._shared_values: dict = {}
        # Visit ids are random labels, not secrets (nothing is derived from them and they are
        # never linked to an address): a generator seeded from the OS, without a syscall per visit.
        self._ids = random.Random(os.urandom(32))
        self._journal: list[JournalEntry] = []

    def _shared(self, value: T) -> T:
        """One copy of each entry page and source among the open visits: most visits share
        a few of them (direct, Google, the home page), and each copy costs ~60-200 bytes."""
        shared = self._shared_values
        found = shared.get(value)
        if found is None:
            if len(shared) >= SHARED_VALUES:
                shared.clear()
            found = shared[value] = value
        return found

    def begin(self) -> None:
        """Start a request's steps (forgets a journal no one committed)."""
        self._journal.clear()

    def commit(self) -> None:
        self._journal.clear()

    def rollback(self) -> None:
        """Undo the steps since :meth:`begin`, newest first."""
        self.undo(self._journal)
        self._journal.clear()

    def detach(self) -> list[JournalEntry]:
        """The steps since :meth:`begin`, handed to a caller that stores their rows later (the
        inline path's end-of-turn write), which commits by dropping them or calls :meth:`undo`."""
        steps = self._journal
        self._journal = []
        return steps

    def undo(self, steps: list[JournalEntry]) -> None:
        """Undo ``steps`` (from :meth:`detach`, or the journal), newest first."""
        visits = self._visits
        for key, before, saved in reversed(steps):
            if before is None:
                visits.pop(key, None)
            else:
                before.last_seen, before.events, before.pageviews = saved
                visits[key] = before

    def __len__(self) -> int:
        return len(self._visits)

    def step(self, client_id: str, visitor_id: int, at: float, page: str, source: tuple[str, ...], pageview: bool) -> Step:
        """The visit an event at unix time ``at`` belongs to (the open one, or a new one that
        starts on ``page`` from ``source``) and the event's place in it."""
        key = (client_id, visitor_id)
        visit = self._visits.get(key)
        self._journal.append((key, visit, (visit.last_seen, visit.events, visit.pageviews) if visit is not None else (0.0, 0, 0)))
        seconds = 0
        if visit is not None and 0 <= at - visit.last_seen < self.timeout:
            seconds = int(at - visit.last_seen)
            visit.last_seen = at
            self._visits.move_to_end(key)
        elif visit is None or at >= visit.last_seen:  # (an older event, from a backfill, joins the open visit)
            visit = Visit(self._ids.getrandbits(63) + 1, at, self._shared(page), self._shared(source))
            self._visits[key] = visit
            self._visits.move_to_end(key)
            self._expire(at)
        visit.events += 1
        visit.pageviews += pageview
        return Step(visit, visit.events, visit.pageviews if pageview else 0, seconds)

    def engage(self, client_id: str, visitor_id: int, at: float) -> tuple[Visit, int] | None:
        """An engagement ping (time on page, scroll depth) joins the visitor's open visit and
        extends it to ``at``, so visit duration counts time on the visit's last page; it is not
        one of the visit's events. None when no visit is open (as Plausible, it opens none)."""
        key = (client_id, visitor_id)
        visit = self._visits.get(key)
        if visit is None or at - visit.last_seen >= self.timeout:
            return None
        self._journal.append((key, visit, (visit.last_seen, visit.events, visit.pageviews)))
        seconds = max(0, int(at - visit.last_seen))
        if at > visit.last_seen:
            visit.last_seen = at
            self._visits.move_to_end(key)
        return visit, seconds

    def _expire(self, now: float) -> None:
        visits = self._visits
        while visits:
            key, oldest = next(iter(visits.items()))
            if now - oldest.last_seen < self.timeout and len(visits) <= self.max_entries:
                break
            del visits[key]
