"""Dashboards kept ready: each big client's dashboard counted before an analyst opens it.

Counting a big client's dashboard takes seconds: ~2-4 s for 30 days of a client with 8 million
events on two cores (bench/reports.py), 0.1-0.3 s once its closed days are written to spii.daily
(reports/daily.py), which this does first, before asking the page.
Kept answers (reports/kept.py) make a dashboard fast from its second view on, and keep a
watched dashboard fresh. This makes the first view fast too: ``spii serve`` asks each big
client's dashboard of the ``SPII_REPORT_READY_PERIODS`` itself (unfiltered), at start and
every ``SPII_REPORT_READY_SECONDS``, so its answers are kept and refreshed ahead like those of
a dashboard an analyst watches. An analyst opening it is answered from memory, with numbers at
most ``SPII_REPORT_FRESH_SECONDS`` old (or as old as the refresher's round at a quarter of one
core). A filter clicked, another period, a small client: counted when asked, as before.

Keeping those answers fresh is the refresher's work, within its quarter of one core for all
clients together (kept.REFRESH_SHARE). The asker's own counts (a new day's period, after an
erasure) rest three times what they took. Small clients cost one row count per round. What
is kept is what the stats service answers: suppressed and perturbed, never a raw value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from datetime import date as Date

from collector.reports.overview import build_overview
from collector.reports.periods import parse_period
from collector.reports.stats import Stats, StatsRequest
from collector.reports.page import PageFetch
from collector.tenants import Client

__all__ = ["ready_worth", "ask_dashboard", "roll_closed_days"]


def ready_worth(stats: Stats, client: Client, period: str, today: Date | None = None) -> bool:
    """Would ``client``'s answers for ``period`` (unfiltered, ending ``today``) be kept (a big
    client), so that asking them ahead makes its dashboard answer from memory? One row count."""
    if stats.kept is None:
        return False
    anchor = today or stats.kept.clock().date()
    return stats.kept.would_keep(stats.scope(client, parse_period(period, None, anchor), []))


def roll_closed_days(stats: Stats, client: Client, period: str, date: str | None = None) -> int:
    """Write the closed days of ``period`` (ending today, or at ``date``) and of the period
    before it (the dashboard's comparison) that spii.daily lacks or holds stale (reports/daily.py);
    the days written (none without ``stats.daily``)."""
    if stats.daily is None:
        return 0
    today = stats.kept.clock().date() if stats.kept is not None else datetime.now(UTC).date()
    asked = parse_period(period, date, today)
    return stats.daily.roll_closed(client.client_id, asked.previous().first, asked.last, client.retention_days, today)


def ask_dashboard(stats: Stats, client: Client, period: str, parse: Callable[[Mapping[str, str]], StatsRequest],
                  date: str | None = None) -> float:
    """Ask every answer of ``client``'s dashboard of ``period`` (ending today, or at ``date``)
    as the page does (blocking: run it on a report thread); the seconds it took (near 0 when
    they were kept)."""
    started = time.monotonic()
    roll_closed_days(stats, client, period, date)
    fetch = PageFetch(stats, client, parse)
    build_overview(fetch, {"name": client.name, "client_id": client.client_id}, period, date, expect=fetch.expect)
    return time.monotonic() - started
