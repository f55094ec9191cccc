"""Which periods a client's e-mailed report covers and when each is due: the week (Monday to
Sunday) once Monday 00:00 UTC has passed, the month once its last day has. Days are UTC days, as
every report of spii's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from collector.reports.periods import Period

__all__ = ["KINDS", "Kind", "closed_periods", "period_of"]

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("weekly", "monthly")


def period_of(kind: str, day: date) -> Period:
    """The week (from its Monday) or the month that holds ``day``."""
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=6))
    if kind == "monthly":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(first, following - timedelta(days=1), months=1)
    raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")


def closed_periods(kind: str, now: datetime, count: int) -> list[Period]:
    """The last ``count`` periods of ``kind`` that have closed by ``now``, oldest first."""
    latest = period_of(kind, now.date()).previous()
    found = [latest]
    while len(found) < count:
        found.append(period_of(kind, found[-1].first - timedelta(days=1)))
    return found[::-1]
