"""Plausible's Stats API periods: day, 7d, 30d, month, 6mo, 12mo, custom (date=A,B), in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from collector.field_error import FieldError

__all__ = ["Period", "PeriodError", "parse_period", "PERIODS", "PERIOD_CHOICES", "INTERVALS", "default_interval"]

PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "custom")
# the periods a dashboard or `spii report` offers, with their labels
PERIOD_CHOICES = [("day", "Today"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("month", "This month"),
                  ("6mo", "Last 6 months"), ("12mo", "Last 12 months")]
INTERVALS = ("hour", "day", "week", "month")
MAX_DAYS = 3 * 366


class PeriodError(FieldError):
    """A bad period or date parameter."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days, first..last inclusive."""

    first: date
    last: date
    months: int = 0  # month-shaped periods compare with the months before, not the days before

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:  # exclusive
        return self.start + timedelta(days=self.days)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one (compare=previous_period)."""
        if self.months:
            return Period(_month_start(self.first, self.months), self.first - timedelta(days=1), self.months)
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))


def _month_start(d: date, back: int) -> date:
    month = d.month - 1 - back
    return date(d.year + month // 12, month % 12 + 1, 1)


_ISO_DATE = re.compile(r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$")  # this century: every period around it stays a real date


def _parse_date(text: str) -> date:
    text = text.strip()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError("date", "expected YYYY-MM-DD, from 2000 to 2099") from None


def parse_period(period: str, date_param: str | None, today: date) -> Period:
    """``date`` anchors day/month periods (a single date) or bounds a custom one (A,B)."""
    if period not in PERIODS:
        raise PeriodError("period", f"one of {', '.join(PERIODS)}")
    if period == "custom":
        if not date_param or "," not in date_param:
            raise PeriodError("date", "custom period needs date=YYYY-MM-DD,YYYY-MM-DD")
        first, last = (_parse_date(p) for p in date_param.split(",", 1))
        if last < first:
            raise PeriodError("date", "the end date is before the start date")
        if (last - first).days >= MAX_DAYS:
            raise PeriodError("date", f"at most {MAX_DAYS} days")
        return Period(first, last)
    anchor = _parse_date(date_param) if date_param else today
    if period == "day":
        return Period(anchor, anchor)
    if period in ("7d", "30d"):
        days = int(period[:-1])
        return Period(anchor - timedelta(days=days - 1), anchor)
    if period == "month":
        first = anchor.replace(day=1)
        return Period(first, _month_start(anchor, -1) - timedelta(days=1), 1)
    months = 6 if period == "6mo" else 12
    return Period(_month_start(anchor, months - 1), _month_start(anchor, -1) - timedelta(days=1), months)


def default_interval(period: Period) -> str:
    return "hour" if period.days == 1 else "day" if period.days <= 62 else "month"
