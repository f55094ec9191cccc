"""Answers for periods of closed days (reports/closed.py) on real embedded ClickHouse: given again
with one count instead of the report's passes, and computed again as soon as a row of the period
changes (a backfilled event, an erasure, a restriction); a period with open days never kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine

from collector.reports import closed
from collector.reports.periods import Period
from collector.reports.query import parse_filters
from collector.reports.stats import Stats, StatsRequest
from collector.store.clickhouse import Store
from collector.tenants import Client

TODAY = datetime.now(UTC).date()
PAST = Period(TODAY - timedelta(days=12), TODAY - timedelta(days=3))
OPEN = Period(TODAY - timedelta(days=6), TODAY)
C = Client(client_id="c_closed000000", name="closed", domains=["closed.example"], perturb=False)


class CountingStore(Store):
    """The real store, counting the SELECTs sent to it."""

    selects = 0
    counts = 0

    def query(self, sql, parameters=None):
        self.selects += 1
        self.counts += sql.startswith("SELECT count() FROM spii.events WHERE")
        return super().query(sql, parameters)

    def query_dicts(self, sql, parameters=None):
        self.selects += 1
        return super().query_dicts(sql, parameters)


def _rows(day_offsets, visitors=range(1, 31), path="/a") -> bytes:
    return b"".join(orjson.dumps({"client_id": C.client_id, "ts": f"{TODAY - timedelta(days=d)} 10:00:00.000", "kind": "pageview",
                                  "name": "pageview", "host": "closed.example", "path": path if v % 3 else "/b", "visitor_id": v,
                                  "session_id": v * 100 + d, "visit_event": 1, "visit_pageview": 1, "retention_days": 395}) + b"\n"
                    for d in day_offsets for v in visitors)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = CountingStore(f"chdb://{tmp_path_factory.mktemp('closed')}/clickhouse")
    store.migrate()
    store.insert_segment(_rows(range(0, 14)), "closed-0")
    yield store
    store.close()


@pytest.fixture(autouse=True)
def count_every_time(monkeypatch, request):
    if request.node.name != "test_a_dashboards_questions_of_one_scope_share_one_count":
        monkeypatch.setattr(closed, "COUNT_SECONDS", 0.0)


def _asked(stats: Stats, store: CountingStore, call):
    before = store.selects
    answer = call()
    return answer, store.selects - before


def test_a_closed_period_is_answered_again_with_one_count_until_its_rows_change(store):
    exclusions: list[str] = []
    stats = Stats(store, exclusions=lambda client_id: list(exclusions))
    fresh = Stats(store, exclusions=lambda client_id: list(exclusions))  # the same question, never kept before
    req = StatsRequest(period=PAST, metrics=["visitors", "pageviews"], prop="event:page")
    first, passes = _asked(stats, store, lambda: stats.breakdown(C, req))
    again, count_only = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert again == first and count_only == 1 < passes
    assert stats.breakdown(C, StatsRequest(period=PAST, metrics=["visitors"], prop="event:page", filters=parse_filters("event:page==/a"))) \
        == fresh.breakdown(C, StatsRequest(period=PAST, metrics=["visitors"], prop="event:page", filters=parse_filters("event:page==/a")))

    store.insert_segment(_rows([5], visitors=range(100, 110), path="/c"), "closed-backfill")  # a backfill into the period
    changed, passes_again = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert passes_again > 1 and changed == fresh.breakdown(C, req) != first

    store.delete_events("client_id = {c:String} AND visitor_id >= 100", {"c": C.client_id})  # an erasure
    assert stats.breakdown(C, req) == first

    exclusions.append("visitor_id > 10")  # a restriction
    restricted = stats.breakdown(C, req)
    assert restricted == fresh.breakdown(C, req) != first


def test_totals_and_the_comparison_line_of_a_closed_period_are_kept_too(store):
    stats = Stats(store)
    req = StatsRequest(period=PAST, metrics=["visitors", "pageviews", "visits"], compare=True)
    first, passes = _asked(stats, store, lambda: stats.aggregate(C, req))
    again, counts = _asked(stats, store, lambda: stats.aggregate(C, req))
    assert again == first and counts == 2 < passes  # this period and the one before: a count each
    line = StatsRequest(period=PAST, metrics=["visitors"])
    stats.timeseries(C, line)
    assert _asked(stats, store, lambda: stats.timeseries(C, line))[1] == 1


def test_a_period_with_open_days_is_never_kept(store):
    stats = Stats(store)
    req = StatsRequest(period=OPEN, metrics=["visitors"], prop="event:page")
    first, passes = _asked(stats, store, lambda: stats.breakdown(C, req))
    again, passes_again = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert stats.closed is not None
    assert again == first and passes_again == passes and stats.closed.hits == 0


def test_a_dashboards_questions_of_one_scope_share_one_count(store):
    stats = Stats(store)
    questions = [StatsRequest(period=PAST, metrics=["visitors"], prop=prop) for prop in ("event:page", "visit:source", "visit:device")]
    counts = store.counts
    for req in questions:
        stats.breakdown(C, req)
    assert store.counts - counts == 1  # three questions, asked within a second: one count
    answers, selects = _asked(stats, store, lambda: [stats.breakdown(C, req) for req in questions])
    assert selects == 0 and stats.closed is not None and stats.closed.hits == 3


def test_a_period_is_kept_only_once_the_clock_has_closed_it(store):
    req = StatsRequest(period=PAST, metrics=["visitors"], prop="visit:source")
    with time_machine.travel(datetime.combine(PAST.last + timedelta(days=1), datetime.min.time(), UTC), tick=False):
        stats = Stats(store)
        stats.breakdown(C, req)
        stats.breakdown(C, req)
        assert stats.closed is not None and stats.closed.hits == 0  # the day after its last day: still open
    with time_machine.travel(datetime.combine(PAST.last + timedelta(days=2), datetime.min.time(), UTC), tick=False):
        stats.breakdown(C, req)
        assert stats.breakdown(C, req) == Stats(store, keep_closed=False).breakdown(C, req)
        assert stats.closed.hits == 1
