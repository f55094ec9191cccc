"""Visits (sessions) assigned at ingest, as Plausible does: a visitor's events belong to one visit
until 30 minutes pass without an event. The visit carries its entry page and its source (the
landing pageview's referrer and UTM tags) onto every later event, so reports can attribute a
whole visit to where it came from without re-sessionising the table on every query.

State lives in this process only (a restart or another worker starts a new visit); a random
64-bit id, never derived from the IP. Visitors without an identifier (GPC/DNT) get no visit.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Visit", "SessionCache", "VISIT_SOURCE_COLUMNS", "SESSION_TIMEOUT_SECONDS"]

SESSION_TIMEOUT_SECONDS = 30 * 60
# Row columns that describe where the visit came from: copied from the landing event.
VISIT_SOURCE_COLUMNS = ("referrer_host", "referrer_source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(slots=True)
class Visit:
    session_id: int
    last_seen: float
    entry_page: str
    source: tuple[str, ...]


class SessionCache:
    """(client, visitor) -> open visit, oldest first, so expiry pops from the front in O(1)."""

    def __init__(self, timeout: float = SESSION_TIMEOUT_SECONDS, max_entries: int = 2_000_000) -> None:
        self.timeout = timeout
        self.max_entries = max_entries
        self._visits: OrderedDict[tuple[str, int], Visit] = OrderedDict()

    def __len__(self) -> int:
        return len(self._visits)

    def visit(self, client_id: str, visitor_id: int, at: float, page: str, source: tuple[str, ...]) -> Visit:
        """The visit an event at unix time ``at`` belongs to: the open one, or a new one that
        starts on ``page`` from ``source``."""
        key = (client_id, visitor_id)
        visit = self._visits.get(key)
        if visit is not None and 0 <= at - visit.last_seen < self.timeout:
            visit.last_seen = at
            self._visits.move_to_end(key)
            return visit
        if visit is not None and at < visit.last_seen:  # an older event (batch backfill): same visit
            return visit
        visit = Visit(secrets.randbits(63) + 1, at, page, source)
        self._visits[key] = visit
        self._visits.move_to_end(key)
        self._expire(at)
        return visit

    def _expire(self, now: float) -> None:
        visits = self._visits
        while visits:
            key, oldest = next(iter(visits.items()))
            if now - oldest.last_seen < self.timeout and len(visits) <= self.max_entries:
                break
            del visits[key]
